// The presenter view: the question being answered now and the five with most votes, live.
// It only joins the talk's room and listens; it never writes. Words come from the template,
// questions reach the page through textContent only.
import { connect, reconnectIfServerClosed, socketAvailable } from "./lib/socket.js";
import { format, textFrom } from "./lib/text.js";

const TOP = 5;

function present(root) {
  const TALK_ID = parseInt(root.getAttribute("data-talk-id"), 10);
  const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const questions = new Map();  // id -> question payload
  const current = root.querySelector("[data-presenter-current]");
  const none = root.querySelector("[data-presenter-none]");
  const list = root.querySelector("[data-presenter-top]");
  const empty = root.querySelector("[data-presenter-empty]");
  const connection = root.querySelector("[data-presenter-connection]");
  const template = root.querySelector('template[data-template="presenter-item"]');
  const text = textFrom(root);

  function votes(count) {
    return format(text(count === 1 ? "votes-one" : "votes-other"), { count: numberFormat.format(count) });
  }
  function fill(target, question) {
    target.querySelector("[data-body]").textContent = question.body;
    // A moderator's socket gets anonymous askers' names too: never put them on the big screen.
    target.querySelector("[data-author]").textContent =
      (!question.anonymous && question.name) || text("anonymous");
    target.querySelector("[data-votes]").textContent = votes(question.votes);
  }

  let shownCurrent = "";
  function render() {
    const all = Array.from(questions.values());
    const answering = all.filter(function (q) { return q.state === "answering"; })[0];
    // Only rewrite the live region when the question itself changes, not on every vote.
    const key = answering ? answering.id + ":" + answering.body : "";
    if (key !== shownCurrent) {
      shownCurrent = key;
      if (answering) { fill(current, answering); }
      current.hidden = !answering;
      none.hidden = Boolean(answering);
    } else if (answering) {
      current.querySelector("[data-votes]").textContent = votes(answering.votes);
    }
    const top = all.filter(function (q) { return q.state === "visible"; })
      .sort(function (a, b) { return (b.votes - a.votes) || (a.id - b.id); })
      .slice(0, TOP);
    const items = top.map(function (question) {
      const item = template.content.firstElementChild.cloneNode(true);
      fill(item, question);
      return item;
    });
    list.replaceChildren(...items);
    empty.hidden = items.length > 0;
  }

  function set(question) {
    if (!question || typeof question.id !== "number") { return; }
    questions.set(question.id, question);
  }

  const socket = connect("/live");
  // The highest number of the room's log seen (docs/realtime.md). The projector keeps no gaps of
  // its own: when `presence` says the room is further on, it joins again for the whole list.
  let head = 0;
  let rejoinedAt = 0;
  function saw(data) { if (data && typeof data.seq === "number" && data.seq > head) { head = data.seq; } }
  connection.textContent = text("connecting");
  function join() {
    socket.timeout(5000).emit("join", { talk_id: TALK_ID }, function (error, ack) {
      if (error) { if (socket.connected) { join(); } return; }
      if (!ack || !ack.ok) { connection.textContent = (ack && ack.message) || ""; return; }
      connection.textContent = "";
      questions.clear();
      (ack.questions || []).forEach(set);
      if (typeof ack.seq === "number") { head = ack.seq; }
      render();
    });
  }
  socket.on("connect", join);
  socket.on("presence", function (data) {
    if (!data || data.talk_id !== TALK_ID || typeof data.seq !== "number" || data.seq <= head) { return; }
    if (Date.now() - rejoinedAt > 2000) { rejoinedAt = Date.now(); join(); }
  });
  ["message", "message_hidden", "message_restored", "rules", "skip"].forEach(function (event) { socket.on(event, saw); });
  socket.on("disconnect", function (reason) {
    connection.textContent = text("reconnecting");
    reconnectIfServerClosed(socket, reason);
  });
  function onQuestion(question) { saw(question); set(question); render(); }
  function onHidden(data) {
    saw(data);
    if (data && data.state !== undefined) { set(data); } else if (data) { questions.delete(data.id); }
    render();
  }
  socket.on("question", onQuestion);
  socket.on("question_hidden", onHidden);
  // Entries that came close together share a frame (chat.push_interval_ms).
  socket.on("batch", function (data) {
    if (!data || data.talk_id !== TALK_ID || !Array.isArray(data.events)) { return; }
    data.events.forEach(function (item) {
      if (!item) { return; }
      if (item.event === "question") { onQuestion(item.data); }
      else if (item.event === "question_hidden") { onHidden(item.data); }
      else { saw(item.data); }
    });
  });
  socket.on("votes", function (data) {
    if (!data || data.talk_id !== TALK_ID || !data.counts) { return; }
    Object.keys(data.counts).forEach(function (key) {
      const question = questions.get(parseInt(key, 10));
      if (question) { question.votes = data.counts[key]; }
    });
    render();
  });
}

const presenterRoot = document.querySelector("[data-presenter][data-talk-id]");
if (presenterRoot && socketAvailable()) { present(presenterRoot); }
