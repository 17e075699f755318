"""A participant's live room as the browser keeps it, in Python, for the fault tests.

`RoomClient` follows the client's rule of docs/realtime.md ("The room's log: every change in
order, nothing missed") to the letter:

- it holds `last`, the highest `seq` up to which it has every entry of the talk's log;
- a push with `seq <= last` is a duplicate and is dropped; `seq == last + 1` is applied, and
  then every buffered entry that now follows; `seq > last + 1` is buffered, and the missing
  range is asked for with `history {talk_id, after: last, before: seq}` (once per gap, again
  after 2 s or on failure);
- a `presence` whose `seq` (the talk's head) is above `last` asks `history` for the rest;
- on every (re)connect it sends `set_name` again (the name lives in the connection's session)
  and `join` with `last_seq: last`, and applies the `events` of the ack.

What it displays is `shown`: the ids of the chat messages on screen, in the order a browser
shows them (a hidden message leaves the screen; a restored one comes back in its place). Like
the page, the first join shows the snapshot (the latest `chat.history_size`) and nothing older:
open participants before the talk fills if they must end up showing every message.
`pushed` holds the numbers that arrived as pushes, duplicates included, so a test can tell a
working message queue from one that presence and history make up for.

`say(body)` puts a message in the outbox, as the browser's form does: the sender thread sends
it with a client id of its own and sends it again, with the same client id, after `paused` or
`unavailable` (every 2 s) or when no ack came within 5 s, until an ack says `ok`. Any other
refusal is kept in `refused` and not retried (the browser would show it to the person).

python-socketio handles every incoming packet in a thread of its own, so pushes may be handled
out of order here even when the server sent them in order: the rule above makes that harmless
(at most a history request more), and every piece of state is read and written under one lock.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import socketio

from server.sockets import protocol as p

ACK_TIMEOUT = 5.0          # as static/js/live/context.js: no ack within 5 s, send again
RETRY_INTERVAL = 2.0       # paused / unavailable: again after 2 s (docs/realtime.md)
GAP_RETRY = 2.0            # the same gap asked for again after 2 s
HISTORY_LIMIT = 200
RETRYABLE = frozenset({p.E_PAUSED, p.E_UNAVAILABLE})
_ids = itertools.count(1)


def client_id(prefix: str = "m") -> str:
    """A valid client id (8-64 of A-Za-z0-9_-), unique in this run."""
    return f"{prefix}-{next(_ids):06d}-{uuid.uuid4().hex[:12]}"


@dataclass
class Outgoing:
    client_id: str
    body: str
    attempts: int = 0
    acks: list[dict[str, Any]] = field(default_factory=list)  # every ack, refusals included
    timeouts: int = 0
    done: dict[str, Any] | None = None                          # the final ack (ok, or a refusal kept)


class RoomClient:
    """One participant's page on `talk_id` of the server at `url` (see the module's docstring)."""

    def __init__(self, url: str, page_url: str, talk_id: int, name: str | None = "Deltagare", *,
                 http: requests.Session | None = None, page_timeout: float = 60.0,
                 label: str | None = None) -> None:
        self.url = url
        self.page_url = page_url
        self.talk_id = talk_id
        self.name = name
        self.label = label or name or "reader"
        self.http = http or requests.Session()
        self.page_timeout = page_timeout

        self.lock = threading.Condition()
        # -- the log (under self.lock) ---------------------------------------------------------
        self.last: int | None = None                  # None until the first join answered
        self.head_seen = 0                            # the highest head learned (push, presence, join, history)
        self.buffer: dict[int, tuple[str, dict]] = {}
        self.applied: list[tuple[int, str]] = []      # (seq, event) in the order applied
        self.duplicates = 0                           # pushes dropped because seq <= last
        self.history_requests = 0
        self.history_failures: list[Any] = []
        self._asked: tuple[int, float] | None = None  # (after, when) of the last history request
        # -- the screen ------------------------------------------------------------------------
        self.shown: list[int] = []
        self.seq_of: dict[int, int] = {}              # message id -> seq of the entry that showed it
        self.hidden: set[int] = set()
        self.displayed_twice: list[int] = []          # must stay empty
        self.foreign: list[tuple[str, Any]] = []      # entries of another talk, or without seq
        # -- the connection --------------------------------------------------------------------
        self.connects = 0
        self.disconnects = 0
        self.joins: list[dict[str, Any]] = []         # every join ack
        self._joined = False                          # this connection has joined (and named itself)
        self._need_join = False
        self.presence: list[dict[str, Any]] = []
        self.pushed: set[int] = set()                 # seqs that came as pushes (duplicates too): the queue works
        # -- sending ---------------------------------------------------------------------------
        self.outbox: OrderedDict[str, Outgoing] = OrderedDict()
        self.sent: dict[str, Outgoing] = {}
        self.refused: list[tuple[str, dict[str, Any]]] = []  # acks not ok and not retryable
        self.all_acks: list[dict[str, Any]] = []

        self._closing = False
        self.sio = socketio.Client(reconnection=True, reconnection_attempts=0, reconnection_delay=0.5,
                                   reconnection_delay_max=2, request_timeout=10)
        ns = p.LIVE_NAMESPACE
        self.sio.on("connect", self._on_connect, namespace=ns)
        self.sio.on("disconnect", self._on_disconnect, namespace=ns)
        for event in p.LOGGED_EVENTS + (p.SKIP,):
            self.sio.on(event, self._entry_handler(event), namespace=ns)
        self.sio.on(p.PRESENCE, self._on_presence, namespace=ns)
        self.sio.on(p.BATCH, self._on_batch, namespace=ns)
        self._sync_thread = threading.Thread(target=self._sync_loop, name=f"sync-{self.label}", daemon=True)
        self._send_thread = threading.Thread(target=self._send_loop, name=f"send-{self.label}", daemon=True)

    # -- opening ----------------------------------------------------------------------------------
    def _get_page(self, timeout: float) -> None:
        """The talk page sets the participant cookie (a 503 while the database is away: again)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = self.http.get(self.page_url, timeout=10)
                if response.status_code == 200:
                    return
                status = response.status_code
            except requests.RequestException as error:
                status = error
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.page_url} did not answer 200: {status}")
            time.sleep(0.5)

    def cookie_header(self) -> dict[str, str]:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        return {"Cookie": cookies} if cookies else {}

    def open(self, timeout: float = 60.0) -> RoomClient:
        """Load the page (for the cookie), connect (again until `timeout`) and start the threads;
        `wait_joined` waits for the join."""
        self._get_page(self.page_timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sio.connect(self.url, namespaces=[p.LIVE_NAMESPACE], transports=["websocket"],
                                 headers=self.cookie_header(), wait_timeout=10)
                break
            except socketio.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self._sync_thread.start()
        self._send_thread.start()
        return self

    def close(self) -> None:
        with self.lock:
            self._closing = True
            self.lock.notify_all()
        with contextlib.suppress(Exception):  # closing whatever state it is in
            self.sio.disconnect()
        for thread in (self._sync_thread, self._send_thread):
            if thread.is_alive():
                thread.join(timeout=15)

    # -- socket.io handlers (packet threads) --------------------------------------------------------
    def _on_connect(self) -> None:
        with self.lock:
            self.connects += 1
            self._joined = False
            self._need_join = True
            self.lock.notify_all()

    def _on_disconnect(self, *args: Any) -> None:
        with self.lock:
            self.disconnects += 1
            self._joined = False
            self.lock.notify_all()

    def _entry_handler(self, event: str) -> Callable[[Any], None]:
        def handle(data: Any) -> None:
            with self.lock:
                if isinstance(data, dict) and data.get("talk_id") == self.talk_id and isinstance(data.get("seq"), int):
                    self.pushed.add(data["seq"])
                self._entry(event, data)
                self.lock.notify_all()
        return handle

    def _on_batch(self, data: Any) -> None:
        """Entries that came close together (chat.push_interval_ms): each as if pushed alone."""
        if isinstance(data, dict) and data.get("talk_id") == self.talk_id:
            for item in data.get("events", []):
                self._entry_handler(item["event"])(item["data"])

    def _on_presence(self, data: Any) -> None:
        with self.lock:
            if isinstance(data, dict) and data.get("talk_id") == self.talk_id:
                self.presence.append(data)
                seq = data.get("seq")
                if isinstance(seq, int) and seq > self.head_seen:
                    self.head_seen = seq
                self.lock.notify_all()

    # -- the rule (called under self.lock) ---------------------------------------------------------
    def _entry(self, event: str, data: Any) -> None:
        if not isinstance(data, dict) or data.get("talk_id") != self.talk_id or not isinstance(data.get("seq"), int):
            self.foreign.append((event, data))
            return
        seq = data["seq"]
        self.head_seen = max(self.head_seen, seq)
        if self.last is None:  # before the first join answered: held until it does
            self.buffer.setdefault(seq, (event, data))
            return
        if seq <= self.last:
            self.duplicates += 1
            return
        if seq > self.last + 1:
            self.buffer.setdefault(seq, (event, data))
            return
        self._apply(event, data)
        self._drain()

    def _drain(self) -> None:
        for seq in sorted(s for s in self.buffer if s <= self.last):
            del self.buffer[seq]
            self.duplicates += 1
        while self.last + 1 in self.buffer:
            event, data = self.buffer.pop(self.last + 1)
            self._apply(event, data)

    def _apply(self, event: str, data: dict) -> None:
        seq = data["seq"]
        assert seq == self.last + 1, (seq, self.last)
        self.last = seq
        self.applied.append((seq, event))
        if event == p.MESSAGE:
            self._show(data["id"], seq)
        elif event == p.MESSAGE_HIDDEN:
            self.hidden.add(data["id"])
            if data["id"] in self.shown:
                self.shown.remove(data["id"])
        elif event == p.MESSAGE_RESTORED:
            self.hidden.discard(data["id"])
            if data["id"] not in self.shown:
                self._show(data["id"], self.seq_of.get(data["id"], seq), restored=True)

    def _show(self, message_id: int, seq: int, restored: bool = False) -> None:
        if message_id in self.shown or (message_id in self.seq_of and not restored):
            self.displayed_twice.append(message_id)
            return
        self.seq_of.setdefault(message_id, seq)
        position = len(self.shown)
        while position > 0 and self.seq_of[self.shown[position - 1]] > self.seq_of[message_id]:
            position -= 1  # a restored message goes back to its place
        self.shown.insert(position, message_id)

    def _gap(self) -> tuple[int, int | None] | None:
        """(after, before) of the range to ask for, or None."""
        if self.last is None:
            return None
        if self.buffer:
            first = min(self.buffer)
            if first > self.last + 1:
                return self.last, first
        if self.head_seen > self.last:
            return self.last, None
        return None

    # -- the sync thread: join, history ------------------------------------------------------------
    def _sync_loop(self) -> None:
        while True:
            with self.lock:
                while not self._closing:
                    if self._need_join and self.sio.connected:
                        break
                    gap = self._gap() if self._joined else None
                    if gap is not None and (self._asked is None or self._asked[0] != gap[0]
                                            or time.monotonic() - self._asked[1] >= GAP_RETRY):
                        break
                    self.lock.wait(0.2)
                if self._closing:
                    return
                join = self._need_join
                gap = None if join else self._gap()
                last = self.last
                if gap is not None:
                    self._asked = (gap[0], time.monotonic())
            try:
                if join:
                    self._join(last)
                elif gap is not None:
                    self._history(*gap)
            except Exception as error:  # noqa: BLE001 - a dropped connection: the next round retries
                with self.lock:
                    self.history_failures.append(repr(error))
                time.sleep(0.5)

    def _call(self, event: str, data: Any, timeout: float = ACK_TIMEOUT) -> Any:
        return self.sio.call(event, data, namespace=p.LIVE_NAMESPACE, timeout=timeout)

    def _join(self, last: int | None) -> None:
        if self.name:
            ack = self._call(p.SET_NAME, {"name": self.name})
            if not (isinstance(ack, dict) and ack.get("ok")):
                with self.lock:
                    self.joins.append({"set_name": ack})
                time.sleep(1)
                return
        payload: dict[str, Any] = {"talk_id": self.talk_id}
        if last is not None:
            payload["last_seq"] = last
        ack = self._call(p.JOIN, payload, timeout=15)
        with self.lock:
            self.joins.append(ack)
            if not (isinstance(ack, dict) and ack.get("ok")):
                self.lock.notify_all()
            else:
                head = ack.get("seq")
                if self.last is None and "events" not in ack:
                    # The first join: the snapshot, and the head it reflects.
                    for message in sorted(ack.get("messages") or [], key=lambda m: m["seq"]):
                        self.last = message["seq"] - 1
                        self._apply(p.MESSAGE, message)
                    self.last = head if isinstance(head, int) else 0
                    self._drain()
                else:
                    if self.last is None:
                        self.last = 0
                    for entry in ack.get("events") or []:
                        self._entry(entry["event"], entry["data"])
                if isinstance(head, int):
                    self.head_seen = max(self.head_seen, head)
                self._need_join = False
                self._joined = True
                self.lock.notify_all()
                return
        time.sleep(1)  # refused (unavailable while the database is away): again

    def _history(self, after: int, before: int | None) -> None:
        payload: dict[str, Any] = {"talk_id": self.talk_id, "after": after, "limit": HISTORY_LIMIT}
        if before is not None:
            payload["before"] = before
        ack = self._call(p.HISTORY, payload, timeout=15)
        with self.lock:
            self.history_requests += 1
            if not (isinstance(ack, dict) and ack.get("ok")):
                self.history_failures.append(ack)
                if isinstance(ack, dict) and ack.get("error") == p.E_NOT_JOINED:
                    self._need_join = True
                self.lock.notify_all()
                return
            for entry in ack.get("events") or []:
                self._entry(entry["event"], entry["data"])
            head = ack.get("head")
            if isinstance(head, int):
                self.head_seen = max(self.head_seen, head)
            if self.last is not None and self.last > after:
                self._asked = None  # progress: the next gap is asked for at once
            self.lock.notify_all()

    # -- sending: the outbox -----------------------------------------------------------------------
    def say(self, body: str) -> str:
        """Queue a message as the form does; returns its client id."""
        item = Outgoing(client_id(), body)
        with self.lock:
            self.outbox[item.client_id] = item
            self.sent[item.client_id] = item
            self.lock.notify_all()
        return item.client_id

    def _send_loop(self) -> None:
        while True:
            with self.lock:
                while not self._closing and not (self.outbox and self._joined and self.sio.connected):
                    self.lock.wait(0.2)
                if self._closing:
                    return
                item = next(iter(self.outbox.values()))
                item.attempts += 1
            try:
                ack = self._call(p.SEND_MESSAGE, {"body": item.body, "client_id": item.client_id})
            except socketio.exceptions.TimeoutError:
                with self.lock:
                    item.timeouts += 1
                continue  # no ack within 5 s: again, the same client id
            except Exception:  # noqa: BLE001 - disconnected meanwhile: after the next join
                time.sleep(0.2)
                continue
            with self.lock:
                item.acks.append(ack)
                self.all_acks.append(ack)
                error = ack.get("error") if isinstance(ack, dict) else None
                if isinstance(ack, dict) and ack.get("ok"):
                    item.done = ack
                    del self.outbox[item.client_id]
                    message = ack.get("message")
                    if isinstance(message, dict) and isinstance(message.get("seq"), int):
                        self._entry(p.MESSAGE, message)  # the sender's copy comes in the ack
                    self.lock.notify_all()
                    continue
                if error in (p.E_NOT_JOINED, p.E_NAME_REQUIRED):
                    self._need_join = True  # e.g. a restarted process: join (and name) again
                    self._joined = False
                    self.lock.notify_all()
                    continue
                if error not in RETRYABLE:
                    item.done = ack
                    del self.outbox[item.client_id]
                    self.refused.append((item.client_id, ack))
                    self.lock.notify_all()
                    continue
            time.sleep(RETRY_INTERVAL)

    # -- for the tests -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"label": self.label, "last": self.last, "head_seen": self.head_seen,
                    "buffered": sorted(self.buffer), "shown": len(self.shown), "duplicates": self.duplicates,
                    "history_requests": self.history_requests, "connects": self.connects,
                    "outbox": len(self.outbox), "refused": self.refused[:3],
                    "displayed_twice": self.displayed_twice[:5], "connected": self.sio.connected,
                    "joined": self._joined, "last_join": self.joins[-1] if self.joins else None,
                    "history_failures": self.history_failures[-3:]}

    def wait_joined(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self._joined:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.label} never joined: {self.snapshot_unlocked()}")
                self.lock.wait(remaining)

    def snapshot_unlocked(self) -> dict[str, Any]:
        return {"last": self.last, "connects": self.connects, "joins": self.joins[-3:]}

    def shown_ids(self) -> list[int]:
        with self.lock:
            return list(self.shown)

    def pending(self) -> int:
        with self.lock:
            return len(self.outbox)
