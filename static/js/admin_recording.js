// The admin's recording page: an import's progress, live over Socket.IO (namespace /admin).
// The page is complete without it (the state is rendered by the server); this only keeps the
// bar and the status moving. The status line (role=status) is updated when the state
// changes and at every quarter, not at every event, so screen readers are not flooded.
(function () {
  "use strict";
  var box = document.querySelector("[data-import-job]");
  if (!box || !window.io) { return; }
  var bar = box.querySelector("[data-progress-bar]");
  var fill = box.querySelector("[data-progress-fill]");
  var status = box.querySelector("[data-import-status]");
  var cancel = box.querySelector("[data-cancel-form]");
  var done = box.querySelector("[data-import-done]");
  var talkId = parseInt(box.getAttribute("data-talk-id"), 10);
  var percentText = box.getAttribute("data-percent-text");
  var lastSpoken = { state: null, quarter: -1 };

  function paint(percent) {
    bar.setAttribute("aria-valuenow", String(percent));
    fill.style.width = percent + "%";
  }
  paint(parseInt(bar.getAttribute("aria-valuenow") || "0", 10));

  function show(job) {
    if (!job) { return; }
    box.hidden = false;
    paint(job.percent);
    var quarter = Math.floor(job.percent / 25);
    if (job.state !== lastSpoken.state || (job.state === "running" && quarter !== lastSpoken.quarter)) {
      var text = job.message;
      if (job.state === "running" && job.percent > 0) { text += " " + percentText.replace("{percent}", job.percent); }
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
