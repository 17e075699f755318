// The event page's LIVE badges follow the talks (a speaker going live from the studio, an
// organiser's schedule): every 15 s the page asks the JSON API which talks are live now and
// marks their cards. No socket: the event page has no live room, and 15 s is soon enough
// for a list; the talk page itself flips at once (static/js/stage.js).
import { getJson, whileVisible } from "./lib/fetch.js";

const INTERVAL = 15000;
// A module has no document.currentScript: the event is named on its <script> tag.
const script = document.querySelector("script[data-event-slug]");
const slug = script && script.getAttribute("data-event-slug");

function update() {
  if (document.hidden) { return; }
  getJson("/api/events/" + encodeURIComponent(slug))
    .then(function (body) {
      if (!body || !body.talks) { return; }
      body.talks.forEach(function (talk) {
        const card = document.querySelector('.talk-card[data-talk-slug="' + talk.slug + '"]');
        if (!card) { return; }
        card.classList.toggle("is-live", !!talk.live);
        const badge = card.querySelector("[data-live-badge]");
        if (badge) { badge.hidden = !talk.live; }
      });
    })
    .catch(function () { /* the next round tries again */ });
}

if (slug && window.fetch) {
  whileVisible(INTERVAL, update);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { update(); } });
}
