// A talk page's LIVE badge follows the talk's live status without a reload: the live room
// pushes `talk_live` (an organiser set "Ended" in the admin, the studio, the programme's clock;
// static/js/live/room.js passes it on as "arena:talk-live"). The status line speaks once per
// change, politely; a recording held back while the talk was live is offered once it has ended.
(function () {
  "use strict";
  var status = document.querySelector("[data-talk-live-status]");
  var badge = document.querySelector("[data-live-badge]");
  if (!status) { return; }
  document.addEventListener("arena:talk-live", function (event) {
    var live = !!(event.detail && event.detail.live);
    var was = status.getAttribute("data-live") === "true";
    if (live === was) { return; }
    status.setAttribute("data-live", live ? "true" : "false");
    if (badge) { badge.hidden = !live; }
    // A stream from the studio speaks for itself (its own status line below): said once, there.
    var studio = document.querySelector("[data-golive]");
    if (studio && studio.getAttribute("data-state")) { return; }
    var message = live ? status.getAttribute("data-text-live")
      : status.getAttribute("data-text-recording") || status.getAttribute("data-text-ended");
    status.textContent = message || "";
  });
})();

// A talk page's stage follows the studio (docs/golive.md): when the speaker goes live (from
// the studio or a venue's encoder), the live room pushes `live_state` (static/js/live.js
// passes it on as "arena:live-state") and the page shows the stream in place of what it
// showed, without a reload; the LIVE badge follows. One player (issue 12): while the stream
// is on, it is the only player (a third-party player that was loaded stops and goes) and
// the talk's stream address is a link under it. When the stream ends, the player plays to
// the end of the closed playlist, then the stage returns to what it showed before.
(function () {
  "use strict";
  var root = document.querySelector("[data-golive]");
  if (!root) { return; }
  var stage = root.closest(".stage");
  var status = root.querySelector("[data-golive-status]");
  var badge = document.querySelector("[data-live-badge]");
  var also = stage.querySelector("[data-stage-also]");
  // What the stage shows without the stream, as the server made it: a <template> when the
  // page was made while the stream was on (nothing of it loaded), else the element itself.
  var fallback = stage.querySelector("[data-stage-fallback]");
  var fallbackHtml = fallback ? fallback.innerHTML : "";

  function text(name) { return root.getAttribute("data-text-" + name) || ""; }

  function hideFallback() {
    if (!fallback || fallback.tagName === "TEMPLATE" || fallback.hidden) { return; }
    if (window.ArenaPlayer) { window.ArenaPlayer.stop(fallback); }
    fallback.hidden = true;
    fallback.innerHTML = "";  // a loaded third-party player must not play on, unseen
  }

  function showFallback() {
    if (!fallback) { return; }
    if (fallback.tagName === "TEMPLATE") {
      var shown = document.createElement("div");
      shown.className = "stage-fallback";
      shown.setAttribute("data-stage-fallback", "");
      fallback.replaceWith(shown);
      fallback = shown;
    } else if (!fallback.hidden) {
      return;
    }
    fallback.innerHTML = fallbackHtml;
    fallback.hidden = false;
    if (window.ArenaPlayer) { window.ArenaPlayer.bind(fallback); }
  }

  function removePlayer() {
    var player = root.querySelector(".player");
    if (!player) { return; }
    if (window.ArenaPlayer) { window.ArenaPlayer.stop(player); }
    var menu = root.querySelector(".player-quality");
    if (menu) { menu.remove(); }
    player.remove();
  }

  // The stream's player: kept when it is already this stream's and was made while the stream
  // was on air; made anew when there is none, when the page was made while the stream was
  // still connecting (no playlist yet), or when the player it has gave up (a playlist asked
  // for before it existed: native HLS does not ask again by itself).
  function showPlayer(data, previous) {
    var current = root.querySelector("video[data-hls-src]");
    hideFallback();
    if (also) { also.hidden = false; }
    var failed = current && window.ArenaPlayer && window.ArenaPlayer.failed(current);
    if (current && !failed && previous !== "connecting"
        && root.getAttribute("data-stream-id") === String(data.stream_id)) { return; }
    removePlayer();
    var player = document.createElement("div");
    player.className = "player";
    player.id = "live-player";
    var video = document.createElement("video");
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
    if (window.ArenaPlayer) { window.ArenaPlayer.prepareHls(video); }
    // Start at the live edge if the browser lets a page play by itself; otherwise the
    // viewer presses play.
    var playing = video.play();
    if (playing && playing.catch) { playing.catch(function () { /* the viewer presses play */ }); }
  }

  // The stream is over: a viewer still watching sees its last seconds, then the stage is
  // as it was before the stream.
  function endStream() {
    var video = root.querySelector("video[data-hls-src]");
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
    var message = state === "live" ? text("live") : state === "reconnecting" ? text("reconnecting")
      : state === "ended" ? text("ended") : "";
    if (status.textContent.trim() !== message) { status.textContent = message; }
  }

  document.addEventListener("arena:live-state", function (event) {
    var data = event.detail || {};
    var previous = root.getAttribute("data-state");
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
})();
