// The chat's messages: shown once each, in id order; the latest MAX_MESSAGES stay on the page
// until the reader loads earlier ones.
import {
  $, $all, actionTexts, ANNOUNCE_MAX_CHARS, clone, el, log, MAX_MESSAGES, state, text, truncate
} from "./context.js";
import { format } from "../lib/text.js";
import { updateEarlier } from "./log.js";
import { runAction } from "./moderation.js";
import { actionButton, announce, authorName, fillMeta, isMine, renderBody } from "./render.js";

// -- chat messages -----------------------------------------------------------------------------
export function actionLabel(kind, action, data) {
  // The visible word first, then whose message or question: "Report: message from Anna".
  return format(text("label-" + kind), { action: actionTexts[action], name: authorName(data) });
}

export function messageActions(data) {
  const actions = [];
  if (state.me.moderator) { actions.push(data.hidden ? "restore" : "hide"); }
  return banOrReport(data, actions);
}

// The last of an item's actions, messages and questions alike: a moderator may ban its
// writer (not themselves), anyone else may report it (not their own).
export function banOrReport(data, actions) {
  if (state.me.moderator) {
    if (data.participant_id && !isMine(data)) { actions.push("ban"); }
  } else if (!isMine(data)) {
    actions.push("report");
  }
  return actions;
}

export function renderActions(entry, kind, actions) {
  const key = actions.join(",") + "|" + authorName(entry.data);
  if (entry.actionsKey === key) { return; }
  entry.actionsKey = key;
  const container = $("[data-actions]", entry.el);
  const hadFocus = container.contains(document.activeElement);
  $all("[data-action]", container).forEach(function (button) { button.remove(); });
  actions.forEach(function (action) {
    container.appendChild(actionButton(action, actionLabel(kind, action, entry.data), function (event) {
      runAction(kind, entry, action, event.currentTarget);
    }));
  });
  if (hadFocus) {
    const next = container.querySelector("button:not([hidden])");
    if (next) { next.focus(); }
  }
}

export function renderMessage(entry) {
  const data = entry.data;
  fillMeta(entry.el, data);
  renderBody($("[data-body]", entry.el), data.body);
  renderActions(entry, "message", messageActions(data));
}

export function nearEnd(scroller) { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48; }
export function scrollToEnd(force) {
  const scroller = el.messagesScroll;
  if (force || scroller.getAttribute("data-stick") !== "false") { scroller.scrollTop = scroller.scrollHeight; }
}
el.messagesScroll.addEventListener("scroll", function () {
  el.messagesScroll.setAttribute("data-stick", nearEnd(el.messagesScroll) ? "true" : "false");
});

export function addMessage(data, fromHistory, earlier) {
  // Shows a message once, in id order; true when it was not on the page before. `earlier`:
  // read back by "Show earlier messages" (the reading position is the caller's to keep).
  if (!data || typeof data.id !== "number") { return false; }
  const existing = state.messages.get(data.id);
  if (existing) {  // the same message twice (ack and broadcast, a rejoin): update, never double
    if (earlier) { return false; }  // an old copy read back never overwrites a newer one
    existing.data = data;
    renderMessage(existing);
    return false;
  }
  if (data.hidden && !state.me.moderator) { return false; }
  const entry = { data: data, el: clone("message"), actionsKey: null };
  entry.el.setAttribute("data-kind", "message");
  entry.el.setAttribute("data-id", String(data.id));
  renderMessage(entry);
  state.messages.set(data.id, entry);
  // Keep the list in id order, whatever order things arrive in.
  let before = null;
  if (earlier) {
    before = el.messages.firstElementChild;
    while (before && parseInt(before.getAttribute("data-id"), 10) < data.id) { before = before.nextElementSibling; }
  } else {
    for (let node = el.messages.lastElementChild; node; node = node.previousElementSibling) {
      if (parseInt(node.getAttribute("data-id"), 10) < data.id) { break; }
      before = node;
    }
  }
  el.messages.insertBefore(entry.el, before);
  el.messagesEmpty.hidden = state.messages.size > 0;
  if (earlier) { return true; }
  trimMessages();
  scrollToEnd(isMine(data));
  if (!fromHistory && !isMine(data)) {
    announce(format(text("announce-message"), { name: data.name, text: truncate(data.body, ANNOUNCE_MAX_CHARS) }));
  }
  return true;
}

export function trimMessages() {
  // A long chat keeps its latest MAX_MESSAGES on the page; the rest can be read back with
  // "Show earlier messages" (which, once used, keeps everything it loaded).
  if (log.keepAll || state.messages.size <= MAX_MESSAGES) { return; }
  while (state.messages.size > MAX_MESSAGES) {
    const oldest = el.messages.firstElementChild;
    state.messages.delete(parseInt(oldest.getAttribute("data-id"), 10));
    oldest.remove();
  }
  if (log.known) {
    log.oldest = log.last + 1;
    state.messages.forEach(function (entry) {
      if (typeof entry.data.seq === "number" && entry.data.seq < log.oldest) { log.oldest = entry.data.seq; }
    });
    log.complete = false;
    updateEarlier();
  }
}

export function removeMessage(id) {
  const entry = state.messages.get(id);
  if (!entry) { return; }
  if (entry.el.contains(document.activeElement)) { el.messagesScroll.focus(); }
  entry.el.remove();
  state.messages.delete(id);
  el.messagesEmpty.hidden = state.messages.size > 0;
}

