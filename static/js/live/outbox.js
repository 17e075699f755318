// The outbox: what the participant wrote, sent in order, one at a time, until the server has it.
import {
  $, ACK_TIMEOUT, numberFormat, plural, RETRY_DELAY, RETRYABLE, showError, socket, state, text
} from "./context.js";
import { format } from "../lib/text.js";

// -- the outbox: sending with retries ------------------------------------------------------------
// What the participant wrote waits here, in order, until the server has it. One write is on
// the way at a time, so the room gets them in the order they were written. A lost ack, or an
// answer "paused" (the message queue is unreachable) or "unavailable" (the database), leaves
// it here to be sent again with the same client_id, which the server stores once.
export const outbox = { sending: null, timer: null };

export function flushPending() {
  window.clearTimeout(outbox.timer);
  outbox.timer = null;
  pumpOutbox();
}

export function transmit(item) {
  state.pending.set(item.payload.client_id, item);
  pumpOutbox();
}

export function pumpOutbox() {
  if (outbox.sending || outbox.timer !== null) { return; }
  if (!state.joined || !state.name || !socket.connected) { return; }  // sent after the next join
  const item = state.pending.values().next().value;
  if (!item) { return; }
  outbox.sending = item;
  item.attempts += 1;
  const attempt = item.attempts;
  socket.timeout(ACK_TIMEOUT).emit(item.event, item.payload, function (error, ack) {
    if (outbox.sending !== item || item.attempts !== attempt) { return; }
    outbox.sending = null;
    if (error || !ack) {  // lost on the way, or the answer was: the same client_id again, at once
      setOutboxStatus(item.form, text("retrying"));
      pumpOutbox();
      return;
    }
    if (!ack.ok && RETRYABLE[ack.error]) {
      setOutboxStatus(item.form, ack.message || text("retrying"));
      outbox.timer = window.setTimeout(function () { outbox.timer = null; pumpOutbox(); }, RETRY_DELAY);
      return;
    }
    finish(item, ack);
    pumpOutbox();
  });
}

export function setOutboxStatus(form, message) {
  const line = form && $("[data-outbox-status]", form);
  // The same words again are not a change: a status region stays quiet while retries go on.
  if (line && line.textContent !== (message || "")) { line.textContent = message || ""; }
}

export function finish(item, ack) {
  state.pending.delete(item.payload.client_id);
  let waiting = false;
  state.pending.forEach(function (other) { if (other.form === item.form) { waiting = true; } });
  if (!waiting) { setOutboxStatus(item.form, ""); }
  if (ack.ok) { item.done(ack); return; }
  const textarea = $("textarea", item.form);
  if (!textarea.value) { textarea.value = item.payload.body; updateCounter(item.form); }
  showError(item.form, ack.message);
}

// The counter below a writing box shows what is left (or too many); screen readers hear it
// only when it matters: once when few are left, and when the limit is reached or passed.
export const COUNTER_WARN_AT = 20;
export function counterState(form) {
  const textarea = $("textarea", form);
  const max = parseInt(textarea.getAttribute("data-max"), 10);
  const length = textarea.value.length;
  return { textarea: textarea, max: max, length: length, left: max - length };
}

export function updateCounter(form) {
  const now = counterState(form);
  const counter = $("[data-counter]", form);
  const announcer = $("[data-counter-announcer]", form);
  const over = now.left < 0;
  let line;
  if (over) { line = plural("characters-over", -now.left); }
  else if (now.left === 0) { line = format(text("characters-limit"), { max: numberFormat.format(now.max) }); }
  else { line = plural("characters-left", now.left); }
  counter.textContent = line;
  counter.classList.toggle("is-near", now.left <= COUNTER_WARN_AT && !over);
  counter.classList.toggle("is-over", over);
  if (over) { now.textarea.setAttribute("aria-invalid", "true"); } else { now.textarea.removeAttribute("aria-invalid"); }
  // The level it is at: 0 plenty left, 1 few left, 2 at the limit, 3 over it. Spoken when it rises.
  const level = over ? 3 : now.left === 0 ? 2 : now.left <= COUNTER_WARN_AT ? 1 : 0;
  const previous = parseInt(form.getAttribute("data-counter-level") || "0", 10);
  form.setAttribute("data-counter-level", String(level));
  if (announcer && level > previous) { announcer.textContent = line; }
  if (announcer && level === 0 && previous > 0) { announcer.textContent = ""; }
}

export function tooLong(form) {
  // The message for a text over the limit, or "" when it fits.
  const now = counterState(form);
  if (now.left >= 0) { return ""; }
  return format(text("too-long"), { max: numberFormat.format(now.max), count: numberFormat.format(-now.left) });
}

export function setUpWritingForm(form, submit) {
  const textarea = $("textarea", form);
  updateCounter(form);
  textarea.addEventListener("input", function () { updateCounter(form); });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
}

