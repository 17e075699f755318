// Players. A third-party player is only inserted when its facade button is pressed, so no
// request reaches the provider before the visitor chooses it. HLS plays natively where the
// browser can (Safari), else through hls.js, loaded from our own /static only when needed.
//
// A live stream with the quality ladder (server/media/hls.py: master.m3u8 over source.m3u8,
// 360p.m3u8 and audio.m3u8) gets a quality menu beside the player: Automatic (the player switches
// by bandwidth), each picture by its height, and audio only. The choice is kept in this
// browser (localStorage) for every talk. hls.js leaves the master's audio-only variant out of
// its levels, so Automatic never falls to sound only; choosing audio only plays that
// rendition's own playlist, natively or through hls.js alike.
import { playQuietly } from "./lib/dom.js";
import { readStored, store } from "./lib/storage.js";
import { textFrom } from "./lib/text.js";

const HLS_SCRIPT = "/static/vendor/hls.min.js";
const QUALITY_KEY = "arena.quality";  // "auto" | "source" | "360p" | "audio"
const SETTLE_MS = 400;  // arrow keys on a closed <select> change it at every step: act once

function loadScript(src) {
  return new Promise(function (resolve, reject) {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.appendChild(script);
  });
}

function storedQuality() { return readStored(QUALITY_KEY, "auto"); }

// The studio's live streams go through hls.js wherever Media Source Extensions exist, so
// their low-latency settings apply; native HLS (Safari, iPhone, newer Chromium) otherwise.
function playsNatively(video) {
  if (!video.canPlayType("application/vnd.apple.mpegurl")) { return false; }
  return !(video.hasAttribute("data-hls-live") && (window.MediaSource || window.ManagedMediaSource));
}

// -- the ladder ------------------------------------------------------------------------
function isLadder(video) { return video.hasAttribute("data-hls-ladder"); }

function renditionUrl(master, name) {
  return master.replace(/master\.m3u8(\?.*)?$/, name + ".m3u8");
}

// What the viewer chose, as far as this stream has it ("source" of a ladder without a
// 360p rendition is still the source; a choice the stream lacks means Automatic).
function qualityOf(video) {
  const quality = video._quality || storedQuality();
  const offered = video._offered;
  if (offered && offered.indexOf(quality) === -1) { return "auto"; }
  return quality;
}

// The playlist to open for a quality: the master for Automatic (and, in hls.js, for a
// picture: the level is pinned once the master is read), else the rendition's own.
function playlistFor(video, quality, natively) {
  const master = video.getAttribute("data-hls-src");
  if (!isLadder(video) || quality === "auto") { return master; }
  if (quality === "audio" || natively) { return renditionUrl(master, quality); }
  return master;
}

function pinLevel(hls, quality) {
  if (quality === "auto" || quality === "audio") { hls.nextLevel = -1; return; }
  const wanted = "/" + quality + ".m3u8";
  for (let index = 0; index < hls.levels.length; index += 1) {
    const uri = hls.levels[index].uri || "";
    if (uri.split("?")[0].slice(-wanted.length) === wanted) { hls.nextLevel = index; return; }
  }
}

function startHls(video, src) {
  const natively = playsNatively(video);
  const quality = isLadder(video) ? qualityOf(video) : "auto";
  const url = src ? src : playlistFor(video, quality, natively);
  video._playing = url;
  if (natively) {
    video.src = url;
    return Promise.resolve();
  }
  return (window.Hls ? Promise.resolve() : loadScript(HLS_SCRIPT)).then(function () {
    if (!window.Hls || !window.Hls.isSupported()) { video.src = url; return; }
    if (video._hls) { video._hls.destroy(); }
    // The studio's streams have 1 s segments: stay close to the live edge (docs/golive.md).
    const hls = new window.Hls(video.hasAttribute("data-hls-live")
      // No worker: the CSP allows scripts from our own files only, not hls.js's blob: worker.
      ? { liveSyncDuration: 1.5, liveMaxLatencyDuration: 5, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 30,
          enableWorker: false }
      : { liveSyncDurationCount: 2 });
    if (isLadder(video) && quality !== "audio") {
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { pinLevel(hls, qualityOf(video)); });
    }
    hls.on(window.Hls.Events.ERROR, function (event, data) {
      if (data && data.fatal) { video._failed = true; }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video._hls = hls;
  });
}

// A new choice while the stream plays: a picture level in hls.js switches at the next
// segment; audio only (or back from it), or native HLS, opens another playlist.
function applyQuality(video) {
  const quality = qualityOf(video);
  const natively = playsNatively(video);
  const wanted = playlistFor(video, quality, natively);
  const started = natively ? !!video.getAttribute("src") : !!video._hls;
  showAudioNote(video, quality === "audio");
  if (!started) { return; }  // the viewer has not pressed play: the choice applies then
  if (wanted === video._playing) {
    if (!natively && video._hls) { pinLevel(video._hls, quality); }
    return;
  }
  const wasPlaying = !video.paused;
  startHls(video, wanted).then(function () {
    if (wasPlaying) { playQuietly(video); }
  });
}

function showAudioNote(video, audioOnly) {
  const player = video.closest(".player");
  const note = player && player.querySelector("[data-player-audio-note]");
  if (note) { note.hidden = !audioOnly; }
}

function parseMaster(text) {
  // [{name: "source", short: 720, audioOnly: false}, ...] in the master's order.
  const renditions = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    if (lines[index].indexOf("#EXT-X-STREAM-INF:") !== 0) { continue; }
    let uri = "";
    for (let next = index + 1; next < lines.length && !uri; next += 1) {
      if (lines[next] && lines[next].charAt(0) !== "#") { uri = lines[next].trim(); }
    }
    const size = /RESOLUTION=(\d+)x(\d+)/.exec(lines[index]);
    const name = uri.split("?")[0].replace(/\.m3u8$/, "");
    if (!name) { continue; }
    renditions.push({ name: name, short: size ? Math.min(+size[1], +size[2]) : 0, audioOnly: !size });
  }
  return renditions;
}

let menus = 0;

function buildMenu(video, renditions) {
  const root = video.closest("[data-golive]") || document.body;
  const text = textFrom(root);
  const player = video.closest(".player");
  menus += 1;
  const box = document.createElement("div");
  box.className = "player-quality";
  const label = document.createElement("label");
  label.htmlFor = "player-quality-" + menus;
  label.textContent = text("quality");
  const select = document.createElement("select");
  select.id = label.htmlFor;
  select.setAttribute("data-player-quality", "");
  const options = [{ value: "auto", label: text("quality-auto") }];
  const seen = {};
  renditions.forEach(function (rendition) {
    if (rendition.audioOnly) { return; }
    const name = rendition.short ? rendition.short + "p" : rendition.name;
    if (seen[name]) { return; }  // a 360p source needs no second 360p
    seen[name] = true;
    options.push({ value: rendition.name, label: name });
  });
  renditions.forEach(function (rendition) {
    if (rendition.audioOnly) { options.push({ value: rendition.name, label: text("quality-audio") }); }
  });
  video._offered = options.map(function (option) { return option.value; });
  options.forEach(function (option) {
    const element = document.createElement("option");
    element.value = option.value;
    element.textContent = option.label;
    select.appendChild(element);
  });
  select.value = qualityOf(video);
  box.appendChild(label);
  box.appendChild(select);
  player.insertAdjacentElement("afterend", box);

  const note = document.createElement("p");
  note.className = "player-audio-note";
  note.setAttribute("data-player-audio-note", "");
  note.textContent = text("audio-note");
  player.appendChild(note);
  showAudioNote(video, select.value === "audio");

  let timer = null;
  select.addEventListener("change", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      if (video._quality === select.value) { return; }
      video._quality = select.value;
      store(QUALITY_KEY, select.value);
      applyQuality(video);
      // Said once, when the viewer has settled, in the stage's own status line.
      const status = root.querySelector("[data-golive-status]");
      const chosen = select.options[select.selectedIndex].textContent;
      if (status) { status.textContent = text("quality-changed").replace("%s", chosen); }
    }, SETTLE_MS);
  });
  video._quality = select.value;
}

// The menu lists what the master playlist offers. A master not there yet (a stream in its
// first seconds) or not reached (a network hiccup) is asked for again, for a while.
function prepareLadder(video, tries) {
  const master = video.getAttribute("data-hls-src");
  if (!window.fetch || !video.isConnected || video._menu) { return; }
  const again = function () {
    if ((tries || 0) < 15) { window.setTimeout(function () { prepareLadder(video, (tries || 0) + 1); }, 2000); }
  };
  window.fetch(master, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
    return response.ok ? response.text() : "";
  }).then(function (text) {
    const renditions = parseMaster(text);
    if (renditions.length < 2) { again(); return; }
    if (video.isConnected && !video._menu) {
      video._menu = true;
      buildMenu(video, renditions);
      if (playsNatively(video)) { applyQuality(video); }
    }
  }).catch(again);  // meanwhile the master playlist plays in Automatic
}

// -- third-party players ----------------------------------------------------------------
function makeVideo(container, kind, url) {
  const video = document.createElement("video");
  video.controls = true;
  video.playsInline = true;
  video.setAttribute("aria-label", container.getAttribute("data-player-title"));
  if (kind === "hls") { startHls(video, url); } else { video.src = url; }
  return video;
}

function loadPlayer(container) {
  const kind = container.getAttribute("data-player-kind");
  const url = container.getAttribute("data-player-url");
  let element;
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
  const facade = container.querySelector(".player-facade");
  facade.replaceWith(element);
  const status = container.querySelector(".player-status");
  if (status) { status.textContent = status.getAttribute("data-loaded-text"); }
  element.focus();
}

// Our own HLS: Safari plays it natively (and with preload="none" fetches nothing yet);
// elsewhere hls.js and the playlist load only when the viewer presses play.
export function prepareHls(video) {
  if (isLadder(video)) { prepareLadder(video); }
  // Native HLS: a playlist that was not there (404) leaves the <video> in error for good.
  video.addEventListener("error", function () { if (video.getAttribute("src")) { video._failed = true; } });
  if (playsNatively(video)) { startHls(video); return; }
  video.addEventListener("play", function start() {
    video.removeEventListener("play", start);
    startHls(video).then(function () { video.play(); });
  });
}

// bind(root): the players under root; also for players put in the page later (static/js/stage.js,
// when a speaker goes live or the stream ends).
export function bind(root) {
  root.querySelectorAll(".player[data-player-url]").forEach(function (container) {
    const button = container.querySelector(".player-load");
    if (button) { button.addEventListener("click", function () { loadPlayer(container); }); }
  });
  root.querySelectorAll("video[data-hls-src]").forEach(prepareHls);
}

// Stops every player under root (a third-party one that was loaded, our own HLS), before
// stage.js takes them out of the page.
export function stop(root) {
  root.querySelectorAll("video").forEach(function (video) {
    video.pause();
    if (video._hls) { video._hls.destroy(); video._hls = null; }
  });
}

// failed(video): our HLS player gave up (hls.js's fatal error, or the <video>'s own error):
// stage.js makes a new one when the live room says the stream is live.
export function failed(video) { return !!video._failed; }

bind(document);
