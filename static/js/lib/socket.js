// The Socket.IO connection boilerplate. `io` is the vendor client (static/vendor, a classic
// script): a module that stands before it in the page reads it after DOMContentLoaded
// (lib/dom.js afterDeferredScripts).

export const RECONNECT_DELAY = 1000;

// socketAvailable(): the Socket.IO client has loaded.
export function socketAvailable() { return typeof window.io === "function"; }

// connect("/live"): a connection to a namespace, WebSocket first, long polling where a proxy
// refuses WebSockets.
export function connect(namespace) {
  return window.io(namespace, { transports: ["websocket", "polling"] });
}

// reconnectIfServerClosed(socket, reason, wanted): the client does not come back by itself
// when the server closed the connection (a role ended, say); come back, as who we now are,
// after a moment, unless wanted() says no more (banned).
export function reconnectIfServerClosed(socket, reason, wanted) {
  if (reason !== "io server disconnect") { return; }
  window.setTimeout(function () { if (!wanted || wanted()) { socket.connect(); } }, RECONNECT_DELAY);
}

// askOnEveryConnect(socket, event, payload, answered): asks at every connection, the first
// and each after a drop (for what happened meanwhile); answered(answer) gets ok answers only.
export function askOnEveryConnect(socket, event, payload, answered) {
  socket.on("connect", function () {
    socket.emit(event, payload, function (answer) { if (answer && answer.ok) { answered(answer); } });
  });
}

// ask(socket, event, payload, timeout, failure, done): an emit with an ack; done(ack), or
// done(failure) when no ack came within `timeout` ms.
export function ask(socket, event, payload, timeout, failure, done) {
  socket.timeout(timeout).emit(event, payload, function (error, ack) {
    done(error || !ack ? failure : ack);
  });
}
