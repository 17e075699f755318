// Moderators' and speakers' actions on messages and questions (report, hide, restore, ban,
// question states) and the room's rules.
import {
  $, $all, call, clone, el, numberFormat, showError, showStatus, state, text, timeFormat, uniquify
} from "./context.js";
import { format } from "../lib/text.js";
import { renderMessage } from "./messages.js";
import { renderQuestion, sortQuestions, updateVote, upsertQuestion } from "./questions.js";
import { authorName } from "./render.js";

// -- actions on messages and questions ---------------------------------------------------------
export function closeInlineForms(except) {
  $all(".live-inline-form").forEach(function (form) { if (form !== except) { form.remove(); } });
}

export function inlineForm(templateName, entry, button, onSubmit) {
  closeInlineForms(null);
  const form = uniquify(clone(templateName));
  entry.el.appendChild(form);
  function cancel() { form.remove(); if (button.isConnected) { button.focus(); } }
  $("[data-cancel]", form).addEventListener("click", cancel);
  form.addEventListener("keydown", function (event) { if (event.key === "Escape") { event.preventDefault(); cancel(); } });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError(form, "");
    onSubmit(form, function (ack) {
      if (!ack.ok) { showError(form, ack.message); return; }
      form.remove();
      const next = $("[data-actions] button:not([hidden])", entry.el);
      if (next && entry.el.isConnected) { next.focus(); } else { focusList(entry); }
    });
  });
  const first = $("input:checked, input[type=text]", form);
  if (first) { first.focus(); }
}

export function focusList(entry) {
  const scroller = entry.el.closest("[data-messages-scroll], [data-questions-scroll]") ||
    (entry.el.getAttribute("data-kind") === "message" ? el.messagesScroll : el.questions.parentNode);
  scroller.focus();
}

export function runAction(kind, entry, action, button) {
  const data = entry.data;
  if (action === "report") {
    const payload = kind === "message" ? { message_id: data.id } : { question_id: data.id };
    call("report", payload, function (ack) { showStatus(ack.ok ? text("reported") : ack.message); });
  } else if (action === "hide") {
    inlineForm("hide-form", entry, button, function (form, done) {
      const reason = $('input[name="reason"]', form).value.trim();
      const payload = { kind: kind, id: data.id };
      if (reason) { payload.reason = reason; }
      call("hide", payload, function (ack) {
        if (ack.ok) { showStatus(text("hidden-done")); }
        done(ack);
      });
    });
  } else if (action === "restore") {
    call("restore", { kind: kind, id: data.id }, function (ack) {
      showStatus(ack.ok ? text("restored-done") : ack.message);
    });
  } else if (action === "ban") {
    inlineForm("ban-form", entry, button, function (form, done) {
      const scope = $('input[name="scope"]:checked', form);
      const reason = $('input[name="reason"]', form).value.trim();
      const payload = { participant_id: data.participant_id, whole_event: Boolean(scope && scope.value === "event") };
      if (reason) { payload.reason = reason; }
      call("ban", payload, function (ack) {
        if (ack.ok) { showStatus(format(text("banned-done"), { name: authorName(data) })); }
        done(ack);
      });
    });
  } else if (action === "approve" || action === "answering" || action === "answered") {
    const target = action === "approve" ? "visible" : action;
    call("set_question_state", { question_id: data.id, state: target }, function (ack) {
      if (!ack.ok) { el.questionsError.textContent = ack.message || ""; return; }
      upsertQuestion(ack.question);
      sortQuestions();
    });
  }
}

export function rerenderAll() {
  state.messages.forEach(function (entry) { renderMessage(entry); });
  state.questions.forEach(function (entry) { renderQuestion(entry); });
}

// -- rules, presence, bans -------------------------------------------------------------------------
export function setRules(rules) {
  if (rules) { state.rules = rules; }
  applyRules();
}

export function setDisabled(form, disabled) {
  $all("textarea, input, button", form).forEach(function (control) { control.disabled = disabled; });
}

export function applyRules() {
  const rules = state.rules, staff = state.me.moderator;
  const chatLines = [];
  if (!rules.chat_open) { chatLines.push(text(staff ? "chat-closed-staff" : "chat-closed")); }
  if (rules.slow_mode_seconds > 0) {
    chatLines.push(format(text("slow-mode"), { seconds: numberFormat.format(rules.slow_mode_seconds) }));
  }
  el.chatNotice.textContent = chatLines.join(" ");
  el.chatNotice.hidden = !chatLines.length;
  const questionLines = [];
  if (!rules.questions_open) { questionLines.push(text("questions-closed")); }
  if (rules.questions_premoderated) { questionLines.push(text("questions-premoderated")); }
  if (!rules.questions_open) { questionLines.push(text("voting-closed")); }
  el.questionsNotice.textContent = questionLines.join(" ");
  el.questionsNotice.hidden = !questionLines.length;
  state.questions.forEach(function (entry) { updateVote(entry); });  // votes stop while questions are closed

  setDisabled(el.messageForm, state.banned || (!rules.chat_open && !staff));
  setDisabled(el.askForm, state.banned || (!rules.questions_open && !staff));
  if (state.banned) { setDisabled(el.nameForm, true); el.changeName.disabled = true; }

  el.chatToggle.textContent = text(rules.chat_open ? "close-chat" : "open-chat");
  el.questionsToggle.textContent = text(rules.questions_open ? "close-questions" : "open-questions");
  const slow = String(rules.slow_mode_seconds || 0);
  if (!$all("option", el.slowMode).some(function (option) { return option.value === slow; })) {
    const option = document.createElement("option");
    option.value = slow;
    option.textContent = format(text("seconds"), { seconds: slow });
    el.slowMode.appendChild(option);
  }
  el.slowMode.value = slow;
  el.premoderate.checked = Boolean(rules.questions_premoderated);
}

export function changeRules(changes) {
  el.modError.textContent = "";
  call("set_rules", changes, function (ack) {
    if (!ack.ok) { el.modError.textContent = ack.message || ""; applyRules(); return; }
    setRules(ack.rules);
    showStatus(text("rules-saved"));
  });
}
el.chatToggle.addEventListener("click", function () { changeRules({ chat_open: !state.rules.chat_open }); });
el.questionsToggle.addEventListener("click", function () {
  changeRules({ questions_open: !state.rules.questions_open });
});
el.slowMode.addEventListener("change", function () {
  changeRules({ slow_mode_seconds: parseInt(el.slowMode.value, 10) || 0 });
});
el.premoderate.addEventListener("change", function () {
  changeRules({ questions_premoderated: el.premoderate.checked });
});


// -- the bans in force (moderators): each with "Lift" -----------------------------------------
export function setBans(bans) {
  if (!Array.isArray(bans)) { return; }
  state.bans = bans;
  const focused = el.bans.contains(document.activeElement);
  el.bans.textContent = "";
  bans.forEach(function (ban) {
    const item = clone("ban");
    const name = ban.name || text("anonymous");
    $("[data-ban-name]", item).textContent = name;
    $("[data-ban-scope]", item).textContent = text(ban.scope === "event" ? "ban-event" : "ban-talk");
    const created = new Date(ban.created_at);
    $("[data-ban-by]", item).textContent = format(text("ban-by"), {
      name: ban.created_by, time: isNaN(created.getTime()) ? "" : timeFormat.format(created) });
    if (ban.reason) {
      const reason = $("[data-ban-reason]", item);
      reason.textContent = format(text("hidden-reason"), { reason: ban.reason });
      reason.hidden = false;
    }
    const lift = $("[data-lift]", item);
    lift.setAttribute("aria-label", format(text("lift-label"), { name: name }));
    lift.addEventListener("click", function () { liftBan(ban, lift); });
    el.bans.appendChild(item);
  });
  el.bansEmpty.hidden = bans.length > 0;
  // The list was rebuilt: a focused "Lift" that went away hands the focus to the section's summary.
  if (focused && !el.bans.contains(document.activeElement)) { $("summary", el.modTools).focus(); }
}

export function liftBan(ban, button) {
  button.disabled = true;
  el.modError.textContent = "";
  call("lift_ban", { ban_id: ban.id }, function (ack) {
    button.disabled = false;
    if (!ack.ok) { el.modError.textContent = ack.message || ""; return; }
    showStatus(format(text("lifted-done"), { name: ban.name || text("anonymous") }));
    setBans(state.bans.filter(function (other) { return other.id !== ban.id; }));
  });
}
