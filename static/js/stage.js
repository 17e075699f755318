// A talk page's stage and LIVE badge follow the talk without a reload. Two events from the
// live room (static/js/live/room.js passes them on as DOM events):
// - "arena:talk-live": the talk's live status (an organiser set "Ended" in the admin, the
//   studio, the programme's clock). The status line speaks once per change, politely; a
//   recording held back while the talk was live is offered once it has ended.
// - "arena:live-state": the studio's stream (docs/golive.md). When the speaker goes live (from
//   the studio or a venue's encoder) the page shows the stream in place of what it showed;
//   while the stream is on, it is the only player (a third-party player that was loaded stops
//   and goes) and the talk's stream address is a link under it. When the stream ends, the
//   player plays to the end of the closed playlist, then the stage returns to what it showed.
import { playQuietly } from "./lib/dom.js";
import { textFrom } from "./lib/text.js";
import * as players from "./player.js";

function followTalkLive(status) {
  const badge = document.querySelector("[data-live-badge]");
  document.addEventListener("arena:talk-live", function (event) {
    const live = !!(event.detail && event.detail.live);
    const was = status.getAttribute("data-live") === "true";
    if (live === was) { return; }
    status.setAttribute("data-live", live ? "true" : "false");
    if (badge) { badge.hidden = !live; }
    // A stream from the studio speaks for itself (its own status line below): said once, there.
    const studio = document.querySelector("[data-golive]");
    if (studio && studio.getAttribute("data-state")) { return; }
    const message = live ? status.getAttribute("data-text-live")
      : status.getAttribute("data-text-recording") || status.getAttribute("data-text-ended");
    status.textContent = message || "";
  });
}

function followStream(root) {
  const stage = root.closest(".stage");
  const status = root.querySelector("[data-golive-status]");
  const badge = document.querySelector("[data-live-badge]");
  const also = stage.querySelector("[data-stage-also]");
  // What the stage shows without the stream, as the server made it: a <template> when the
  // page was made while the stream was on (nothing of it loaded), else the element itself.
  let fallback = stage.querySelector("[data-stage-fallback]");
  const fallbackHtml = fallback ? fallback.innerHTML : "";
  const text = textFrom(root);

  function hideFallback() {
    if (!fallback || fallback.tagName === "TEMPLATE" || fallback.hidden) { return; }
    players.stop(fallback);
    fallback.hidden = true;
    fallback.innerHTML = "";  // a loaded third-party player must not play on, unseen
  }

  function showFallback() {
    if (!fallback) { return; }
    if (fallback.tagName === "TEMPLATE") {
      const shown = document.createElement("div");
      shown.className = "stage-fallback";
      shown.setAttribute("data-stage-fallback", "");
      fallback.replaceWith(shown);
      fallback = shown;
    } else if (!fallback.hidden) {
      return;
    }
    fallback.innerHTML = fallbackHtml;
    fallback.hidden = false;
    players.bind(fallback);
  }

  function removePlayer() {
    const player = root.querySelector(".player");
    if (!player) { return; }
    players.stop(player);
    const menu = root.querySelector(".player-quality");
    if (menu) { menu.remove(); }
    player.remove();
  }

  // The stream's player: kept when it is already this stream's and was made while the stream
  // was on air; made anew when there is none, when the page was made while the stream was
  // still connecting (no playlist yet), or when the player it has gave up (a playlist asked
  // for before it existed: native HLS does not ask again by itself).
  function showPlayer(data, previous) {
    const current = root.querySelector("video[data-hls-src]");
    hideFallback();
    if (also) { also.hidden = false; }
    const failed = current && players.failed(current);
    if (current && !failed && previous !== "connecting"
        && root.getAttribute("data-stream-id") === String(data.stream_id)) { return; }
    removePlayer();
    const player = document.createElement("div");
    player.className = "player";
    player.id = "live-player";
    const video = document.createElement("video");
    video.controls = true;
    video.playsInline = true;
    video.preload = "none";
    video.setAttribute("data-hls-src", data.playlist_url);
    video.setAttribute("data-hls-live", "");
    if (/\/master\.m3u8(\?|$)/.test(data.playlist_url || "")) { video.setAttribute("data-hls-ladder", ""); }
    video.setAttribute("aria-label", text("player"));
    player.appendChild(video);
    root.appendChild(player);
    root.setAttribute("data-stream-id", String(data.stream_id));
    players.prepareHls(video);
    // Start at the live edge if the browser lets a page play by itself; otherwise the
    // viewer presses play.
    playQuietly(video);
  }

  // The stream is over: a viewer still watching sees its last seconds, then the stage is
  // as it was before the stream.
  function endStream() {
    const video = root.querySelector("video[data-hls-src]");
    function restore() {
      if (root.getAttribute("data-state") !== "ended") { return; }  // live again meanwhile
      removePlayer();
      if (also) { also.hidden = true; }
      showFallback();
    }
    if (video && !video.paused && !video.ended) {
      video.addEventListener("ended", restore, { once: true });
      video.addEventListener("pause", restore, { once: true });
    } else {
      restore();
    }
  }

  function setStatus(state) {
    const message = state === "live" ? text("live") : state === "reconnecting" ? text("reconnecting")
      : state === "ended" ? text("ended") : "";
    if (status.textContent.trim() !== message) { status.textContent = message; }
  }

  document.addEventListener("arena:live-state", function (event) {
    const data = event.detail || {};
    const previous = root.getAttribute("data-state");
    root.setAttribute("data-state", data.state);
    if (badge && previous !== data.state) { badge.hidden = data.state === "ended"; }
    if (data.state === "live" || data.state === "reconnecting") {
      showPlayer(data, previous);
      if (previous !== data.state) { setStatus(data.state); }
    } else if (data.state === "ended" && previous && previous !== "ended") {
      setStatus("ended");
      endStream();
    }
  });
}

const talkStatus = document.querySelector("[data-talk-live-status]");
if (talkStatus) { followTalkLive(talkStatus); }
const golive = document.querySelector("[data-golive]");
if (golive) { followStream(golive); }
