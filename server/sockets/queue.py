"""The message queue between server processes: python-socketio's Redis manager, with what a
day that must lose nothing needs on top.

- Order is not the queue's job: every entry of a room's log carries its number, and clients
  put pushes in order and fetch what is missing (docs/realtime.md). The queue only has to be
  there, so a write is refused ("paused") while Redis cannot be reached (`reachable`), before
  anything is stored.
- The listener resubscribes within a second of Redis coming back; the library's own retry
  waits double each time, up to a minute.
- A server started while Redis is unreachable says so and serves pages meanwhile.

`_redis_listen_with_retries` overrides a private method of python-socketio (pinned in
requirements.txt; tests/live/test_faults.py kills and restarts Redis under it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
import socketio

log = logging.getLogger(__name__)
RESUBSCRIBE_SECONDS = 0.5
PING_TIMEOUT_SECONDS = 1.0
REACHABLE_FOR_SECONDS = 0.2  # a ping answered this recently stands for the next writes


class RoomQueueManager(socketio.RedisManager):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        # Its own connection with short time-outs: the listener's must block, pings must not.
        self._health = redis.Redis.from_url(url, socket_timeout=PING_TIMEOUT_SECONDS,
                                            socket_connect_timeout=PING_TIMEOUT_SECONDS)
        self._reachable_at = 0.0

    def reachable(self) -> bool:
        now = time.monotonic()
        if now - self._reachable_at < REACHABLE_FOR_SECONDS:
            return True
        try:
            self._health.ping()
        except redis.RedisError as error:
            log.warning("the message queue (Redis) is unreachable: %s", error)
            return False
        self._reachable_at = now
        return True

    def say_if_unreachable(self) -> None:
        if not self.reachable():
            log.error("Redis at %s is unreachable: pages are served, the live rooms' writes wait until it is back",
                      _without_password(self.redis_url))

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover  (runs in the listener thread)
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    log.info("subscribed to the message queue")
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001 - any failure of the connection: resubscribe
                if subscribed:
                    log.error("lost the message queue (Redis): %s; resubscribing", exc)
                subscribed = False
                self._reachable_at = 0.0
                time.sleep(RESUBSCRIBE_SECONDS)


def _without_password(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if at else url


def default_channel(database_url: str) -> str:
    """One channel per deployment: Redis pub/sub ignores the database number in the URL, so
    two Arenas on one Redis must not share rooms (talk ids repeat between them)."""
    return "arena-" + hashlib.sha256(database_url.encode()).hexdigest()[:16]
