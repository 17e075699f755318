// The live panel's shared ground: the panel, its elements and words, the constants, the
// page's state, the room log's state and the socket with `call` (an emit with an ack).
// Every other module of static/js/live/ imports from here; this one imports no sibling.
import { findAll } from "../lib/dom.js";
import { readStored, store } from "../lib/storage.js";
import { ask, connect } from "../lib/socket.js";
import { format, textFrom } from "../lib/text.js";

export const panel = document.querySelector(".live-panel[data-talk-id]");

export const TALK_ID = parseInt(panel.getAttribute("data-talk-id"), 10);
export const ACK_TIMEOUT = 5000;        // no ack within 5 s: send again, with the same client_id
export const RETRY_DELAY = 2000;        // a write answered "paused" or "unavailable" is sent again after 2 s
export const GAP_RECHECK = 2000;        // a gap still open 2 s after its history answer is asked for again
export const CATCH_UP_LIMIT = 200;      // entries per history request when filling a gap (the most the server gives)
export const EARLIER_PAGE = 100;        // entries per page of "Show earlier messages"
export const RETRYABLE = { paused: true, unavailable: true };
export const ANNOUNCE_INTERVAL = 3000;  // at most one announcement every 3 s (WCAG 4.1.3 without flooding)
export const ANNOUNCE_GATHER = 500;     // a burst that arrives together is summarised in one announcement
export const ANNOUNCE_MAX_CHARS = 200;
export const MAX_MESSAGES = 300;        // older messages leave the page (the server keeps them) until the
                               // reader asks for earlier ones: then everything loaded stays
export const HISTORY_SIZE = parseInt(panel.getAttribute("data-history-size"), 10) || 50;  // messages in a join's snapshot
export const NAME_KEY = "arena.live.name";
export const CLIENT_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
export const ROLES = ["moderator", "speaker", "organiser"];
export const STATES = ["awaiting_approval", "answering", "answered", "hidden"];
export const lang = document.documentElement.lang || undefined;

// -- small helpers ---------------------------------------------------------------------
export function $(selector, root) { return (root || panel).querySelector(selector); }
export function $all(selector, root) { return findAll(selector, root || panel); }
export const text = textFrom(panel);
export const numberFormat = new Intl.NumberFormat(lang);
export let timeFormat;
try {
  timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit",
                                               timeZone: panel.getAttribute("data-time-zone") || undefined });
} catch (error) {
  timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
}
export function plural(key, count) {
  return format(text(key + (count === 1 ? "-one" : "-other")), { count: numberFormat.format(count) });
}
export function clone(name) {
  const template = $('template[data-template="' + name + '"]');
  return template.content.firstElementChild.cloneNode(true);
}
export let uniqueCounter = 0;
export function uniquify(root) {
  // Ids inside a cloned <template> get a suffix; labels and references follow.
  uniqueCounter += 1;
  const suffix = "-" + uniqueCounter;
  $all("[id]", root).forEach(function (el) { el.id += suffix; });
  $all("label[for]", root).forEach(function (el) { el.htmlFor += suffix; });
  return root;
}
export function storedName() { return readStored(NAME_KEY, ""); }
export function storeName(name) { store(NAME_KEY, name); }
export function newClientId() {
  const bytes = new Uint8Array(22);
  window.crypto.getRandomValues(bytes);
  let id = "";
  for (let i = 0; i < bytes.length; i += 1) { id += CLIENT_ID_ALPHABET.charAt(bytes[i] & 63); }
  return id;
}
export function truncate(value, max) { return value.length > max ? value.slice(0, max - 1) + "…" : value; }

// -- elements ------------------------------------------------------------------------------
export const el = {
  viewers: $("[data-live-viewers]"),
  connection: $("[data-live-connection]"),
  status: $("[data-live-status]"),
  announcer: $("[data-live-announcer]"),
  banned: $("[data-live-banned]"),
  modTools: $("[data-moderator-tools]"),
  modError: $("[data-moderation-error]"),
  bans: $("[data-bans]"),
  bansEmpty: $("[data-bans-empty]"),
  awaitingCount: $("[data-awaiting-count]"),
  awaitingAnnouncer: $("[data-awaiting-announcer]"),
  chatToggle: $('[data-rule-toggle="chat_open"]'),
  questionsToggle: $('[data-rule-toggle="questions_open"]'),
  slowMode: $("[data-rule-slow-mode]"),
  premoderate: $("[data-rule-premoderate]"),
  tabs: $all('[role="tab"]'),
  chatNotice: $("[data-chat-notice]"),
  messagesScroll: $("[data-messages-scroll]"),
  messages: $("[data-messages]"),
  messagesEmpty: $("[data-messages-empty]"),
  earlier: $("[data-earlier]"),
  beginning: $("[data-beginning]"),
  messageForm: $("[data-message-form]"),
  questionsNotice: $("[data-questions-notice]"),
  questionCount: $("[data-question-count]"),
  questionsError: $("[data-questions-error]"),
  sortButtons: $all("[data-sort]"),
  awaiting: $("[data-awaiting]"),
  awaitingList: $("[data-awaiting-list]"),
  questions: $("[data-questions]"),
  questionsEmpty: $("[data-questions-empty]"),
  askForm: $("[data-ask-form]"),
  identity: $("[data-identity]"),
  writingAs: $("[data-writing-as]"),
  changeName: $("[data-change-name]"),
  nameForm: $("[data-name-form]")
};
export const actionTexts = {};
$all("[data-action-text]", $('template[data-template="action-texts"]').content).forEach(function (span) {
  actionTexts[span.getAttribute("data-action-text")] = span.textContent;
});

// -- state ---------------------------------------------------------------------------------
export const state = {
  joined: false,
  banned: false,
  me: { name: null, role: "", moderator: false, host: false },
  name: "",
  rules: { chat_open: true, questions_open: true, questions_premoderated: false, slow_mode_seconds: 0 },
  messages: new Map(),   // id -> {data, el}
  questions: new Map(),  // id -> {data, el, actionsKey}
  myVotes: new Set(),
  voting: new Set(),
  mine: new Set(),       // client ids this page sent: not announced back to the writer
  mineIds: new Set(),    // "message:<id>" / "question:<id>" of our own items
  pending: new Map(),    // client id -> a send waiting for its ack
  reported: new Set(),
  bans: [],              // moderators: the bans in force in this talk
  sort: "votes"
};

// The room's log (docs/realtime.md, "The room's log"): every entry has a per-talk number
// `seq`, 1, 2, 3, ... without a gap. `last` is the number up to which this page has applied
// every entry; later ones wait in `buffer` until the gap before them is filled.
export const log = {
  known: false,          // false until a join ack says where the log stands
  last: 0,
  head: 0,               // the highest number heard of (pushes, presence, acks)
  buffer: new Map(),     // seq -> {event, data, quiet}
  fetching: false,       // one history request for the gap at a time
  timer: null,
  oldest: null,          // the lowest number this page holds: "Show earlier messages" reads below it
  complete: false,       // nothing older than what is shown can be a message
  loadingEarlier: false,
  keepAll: false         // the reader loaded earlier messages: none leave the page any more
};

export function showError(form, message) {
  const target = form && $("[data-form-error]", form);
  if (target) { target.textContent = message || ""; }
}
export let statusTimer = null;
export function showStatus(message) {
  el.status.textContent = message || "";
  window.clearTimeout(statusTimer);
  if (message) { statusTimer = window.setTimeout(function () { el.status.textContent = ""; }, 8000); }
}
export function setConnection(message) { el.connection.textContent = message || ""; }

// -- the socket ------------------------------------------------------------------------------
export const socket = connect("/live");

export function call(event, payload, done) {
  // An emit with an ack; done(ack) with {ok: false, message} for a timeout or no connection.
  if (!socket.connected) {
    done({ ok: false, error: "offline", message: text("send-failed") });
    return;
  }
  ask(socket, event, payload, ACK_TIMEOUT, { ok: false, error: "timeout", message: text("send-failed") }, done);
}

