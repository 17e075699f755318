// The admin's recording page: an import's progress, live over Socket.IO (namespace /admin).
// The page is complete without it (the state is rendered by the server); this only keeps the
// bar and the status moving. The status line (role=status) is updated when the state
// changes and at every quarter, not at every event, so screen readers are not flooded.
(function () {
  "use strict";
  var box = document.querySelector("[data-import-job]");
  // A new attempt (an import or an upload, which can take minutes to send) makes an earlier
  // import's error old news: take it away at once, not only when the next page comes.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-new-attempt]"), function (form) {
    form.addEventListener("submit", function () {
      if (box && box.hasAttribute("data-old-error")) { box.hidden = true; }
    });
  });
  if (!box || !window.io) { return; }
  var bar = box.querySelector("[data-progress-bar]");
  var fill = box.querySelector("[data-progress-fill]");
  var status = box.querySelector("[data-import-status]");
  var cancel = box.querySelector("[data-cancel-form]");
  var done = box.querySelector("[data-import-done]");
  var talkId = parseInt(box.getAttribute("data-talk-id"), 10);
  var percentText = box.getAttribute("data-percent-text");
  var bytesText = box.getAttribute("data-bytes-text");
  var lastSpoken = { state: null, quarter: -1 };

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
    var known = Boolean(job.total_bytes) || job.state !== "running";
    paint(job.percent, known);
    var megabytes = (job.downloaded_bytes || 0) / 1048576;
    // Spoken at each quarter, or each 10 MB when the size is unknown.
    var quarter = known ? Math.floor(job.percent / 25) : Math.floor(megabytes / 10);
    if (job.state !== lastSpoken.state || (job.state === "running" && quarter !== lastSpoken.quarter)) {
      var text = job.message;
      if (job.state === "running" && known && job.percent > 0) { text += " " + percentText.replace("{percent}", job.percent); }
      if (job.state === "running" && !known && megabytes > 0) { text += " " + bytesText.replace("{megabytes}", megabytes.toFixed(1)); }
      status.textContent = text;
      status.classList.toggle("import-error", Boolean(job.error));
      lastSpoken = { state: job.state, quarter: quarter };
    }
    if (job.finished) {
      if (cancel) { cancel.hidden = true; }
      if (done) { done.hidden = false; }
    }
  }

  var socket = window.io("/admin", { transports: ["websocket", "polling"] });
  socket.on("connect", function () {
    socket.emit("watch_import", { talk_id: talkId }, function (answer) {
      if (answer && answer.ok) { show(answer.job); }
    });
  });
  socket.on("import_progress", function (job) {
    if (job && job.talk_id === talkId) { show(job); }
  });
})();
