// The admin works without JavaScript; this only helps keyboard users and slow connections.
import { findAll } from "./lib/dom.js";

// After a programme move the page reloads at #move-<talk>-<direction>: put the focus back on
// that button so pressing Enter again moves the same talk again.
function focusMovedTalk() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  if (!id) { return; }
  let target = document.getElementById(id);
  if (target && target.tagName === "BUTTON") {
    if (target.disabled) {
      // Moved to the end: the other direction's button of the same talk is the next best place.
      const other = document.getElementById(id.replace(/-(up|down)$/, function (_, d) { return d === "up" ? "-down" : "-up"; }));
      if (other && !other.disabled) { target = other; }
    }
    target.focus();
  }
}
focusMovedTalk();

// A form is sent once. After the first press (or Enter) its submit buttons say they are busy
// (aria-disabled) and a second press is ignored, so a double click on a slow connection sends
// one request. The buttons are not `disabled`: a disabled submitter's name and value (the
// preview button's) would not be sent, and the focus would fall off the pressed button.
// Without JavaScript the server recognises a repeat itself (the form's one-time token).

// A send that never leaves the page (stopped by the visitor, a download) must not block the
// form for good; a file being uploaded may take minutes.
const BUSY_MS = 20000;
const UPLOAD_BUSY_MS = 600000;

function sendsAFile(form) {
  return findAll("input[type=file]", form).some(function (input) {
    return input.files && input.files.length > 0;
  });
}

function submitters(form) {
  const inside = findAll("button, input[type=submit], input[type=image]", form);
  const outside = form.id ? findAll('[form="' + form.id + '"]') : [];
  return inside.concat(outside).filter(function (control) {
    return control.type === "submit" || control.type === "image";
  });
}

function release(form) {
  if (!form.hasAttribute("data-sending")) { return; }
  window.clearTimeout(Number(form.getAttribute("data-sending")));
  form.removeAttribute("data-sending");
  form.removeAttribute("aria-busy");
  submitters(form).forEach(function (control) { control.removeAttribute("aria-disabled"); });
}

// On the document, so it runs after any listener of the form itself: a submit another
// script stopped (a confirmation, a check) does not mark the form busy.
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || (form.getAttribute("method") || "").toLowerCase() !== "post") { return; }
  if (event.defaultPrevented) { return; }
  if (form.hasAttribute("data-sending")) {
    event.preventDefault();
    return;
  }
  const busy = sendsAFile(form) ? UPLOAD_BUSY_MS : BUSY_MS;
  form.setAttribute("data-sending", String(window.setTimeout(function () { release(form); }, busy)));
  form.setAttribute("aria-busy", "true");
  submitters(form).forEach(function (control) { control.setAttribute("aria-disabled", "true"); });
});

// The browser's own check refused the form: it was not sent, so nothing is busy.
document.addEventListener("invalid", function (event) {
  if (event.target.form) { release(event.target.form); }
}, true);

// Back to a page the browser kept (back-forward cache): its forms were sent long ago.
window.addEventListener("pageshow", function (event) {
  if (!event.persisted) { return; }
  findAll("form[data-sending]").forEach(release);
});
