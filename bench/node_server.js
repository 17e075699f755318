// The Node reference for bench/chat_load.py: npm's socket.io (bench/package-lock.json) doing
// what bench/bare_server.py does, and nothing else. `node bench/node_server.js --port PORT`
// Same settings as bare: ping 25 s / 20 s, maxHttpBufferSize 65,536, no permessage-deflate, an
// Origin other than the server's own refused, backlog 2,048, TCP_NODELAY, 127.0.0.1 only.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[process.argv.indexOf("--port") + 1]);
const baseUrl = `http://127.0.0.1:${port}`;
const httpServer = http.createServer({ noDelay: true }, (req, res) => {
  if (req.url === "/healthz") return res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
  res.writeHead(404).end();
});
const io = new Server(httpServer, {
  pingInterval: 25000, pingTimeout: 20000, maxHttpBufferSize: 65536, perMessageDeflate: false,
  cors: { origin: [baseUrl] },
  allowRequest: (req, done) => done(null, !req.headers.origin || req.headers.origin === baseUrl),
});
const room = (talkId) => `talk:${talkId}`;
let ids = 0;
io.of("/live").on("connection", (socket) => {
  socket.on("join", (data, ack) => {
    const talkId = Number.parseInt(data.talk_id, 10);
    socket.data.talkId = talkId;
    socket.join(room(talkId));
    ack({ ok: true, talk_id: talkId, messages: [] });
  });
  socket.on("set_name", (data, ack) => ack({ ok: true, name: String(data.name) }));
  socket.on("send_message", (data, ack) => {
    const talkId = socket.data.talkId;
    if (talkId === undefined) return ack({ ok: false, error: "not_joined" });
    const payload = { id: ++ids, talk_id: talkId, name: "Bench", role: "participant", body: data.body,
      client_id: data.client_id, created_at: new Date().toISOString() };
    socket.to(room(talkId)).emit("message", payload);  // everyone in the room but the sender
    ack({ ok: true, message: payload, duplicate: false });
  });
});
httpServer.listen({ port, host: "127.0.0.1", backlog: 2048 }, () => console.log(`node server on ${baseUrl}`));
