// The admin's recording page: an import's progress, live over Socket.IO (namespace /admin).
// The page is complete without it (the state is rendered by the server); this only keeps the
// bar and the status moving. The status line (role=status) is updated when the state
// changes and at every quarter, not at every event, so screen readers are not flooded.
import { findAll } from "./lib/dom.js";
import { askOnEveryConnect, connect, socketAvailable } from "./lib/socket.js";
import { format } from "./lib/text.js";

const box = document.querySelector("[data-import-job]");

// A new attempt (an import or an upload, which can take minutes to send) makes an earlier
// import's error old news: take it away at once, not only when the next page comes.
findAll("form[data-new-attempt]").forEach(function (form) {
  form.addEventListener("submit", function () {
    if (box && box.hasAttribute("data-old-error")) { box.hidden = true; }
  });
});

function follow() {
  const bar = box.querySelector("[data-progress-bar]");
  const fill = box.querySelector("[data-progress-fill]");
  const status = box.querySelector("[data-import-status]");
  const cancel = box.querySelector("[data-cancel-form]");
  const done = box.querySelector("[data-import-done]");
  const talkId = parseInt(box.getAttribute("data-talk-id"), 10);
  const percentText = box.getAttribute("data-percent-text");
  const bytesText = box.getAttribute("data-bytes-text");
  let lastSpoken = { state: null, quarter: -1 };

  function paint(percent, known) {
    // A source that does not say its size: an indeterminate bar (no aria-valuenow, per ARIA).
    if (known) { bar.setAttribute("aria-valuenow", String(percent)); } else { bar.removeAttribute("aria-valuenow"); }
    bar.classList.toggle("progress-indeterminate", !known);
    fill.style.width = (known ? percent : 100) + "%";
  }
  paint(parseInt(bar.getAttribute("aria-valuenow") || "0", 10), true);

  function show(job) {
    if (!job) { return; }
    box.hidden = false;
    const known = Boolean(job.total_bytes) || job.state !== "running";
    paint(job.percent, known);
    const megabytes = (job.downloaded_bytes || 0) / 1048576;
    // Spoken at each quarter, or each 10 MB when the size is unknown.
    const quarter = known ? Math.floor(job.percent / 25) : Math.floor(megabytes / 10);
    if (job.state !== lastSpoken.state || (job.state === "running" && quarter !== lastSpoken.quarter)) {
      let text = job.message;
      if (job.state === "running" && known && job.percent > 0) { text += " " + format(percentText, { percent: job.percent }); }
      if (job.state === "running" && !known && megabytes > 0) { text += " " + format(bytesText, { megabytes: megabytes.toFixed(1) }); }
      status.textContent = text;
      status.classList.toggle("import-error", Boolean(job.error));
      lastSpoken = { state: job.state, quarter: quarter };
    }
    if (job.finished) {
      if (cancel) { cancel.hidden = true; }
      if (done) { done.hidden = false; }
    }
  }

  const socket = connect("/admin");
  askOnEveryConnect(socket, "watch_import", { talk_id: talkId }, function (answer) { show(answer.job); });
  socket.on("import_progress", function (job) {
    if (job && job.talk_id === talkId) { show(job); }
  });
}

if (box && socketAvailable()) { follow(); }
