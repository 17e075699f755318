// A published recording: chapter links and deep links (#t=12m30s, #t=750) jump within it.
// Our own <video> seeks; a third-party player that is still behind its facade will start
// at that moment once the visitor presses play (nothing loads before that click).
(function () {
  "use strict";
  var box = document.querySelector("[data-recording]");
  if (!box) { return; }
  var status = box.querySelector("[data-recording-status]");

  function parseMoment(text) {
    var match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(text || "");
    if (!match || !text) { return null; }
    return (parseInt(match[1] || "0", 10) * 3600) + (parseInt(match[2] || "0", 10) * 60) + parseFloat(match[3] || "0");
  }

  function clock(seconds) {
    var s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(r) : m + ":" + pad(r);
  }

  function say(key, seconds) {
    if (status) { status.textContent = status.getAttribute(key).replace("{time}", clock(seconds)); }
  }

  function withStart(url, seconds) {
    var s = Math.floor(seconds);
    if (url.indexOf("youtube-nocookie.com") !== -1) {
      url = url.replace(/([?&])start=\d+&?/, "$1").replace(/[?&]$/, "");
      return url + (url.indexOf("?") === -1 ? "?" : "&") + "start=" + s;
    }
    if (url.indexOf("vimeo.com") !== -1) { return url.split("#")[0] + "#t=" + s + "s"; }
    return url;
  }

  function seek(seconds) {
    var video = box.querySelector("video");
    if (video) {
      var go = function () {
        video.currentTime = seconds;
        var playing = video.play();
        if (playing && playing.catch) { playing.catch(function () {}); }  // autoplay refused: stays paused there
      };
      if (video.readyState >= 1) { go(); } else {
        video.preload = "metadata";
        video.addEventListener("loadedmetadata", go, { once: true });
        video.load();
      }
      say("data-jumped-text", seconds);
      return;
    }
    var facade = box.querySelector(".player[data-player-url]");
    if (facade) {
      facade.setAttribute("data-player-url", withStart(facade.getAttribute("data-player-url"), seconds));
      var button = facade.querySelector(".player-load");
      if (button) { button.focus(); }
      say("data-press-play-text", seconds);
    }
  }

  function fromHash() {
    var match = /^#t=([0-9hms.]+)$/.exec(window.location.hash);
    var seconds = match ? parseMoment(match[1]) : null;
    if (seconds !== null) { seek(seconds); }
  }

  box.querySelectorAll("a[data-seconds]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      history.replaceState(null, "", link.getAttribute("href"));
      seek(parseFloat(link.getAttribute("data-seconds")));
    });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
