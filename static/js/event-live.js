// The event page's LIVE badges follow the talks (a speaker going live from the studio, an
// organiser's schedule): every 15 s the page asks the JSON API which talks are live now and
// marks their cards. No socket: the event page has no live room, and 15 s is soon enough
// for a list; the talk page itself flips at once (static/js/stage.js).
(function () {
  "use strict";
  var script = document.currentScript;
  var slug = script && script.getAttribute("data-event-slug");
  if (!slug || !window.fetch) { return; }
  var INTERVAL = 15000;

  function update() {
    if (document.hidden) { return; }
    fetch("/api/events/" + encodeURIComponent(slug), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || !body.talks) { return; }
        body.talks.forEach(function (talk) {
          var card = document.querySelector('.talk-card[data-talk-slug="' + talk.slug + '"]');
          if (!card) { return; }
          card.classList.toggle("is-live", !!talk.live);
          var badge = card.querySelector("[data-live-badge]");
          if (badge) { badge.hidden = !talk.live; }
        });
      })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(update, INTERVAL);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { update(); } });
})();
