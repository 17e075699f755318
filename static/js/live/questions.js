// Questions to the speaker: listing, sorting (most votes or newest) and votes.
import { $, call, clone, el, plural, state, STATES, text } from "./context.js";
import { paced } from "../lib/announce.js";
import { format } from "../lib/text.js";
import { banOrReport, renderActions } from "./messages.js";
import { authorName, fillMeta, isMine, renderBody } from "./render.js";

// -- questions -----------------------------------------------------------------------------------
export function questionActions(data) {
  const actions = [];
  if (state.me.host && (data.state === "visible" || data.state === "answered")) { actions.push("answering"); }
  if (state.me.host && (data.state === "visible" || data.state === "answering")) { actions.push("answered"); }
  if (state.me.moderator) {
    if (data.state === "awaiting_approval") { actions.push("approve"); }
    actions.push(data.state === "hidden" ? "restore" : "hide");
  }
  return banOrReport(data, actions);
}

export function renderQuestion(entry) {
  const data = entry.data;
  const item = entry.el;
  fillMeta(item, data);
  const badge = $("[data-state]", item);
  if (STATES.indexOf(data.state) !== -1) {
    badge.textContent = text("state-" + data.state);
    badge.className = "live-tag live-state live-state-" + data.state;
    badge.hidden = false;
  } else {
    badge.hidden = true;
  }
  item.classList.toggle("is-answering", data.state === "answering");
  const body = $("[data-body]", item);
  if (body.getAttribute("data-rendered") !== data.body) {
    renderBody(body, data.body);
    body.setAttribute("data-rendered", data.body);
  }
  updateVote(entry);
  renderActions(entry, "question", questionActions(data));
}

export function updateVote(entry) {
  const data = entry.data;
  const button = $("[data-vote]", entry.el);
  button.hidden = data.state === "awaiting_approval" || data.state === "hidden";
  button.setAttribute("aria-pressed", state.myVotes.has(data.id) ? "true" : "false");
  // Votes stop while the questions are closed; the notice above the list says why.
  const closed = !state.rules.questions_open;
  button.disabled = closed;
  button.setAttribute("aria-describedby", button.getAttribute("data-body-id") + (closed ? " live-questions-notice" : ""));
  button.setAttribute("aria-label", format(text("label-question"), { action: button.getAttribute("data-label"),
                                                                     name: authorName(data) }));
  const count = $("[data-vote-count]", entry.el);
  count.textContent = plural("votes", data.votes);
  count.hidden = button.hidden;
}

export function visibleToMe(data) {
  if (state.me.moderator) { return true; }
  if (data.state === "hidden") { return false; }
  if (data.state !== "awaiting_approval") { return true; }
  // A participant is only ever sent their own waiting questions. A speaker's join also
  // lists other people's (see the report on qa.questions_for): show only their own.
  return !state.me.host || isMine(data) || state.questions.has(data.id);
}

export function upsertQuestion(data) {
  if (!data || typeof data.id !== "number") { return; }
  let entry = state.questions.get(data.id);
  if (!visibleToMe(data)) { removeQuestion(data.id); return; }
  if (!entry) {
    entry = { data: data, el: clone("question"), actionsKey: null };
    entry.el.setAttribute("data-kind", "question");
    entry.el.setAttribute("data-id", String(data.id));
    const body = $("[data-body]", entry.el);
    body.id = "live-question-" + data.id + "-body";
    const vote = $("[data-vote]", entry.el);
    vote.setAttribute("data-label", vote.textContent.trim());
    vote.setAttribute("data-body-id", body.id);
    vote.setAttribute("aria-describedby", body.id);
    vote.addEventListener("click", function () { toggleVote(entry); });
    state.questions.set(data.id, entry);
  } else {
    entry.data = data;
  }
  renderQuestion(entry);
  const list = state.me.moderator && data.state === "awaiting_approval" ? el.awaitingList : el.questions;
  if (entry.el.parentNode !== list) {
    if (entry.el.contains(document.activeElement)) { el.questions.parentNode.focus(); }
    list.appendChild(entry.el);
  }
}

export function removeQuestion(id) {
  const entry = state.questions.get(id);
  if (!entry) { return; }
  if (entry.el.contains(document.activeElement)) { el.questions.parentNode.focus(); }
  entry.el.remove();
  state.questions.delete(id);
  sortQuestions();
}

export function replaceQuestions(list) {
  const seen = new Set();
  list.forEach(function (data) { seen.add(data.id); upsertQuestion(data); });
  Array.from(state.questions.keys()).forEach(function (id) {
    if (!seen.has(id) && !isMine(state.questions.get(id).data)) { removeQuestion(id); }
  });
  sortQuestions();
}

export function rank(data) {
  if (data.state === "answering") { return 0; }
  if (state.sort === "votes" && data.state === "answered") { return 2; }
  return 1;
}

export function compareQuestions(a, b) {
  const byRank = rank(a) - rank(b);
  if (byRank) { return byRank; }
  if (state.sort === "newest") { return b.id - a.id; }
  return (b.votes - a.votes) || (a.id - b.id);
}

export function reorder(list, entries) {
  // Put the list in order by moving existing nodes. The item that holds the focus never
  // moves (a moved node loses focus): the others are placed before and after it.
  const wanted = entries.map(function (entry) { return entry.el; });
  const current = Array.prototype.slice.call(list.children);
  if (wanted.length === current.length && wanted.every(function (node, i) { return node === current[i]; })) { return; }
  let anchor = null;
  wanted.forEach(function (node) { if (node.contains(document.activeElement)) { anchor = node; } });
  const anchorIndex = anchor ? wanted.indexOf(anchor) : -1;
  wanted.forEach(function (node, i) {
    if (node === anchor) { return; }
    if (anchor && i < anchorIndex) { list.insertBefore(node, anchor); } else { list.appendChild(node); }
  });
}

export function sortQuestions() {
  const main = [], awaiting = [];
  state.questions.forEach(function (entry) {
    (entry.el.parentNode === el.awaitingList ? awaiting : main).push(entry);
  });
  const byData = function (a, b) { return compareQuestions(a.data, b.data); };
  main.sort(byData);
  awaiting.sort(function (a, b) { return a.data.id - b.data.id; });
  reorder(el.questions, main);
  reorder(el.awaitingList, awaiting);
  el.awaiting.hidden = !awaiting.length;
  el.questionsEmpty.hidden = main.length > 0;
  const count = main.filter(function (entry) {
    return entry.data.state !== "hidden" && entry.data.state !== "awaiting_approval";
  }).length;
  el.questionCount.textContent = plural("questions", count);
  showAwaitingCount(awaiting.length);
}

// Moderators see how many questions wait for approval, whichever tab is open. Screen readers
// hear it when the number grows, at most once every AWAITING_ANNOUNCE_INTERVAL (the latest number).
export const AWAITING_ANNOUNCE_INTERVAL = 10000;
let awaitingShown = 0;
const askToAnnounceAwaiting = paced(AWAITING_ANNOUNCE_INTERVAL, 500, function () {
  if (awaitingShown) { el.awaitingAnnouncer.textContent = plural("awaiting", awaitingShown); }
});
export function showAwaitingCount(count) {
  if (!state.me.moderator) { el.awaitingCount.hidden = true; return; }
  el.awaitingCount.textContent = count ? plural("awaiting", count) : "";
  el.awaitingCount.hidden = !count;
  const grew = count > awaitingShown;
  awaitingShown = count;
  if (grew) { askToAnnounceAwaiting(); }
}

export function toggleVote(entry) {
  const id = entry.data.id;
  if (state.voting.has(id) || state.banned || !state.rules.questions_open) { return; }
  state.voting.add(id);
  el.questionsError.textContent = "";
  call("vote", { question_id: id, up: !state.myVotes.has(id) }, function (ack) {
    state.voting.delete(id);
    if (!ack.ok) { el.questionsError.textContent = ack.message || ""; return; }
    if (ack.voted) { state.myVotes.add(id); } else { state.myVotes.delete(id); }
    entry.data.votes = ack.votes;
    updateVote(entry);
    sortQuestions();
  });
}

el.sortButtons.forEach(function (button) {
  button.addEventListener("click", function () {
    state.sort = button.getAttribute("data-sort");
    el.sortButtons.forEach(function (other) {
      other.setAttribute("aria-pressed", other === button ? "true" : "false");
    });
    sortQuestions();
  });
});

