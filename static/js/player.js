// Players. A third-party player is only inserted when its facade button is pressed, so no
// request reaches the provider before the visitor chooses it. HLS plays natively where the
// browser can (Safari), else through hls.js, loaded from our own /static only when needed.
(function () {
  "use strict";
  var HLS_SCRIPT = "/static/vendor/hls.min.js";

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // The studio's live streams go through hls.js wherever Media Source Extensions exist, so
  // their low-latency settings apply; native HLS (Safari, iPhone, newer Chromium) otherwise.
  function playsNatively(video) {
    if (!video.canPlayType("application/vnd.apple.mpegurl")) { return false; }
    return !(video.hasAttribute("data-hls-live") && (window.MediaSource || window.ManagedMediaSource));
  }

  function startHls(video, src) {
    if (playsNatively(video)) {
      video.src = src;
      return Promise.resolve();
    }
    return (window.Hls ? Promise.resolve() : loadScript(HLS_SCRIPT)).then(function () {
      if (!window.Hls || !window.Hls.isSupported()) { video.src = src; return; }
      // The studio's streams have 1 s segments: stay close to the live edge (docs/golive.md).
      var hls = new window.Hls(video.hasAttribute("data-hls-live")
        // No worker: the CSP allows scripts from our own files only, not hls.js's blob: worker.
        ? { liveSyncDuration: 1.5, liveMaxLatencyDuration: 5, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 30,
            enableWorker: false }
        : { liveSyncDurationCount: 2 });
      hls.loadSource(src);
      hls.attachMedia(video);
      video._hls = hls;
    });
  }

  function makeVideo(container, kind, url) {
    var video = document.createElement("video");
    video.controls = true;
    video.playsInline = true;
    video.setAttribute("aria-label", container.getAttribute("data-player-title"));
    if (kind === "hls") { startHls(video, url); } else { video.src = url; }
    return video;
  }

  function loadPlayer(container) {
    var kind = container.getAttribute("data-player-kind");
    var url = container.getAttribute("data-player-url");
    var element;
    if (kind === "iframe") {
      element = document.createElement("iframe");
      element.src = url + (url.indexOf("?") === -1 ? "?" : "&") + "autoplay=1";
      element.title = container.getAttribute("data-player-title");
      element.allow = "autoplay; fullscreen; picture-in-picture; encrypted-media";
      element.allowFullscreen = true;
      element.referrerPolicy = "strict-origin-when-cross-origin";
    } else {
      element = makeVideo(container, kind, url);
    }
    var facade = container.querySelector(".player-facade");
    facade.replaceWith(element);
    var status = container.querySelector(".player-status");
    if (status) { status.textContent = status.getAttribute("data-loaded-text"); }
    element.focus();
  }

  document.querySelectorAll(".player[data-player-url]").forEach(function (container) {
    var button = container.querySelector(".player-load");
    button.addEventListener("click", function () { loadPlayer(container); });
  });
  // Our own HLS: Safari plays it natively (and with preload="none" fetches nothing yet);
  // elsewhere hls.js and the playlist load only when the viewer presses play.
  function prepareHls(video) {
    var src = video.getAttribute("data-hls-src");
    if (playsNatively(video)) { video.src = src; return; }
    video.addEventListener("play", function start() {
      video.removeEventListener("play", start);
      startHls(video, src).then(function () { video.play(); });
    });
  }
  document.querySelectorAll("video[data-hls-src]").forEach(prepareHls);
  // For players put in the page later (static/js/stage.js, when a speaker goes live).
  window.ArenaPlayer = { prepareHls: prepareHls };
})();
