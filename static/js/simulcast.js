// A talk's simulcast destinations and their states (templates/partials/simulcast_status.html).
// The page is complete without this script (the server renders the states); it keeps them
// current: in the studio from the studio's socket (watch_simulcast, then simulcast_state
// events), on the admin's page by asking the state address every few seconds. The list is no
// live region; one polite status line says only when a destination starts sending, stops,
// or starts retrying (not each attempt while it retries).
import { afterDeferredScripts, findAll } from "./lib/dom.js";
import { getJson, whileVisible } from "./lib/fetch.js";
import { askOnEveryConnect, connect, socketAvailable } from "./lib/socket.js";
import { format, textFrom } from "./lib/text.js";

const POLL_MS = 3000;

function start(box) {
  const text = textFrom(box);
  const list = box.querySelector("[data-simulcast-list]");
  const announce = box.querySelector("[data-simulcast-announce]");
  const talkId = parseInt(box.getAttribute("data-talk-id"), 10);
  const spoken = {};  // destination id -> the state last announced
  const lang = document.documentElement.lang || undefined;

  function shownState(item) { return item.enabled ? item.state : "disabled"; }

  function reasonOf(item) {
    if (!item.enabled || !item.reason || ["retrying", "failed", "connecting"].indexOf(item.state) < 0) { return ""; }
    return text("reason-" + item.reason.replace(/_/g, "-")) || text("reason-error");
  }

  function rowFor(item) {
    let row = list.querySelector('[data-destination-id="' + item.id + '"]');
    if (row) { return row; }
    row = document.createElement("li");
    row.className = "simulcast-item";
    row.setAttribute("data-destination-id", String(item.id));
    const label = document.createElement("span");
    label.className = "simulcast-label";
    label.setAttribute("data-label", "");
    const state = document.createElement("span");
    state.className = "simulcast-state";
    state.setAttribute("data-state-text", "");
    const reason = document.createElement("span");
    reason.className = "simulcast-reason";
    reason.setAttribute("data-reason-text", "");
    row.append(label, ": ", state, " ", reason);
    list.appendChild(row);
    return row;
  }

  function show(item) {
    if (!item || item.talk_id !== talkId) { return; }
    const row = rowFor(item);
    const state = shownState(item);
    let reason = reasonOf(item);
    if (item.enabled && item.next_attempt_at) {
      const at = new Date(item.next_attempt_at);
      if (!isNaN(at.getTime())) {
        const time = at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
        reason = (reason ? reason + " " : "") + format(text("next"), { time: time });
      }
    }
    const stateWords = text("state-" + state) || state;
    row.setAttribute("data-state", state);
    row.querySelector("[data-label]").textContent = item.label;
    row.querySelector("[data-state-text]").textContent = stateWords;
    row.querySelector("[data-reason-text]").textContent = reason;
    // Connecting comes and goes with every attempt: it is never announced on its own.
    if (state === "connecting") { return; }
    if (spoken[item.id] === undefined) { spoken[item.id] = state; return; }  // as the page showed it
    if (spoken[item.id] !== state) {
      spoken[item.id] = state;
      announce.textContent = format(text("announce"), { label: item.label, state: stateWords });
    }
  }

  function showAll(items) {
    const seen = new Set();
    (items || []).forEach(function (item) { seen.add(String(item.id)); show(item); });
    // Removed meanwhile (in another tab, by another organiser): off the list.
    findAll("[data-destination-id]", list).forEach(function (row) {
      if (!seen.has(row.getAttribute("data-destination-id"))) { row.remove(); }
    });
  }

  // The states as the page was rendered: a change from these is what gets announced.
  findAll("[data-destination-id]", list).forEach(function (row) {
    spoken[row.getAttribute("data-destination-id")] = row.getAttribute("data-state");
  });

  const pollUrl = box.getAttribute("data-poll-url");
  if (pollUrl) {
    whileVisible(POLL_MS, function () {
      getJson(pollUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (body) { if (body) { showAll(body.destinations); } })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    });
    return;
  }
  if (!socketAvailable()) { return; }
  const socket = connect("/studio");
  askOnEveryConnect(socket, "watch_simulcast", { talk_id: talkId }, function (answer) { showAll(answer.destinations); });
  socket.on("simulcast_state", show);
}

// In the studio, Socket.IO's client stands after this script (in the live panel).
afterDeferredScripts(function () {
  findAll("[data-simulcast]").forEach(start);
});
