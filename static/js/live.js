// The live panel of a talk page: chat, questions, votes and moderation over Socket.IO (/live,
// server/sockets/protocol.py names every event). Every word comes from the template
// (data-text-* on the panel, <template> elements); what participants write only ever reaches
// the page through textContent and createElement, never as HTML.
(function () {
  "use strict";
  var panel = document.querySelector(".live-panel[data-talk-id]");
  if (!panel || typeof window.io !== "function") { return; }

  var TALK_ID = parseInt(panel.getAttribute("data-talk-id"), 10);
  var ACK_TIMEOUT = 5000;        // no ack within 5 s: send again, with the same client_id
  var RETRY_DELAY = 2000;        // a write answered "paused" or "unavailable" is sent again after 2 s
  var GAP_RECHECK = 2000;        // a gap still open 2 s after its history answer is asked for again
  var CATCH_UP_LIMIT = 200;      // entries per history request when filling a gap (the most the server gives)
  var EARLIER_PAGE = 100;        // entries per page of "Show earlier messages"
  var RETRYABLE = { paused: true, unavailable: true };
  var ANNOUNCE_INTERVAL = 3000;  // at most one announcement every 3 s (WCAG 4.1.3 without flooding)
  var ANNOUNCE_GATHER = 500;     // a burst that arrives together is summarised in one announcement
  var ANNOUNCE_MAX_CHARS = 200;
  var MAX_MESSAGES = 300;        // older messages leave the page (the server keeps them) until the
                                 // reader asks for earlier ones: then everything loaded stays
  var HISTORY_SIZE = parseInt(panel.getAttribute("data-history-size"), 10) || 50;  // messages in a join's snapshot
  var NAME_KEY = "arena.live.name";
  var CLIENT_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var ROLES = ["moderator", "speaker", "organiser"];
  var STATES = ["awaiting_approval", "answering", "answered", "hidden"];
  var lang = document.documentElement.lang || undefined;

  // -- small helpers ---------------------------------------------------------------------
  function $(selector, root) { return (root || panel).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || panel).querySelectorAll(selector)); }
  function text(key) { return panel.getAttribute("data-text-" + key) || ""; }
  function format(template, values) {
    // One pass with a function: a value holding "{name}" or "$&" is inserted as it is.
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }
  var numberFormat = new Intl.NumberFormat(lang);
  var timeFormat;
  try {
    timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit",
                                                 timeZone: panel.getAttribute("data-time-zone") || undefined });
  } catch (error) {
    timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  }
  function plural(key, count) {
    return format(text(key + (count === 1 ? "-one" : "-other")), { count: numberFormat.format(count) });
  }
  function clone(name) {
    var template = $('template[data-template="' + name + '"]');
    return template.content.firstElementChild.cloneNode(true);
  }
  var uniqueCounter = 0;
  function uniquify(root) {
    // Ids inside a cloned <template> get a suffix; labels and references follow.
    uniqueCounter += 1;
    var suffix = "-" + uniqueCounter;
    $all("[id]", root).forEach(function (el) { el.id += suffix; });
    $all("label[for]", root).forEach(function (el) { el.htmlFor += suffix; });
    return root;
  }
  function storedName() {
    try { return window.localStorage.getItem(NAME_KEY) || ""; } catch (error) { return ""; }
  }
  function storeName(name) {
    try { window.localStorage.setItem(NAME_KEY, name); } catch (error) { /* private mode: not remembered */ }
  }
  function newClientId() {
    var bytes = new Uint8Array(22);
    window.crypto.getRandomValues(bytes);
    var id = "";
    for (var i = 0; i < bytes.length; i += 1) { id += CLIENT_ID_ALPHABET.charAt(bytes[i] & 63); }
    return id;
  }
  function truncate(value, max) { return value.length > max ? value.slice(0, max - 1) + "…" : value; }
  function now() { return window.performance.now(); }

  // -- elements ------------------------------------------------------------------------------
  var el = {
    viewers: $("[data-live-viewers]"),
    connection: $("[data-live-connection]"),
    status: $("[data-live-status]"),
    announcer: $("[data-live-announcer]"),
    banned: $("[data-live-banned]"),
    modTools: $("[data-moderator-tools]"),
    modError: $("[data-moderation-error]"),
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
  var actionTexts = {};
  $all("[data-action-text]", $('template[data-template="action-texts"]').content).forEach(function (span) {
    actionTexts[span.getAttribute("data-action-text")] = span.textContent;
  });

  // -- state ---------------------------------------------------------------------------------
  var state = {
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
    sort: "votes"
  };

  // The room's log (docs/realtime.md, "The room's log"): every entry has a per-talk number
  // `seq`, 1, 2, 3, ... without a gap. `last` is the number up to which this page has applied
  // every entry; later ones wait in `buffer` until the gap before them is filled.
  var log = {
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

  function showError(form, message) {
    var target = form && $("[data-form-error]", form);
    if (target) { target.textContent = message || ""; }
  }
  var statusTimer = null;
  function showStatus(message) {
    el.status.textContent = message || "";
    window.clearTimeout(statusTimer);
    if (message) { statusTimer = window.setTimeout(function () { el.status.textContent = ""; }, 8000); }
  }
  function setConnection(message) { el.connection.textContent = message || ""; }

  // -- the socket ------------------------------------------------------------------------------
  var socket = window.io("/live", { transports: ["websocket", "polling"] });

  function call(event, payload, done) {
    // An emit with an ack; done(ack) with {ok: false, message} for a timeout or no connection.
    if (!socket.connected) {
      done({ ok: false, error: "offline", message: text("send-failed") });
      return;
    }
    socket.timeout(ACK_TIMEOUT).emit(event, payload, function (error, ack) {
      if (error || !ack) { done({ ok: false, error: "timeout", message: text("send-failed") }); return; }
      done(ack);
    });
  }

  // Only a slow first connection is worth a word (a status region speaks when it changes).
  window.setTimeout(function () { if (!state.joined && !state.banned) { setConnection(text("connecting")); } }, 1500);
  socket.on("connect", join);
  socket.on("disconnect", function (reason) {
    state.joined = false;
    outbox.sending = null;  // its ack will not come: sent again after the next join
    if (state.banned) { return; }
    setConnection(text("reconnecting"));
    if (reason === "io server disconnect") {
      // The server closed this connection (a role ended, say): come back as who we now are.
      window.setTimeout(function () { if (!state.banned) { socket.connect(); } }, 1000);
    }
  });
  socket.on("connect_error", function () { if (!state.banned) { setConnection(text("reconnecting")); } });

  function join() {
    var payload = { talk_id: TALK_ID };
    if (log.known) { payload.last_seq = log.last; }  // back after a drop: what came after it
    socket.timeout(ACK_TIMEOUT).emit("join", payload, function (error, ack) {
      if (error) { if (socket.connected) { join(); } return; }
      if (!ack || !ack.ok) { setConnection(ack && ack.message); return; }
      joined(ack);
    });
  }

  function joined(ack) {
    var wasModerator = state.me.moderator, wasHost = state.me.host;
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
    }
    state.myVotes = new Set(ack.my_votes || []);
    replaceQuestions(ack.questions || []);
    setViewers(ack.viewers);
    if (ack.stream) { announceStream(ack.stream); }
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
  function cleanName(value) { return value.replace(/\s+/g, " ").trim(); }

  function sendName(name, form) {
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

  function showIdentity() {
    el.nameForm.hidden = true;
    el.writingAs.textContent = format(text("writing-as"), { name: state.name });
    el.identity.hidden = false;
    el.messageForm.hidden = false;
    el.askForm.hidden = false;
    applyRules();
  }

  function showNameForm(focus) {
    var input = $("input", el.nameForm);
    el.identity.hidden = true;
    el.nameForm.hidden = false;
    if (!input.value) { input.value = state.name || storedName(); }
    if (focus) { input.focus(); }
  }

  function focusWriting() {
    var selected = el.tabs.filter(function (tab) { return tab.getAttribute("aria-selected") === "true"; })[0];
    var form = selected && selected.getAttribute("aria-controls") === "live-questions" ? el.askForm : el.messageForm;
    var textarea = $("textarea", form);
    if (!textarea.disabled) { textarea.focus(); }
  }

  el.nameForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("input", el.nameForm);
    var name = cleanName(input.value);
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

  // -- the outbox: sending with retries ------------------------------------------------------------
  // What the participant wrote waits here, in order, until the server has it. One write is on
  // the way at a time, so the room gets them in the order they were written. A lost ack, or an
  // answer "paused" (the message queue is unreachable) or "unavailable" (the database), leaves
  // it here to be sent again with the same client_id, which the server stores once.
  var outbox = { sending: null, timer: null };

  function flushPending() {
    window.clearTimeout(outbox.timer);
    outbox.timer = null;
    pumpOutbox();
  }

  function transmit(item) {
    state.pending.set(item.payload.client_id, item);
    pumpOutbox();
  }

  function pumpOutbox() {
    if (outbox.sending || outbox.timer !== null) { return; }
    if (!state.joined || !state.name || !socket.connected) { return; }  // sent after the next join
    var item = state.pending.values().next().value;
    if (!item) { return; }
    outbox.sending = item;
    item.attempts += 1;
    var attempt = item.attempts;
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

  function setOutboxStatus(form, message) {
    var line = form && $("[data-outbox-status]", form);
    // The same words again are not a change: a status region stays quiet while retries go on.
    if (line && line.textContent !== (message || "")) { line.textContent = message || ""; }
  }

  function finish(item, ack) {
    state.pending.delete(item.payload.client_id);
    var waiting = false;
    state.pending.forEach(function (other) { if (other.form === item.form) { waiting = true; } });
    if (!waiting) { setOutboxStatus(item.form, ""); }
    if (ack.ok) { item.done(ack); return; }
    var textarea = $("textarea", item.form);
    if (!textarea.value) { textarea.value = item.payload.body; updateCounter(item.form); }
    showError(item.form, ack.message);
  }

  function updateCounter(form) {
    var textarea = $("textarea", form);
    var counter = $("[data-counter]", form);
    counter.textContent = format(text("characters"), {
      count: numberFormat.format(textarea.value.length),
      max: numberFormat.format(parseInt(textarea.getAttribute("data-max"), 10))
    });
  }

  function setUpWritingForm(form, submit) {
    var textarea = $("textarea", form);
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

  setUpWritingForm(el.messageForm, function () {
    var textarea = $("textarea", el.messageForm);
    var body = textarea.value;
    showError(el.messageForm, "");
    if (textarea.disabled || state.banned) { return; }
    if (!body.trim()) { showError(el.messageForm, text("empty")); return; }
    var clientId = newClientId();
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
    var textarea = $("textarea", el.askForm);
    var anonymous = $('input[type="checkbox"]', el.askForm);
    var body = textarea.value;
    showError(el.askForm, "");
    if (textarea.disabled || state.banned) { return; }
    if (!body.trim()) { showError(el.askForm, text("empty")); return; }
    var clientId = newClientId();
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

  // -- announcements (polite, summarised, at most one every 3 s) ---------------------------------
  var announcement = { queue: [], last: -Infinity, timer: null };

  function announce(line) {
    announcement.queue.push(line);
    if (announcement.timer !== null) { return; }
    var wait = Math.max(ANNOUNCE_GATHER, announcement.last + ANNOUNCE_INTERVAL - now());
    announcement.timer = window.setTimeout(flushAnnouncements, wait);
  }

  function flushAnnouncements() {
    announcement.timer = null;
    var queue = announcement.queue;
    announcement.queue = [];
    if (!queue.length) { return; }
    var line = queue.length === 1 ? queue[0]
      : format(text("new-messages"), { count: numberFormat.format(queue.length) });
    // The same words twice in a row are still a change, so they are spoken again.
    el.announcer.textContent = line === el.announcer.textContent ? line + "\u00a0" : line;
    announcement.last = now();
  }

  // -- rendering what people wrote ---------------------------------------------------------------
  function renderBody(target, body) {
    // Text with http(s) links: the text is split on a URL pattern and each part becomes a text
    // node or an <a> built with createElement; no HTML is ever parsed.
    var pattern = /https?:\/\/[^\s<>"'`]+/gi;
    var last = 0, match;
    target.textContent = "";
    while ((match = pattern.exec(body)) !== null) {
      var url = match[0].replace(/[.,;:!?)\]}]+$/, "");
      var link = makeLink(url);
      if (!link) { continue; }
      if (match.index > last) { target.appendChild(document.createTextNode(body.slice(last, match.index))); }
      target.appendChild(link);
      last = match.index + url.length;
      pattern.lastIndex = last;
    }
    if (last < body.length) { target.appendChild(document.createTextNode(body.slice(last))); }
  }

  function makeLink(url) {
    var parsed;
    try { parsed = new URL(url); } catch (error) { return null; }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") { return null; }
    var link = document.createElement("a");
    link.href = parsed.href;
    link.rel = "nofollow noopener";
    link.target = "_blank";
    link.textContent = url;
    link.setAttribute("aria-describedby", "live-new-tab-note");  // "(opens in a new tab)"
    return link;
  }

  function fillMeta(item, data) {
    var author = $("[data-author]", item);
    author.textContent = data.name || text("anonymous");
    if (data.anonymous && data.name) {  // moderators see who asked anonymously
      author.textContent = data.name + " (" + text("anonymous") + ")";
    }
    var role = $("[data-role]", item);
    if (ROLES.indexOf(data.role) !== -1) {
      role.textContent = text("role-" + data.role);
      role.className = "live-tag live-tag-" + data.role;
      role.hidden = false;
    } else {
      role.hidden = true;
    }
    var time = $("[data-time]", item);
    var created = new Date(data.created_at);
    if (!isNaN(created.getTime())) {
      time.dateTime = data.created_at;
      time.textContent = timeFormat.format(created);
    }
    var note = $("[data-hidden-note]", item);
    var hidden = data.hidden || data.state === "hidden";
    item.classList.toggle("is-hidden", Boolean(hidden));
    if (hidden && state.me.moderator) {
      var parts = [];
      if (data.hidden_by) { parts.push(format(text("hidden-by"), { name: data.hidden_by })); }
      if (data.hidden_reason) { parts.push(format(text("hidden-reason"), { reason: data.hidden_reason })); }
      note.textContent = parts.join(" ");
      note.hidden = !parts.length;
    } else {
      note.hidden = true;
    }
    var reported = state.me.moderator && state.reported.has(item.getAttribute("data-kind") + ":" + data.id);
    item.classList.toggle("is-reported", reported);
    $("[data-reported]", item).hidden = !reported;
  }

  function authorName(data) { return data.name || text("anonymous"); }

  function actionButton(action, label, handler) {
    var button = clone("action");
    button.textContent = actionTexts[action];
    button.setAttribute("data-action", action);
    if (label) { button.setAttribute("aria-label", label); }
    button.addEventListener("click", handler);
    return button;
  }

  function isMine(data) {
    // The server marks our own items ("mine" in join and acks; client ids are never
    // broadcast); later updates of a question of ours keep the mark we saw first.
    var key = (data.state !== undefined ? "question:" : "message:") + data.id;
    if (data.mine === true || (data.client_id && state.mine.has(data.client_id))) { state.mineIds.add(key); }
    return state.mineIds.has(key);
  }

  // -- chat messages -----------------------------------------------------------------------------
  function actionLabel(kind, action, data) {
    // The visible word first, then whose message or question: "Report: message from Anna".
    return format(text("label-" + kind), { action: actionTexts[action], name: authorName(data) });
  }

  function messageActions(data) {
    var actions = [];
    if (state.me.moderator) {
      actions.push(data.hidden ? "restore" : "hide");
      if (data.participant_id && !isMine(data)) { actions.push("ban"); }
    } else if (!isMine(data)) {
      actions.push("report");
    }
    return actions;
  }

  function renderActions(entry, kind, actions) {
    var key = actions.join(",") + "|" + authorName(entry.data);
    if (entry.actionsKey === key) { return; }
    entry.actionsKey = key;
    var container = $("[data-actions]", entry.el);
    var hadFocus = container.contains(document.activeElement);
    $all("[data-action]", container).forEach(function (button) { button.remove(); });
    actions.forEach(function (action) {
      container.appendChild(actionButton(action, actionLabel(kind, action, entry.data), function (event) {
        runAction(kind, entry, action, event.currentTarget);
      }));
    });
    if (hadFocus) {
      var next = container.querySelector("button:not([hidden])");
      if (next) { next.focus(); }
    }
  }

  function renderMessage(entry) {
    var data = entry.data;
    fillMeta(entry.el, data);
    renderBody($("[data-body]", entry.el), data.body);
    renderActions(entry, "message", messageActions(data));
  }

  function nearEnd(scroller) { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48; }
  function scrollToEnd(force) {
    var scroller = el.messagesScroll;
    if (force || scroller.getAttribute("data-stick") !== "false") { scroller.scrollTop = scroller.scrollHeight; }
  }
  el.messagesScroll.addEventListener("scroll", function () {
    el.messagesScroll.setAttribute("data-stick", nearEnd(el.messagesScroll) ? "true" : "false");
  });

  function addMessage(data, fromHistory, earlier) {
    // Shows a message once, in id order; true when it was not on the page before. `earlier`:
    // read back by "Show earlier messages" (the reading position is the caller's to keep).
    if (!data || typeof data.id !== "number") { return false; }
    var existing = state.messages.get(data.id);
    if (existing) {  // the same message twice (ack and broadcast, a rejoin): update, never double
      if (earlier) { return false; }  // an old copy read back never overwrites a newer one
      existing.data = data;
      renderMessage(existing);
      return false;
    }
    if (data.hidden && !state.me.moderator) { return false; }
    var entry = { data: data, el: clone("message"), actionsKey: null };
    entry.el.setAttribute("data-kind", "message");
    entry.el.setAttribute("data-id", String(data.id));
    renderMessage(entry);
    state.messages.set(data.id, entry);
    // Keep the list in id order, whatever order things arrive in.
    var before = null;
    if (earlier) {
      before = el.messages.firstElementChild;
      while (before && parseInt(before.getAttribute("data-id"), 10) < data.id) { before = before.nextElementSibling; }
    } else {
      for (var node = el.messages.lastElementChild; node; node = node.previousElementSibling) {
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

  function trimMessages() {
    // A long chat keeps its latest MAX_MESSAGES on the page; the rest can be read back with
    // "Show earlier messages" (which, once used, keeps everything it loaded).
    if (log.keepAll || state.messages.size <= MAX_MESSAGES) { return; }
    while (state.messages.size > MAX_MESSAGES) {
      var oldest = el.messages.firstElementChild;
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

  function removeMessage(id) {
    var entry = state.messages.get(id);
    if (!entry) { return; }
    if (entry.el.contains(document.activeElement)) { el.messagesScroll.focus(); }
    entry.el.remove();
    state.messages.delete(id);
    el.messagesEmpty.hidden = state.messages.size > 0;
  }

  // -- questions -----------------------------------------------------------------------------------
  function questionActions(data) {
    var actions = [];
    if (state.me.host && (data.state === "visible" || data.state === "answered")) { actions.push("answering"); }
    if (state.me.host && (data.state === "visible" || data.state === "answering")) { actions.push("answered"); }
    if (state.me.moderator) {
      if (data.state === "awaiting_approval") { actions.push("approve"); }
      actions.push(data.state === "hidden" ? "restore" : "hide");
      if (data.participant_id && !isMine(data)) { actions.push("ban"); }
    } else if (!isMine(data)) {
      actions.push("report");
    }
    return actions;
  }

  function renderQuestion(entry) {
    var data = entry.data;
    var item = entry.el;
    fillMeta(item, data);
    var badge = $("[data-state]", item);
    if (STATES.indexOf(data.state) !== -1) {
      badge.textContent = text("state-" + data.state);
      badge.className = "live-tag live-state live-state-" + data.state;
      badge.hidden = false;
    } else {
      badge.hidden = true;
    }
    item.classList.toggle("is-answering", data.state === "answering");
    var body = $("[data-body]", item);
    if (body.getAttribute("data-rendered") !== data.body) {
      renderBody(body, data.body);
      body.setAttribute("data-rendered", data.body);
    }
    updateVote(entry);
    renderActions(entry, "question", questionActions(data));
  }

  function updateVote(entry) {
    var data = entry.data;
    var button = $("[data-vote]", entry.el);
    button.hidden = data.state === "awaiting_approval" || data.state === "hidden";
    button.setAttribute("aria-pressed", state.myVotes.has(data.id) ? "true" : "false");
    button.setAttribute("aria-label", format(text("label-question"), { action: button.getAttribute("data-label"),
                                                                       name: authorName(data) }));
    var count = $("[data-vote-count]", entry.el);
    count.textContent = plural("votes", data.votes);
    count.hidden = button.hidden;
  }

  function visibleToMe(data) {
    if (state.me.moderator) { return true; }
    if (data.state === "hidden") { return false; }
    if (data.state !== "awaiting_approval") { return true; }
    // A participant is only ever sent their own waiting questions. A speaker's join also
    // lists other people's (see the report on qa.questions_for): show only their own.
    return !state.me.host || isMine(data) || state.questions.has(data.id);
  }

  function upsertQuestion(data) {
    if (!data || typeof data.id !== "number") { return; }
    var entry = state.questions.get(data.id);
    if (!visibleToMe(data)) { removeQuestion(data.id); return; }
    if (!entry) {
      entry = { data: data, el: clone("question"), actionsKey: null };
      entry.el.setAttribute("data-kind", "question");
      entry.el.setAttribute("data-id", String(data.id));
      var body = $("[data-body]", entry.el);
      body.id = "live-question-" + data.id + "-body";
      var vote = $("[data-vote]", entry.el);
      vote.setAttribute("data-label", vote.textContent.trim());
      vote.setAttribute("aria-describedby", body.id);
      vote.addEventListener("click", function () { toggleVote(entry); });
      state.questions.set(data.id, entry);
    } else {
      entry.data = data;
    }
    renderQuestion(entry);
    var list = state.me.moderator && data.state === "awaiting_approval" ? el.awaitingList : el.questions;
    if (entry.el.parentNode !== list) {
      if (entry.el.contains(document.activeElement)) { el.questions.parentNode.focus(); }
      list.appendChild(entry.el);
    }
  }

  function removeQuestion(id) {
    var entry = state.questions.get(id);
    if (!entry) { return; }
    if (entry.el.contains(document.activeElement)) { el.questions.parentNode.focus(); }
    entry.el.remove();
    state.questions.delete(id);
    sortQuestions();
  }

  function replaceQuestions(list) {
    var seen = new Set();
    list.forEach(function (data) { seen.add(data.id); upsertQuestion(data); });
    Array.from(state.questions.keys()).forEach(function (id) {
      if (!seen.has(id) && !isMine(state.questions.get(id).data)) { removeQuestion(id); }
    });
    sortQuestions();
  }

  function rank(data) {
    if (data.state === "answering") { return 0; }
    if (state.sort === "votes" && data.state === "answered") { return 2; }
    return 1;
  }

  function compareQuestions(a, b) {
    var byRank = rank(a) - rank(b);
    if (byRank) { return byRank; }
    if (state.sort === "newest") { return b.id - a.id; }
    return (b.votes - a.votes) || (a.id - b.id);
  }

  function reorder(list, entries) {
    // Put the list in order by moving existing nodes. The item that holds the focus never
    // moves (a moved node loses focus): the others are placed before and after it.
    var wanted = entries.map(function (entry) { return entry.el; });
    var current = Array.prototype.slice.call(list.children);
    if (wanted.length === current.length && wanted.every(function (node, i) { return node === current[i]; })) { return; }
    var anchor = null;
    wanted.forEach(function (node) { if (node.contains(document.activeElement)) { anchor = node; } });
    var anchorIndex = anchor ? wanted.indexOf(anchor) : -1;
    wanted.forEach(function (node, i) {
      if (node === anchor) { return; }
      if (anchor && i < anchorIndex) { list.insertBefore(node, anchor); } else { list.appendChild(node); }
    });
  }

  function sortQuestions() {
    var main = [], awaiting = [];
    state.questions.forEach(function (entry) {
      (entry.el.parentNode === el.awaitingList ? awaiting : main).push(entry);
    });
    var byData = function (a, b) { return compareQuestions(a.data, b.data); };
    main.sort(byData);
    awaiting.sort(function (a, b) { return a.data.id - b.data.id; });
    reorder(el.questions, main);
    reorder(el.awaitingList, awaiting);
    el.awaiting.hidden = !awaiting.length;
    el.questionsEmpty.hidden = main.length > 0;
    var count = main.filter(function (entry) {
      return entry.data.state !== "hidden" && entry.data.state !== "awaiting_approval";
    }).length;
    el.questionCount.textContent = plural("questions", count);
  }

  function toggleVote(entry) {
    var id = entry.data.id;
    if (state.voting.has(id) || state.banned) { return; }
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

  // -- actions on messages and questions ---------------------------------------------------------
  function closeInlineForms(except) {
    $all(".live-inline-form").forEach(function (form) { if (form !== except) { form.remove(); } });
  }

  function inlineForm(templateName, entry, button, onSubmit) {
    closeInlineForms(null);
    var form = uniquify(clone(templateName));
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
        var next = $("[data-actions] button:not([hidden])", entry.el);
        if (next && entry.el.isConnected) { next.focus(); } else { focusList(entry); }
      });
    });
    var first = $("input:checked, input[type=text]", form);
    if (first) { first.focus(); }
  }

  function focusList(entry) {
    var scroller = entry.el.closest("[data-messages-scroll], [data-questions-scroll]") ||
      (entry.el.getAttribute("data-kind") === "message" ? el.messagesScroll : el.questions.parentNode);
    scroller.focus();
  }

  function runAction(kind, entry, action, button) {
    var data = entry.data;
    if (action === "report") {
      var payload = kind === "message" ? { message_id: data.id } : { question_id: data.id };
      call("report", payload, function (ack) { showStatus(ack.ok ? text("reported") : ack.message); });
    } else if (action === "hide") {
      inlineForm("hide-form", entry, button, function (form, done) {
        var reason = $('input[name="reason"]', form).value.trim();
        var payload = { kind: kind, id: data.id };
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
        var scope = $('input[name="scope"]:checked', form);
        var reason = $('input[name="reason"]', form).value.trim();
        var payload = { participant_id: data.participant_id, whole_event: Boolean(scope && scope.value === "event") };
        if (reason) { payload.reason = reason; }
        call("ban", payload, function (ack) {
          if (ack.ok) { showStatus(format(text("banned-done"), { name: authorName(data) })); }
          done(ack);
        });
      });
    } else if (action === "approve" || action === "answering" || action === "answered") {
      var target = action === "approve" ? "visible" : action;
      call("set_question_state", { question_id: data.id, state: target }, function (ack) {
        if (!ack.ok) { el.questionsError.textContent = ack.message || ""; return; }
        upsertQuestion(ack.question);
        sortQuestions();
      });
    }
  }

  function rerenderAll() {
    state.messages.forEach(function (entry) { renderMessage(entry); });
    state.questions.forEach(function (entry) { renderQuestion(entry); });
  }

  // -- rules, presence, bans -------------------------------------------------------------------------
  function setRules(rules) {
    if (rules) { state.rules = rules; }
    applyRules();
  }

  function setDisabled(form, disabled) {
    $all("textarea, input, button", form).forEach(function (control) { control.disabled = disabled; });
  }

  function applyRules() {
    var rules = state.rules, staff = state.me.moderator;
    var chatLines = [];
    if (!rules.chat_open) { chatLines.push(text(staff ? "chat-closed-staff" : "chat-closed")); }
    if (rules.slow_mode_seconds > 0) {
      chatLines.push(format(text("slow-mode"), { seconds: numberFormat.format(rules.slow_mode_seconds) }));
    }
    el.chatNotice.textContent = chatLines.join(" ");
    el.chatNotice.hidden = !chatLines.length;
    var questionLines = [];
    if (!rules.questions_open) { questionLines.push(text("questions-closed")); }
    if (rules.questions_premoderated) { questionLines.push(text("questions-premoderated")); }
    el.questionsNotice.textContent = questionLines.join(" ");
    el.questionsNotice.hidden = !questionLines.length;

    setDisabled(el.messageForm, state.banned || (!rules.chat_open && !staff));
    setDisabled(el.askForm, state.banned || (!rules.questions_open && !staff));
    if (state.banned) { setDisabled(el.nameForm, true); el.changeName.disabled = true; }

    el.chatToggle.textContent = text(rules.chat_open ? "close-chat" : "open-chat");
    el.questionsToggle.textContent = text(rules.questions_open ? "close-questions" : "open-questions");
    var slow = String(rules.slow_mode_seconds || 0);
    if (!$all("option", el.slowMode).some(function (option) { return option.value === slow; })) {
      var option = document.createElement("option");
      option.value = slow;
      option.textContent = format(text("seconds"), { seconds: slow });
      el.slowMode.appendChild(option);
    }
    el.slowMode.value = slow;
    el.premoderate.checked = Boolean(rules.questions_premoderated);
  }

  function changeRules(changes) {
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

  function setViewers(count) {
    if (typeof count !== "number") { return; }
    el.viewers.textContent = format(text("watching"), { count: numberFormat.format(count) });
    el.viewers.hidden = false;
  }

  // -- tabs -------------------------------------------------------------------------------------------
  function selectTab(tab, focus) {
    el.tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) { tab.focus(); }
    if (tab.getAttribute("aria-controls") === "live-chat") { scrollToEnd(false); }
  }
  el.tabs.forEach(function (tab, index) {
    tab.addEventListener("click", function () { selectTab(tab, false); });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight") { next = el.tabs[(index + 1) % el.tabs.length]; }
      else if (event.key === "ArrowLeft") { next = el.tabs[(index - 1 + el.tabs.length) % el.tabs.length]; }
      else if (event.key === "Home") { next = el.tabs[0]; }
      else if (event.key === "End") { next = el.tabs[el.tabs.length - 1]; }
      if (next) { event.preventDefault(); selectTab(next, true); }
    });
  });

  // -- the room's log: every entry once, in order -----------------------------------------------------
  function apply(event, data, quiet) {
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

  function receive(event, data, quiet) {
    // A push or a history entry: duplicates are dropped, and nothing is applied before the
    // entries ahead of it.
    if (!data || (data.talk_id !== undefined && data.talk_id !== TALK_ID)) { return; }
    if (typeof data.seq !== "number") { if (event !== "skip") { apply(event, data, quiet); } return; }
    if (log.known && data.seq <= log.last) { return; }
    if (!log.buffer.has(data.seq)) { log.buffer.set(data.seq, { event: event, data: data, quiet: quiet }); }
    if (data.seq > log.head) { log.head = data.seq; }
    drain();
  }

  function drain() {
    if (!log.known) { return; }  // before the first join: the snapshot decides where to start
    var entry;
    while ((entry = log.buffer.get(log.last + 1))) {
      log.buffer.delete(log.last + 1);
      log.last += 1;
      apply(entry.event, entry.data, entry.quiet);
    }
    log.buffer.forEach(function (ignored, seq) { if (seq <= log.last) { log.buffer.delete(seq); } });
    if (log.head > log.last) { catchUp(); }
  }

  function receiveOwn(event, data, seq) {
    // The ack of our own write is entry `seq` of the log, exactly like a push.
    if (data && typeof seq === "number") { receive(event, Object.assign({}, data, { seq: seq }), false); }
  }

  function noteHead(seq) {
    if (typeof seq !== "number") { return; }
    if (seq > log.head) { log.head = seq; }
    if (log.known && log.head > log.last) { catchUp(); }
  }

  function startLog(seq, messages) {
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

  function firstMissing() {
    var lowest = null;
    log.buffer.forEach(function (ignored, seq) { if (lowest === null || seq < lowest) { lowest = seq; } });
    return lowest;
  }

  function scheduleCatchUp(delay) {
    if (log.timer !== null) { return; }
    log.timer = window.setTimeout(function () { log.timer = null; catchUp(); }, delay);
  }

  function catchUp() {
    // Ask for what lies between `last` and the first buffered entry (or the head), once at a
    // time; a failure, or a gap the answer did not close, is asked again after 2 s.
    if (!log.known || !state.joined || log.fetching || log.head <= log.last) { return; }
    var before = firstMissing();
    var payload = { talk_id: TALK_ID, after: log.last, limit: CATCH_UP_LIMIT };
    if (before !== null) { payload.before = before; }
    var from = log.last;
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

  function noteHeadQuietly(seq) { if (typeof seq === "number" && seq > log.head) { log.head = seq; } }

  // -- "Show earlier messages": the log read backwards, a page at a time --------------------------------
  function updateEarlier() {
    var more = log.known && log.oldest !== null && log.oldest > 1 && !log.complete;
    if (!more && el.earlier.contains(document.activeElement)) { el.messagesScroll.focus(); }
    el.earlier.hidden = !more;
    el.beginning.hidden = more || !log.keepAll;
  }

  function readRange(after, before, done) {
    // Every entry with after < seq < before, whatever the server's page size.
    var events = [];
    function next(from) {
      call("history", { talk_id: TALK_ID, after: from, before: before, limit: EARLIER_PAGE }, function (ack) {
        if (!ack.ok) { done(null, ack); return; }
        noteHeadQuietly(ack.head);
        var got = ack.events || [];
        events = events.concat(got);
        var highest = got.length ? got[got.length - 1].data.seq : null;
        if (ack.more && typeof highest === "number" && highest > from && highest < before - 1) { next(highest); }
        else { done(events, ack); }
      });
    }
    next(after);
  }

  function loadEarlier() {
    if (log.loadingEarlier || !state.joined || el.earlier.hidden) { return; }
    log.loadingEarlier = true;
    el.messages.setAttribute("aria-busy", "true");
    var found = [];
    function page() {
      var before = log.oldest, after = Math.max(0, before - 1 - EARLIER_PAGE);
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
      var scroller = el.messagesScroll;
      var fromBottom = scroller.scrollHeight - scroller.scrollTop;
      var added = 0;
      log.keepAll = true;
      found.forEach(function (data) { if (addMessage(data, true, true)) { added += 1; } });
      scroller.scrollTop = scroller.scrollHeight - fromBottom;  // the reader stays where they were
      var words = plural("earlier", added);
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

  // -- events from the server ----------------------------------------------------------------------
  ["message", "message_hidden", "message_restored", "question", "question_hidden", "rules", "skip"]
    .forEach(function (event) { socket.on(event, function (data) { receive(event, data, false); }); });
  socket.on("votes", function (data) {
    if (!data || data.talk_id !== TALK_ID || !data.counts) { return; }
    Object.keys(data.counts).forEach(function (key) {
      var entry = state.questions.get(parseInt(key, 10));
      if (entry && typeof data.counts[key] === "number") {
        entry.data.votes = data.counts[key];
        updateVote(entry);
      }
    });
    sortQuestions();
  });
  // The studio's stream (docs/golive.md): the stage (static/js/stage.js) shows and hides the player.
  function announceStream(data) {
    if (data && data.talk_id === TALK_ID) {
      document.dispatchEvent(new CustomEvent("arena:live-state", { detail: data }));
    }
  }
  socket.on("live_state", announceStream);
  socket.on("presence", function (data) {
    if (!data || data.talk_id !== TALK_ID) { return; }
    setViewers(data.viewers);
    noteHead(data.seq);  // the talk's head: a push lost anywhere is asked for here
  });
  socket.on("reported", function (data) {
    if (!data) { return; }
    var key = data.message_id ? "message:" + data.message_id : "question:" + data.question_id;
    state.reported.add(key);
    var entry = data.message_id ? state.messages.get(data.message_id) : state.questions.get(data.question_id);
    if (entry && data.message_id) { renderMessage(entry); } else if (entry) { renderQuestion(entry); }
  });
  socket.on("banned", function (data) {
    state.banned = true;
    el.banned.textContent = (data && data.message) || "";
    setConnection("");
    closeInlineForms(null);
    applyRules();
  });
})();
