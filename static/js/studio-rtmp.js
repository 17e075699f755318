// The studio page's view of a stream the venue's encoder sends over RTMP (issue 12,
// templates/partials/studio_rtmp.html): the server says what it is doing ("watch", then
// `stream_state` pushes for the talk), and End stops it. The status line is a polite live
// region and changes only when the state does, so a screen reader hears each change once.
// Started once every deferred script ran: the live panel's Socket.IO client comes after it.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.querySelector("[data-studio-rtmp]");
  if (!root || !window.io) { return; }
  var status = root.querySelector("[data-studio-rtmp-status]");
  var error = root.querySelector("[data-studio-rtmp-error]");
  var endButton = root.querySelector("[data-studio-rtmp-end]");
  var talkId = parseInt(root.getAttribute("data-talk-id"), 10);
  var state = { streamId: parseInt(root.getAttribute("data-stream-id"), 10) || null, phase: null, message: "" };

  function text(name) { return root.getAttribute("data-text-" + name) || ""; }

  function say(message) {
    if (message && message !== state.message) {
      state.message = message;
      status.textContent = message;
    }
  }

  function show(stream) {
    if (!stream || stream.source !== "rtmp") { return; }
    state.streamId = stream.stream_id;
    state.phase = stream.state;
    root.hidden = false;
    var running = ["connecting", "live", "reconnecting"].indexOf(stream.state) !== -1;
    endButton.hidden = !running;
    endButton.disabled = !running;
    say(stream.message);
    if (stream.state === "ended" && ((stream.reason && stream.reason !== "ended") || stream.recording_failed)) {
      error.textContent = stream.message;
    } else if (running) {
      error.textContent = "";
    }
  }

  var socket = window.io("/studio", { transports: ["websocket", "polling"] });

  function watch() {
    socket.timeout(10000).emit("watch", { talk_id: talkId }, function (failed, ack) {
      if (failed || !ack || !ack.ok) { return; }  // the page without a role sees nothing new
      if (ack.stream) {
        show(ack.stream);
      } else if (state.streamId !== null && state.phase !== "ended") {
        // It ended while this page was away.
        endButton.hidden = true;
        say(text("none"));
      }
    });
  }

  socket.on("connect", watch);
  socket.on("stream_state", function (data) {
    if (!data || data.source !== "rtmp") { return; }
    // An older stream's late end (its recording made after a newer stream started) must not
    // take the page, and End, away from the stream sending now.
    if (state.streamId !== null && data.stream_id < state.streamId) { return; }
    show(data);
  });

  endButton.addEventListener("click", function () {
    if (state.streamId === null) { return; }
    endButton.disabled = true;
    error.textContent = "";
    say(text("ending"));
    socket.timeout(10000).emit("end", { stream_id: state.streamId }, function (failed, ack) {
      if (failed) {
        endButton.disabled = false;
        error.textContent = text("lost");
      } else if (!ack.ok) {
        endButton.disabled = false;
        error.textContent = ack.message || text("end-failed");
      }
    });
  });
});
