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

// A talk page's stage follows the studio (docs/golive.md): when the speaker goes live, the
// live room pushes `live_state` (static/js/live.js passes it on as "arena:live-state") and
// the page shows the stream in place of what it showed, without a reload; the LIVE badge
// follows; when the stream ends, the player plays to the end and the page says so.
(function () {
  "use strict";
  var root = document.querySelector("[data-golive]");
  if (!root) { return; }
  var stage = root.closest(".stage");
  var status = root.querySelector("[data-golive-status]");
  var badge = document.querySelector("[data-live-badge]");

  function text(name) { return root.getAttribute("data-text-" + name) || ""; }

  function showPlayer(data) {
    var current = root.querySelector("video[data-hls-src]");
    if (current && root.getAttribute("data-stream-id") === String(data.stream_id)) { return; }
    if (current) { current.closest(".player").remove(); }
    // Whatever the stage showed before (an embedded player, "no video yet") gives way.
    Array.prototype.forEach.call(stage.children, function (child) {
      if (child !== root && !child.classList.contains("visually-hidden")) { child.hidden = true; }
    });
    var player = document.createElement("div");
    player.className = "player";
    player.id = "stream-player";
    var video = document.createElement("video");
    video.controls = true;
    video.playsInline = true;
    video.preload = "none";
    video.setAttribute("data-hls-src", data.playlist_url);
    video.setAttribute("data-hls-live", "");
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
      showPlayer(data);
      setStatus(data.state);
    } else if (data.state === "ended" && previous && previous !== "ended") {
      setStatus("ended");  // the player (if any) plays to the closed playlist's end
    }
  });
})();
