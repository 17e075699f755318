// The live panel of a talk page: chat, questions, votes and moderation over Socket.IO (/live,
// server/sockets/protocol.py names every event; docs/realtime.md the protocol). Every word
// comes from the template (data-text-* on the panel, <template> elements); what participants
// write only ever reaches the page through textContent and createElement, never as HTML.
//
// The modules: context (shared state, elements, socket), log (the room's log, earlier
// messages), outbox, messages, questions, moderation, render, and room (joining and events).
// They start only where the panel is and Socket.IO has loaded.
import { socketAvailable } from "../lib/socket.js";

if (document.querySelector(".live-panel[data-talk-id]") && socketAvailable()) {
  import("./room.js");
}
