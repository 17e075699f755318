// Rendering what people wrote (text and http(s) links only, never HTML), the meta line of
// messages and questions, action buttons, and the polite announcements (summarised, at most
// one every 3 s).
import {
  $, actionTexts, ANNOUNCE_GATHER, ANNOUNCE_INTERVAL, clone, el, numberFormat, ROLES, state, text,
  timeFormat
} from "./context.js";
import { paced, sayAgain } from "../lib/announce.js";
import { format } from "../lib/text.js";

// -- announcements (polite, summarised, at most one every 3 s) ---------------------------------
let queue = [];
const askToAnnounce = paced(ANNOUNCE_INTERVAL, ANNOUNCE_GATHER, function () {
  const lines = queue;
  queue = [];
  if (!lines.length) { return; }
  const line = lines.length === 1 ? lines[0]
    : format(text("new-messages"), { count: numberFormat.format(lines.length) });
  // The same words twice in a row are still a change, so they are spoken again.
  sayAgain(el.announcer, line);
});

export function announce(line) {
  queue.push(line);
  askToAnnounce();
}

// -- rendering what people wrote ---------------------------------------------------------------
export function renderBody(target, body) {
  // Text with http(s) links: the text is split on a URL pattern and each part becomes a text
  // node or an <a> built with createElement; no HTML is ever parsed.
  const pattern = /https?:\/\/[^\s<>"'`]+/gi;
  let last = 0, match;
  target.textContent = "";
  while ((match = pattern.exec(body)) !== null) {
    const url = match[0].replace(/[.,;:!?)\]}]+$/, "");
    const link = makeLink(url);
    if (!link) { continue; }
    if (match.index > last) { target.appendChild(document.createTextNode(body.slice(last, match.index))); }
    target.appendChild(link);
    last = match.index + url.length;
    pattern.lastIndex = last;
  }
  if (last < body.length) { target.appendChild(document.createTextNode(body.slice(last))); }
}

export function makeLink(url) {
  let parsed;
  try { parsed = new URL(url); } catch (error) { return null; }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") { return null; }
  const link = document.createElement("a");
  link.href = parsed.href;
  link.rel = "nofollow noopener";
  link.target = "_blank";
  link.textContent = url;
  link.setAttribute("aria-describedby", "live-new-tab-note");  // "(opens in a new tab)"
  return link;
}

export function fillMeta(item, data) {
  const author = $("[data-author]", item);
  author.textContent = data.name || text("anonymous");
  if (data.anonymous && data.name) {  // moderators see who asked anonymously
    author.textContent = data.name + " (" + text("anonymous") + ")";
  }
  const role = $("[data-role]", item);
  if (ROLES.indexOf(data.role) !== -1) {
    role.textContent = text("role-" + data.role);
    role.className = "live-tag live-tag-" + data.role;
    role.hidden = false;
  } else {
    role.hidden = true;
  }
  const time = $("[data-time]", item);
  const created = new Date(data.created_at);
  if (!isNaN(created.getTime())) {
    time.dateTime = data.created_at;
    time.textContent = timeFormat.format(created);
  }
  const note = $("[data-hidden-note]", item);
  const hidden = data.hidden || data.state === "hidden";
  item.classList.toggle("is-hidden", Boolean(hidden));
  if (hidden && state.me.moderator) {
    const parts = [];
    if (data.hidden_by) { parts.push(format(text("hidden-by"), { name: data.hidden_by })); }
    if (data.hidden_reason) { parts.push(format(text("hidden-reason"), { reason: data.hidden_reason })); }
    note.textContent = parts.join(" ");
    note.hidden = !parts.length;
  } else {
    note.hidden = true;
  }
  const reported = state.me.moderator && state.reported.has(item.getAttribute("data-kind") + ":" + data.id);
  item.classList.toggle("is-reported", reported);
  $("[data-reported]", item).hidden = !reported;
}

export function authorName(data) { return data.name || text("anonymous"); }

export function actionButton(action, label, handler) {
  const button = clone("action");
  button.textContent = actionTexts[action];
  button.setAttribute("data-action", action);
  if (label) { button.setAttribute("aria-label", label); }
  button.addEventListener("click", handler);
  return button;
}

export function isMine(data) {
  // The server marks our own items ("mine" in join and acks; client ids are never
  // broadcast); later updates of a question of ours keep the mark we saw first.
  const key = (data.state !== undefined ? "question:" : "message:") + data.id;
  if (data.mine === true || (data.client_id && state.mine.has(data.client_id))) { state.mineIds.add(key); }
  return state.mineIds.has(key);
}

