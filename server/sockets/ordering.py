"""Chat messages in id order across several server processes.

python-socketio's Redis manager delivers an emit to this process's clients at once and to
other processes' clients when it comes back through Redis, so two messages sent at the same
moment on two processes reach each side in a different order. For chat messages Arena
instead (1) holds a per-talk Redis lock from storing the message until it is published, so
the publish order is the id order, and (2) delivers them to local clients only when they
come back from Redis, like everyone else's. Other events keep the library's behaviour.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any, Iterator

import socketio

ORDERED = "arena_ordered"


class OrderedRedisManager(socketio.RedisManager):
    def emit_in_order(self, event: str, data: Any, *, namespace: str, room: str, skip_sid: str | None = None) -> None:
        """Publish only; every process, this one included, delivers it as it comes back."""
        self._publish({"method": "emit", "event": event, "data": [data], "binary": False,
                       "namespace": namespace, "room": room, "skip_sid": skip_sid, "callback": None,
                       "host_id": self.host_id, ORDERED: True})

    def _listen(self) -> Iterator[Any]:
        for message in super()._listen():
            try:
                data = json.loads(message) if isinstance(message, (bytes, str)) else message
            except ValueError:
                yield message
                continue
            if isinstance(data, dict) and data.get(ORDERED) and data.get("host_id") == self.host_id:
                data["host_id"] = "self"  # our own ordered emit: handle it like another host's
                yield data
            else:
                yield message

    @contextlib.contextmanager
    def talk_lock(self, talk_id: int) -> Iterator[None]:
        """Held from the database insert to the publish (milliseconds)."""
        lock = self.redis.lock(f"{self.channel}:order:talk:{talk_id}", timeout=10, blocking_timeout=10,
                               sleep=0.002)
        with lock:
            yield


def default_channel(database_url: str) -> str:
    """One channel per deployment: Redis pub/sub ignores the database number in the URL, so
    two Arenas on one Redis must not share rooms (talk ids repeat between them)."""
    return "arena-" + hashlib.sha256(database_url.encode()).hexdigest()[:16]
