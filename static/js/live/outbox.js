// The outbox: what the participant wrote, sent in order, one at a time, until the server has it.
import {
  $, ACK_TIMEOUT, numberFormat, RETRY_DELAY, RETRYABLE, showError, socket, state, text
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

export function updateCounter(form) {
  const textarea = $("textarea", form);
  const counter = $("[data-counter]", form);
  counter.textContent = format(text("characters"), {
    count: numberFormat.format(textarea.value.length),
    max: numberFormat.format(parseInt(textarea.getAttribute("data-max"), 10))
  });
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

