// The studio: camera, microphone and screen composited on a canvas, recorded with
// MediaRecorder in 250 ms slices and sent to the server over Socket.IO (/studio) as binary
// pieces (docs/golive.md). Every piece waits in `pending` until the server acks it, so after
// a dropped connection the same stream continues from the first piece the server lacks.
// The texts come from the page's data-* attributes; this file holds no words of its own.
import { playQuietly } from "./lib/dom.js";
import { ask, connect, reconnectIfServerClosed, socketAvailable } from "./lib/socket.js";
import { format, textFrom } from "./lib/text.js";

function studio(root) {

  const TALK_ID = Number(root.getAttribute("data-talk-id"));
  const MAX_PIECE = Math.max(1024, Number(root.getAttribute("data-max-chunk-bytes")) - 1024);
  const SLICE_MS = 250;
  const WIDTH = 1280, HEIGHT = 720, FPS = 30;
  const MAX_PENDING_BYTES = 40 * 1024 * 1024;  // about a minute of 720p; the server waits 30 s
  const MIME_TYPES = [
    "video/webm;codecs=h264,opus",        // Chromium: H.264, copied by the server
    "video/x-matroska;codecs=avc1,opus",
    "video/webm;codecs=vp8,opus",         // Firefox: transcoded by the server
    "video/webm;codecs=vp9,opus"
  ];

  function $(selector) { return root.querySelector(selector); }
  const words = textFrom(root);
  function text(name, values) { return format(words(name), values || {}); }

  const el = {
    badge: $("[data-studio-badge]"),
    badgeText: $("[data-studio-badge-text]"),
    status: $("[data-studio-status]"),
    error: $("[data-studio-error]"),
    preview: $("[data-studio-preview]"),
    camera: $("[data-studio-camera]"),
    microphone: $("[data-studio-microphone]"),
    level: $("[data-studio-level]"),
    screen: $("[data-studio-screen]"),
    goLive: $("[data-studio-go-live]"),
    end: $("[data-studio-end]"),
    canvas: $("[data-studio-canvas]")
  };
  const badgeTexts = {};
  root.querySelector("template[data-template='badge-texts']").content.querySelectorAll("[data-badge]")
    .forEach(function (span) { badgeTexts[span.getAttribute("data-badge")] = span.textContent; });

  const state = {
    phase: "idle",          // idle, connecting, live, reconnecting, ending, ended
    camera: null,           // MediaStream of the chosen camera
    microphone: null,       // MediaStream of the chosen microphone
    screen: null,           // MediaStream of a shared screen
    cameraVideo: document.createElement("video"),
    screenVideo: document.createElement("video"),
    audio: null,            // {context, destination, source, analyser}
    output: null,           // the MediaStream that is recorded: canvas video + mixed audio
    recorder: null,
    mimeType: "",
    streamId: null,
    nextSeq: 0,
    pending: [],            // [{seq, data}] not yet acked
    pendingBytes: 0,
    inFlight: false,
    ending: false
  };
  [state.cameraVideo, state.screenVideo].forEach(function (video) { video.muted = true; video.playsInline = true; });
  window.arenaStudio = state;  // for the benchmark and for debugging in the console

  // -- status ---------------------------------------------------------------------------
  function setPhase(phase, message) {
    state.phase = phase;
    el.badge.setAttribute("data-state", phase);
    el.badgeText.textContent = badgeTexts[phase] || "";
    el.status.textContent = message === null ? "" : message || text(phase);  // null: the error line says it
    const sending = phase === "connecting" || phase === "live" || phase === "reconnecting";
    el.goLive.disabled = sending || phase === "ending" || !state.output;
    el.end.disabled = !sending;
  }
  function showError(message) { el.error.textContent = message || ""; }

  // -- devices --------------------------------------------------------------------------
  function fillSelect(select, devices, kind, current) {
    const label = kind === "videoinput" ? "camera" : "microphone";
    select.textContent = "";
    devices.filter(function (d) { return d.kind === kind; }).forEach(function (device, index) {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || text(label, { number: index + 1 });
      option.selected = device.deviceId === current;
      select.appendChild(option);
    });
    if (kind === "videoinput" && !select.options.length) {
      const none = document.createElement("option");
      none.value = "";
      none.textContent = text("no-camera");
      select.appendChild(none);
    }
  }

  function trackDevice(stream) {
    const track = stream && stream.getTracks()[0];
    return track && track.getSettings ? track.getSettings().deviceId : "";
  }

  function listDevices() {
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      fillSelect(el.camera, devices, "videoinput", trackDevice(state.camera));
      fillSelect(el.microphone, devices, "audioinput", trackDevice(state.microphone));
    });
  }

  function openCamera(deviceId) {
    const video = { width: { ideal: WIDTH }, height: { ideal: HEIGHT }, frameRate: { ideal: FPS } };
    if (deviceId) { video.deviceId = { exact: deviceId }; }
    return navigator.mediaDevices.getUserMedia({ video: video }).then(function (stream) {
      if (state.camera) { state.camera.getTracks().forEach(function (t) { t.stop(); }); }
      state.camera = stream;
      state.cameraVideo.srcObject = stream;
      return state.cameraVideo.play();
    });
  }

  function openMicrophone(deviceId) {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) { audio.deviceId = { exact: deviceId }; }
    return navigator.mediaDevices.getUserMedia({ audio: audio }).then(function (stream) {
      if (state.microphone) { state.microphone.getTracks().forEach(function (t) { t.stop(); }); }
      state.microphone = stream;
      connectMicrophone();
    });
  }

  // The recorded audio comes through Web Audio, so changing the microphone while live only
  // reconnects a node: MediaRecorder cannot take a new track mid-recording.
  function connectMicrophone() {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!state.audio) {
      const context = new AudioContext();
      const destination = context.createMediaStreamDestination();
      const analyser = context.createAnalyser();
      analyser.fftSize = 512;
      state.audio = { context: context, destination: destination, analyser: analyser, source: null };
      meterLoop();
    }
    if (state.audio.source) { state.audio.source.disconnect(); }
    state.audio.source = state.audio.context.createMediaStreamSource(state.microphone);
    state.audio.source.connect(state.audio.destination);
    state.audio.source.connect(state.audio.analyser);
  }

  function meterLoop() {
    const data = new Float32Array(state.audio.analyser.fftSize);
    window.setInterval(function () {
      state.audio.analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (let i = 0; i < data.length; i += 1) { sum += data[i] * data[i]; }
      el.level.value = Math.min(1, Math.sqrt(sum / data.length) * 4);
    }, 100);
  }

  // -- the picture ----------------------------------------------------------------------
  // Drawn on a clock from a worker: timers and animation frames of a hidden tab are slowed
  // to once a second, and a speaker switching to their slides must not freeze the stream.
  const context2d = el.canvas.getContext("2d");
  function draw() {
    context2d.fillStyle = "#000";
    context2d.fillRect(0, 0, WIDTH, HEIGHT);
    const screen = state.screen && state.screenVideo.readyState >= 2 ? state.screenVideo : null;
    const camera = state.camera && state.cameraVideo.readyState >= 2 ? state.cameraVideo : null;
    if (screen) {
      fit(screen, 0, 0, WIDTH, HEIGHT);
      if (camera) {  // picture-in-picture, bottom right
        const w = WIDTH / 4, h = w * (camera.videoHeight / camera.videoWidth || 0.75);
        context2d.fillStyle = "#fff";
        context2d.fillRect(WIDTH - w - 28, HEIGHT - h - 28, w + 8, h + 8);
        context2d.drawImage(camera, WIDTH - w - 24, HEIGHT - h - 24, w, h);
      }
    } else if (camera) {
      fit(camera, 0, 0, WIDTH, HEIGHT);
    }
    if (window.arenaStudioStamp) { window.arenaStudioStamp(context2d, WIDTH, HEIGHT); }
  }
  function fit(video, x, y, width, height) {
    const scale = Math.min(width / (video.videoWidth || width), height / (video.videoHeight || height));
    const w = (video.videoWidth || width) * scale, h = (video.videoHeight || height) * scale;
    context2d.drawImage(video, x + (width - w) / 2, y + (height - h) / 2, w, h);
  }
  function startClock() {
    try {
      const worker = new Worker(root.getAttribute("data-clock-src"));
      worker.onmessage = draw;
      worker.postMessage(Math.round(1000 / FPS));
    } catch (error) {
      window.setInterval(draw, Math.round(1000 / FPS));
    }
  }

  function buildOutput() {
    const video = el.canvas.captureStream(FPS).getVideoTracks()[0];
    const tracks = [video].concat(state.audio ? state.audio.destination.stream.getAudioTracks() : []);
    state.output = new MediaStream(tracks);
    el.preview.srcObject = new MediaStream([video]);
    playQuietly(el.preview);
  }

  // -- screen sharing -------------------------------------------------------------------
  function toggleScreen() {
    if (state.screen) { stopScreen(); return; }
    if (!navigator.mediaDevices.getDisplayMedia) { showError(text("screen-failed")); return; }
    navigator.mediaDevices.getDisplayMedia({ video: { frameRate: FPS }, audio: false }).then(function (stream) {
      state.screen = stream;
      state.screenVideo.srcObject = stream;
      playQuietly(state.screenVideo);
      stream.getVideoTracks()[0].addEventListener("ended", stopScreen);
      el.screen.setAttribute("aria-pressed", "true");
      el.screen.textContent = text("screen-on");
      showError("");
    }).catch(function (error) {
      if (error && error.name !== "NotAllowedError") { showError(text("screen-failed")); }
    });
  }
  function stopScreen() {
    if (state.screen) { state.screen.getTracks().forEach(function (t) { t.stop(); }); }
    state.screen = null;
    el.screen.setAttribute("aria-pressed", "false");
    el.screen.textContent = text("screen-off");
  }

  // -- the connection -------------------------------------------------------------------
  const socket = connect("/studio");
  state.socket = socket;

  function call(event, payload, done) {
    ask(socket, event, payload, 10000, { ok: false, error: "timeout", message: text("send-failed") }, done);
  }

  socket.on("connect", function () {
    if (state.streamId !== null && ["reconnecting", "live", "connecting", "ending"].indexOf(state.phase) !== -1) {
      resume();
    }
  });
  socket.on("disconnect", function (reason) {
    if (state.phase === "live" || state.phase === "connecting") { setPhase("reconnecting"); }
    reconnectIfServerClosed(socket, reason);
  });
  socket.on("stream_state", function (data) {
    if (!data || data.stream_id !== state.streamId) { return; }
    if (data.state === "live" && (state.phase === "connecting" || state.phase === "live")) {
      setPhase("live", data.message);
    } else if (data.state === "ended") {
      stopRecorder();
      state.streamId = null;
      state.pending = [];
      state.pendingBytes = 0;
      setPhase("ended", data.message);
      if (data.reason && data.reason !== "ended") { showError(data.message); }
    }
  });

  function resume() {
    call("resume", { stream_id: state.streamId }, function (ack) {
      if (!ack.ok) {
        if (ack.error === "timeout") { return; }  // the next connect tries again
        stopRecorder();
        state.streamId = null;
        if (state.ending) { setPhase("ended"); return; }  // End had already reached the server
        setPhase("ended", ack.message);
        showError(ack.message);
        return;
      }
      dropAcked(ack.next_seq);
      state.nextSeq = Math.max(state.nextSeq, ack.next_seq);
      if (!state.ending) { setPhase(ack.state === "live" ? "live" : "connecting"); }
      showError("");
      pump();
    });
  }

  // -- going live -----------------------------------------------------------------------
  function chooseMimeType() {
    if (!window.MediaRecorder) { return ""; }
    for (let i = 0; i < MIME_TYPES.length; i += 1) {
      if (MediaRecorder.isTypeSupported(MIME_TYPES[i])) { return MIME_TYPES[i]; }
    }
    return "";
  }

  function goLive() {
    showError("");
    state.mimeType = chooseMimeType();
    if (!state.mimeType) { showError(text("no-recorder")); return; }
    setPhase("connecting");
    call("start", { talk_id: TALK_ID, mime_type: state.mimeType }, function (ack) {
      if (!ack.ok) {
        setPhase("idle", text("idle"));
        showError(ack.message);
        return;
      }
      state.streamId = ack.stream_id;
      state.nextSeq = 0;
      state.pending = [];
      state.pendingBytes = 0;
      state.ending = false;
      startRecorder();
    });
  }

  function startRecorder() {
    const options = { mimeType: state.mimeType, videoBitsPerSecond: 2500000, audioBitsPerSecond: 128000,
                    // a keyframe each second: the server cuts 1 s segments without re-encoding
                    videoKeyFrameIntervalDuration: 1000 };
    const recorder = new MediaRecorder(state.output, options);
    recorder.ondataavailable = function (event) {
      if (event.data && event.data.size) { queueBlob(event.data); }
    };
    recorder.onerror = function () { showError(text("no-recorder")); endStream(); };
    state.recorder = recorder;
    recorder.start(SLICE_MS);
  }

  function stopRecorder() {
    if (state.recorder && state.recorder.state !== "inactive") { state.recorder.stop(); }
    state.recorder = null;
  }

  // Blobs are read in order (arrayBuffer resolves in call order for one recorder's slices).
  let reading = Promise.resolve();
  function queueBlob(blob) {
    reading = reading.then(function () { return blob.arrayBuffer(); }).then(function (buffer) {
      if (state.streamId === null) { return; }
      for (let offset = 0; offset < buffer.byteLength; offset += MAX_PIECE) {
        const piece = buffer.slice(offset, Math.min(buffer.byteLength, offset + MAX_PIECE));
        state.pending.push({ seq: state.nextSeq, data: piece });
        state.nextSeq += 1;
        state.pendingBytes += piece.byteLength;
      }
      if (state.pendingBytes > MAX_PENDING_BYTES) {
        showError(text("send-failed"));
      }
      pump();
    }).catch(function () { /* one unreadable slice must not stop the ones after it */ });
  }

  function dropAcked(nextSeq) {
    while (state.pending.length && state.pending[0].seq < nextSeq) {
      state.pendingBytes -= state.pending.shift().data.byteLength;
    }
  }

  function pump() {
    if (state.inFlight || !state.pending.length || !socket.connected || state.streamId === null) {
      if (!state.pending.length && state.ending && state.stopped) { sendEnd(); }
      return;
    }
    if (state.phase === "reconnecting") { return; }
    const piece = state.pending[0];
    state.inFlight = true;
    call("chunk", { stream_id: state.streamId, seq: piece.seq, data: piece.data }, function (ack) {
      state.inFlight = false;
      if (ack.ok) {
        dropAcked(ack.next_seq);
        pump();
      } else if (ack.error === "timeout") {
        // The resume on the next connect sends it again.
      } else if (ack.error === "flooding") {
        window.setTimeout(pump, 1000);
      } else if (ack.error === "out_of_order") {
        resume();
      } else {
        stopRecorder();
        state.streamId = null;
        setPhase("ended", ack.message);
        showError(ack.message);
      }
    });
  }

  // End: stop recording, wait for its last slice, send what is left, then tell the server.
  function endStream() {
    if (state.streamId === null || state.ending) { return; }
    state.ending = true;
    state.stopped = false;
    setPhase("ending");
    const recorder = state.recorder;
    state.recorder = null;
    function flushed() { reading.then(function () { state.stopped = true; pump(); }); }
    if (recorder && recorder.state !== "inactive") {
      // The last dataavailable comes before "stop".
      recorder.addEventListener("stop", flushed, { once: true });
      recorder.stop();
    } else {
      flushed();
    }
    // If the rest cannot be sent (no connection), end anyway after a while: the server
    // also ends a stream whose speaker does not come back.
    window.setTimeout(function () {
      if (state.ending && state.streamId !== null) { state.stopped = true; sendEnd(); }
    }, 15000);
  }

  function sendEnd() {
    if (state.streamId === null || !state.ending || state.endSent) { return; }
    state.endSent = true;
    const streamId = state.streamId;
    call("end", { stream_id: streamId }, function (ack) {
      state.endSent = false;
      if (!ack.ok && ack.error !== "timeout") {
        state.streamId = null;
        setPhase("ended", ack.message);
      }
      state.ending = state.phase === "ending";
    });
  }

  window.addEventListener("beforeunload", function (event) {
    if (state.phase === "live" || state.phase === "connecting" || state.phase === "reconnecting") {
      event.preventDefault();
      event.returnValue = text("leave");
      return text("leave");
    }
    return undefined;
  });

  // -- start ----------------------------------------------------------------------------
  el.goLive.addEventListener("click", goLive);
  el.end.addEventListener("click", endStream);
  el.screen.addEventListener("click", toggleScreen);
  el.camera.addEventListener("change", function () {
    openCamera(el.camera.value).catch(function () { showError(text("device-denied")); });
  });
  el.microphone.addEventListener("change", function () {
    openMicrophone(el.microphone.value).catch(function () { showError(text("device-denied")); });
  });

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setPhase("idle", null);  // said once, in the error line (not in the status as well)
    showError(text("no-devices"));
    return;
  }
  setPhase("idle", text("starting-devices"));
  Promise.all([
    openCamera("").catch(function () { return null; }),
    openMicrophone("")
  ]).then(function () {
    startClock();
    buildOutput();
    return listDevices();
  }).then(function () {
    setPhase("idle", text("idle"));
    if (!state.camera) { showError(text("device-denied")); }
  }).catch(function () {
    setPhase("idle", null);  // said once, in the error line (not in the status as well)
    showError(text("device-denied"));
  });
}

const studioRoot = document.getElementById("studio");
if (studioRoot && socketAvailable()) { studio(studioRoot); }
