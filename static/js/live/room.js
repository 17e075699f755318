// The live room: joining (and joining again after a drop), the name, the writing forms, the
// tabs and the server's events. Started by main.js.
import {
  $, ACK_TIMEOUT, call, el, log, newClientId, numberFormat, setConnection, showError, showStatus,
  socket, state, storedName, storeName, TALK_ID, text
} from "./context.js";
import { reconnectIfServerClosed } from "../lib/socket.js";
import { format } from "../lib/text.js";
import { catchUp, noteHead, receive, receiveOwn, startLog } from "./log.js";
import { addMessage, renderMessage, scrollToEnd } from "./messages.js";
import { applyRules, closeInlineForms, rerenderAll, setBans, setDisabled, setRules } from "./moderation.js";
import { flushPending, outbox, setUpWritingForm, tooLong, transmit, updateCounter } from "./outbox.js";
import { renderQuestion, replaceQuestions, sortQuestions, updateVote, upsertQuestion } from "./questions.js";

// Only a slow first connection is worth a word (a status region speaks when it changes).
window.setTimeout(function () { if (!state.joined && !state.banned) { setConnection(text("connecting")); } }, 1500);
socket.on("connect", join);
socket.on("disconnect", function (reason) {
  state.joined = false;
  outbox.sending = null;  // its ack will not come: sent again after the next join
  if (state.banned) { return; }
  setConnection(text("reconnecting"));
  reconnectIfServerClosed(socket, reason, function () { return !state.banned; });
});
socket.on("connect_error", function () { if (!state.banned) { setConnection(text("reconnecting")); } });

export function join() {
  const payload = { talk_id: TALK_ID };
  if (log.known) { payload.last_seq = log.last; }  // back after a drop: what came after it
  socket.timeout(ACK_TIMEOUT).emit("join", payload, function (error, ack) {
    if (error) { if (socket.connected) { join(); } return; }
    if (!ack || !ack.ok) { setConnection(ack && ack.message); return; }
    joined(ack);
  });
}

export function joined(ack) {
  const wasModerator = state.me.moderator, wasHost = state.me.host;
  state.joined = true;
  state.me = ack.me || state.me;
  setConnection("");
  el.modTools.hidden = !state.me.moderator;
  if (wasModerator !== state.me.moderator || wasHost !== state.me.host) { rerenderAll(); }
  setRules(ack.rules);
  if (Array.isArray(ack.events) && log.known) {
    // Back after a lost connection: the entries after our `last`, in order, and more to ask for.
    ack.events.forEach(function (entry) { if (entry) { receive(entry.event, entry.data, true); } });
    noteHead(ack.seq);
    if (ack.more) { catchUp(); }
  } else {
    startLog(typeof ack.seq === "number" ? ack.seq : 0, ack.messages || []);
  }
  if (state.me.banned) {
    state.banned = true;
    el.banned.textContent = state.me.banned_message || "";
    applyRules();
  } else if (state.banned) {  // joined again after a moderator lifted the ban
    state.banned = false;
    el.banned.textContent = "";
    showStatus(text("unbanned"));
    setDisabled(el.nameForm, false);
    el.changeName.disabled = false;
    applyRules();
  }
  state.myVotes = new Set(ack.my_votes || []);
  replaceQuestions(ack.questions || []);
  setViewers(ack.viewers);
  if (ack.stream) { announceStream(ack.stream); }
  if (typeof ack.live === "boolean") { announceLive({ talk_id: TALK_ID, live: ack.live }); }
  if (state.me.moderator) { setBans(ack.bans || []); }
  if (state.me.name) {
    state.name = state.me.name;
    showIdentity();
    flushPending();
  } else if (state.name || storedName()) {
    sendName(state.name || storedName(), null);
  } else {
    showNameForm(false);
  }
}

// -- the name --------------------------------------------------------------------------------
export function cleanName(value) { return value.replace(/\s+/g, " ").trim(); }

export function sendName(name, form) {
  call("set_name", { name: name }, function (ack) {
    if (ack.ok) {
      state.name = ack.name;
      storeName(ack.name);
      showIdentity();
      flushPending();
      if (form) { focusWriting(); }
    } else if (form) {
      showError(form, ack.message);
      $("input", form).setAttribute("aria-invalid", "true");
    } else {
      showNameForm(false);  // a remembered name the server refuses: ask again
    }
  });
}

export function showIdentity() {
  el.nameForm.hidden = true;
  el.writingAs.textContent = format(text("writing-as"), { name: state.name });
  el.identity.hidden = false;
  el.messageForm.hidden = false;
  el.askForm.hidden = false;
  applyRules();
}

export function showNameForm(focus) {
  const input = $("input", el.nameForm);
  el.identity.hidden = true;
  el.nameForm.hidden = false;
  if (!input.value) { input.value = state.name || storedName(); }
  if (focus) { input.focus(); }
}

export function focusWriting() {
  const selected = el.tabs.filter(function (tab) { return tab.getAttribute("aria-selected") === "true"; })[0];
  const form = selected && selected.getAttribute("aria-controls") === "live-questions" ? el.askForm : el.messageForm;
  const textarea = $("textarea", form);
  if (!textarea.disabled) { textarea.focus(); }
}

el.nameForm.addEventListener("submit", function (event) {
  event.preventDefault();
  const input = $("input", el.nameForm);
  const name = cleanName(input.value);
  showError(el.nameForm, "");
  input.removeAttribute("aria-invalid");
  if (!name || name.length > 40) {
    showError(el.nameForm, text("name-invalid"));
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  sendName(name, el.nameForm);
});
el.changeName.addEventListener("click", function () { showNameForm(true); });

setUpWritingForm(el.messageForm, function () {
  const textarea = $("textarea", el.messageForm);
  const body = textarea.value;
  showError(el.messageForm, "");
  if (textarea.disabled || state.banned) { return; }
  if (!body.trim()) { showError(el.messageForm, text("empty")); return; }
  if (tooLong(el.messageForm)) { showError(el.messageForm, tooLong(el.messageForm)); textarea.focus(); return; }
  const clientId = newClientId();
  state.mine.add(clientId);
  textarea.value = "";
  updateCounter(el.messageForm);
  transmit({
    event: "send_message", payload: { body: body, client_id: clientId }, form: el.messageForm, attempts: 0,
    done: function (ack) {
      // Our own entry is not pushed back to us: the ack carries it and its number.
      addMessage(ack.message, false);
      receiveOwn("message", ack.message, ack.seq);
      scrollToEnd(true);
    }
  });
});

setUpWritingForm(el.askForm, function () {
  const textarea = $("textarea", el.askForm);
  const anonymous = $('input[type="checkbox"]', el.askForm);
  const body = textarea.value;
  showError(el.askForm, "");
  if (textarea.disabled || state.banned) { return; }
  if (!body.trim()) { showError(el.askForm, text("empty")); return; }
  if (tooLong(el.askForm)) { showError(el.askForm, tooLong(el.askForm)); textarea.focus(); return; }
  const clientId = newClientId();
  state.mine.add(clientId);
  textarea.value = "";
  updateCounter(el.askForm);
  transmit({
    event: "ask_question", payload: { body: body, client_id: clientId, anonymous: anonymous.checked },
    form: el.askForm, attempts: 0,
    done: function (ack) {
      // Shown at once: the log tells everyone else "skip" for a question awaiting approval.
      upsertQuestion(ack.question);
      sortQuestions();
      receiveOwn("question", ack.question, ack.seq);
      showStatus(text(ack.question.state === "awaiting_approval" ? "question-waiting" : "question-sent"));
    }
  });
});

export function setViewers(count) {
  if (typeof count !== "number") { return; }
  el.viewers.textContent = format(text("watching"), { count: numberFormat.format(count) });
  el.viewers.hidden = false;
}

// -- tabs -------------------------------------------------------------------------------------------
export function selectTab(tab, focus) {
  el.tabs.forEach(function (other) {
    const selected = other === tab;
    other.setAttribute("aria-selected", selected ? "true" : "false");
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  });
  if (focus) { tab.focus(); }
  if (tab.getAttribute("aria-controls") === "live-chat") { scrollToEnd(false); }
}
el.tabs.forEach(function (tab, index) {
  tab.addEventListener("click", function () { selectTab(tab, false); });
  tab.addEventListener("keydown", function (event) {
    let next = null;
    if (event.key === "ArrowRight") { next = el.tabs[(index + 1) % el.tabs.length]; }
    else if (event.key === "ArrowLeft") { next = el.tabs[(index - 1 + el.tabs.length) % el.tabs.length]; }
    else if (event.key === "Home") { next = el.tabs[0]; }
    else if (event.key === "End") { next = el.tabs[el.tabs.length - 1]; }
    if (next) { event.preventDefault(); selectTab(next, true); }
  });
});

// -- events from the server ----------------------------------------------------------------------
["message", "message_hidden", "message_restored", "question", "question_hidden", "rules", "skip"]
  .forEach(function (event) { socket.on(event, function (data) { receive(event, data, false); }); });
// Entries that came close together, in one frame (chat.push_interval_ms): each as if pushed alone.
socket.on("batch", function (data) {
  if (!data || data.talk_id !== TALK_ID || !Array.isArray(data.events)) { return; }
  data.events.forEach(function (item) { if (item && item.event) { receive(item.event, item.data, false); } });
});
socket.on("votes", function (data) {
  if (!data || data.talk_id !== TALK_ID || !data.counts) { return; }
  Object.keys(data.counts).forEach(function (key) {
    const entry = state.questions.get(parseInt(key, 10));
    if (entry && typeof data.counts[key] === "number") {
      entry.data.votes = data.counts[key];
      updateVote(entry);
    }
  });
  sortQuestions();
});
// The studio's stream (docs/golive.md): the stage (static/js/stage.js) shows and hides the player.
export function announceStream(data) {
  if (data && data.talk_id === TALK_ID) {
    document.dispatchEvent(new CustomEvent("arena:live-state", { detail: data }));
  }
}
socket.on("live_state", announceStream);
// The talk's live status (an organiser's "Ended", the studio, the programme's clock): the talk
// page's badge and status follow (static/js/stage.js).
export function announceLive(data) {
  if (data && data.talk_id === TALK_ID && typeof data.live === "boolean") {
    document.dispatchEvent(new CustomEvent("arena:talk-live", { detail: data }));
  }
}
socket.on("talk_live", announceLive);
socket.on("bans", function (data) {
  if (data && data.talk_id === TALK_ID && state.me.moderator) { setBans(data.bans); }
});
socket.on("presence", function (data) {
  if (!data || data.talk_id !== TALK_ID) { return; }
  setViewers(data.viewers);
  noteHead(data.seq);  // the talk's head: a push lost anywhere is asked for here
});
socket.on("reported", function (data) {
  if (!data) { return; }
  const key = data.message_id ? "message:" + data.message_id : "question:" + data.question_id;
  state.reported.add(key);
  const entry = data.message_id ? state.messages.get(data.message_id) : state.questions.get(data.question_id);
  if (entry && data.message_id) { renderMessage(entry); } else if (entry) { renderQuestion(entry); }
});
// A lifted ban: join again (after the other processes' views have caught up) and let the
// join's `me.banned` say whether another ban still applies.
socket.on("unbanned", function () {
  if (state.banned) { window.setTimeout(function () { if (socket.connected) { join(); } }, 1200); }
});
socket.on("banned", function (data) {
  state.banned = true;
  el.banned.textContent = (data && data.message) || "";
  setConnection("");
  closeInlineForms(null);
  applyRules();
});