"""The reference for bench/chat_load.py: the least a Flask-SocketIO chat server can do.

    .venv/bin/python bench/bare_server.py --port PORT

One Flask app under eventlet (monkey-patched first, as `python -m server` does) with one
namespace, /live, that speaks the same events as Arena's live room (server/sockets/live.py)
but does nothing else: `join` puts the connection in the talk's room, `set_name` is accepted,
and `send_message` broadcasts a payload shaped like Arena's chat message to the room (all but
the sender, who gets it in the ack, as in Arena) and acks.
No database, no session, no moderation, no limits, no presence.

Fairness with `python -m server serve` (server/__main__.py, _serve): the same async mode
(eventlet), the same Socket.IO settings (max_http_buffer_size 65536, python-engineio's default
ping interval and timeout, the same origin check), the same WSGI server set up the same way:
a listening socket of its own with TCP_NODELAY (inherited by the accepted connections) and a
backlog of 2,048, `eventlet.wsgi.server` allowed 20,000 connections (its default, 1,024, would
refuse the 2,000-client run), no access log, gc.collect() + gc.freeze() after start-up, and
RLIMIT_NOFILE raised to its hard limit. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask, jsonify  # noqa: E402
from flask_socketio import Namespace, SocketIO, join_room  # noqa: E402

NAMESPACE = "/live"
# Arena's defaults (server/config.py ChatSettings), so both servers parse frames alike.
MAX_HTTP_BUFFER_SIZE = 65536


def talk_room(talk_id: int) -> str:
    return f"talk:{talk_id}"


class BareLive(Namespace):
    def __init__(self) -> None:
        super().__init__(NAMESPACE)
        self.ids = itertools.count(1)
        self.talk_of: dict[str, int] = {}

    def on_connect(self, auth: Any = None) -> bool:
        return True

    def on_disconnect(self, reason: Any = None) -> None:
        from flask import request

        self.talk_of.pop(request.sid, None)

    def on_join(self, data: Any) -> dict[str, Any]:
        from flask import request

        talk_id = int(data["talk_id"])
        self.talk_of[request.sid] = talk_id
        join_room(talk_room(talk_id))
        return {"ok": True, "talk_id": talk_id, "messages": []}

    def on_set_name(self, data: Any) -> dict[str, Any]:
        return {"ok": True, "name": str(data["name"])}

    def on_send_message(self, data: Any) -> dict[str, Any]:
        from flask import request

        talk_id = self.talk_of.get(request.sid)
        if talk_id is None:
            return {"ok": False, "error": "not_joined"}
        payload = {"id": next(self.ids), "talk_id": talk_id, "name": "Bench", "role": "participant",
                   "body": data["body"], "client_id": data["client_id"],
                   "created_at": datetime.now(UTC).isoformat()}
        # As Arena does: the sender gets its message in the ack, everyone else by broadcast.
        self.socketio.emit("message", payload, to=talk_room(talk_id), namespace=NAMESPACE, skip_sid=request.sid)
        return {"ok": True, "message": payload, "duplicate": False}


def create_app(base_url: str) -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "bare-bench-secret"

    @app.get("/healthz")
    def health():
        return jsonify({"ok": True, "async_mode": "eventlet"})

    socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins=[base_url],
                        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE)
    socketio.on_namespace(BareLive())
    return app, socketio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base_url = f"http://127.0.0.1:{args.port}"
    app, _socketio = create_app(base_url)
    print(f"bare server on {base_url} (eventlet)", flush=True)
    # As Arena's _serve does: its own listener, TCP_NODELAY, backlog 2,048, gc.freeze(), GC threshold.
    listener = socket.create_server(("127.0.0.1", args.port), backlog=2048, reuse_port=False)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as Arena's _serve does
    import eventlet.wsgi

    eventlet.wsgi.server(listener, app, max_size=20000, log_output=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
