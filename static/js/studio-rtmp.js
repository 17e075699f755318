// The studio page's view of a stream the venue's encoder sends over RTMP
// (templates/partials/studio_rtmp.html): the server says what it is doing ("watch", then
// `stream_state` pushes for the talk), and End stops it. The status line is a polite live
// region and changes only when the state does, so a screen reader hears each change once.
import { say } from "./lib/announce.js";
import { afterDeferredScripts } from "./lib/dom.js";
import { connect, socketAvailable } from "./lib/socket.js";
import { textFrom } from "./lib/text.js";

function follow(root) {
  const status = root.querySelector("[data-studio-rtmp-status]");
  const error = root.querySelector("[data-studio-rtmp-error]");
  const endButton = root.querySelector("[data-studio-rtmp-end]");
  const talkId = parseInt(root.getAttribute("data-talk-id"), 10);
  const state = { streamId: parseInt(root.getAttribute("data-stream-id"), 10) || null, phase: null };
  const text = textFrom(root);

  function tell(message) { if (message) { say(status, message); } }

  function show(stream) {
    if (!stream || stream.source !== "rtmp") { return; }
    state.streamId = stream.stream_id;
    state.phase = stream.state;
    root.hidden = false;
    const running = ["connecting", "live", "reconnecting"].indexOf(stream.state) !== -1;
    endButton.hidden = !running;
    endButton.disabled = !running;
    tell(stream.message);
    if (stream.state === "ended" && ((stream.reason && stream.reason !== "ended") || stream.recording_failed)) {
      error.textContent = stream.message;
    } else if (running) {
      error.textContent = "";
    }
  }

  const socket = connect("/studio");

  function watch() {
    socket.timeout(10000).emit("watch", { talk_id: talkId }, function (failed, ack) {
      if (failed || !ack || !ack.ok) { return; }  // the page without a role sees nothing new
      if (ack.stream) {
        show(ack.stream);
      } else if (state.streamId !== null && state.phase !== "ended") {
        // It ended while this page was away.
        endButton.hidden = true;
        tell(text("none"));
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
    tell(text("ending"));
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
}

// Socket.IO's client stands after this script in the studio page (in the live panel).
afterDeferredScripts(function () {
  const root = document.querySelector("[data-studio-rtmp]");
  if (root && socketAvailable()) { follow(root); }
});
