// The room's log (docs/realtime.md, "The room's log"): every entry applied once, in order,
// gaps filled with `history`; and "Show earlier messages", the log read backwards.
import {
  call, CATCH_UP_LIMIT, EARLIER_PAGE, el, GAP_RECHECK, HISTORY_SIZE, log, plural, showStatus, state,
  TALK_ID, text
} from "./context.js";
import { addMessage, removeMessage } from "./messages.js";
import { setRules } from "./moderation.js";
import { removeQuestion, sortQuestions, upsertQuestion } from "./questions.js";

// -- the room's log: every entry once, in order -----------------------------------------------------
export function apply(event, data, quiet) {
  if (event === "message") { addMessage(data, quiet); }
  else if (event === "message_hidden") {
    if (data.hidden !== undefined) { addMessage(data, true); } else { removeMessage(data.id); }
  } else if (event === "message_restored") { addMessage(data, true); }
  else if (event === "question") { upsertQuestion(data); sortQuestions(); }
  else if (event === "question_hidden") {
    if (data.state !== undefined) { upsertQuestion(data); sortQuestions(); } else { removeQuestion(data.id); }
  } else if (event === "rules") { setRules(data); }
  // "skip": the number is used and there is nothing to show.
}

export function receive(event, data, quiet) {
  // A push or a history entry: duplicates are dropped, and nothing is applied before the
  // entries ahead of it.
  if (!data || (data.talk_id !== undefined && data.talk_id !== TALK_ID)) { return; }
  if (typeof data.seq !== "number") { if (event !== "skip") { apply(event, data, quiet); } return; }
  if (log.known && data.seq <= log.last) { return; }
  if (!log.buffer.has(data.seq)) { log.buffer.set(data.seq, { event: event, data: data, quiet: quiet }); }
  if (data.seq > log.head) { log.head = data.seq; }
  drain();
}

export function drain() {
  if (!log.known) { return; }  // before the first join: the snapshot decides where to start
  let entry;
  while ((entry = log.buffer.get(log.last + 1))) {
    log.buffer.delete(log.last + 1);
    log.last += 1;
    apply(entry.event, entry.data, entry.quiet);
  }
  log.buffer.forEach(function (ignored, seq) { if (seq <= log.last) { log.buffer.delete(seq); } });
  if (log.head > log.last) { catchUp(); }
}

export function receiveOwn(event, data, seq) {
  // The ack of our own write is entry `seq` of the log, exactly like a push.
  if (data && typeof seq === "number") { receive(event, Object.assign({}, data, { seq: seq }), false); }
}

export function noteHead(seq) {
  if (typeof seq !== "number") { return; }
  if (seq > log.head) { log.head = seq; }
  if (log.known && log.head > log.last) { catchUp(); }
}

export function startLog(seq, messages) {
  // A first join: the snapshot holds everything up to `seq`; pushes after it were buffered.
  log.known = true;
  log.last = seq;
  if (seq > log.head) { log.head = seq; }
  log.oldest = seq + 1;
  messages.forEach(function (message) {
    addMessage(message, true);
    if (typeof message.seq === "number" && message.seq < log.oldest) { log.oldest = message.seq; }
  });
  log.complete = messages.length < HISTORY_SIZE;  // the snapshot held every message there is
  updateEarlier();
  drain();
}

export function firstMissing() {
  let lowest = null;
  log.buffer.forEach(function (ignored, seq) { if (lowest === null || seq < lowest) { lowest = seq; } });
  return lowest;
}

export function scheduleCatchUp(delay) {
  if (log.timer !== null) { return; }
  log.timer = window.setTimeout(function () { log.timer = null; catchUp(); }, delay);
}

export function catchUp() {
  // Ask for what lies between `last` and the first buffered entry (or the head), once at a
  // time; a failure, or a gap the answer did not close, is asked again after 2 s.
  if (!log.known || !state.joined || log.fetching || log.head <= log.last) { return; }
  const before = firstMissing();
  const payload = { talk_id: TALK_ID, after: log.last, limit: CATCH_UP_LIMIT };
  if (before !== null) { payload.before = before; }
  const from = log.last;
  log.fetching = true;
  call("history", payload, function (ack) {
    if (ack.ok) {
      noteHeadQuietly(ack.head);
      (ack.events || []).forEach(function (entry) { if (entry) { receive(entry.event, entry.data, false); } });
    }
    log.fetching = false;
    if (log.head <= log.last) { return; }
    if (ack.ok && (log.last > from || ack.more)) { catchUp(); } else { scheduleCatchUp(GAP_RECHECK); }
  });
}

export function noteHeadQuietly(seq) { if (typeof seq === "number" && seq > log.head) { log.head = seq; } }

// -- "Show earlier messages": the log read backwards, a page at a time --------------------------------
export function updateEarlier() {
  const more = log.known && log.oldest !== null && log.oldest > 1 && !log.complete;
  if (!more && el.earlier.contains(document.activeElement)) { el.messagesScroll.focus(); }
  el.earlier.hidden = !more;
  el.beginning.hidden = more || !log.keepAll;
}

export function readRange(after, before, done) {
  // Every entry with after < seq < before, whatever the server's page size.
  let events = [];
  function next(from) {
    call("history", { talk_id: TALK_ID, after: from, before: before, limit: EARLIER_PAGE }, function (ack) {
      if (!ack.ok) { done(null, ack); return; }
      noteHeadQuietly(ack.head);
      const got = ack.events || [];
      events = events.concat(got);
      const highest = got.length ? got[got.length - 1].data.seq : null;
      if (ack.more && typeof highest === "number" && highest > from && highest < before - 1) { next(highest); }
      else { done(events, ack); }
    });
  }
  next(after);
}

export function loadEarlier() {
  if (log.loadingEarlier || !state.joined || el.earlier.hidden) { return; }
  log.loadingEarlier = true;
  el.messages.setAttribute("aria-busy", "true");
  const found = [];
  function page() {
    const before = log.oldest, after = Math.max(0, before - 1 - EARLIER_PAGE);
    readRange(after, before, function (events, ack) {
      if (!events) { stop(ack.message || text("send-failed")); return; }
      events.forEach(function (entry) {
        // Only what was said: older hides, questions and rules are already reflected in
        // what the server sends (a message hidden since then comes as "skip").
        if (entry && entry.event === "message" && entry.data && entry.data.seq < before) { found.push(entry.data); }
      });
      log.oldest = after + 1;
      if (!found.length && log.oldest > 1) { page(); return; }  // a page without messages: read on
      show();
    });
  }
  function show() {
    const scroller = el.messagesScroll;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    let added = 0;
    log.keepAll = true;
    found.forEach(function (data) { if (addMessage(data, true, true)) { added += 1; } });
    scroller.scrollTop = scroller.scrollHeight - fromBottom;  // the reader stays where they were
    let words = plural("earlier", added);
    if (log.oldest <= 1) { words += " " + text("beginning"); }
    stop(words);
  }
  function stop(words) {
    log.loadingEarlier = false;
    el.messages.removeAttribute("aria-busy");
    updateEarlier();
    showStatus(words);
  }
  page();
}
el.earlier.addEventListener("click", loadEarlier);

