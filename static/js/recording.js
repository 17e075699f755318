// A published recording: chapter links and deep links (#t=12m30s, #t=750) jump within it.
// Our own <video> seeks; a third-party player that is still behind its facade will start
// at that moment once the visitor presses play (nothing loads before that click).
import { playQuietly } from "./lib/dom.js";
import { format } from "./lib/text.js";

const box = document.querySelector("[data-recording]");
const status = box && box.querySelector("[data-recording-status]");

function parseMoment(text) {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(text || "");
  if (!match || !text) { return null; }
  return (parseInt(match[1] || "0", 10) * 3600) + (parseInt(match[2] || "0", 10) * 60) + parseFloat(match[3] || "0");
}

function clock(seconds) {
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = function (n) { return (n < 10 ? "0" : "") + n; };
  return h ? h + ":" + pad(m) + ":" + pad(r) : m + ":" + pad(r);
}

function say(key, seconds) {
  if (status) { status.textContent = format(status.getAttribute(key), { time: clock(seconds) }); }
}

function withStart(url, seconds) {
  const s = Math.floor(seconds);
  if (url.indexOf("youtube-nocookie.com") !== -1) {
    url = url.replace(/([?&])start=\d+&?/, "$1").replace(/[?&]$/, "");
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "start=" + s;
  }
  if (url.indexOf("vimeo.com") !== -1) { return url.split("#")[0] + "#t=" + s + "s"; }
  return url;
}

function seek(seconds) {
  const video = box.querySelector("video");
  if (video) {
    const go = function () {
      video.currentTime = seconds;
      playQuietly(video);  // autoplay refused: stays paused there
    };
    if (video.readyState >= 1) { go(); } else {
      video.preload = "metadata";
      video.addEventListener("loadedmetadata", go, { once: true });
      video.load();
    }
    say("data-jumped-text", seconds);
    return;
  }
  const facade = box.querySelector(".player[data-player-url]");
  if (facade) {
    facade.setAttribute("data-player-url", withStart(facade.getAttribute("data-player-url"), seconds));
    const button = facade.querySelector(".player-load");
    if (button) { button.focus(); }
    say("data-press-play-text", seconds);
  }
}

function fromHash() {
  const match = /^#t=([0-9hms.]+)$/.exec(window.location.hash);
  const seconds = match ? parseMoment(match[1]) : null;
  if (seconds !== null) { seek(seconds); }
}

if (box) {
  box.querySelectorAll("a[data-seconds]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      history.replaceState(null, "", link.getAttribute("href"));
      seek(parseFloat(link.getAttribute("data-seconds")));
    });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
}
