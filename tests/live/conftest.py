"""Helpers for driving Arena's live room as real browsers would: a requests.Session that holds
the signed session cookie (set by the talk page, or by a role's sign-in link), and a
python-socketio client that connects to /live over a websocket with that cookie.

Servers are real subprocesses (`python -m server serve`, eventlet by default). The tests
read ids from, and arrange data in, the server's own database with SQLAlchemy: the server
reads the database on every event, so what is committed here is seen at once.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server.db import make_engine
from server.models import Event, EventStatus, Talk
from server.services import events as event_service
from server.sockets import protocol as p
from tests.conftest import STOCKHOLM, LiveServer, run_cli, start_live_server

SLUG = "sociala-medier-i-offentlig-sektor"
TALK_SLUGS = ("skapa-arenor", "twitter-dygnet-runt", "berika-undervisningen-med-sociala-medier")
ACK_TIMEOUT = 30  # generous: a busy machine answers late, not never
_counter = itertools.count(1)


def unique(prefix: str = "id") -> str:
    """A string that is also a valid client_id (8-64 of A-Za-z0-9_-)."""
    return f"{prefix}-{next(_counter):05d}-{uuid.uuid4().hex[:10]}"


# -- servers ------------------------------------------------------------------------------

def start_server(tmp_dir: Path, *, extra_env: dict[str, str] | None = None, prepare: bool = True,
                 async_mode: str = "eventlet") -> LiveServer:
    """tests.conftest.start_live_server; `prepare=False` starts another process on a database
    that is already migrated and loaded (several processes, one database)."""
    return start_live_server(tmp_dir, async_mode=async_mode, extra_env=extra_env, prepare=prepare)


@dataclass
class Grant:
    id: int
    link: str


@dataclass(eq=False)  # compared and hashed by identity: one per process
class Arena:
    """One running server (or one of several sharing a database) and its database."""

    server: LiveServer
    _engine: Engine | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.server.env["ARENA_DATABASE__URL"])
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def page(self, talk_slug: str = TALK_SLUGS[0], event_slug: str = SLUG) -> str:
        return f"{self.url}/events/{event_slug}/{talk_slug}"

    def healthy(self) -> bool:
        try:
            response = requests.get(f"{self.url}/healthz", timeout=5)
        except requests.RequestException:
            return False
        return response.status_code == 200 and response.json().get("ok") is True

    # -- the database (arrange) ---------------------------------------------------------
    def talk_id(self, talk_slug: str = TALK_SLUGS[0], event_slug: str = SLUG) -> int:
        """The id the talk page gives its live panel (what the page's script joins with)."""
        page = requests.get(self.page(talk_slug, event_slug), timeout=10)
        found = re.search(r'data-talk-id="(\d+)"', page.text)
        if page.status_code == 200 and found:
            return int(found.group(1))
        with Session(self.engine) as session:  # a page without the live panel: ask the database
            return session.scalars(select(Talk.id).join(Event).where(Event.slug == event_slug,
                                                                        Talk.slug == talk_slug)).one()

    def new_talk(self, title: str | None = None, event_slug: str = SLUG) -> tuple[int, str]:
        """A talk of its own in an existing event (so counts and history start empty)."""
        title = title or f"Testpass {unique('t')}"
        with Session(self.engine, expire_on_commit=False) as session:
            event = session.scalars(select(Event).where(Event.slug == event_slug)).one()
            starts_at = datetime.combine(event.starts_on, clock(8, 0), STOCKHOLM)
            talk = event_service.create_talk(session, event, title=title, starts_at=starts_at,
                                              ends_at=starts_at + timedelta(minutes=30))
            session.commit()
            return talk.id, talk.slug

    def new_event(self, title: str) -> tuple[str, int, str]:
        """A second published event, on the demo event's day, with one talk."""
        with Session(self.engine, expire_on_commit=False) as session:
            demo = session.scalars(select(Event).where(Event.slug == SLUG)).one()
            event = event_service.create_event(session, title=title, starts_on=demo.starts_on,
                                               status=EventStatus.published)
            session.flush()
            starts_at = datetime.combine(event.starts_on, clock(10, 0), STOCKHOLM)
            talk = event_service.create_talk(session, event, title=f"Pass i {title}", starts_at=starts_at,
                                              ends_at=starts_at + timedelta(minutes=45))
            session.commit()
            return event.slug, talk.id, talk.slug

    # -- the command line ---------------------------------------------------------------
    def grant(self, role: str, name: str, *, event: str | None = None, talk: str | None = None) -> Grant:
        args = ["grant-role", role, name]
        if event:
            args += ["--event", event]
        if talk:
            args += ["--talk", talk]
        result = run_cli(self.server.env, *args)
        assert result.returncode == 0, result.stderr
        grant_id = re.search(r"^Grant (\d+):", result.stdout, re.M)
        link = re.search(r"^Sign-in link: (\S+)", result.stdout, re.M)
        assert grant_id and link, result.stdout
        return Grant(int(grant_id.group(1)), link.group(1))

    def revoke(self, grant_id: int) -> None:
        result = run_cli(self.server.env, "revoke-role", str(grant_id))
        assert result.returncode == 0, result.stderr


# -- browsers -----------------------------------------------------------------------------

class Browser:
    """One participant's browser: the cookie jar of requests, and a Socket.IO client on /live
    that sends those cookies. Everything the server pushes is recorded per event name."""

    def __init__(self, arena: Arena, *, page: str | None = None, sign_in: str | None = None,
                 cookie: bool = True, http: requests.Session | None = None) -> None:
        self.arena = arena
        self.http = http or requests.Session()  # the same browser again: pass its cookie jar
        if sign_in:
            response = self.http.get(sign_in, timeout=10)
            assert response.status_code == 200, (response.status_code, response.text[:500])
        if cookie:
            assert self.http.get(page or arena.page(), timeout=10).status_code == 200
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.changed = threading.Condition()
        self.disconnects: list[float] = []
        self.sio = socketio.Client(reconnection=False, request_timeout=10)
        self.sio.on("*", self._record, namespace=p.LIVE_NAMESPACE)
        self.sio.on("disconnect", self._disconnected, namespace=p.LIVE_NAMESPACE)
        self.talk_id: int | None = None
        self.joined: dict[str, Any] | None = None

    # -- connection ---------------------------------------------------------------------
    def cookie_header(self) -> dict[str, str]:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        return {"Cookie": cookies} if cookies else {}

    def connect(self) -> Browser:
        if self.sio.eio.state != "disconnected":  # the server closed /live; its transport may still be open
            self.sio.eio.disconnect(abort=True)
        self.sio.connect(self.arena.url, namespaces=[p.LIVE_NAMESPACE], transports=["websocket"],
                         headers=self.cookie_header(), wait_timeout=10)
        return self

    def disconnect(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()

    @property
    def connected(self) -> bool:
        return self.sio.connected and p.LIVE_NAMESPACE in self.sio.namespaces

    def _record(self, event: str, *args: Any) -> None:
        with self.changed:
            data = args[0] if len(args) == 1 else list(args)
            if event == p.BATCH:  # entries that came close together: each as if pushed alone
                for item in data["events"]:
                    self.received[item["event"]].append(item["data"])
            self.received[event].append(data)
            self.changed.notify_all()

    def _disconnected(self, *args: Any) -> None:
        with self.changed:
            self.disconnects.append(time.monotonic())
            self.changed.notify_all()

    # -- acks ---------------------------------------------------------------------------
    def call(self, event: str, data: Any = None, timeout: float = ACK_TIMEOUT) -> Any:
        return self.sio.call(event, data, namespace=p.LIVE_NAMESPACE, timeout=timeout)

    def join(self, talk_id: int, last_seq: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"talk_id": talk_id}
        if last_seq is not None:
            payload["last_seq"] = last_seq
        ack = self.call(p.JOIN, payload)
        assert ack["ok"] is True, ack
        self.talk_id, self.joined = talk_id, ack
        return ack

    def set_name(self, name: str) -> None:
        ack = self.call(p.SET_NAME, {"name": name})
        assert ack["ok"] is True, ack

    def say(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        return self.call(p.SEND_MESSAGE, {"body": body, "client_id": client_id or unique("m")})

    def ask(self, body: str, anonymous: bool = False) -> dict[str, Any]:
        return self.call(p.ASK_QUESTION, {"body": body, "client_id": unique("q"), "anonymous": anonymous})

    # -- what arrived -------------------------------------------------------------------
    def events(self, event: str) -> list[Any]:
        with self.changed:
            return list(self.received[event])

    def forget(self) -> None:
        with self.changed:
            self.received.clear()

    def wait_for(self, event: str, predicate: Callable[[Any], bool] = lambda _: True,
                 timeout: float = 30.0) -> Any | None:
        """The first `event` payload that satisfies `predicate`, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for item in self.received[event]:
                    if predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.changed.wait(remaining)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def wait_disconnected(self, timeout: float) -> bool:
        return self.wait_until(lambda: bool(self.disconnects), timeout)


@dataclass
class Browsers:
    """Opens browsers and closes every one of them at the end of the test."""

    arena: Arena
    opened: list[Browser] = field(default_factory=list)

    def open(self, name: str | None = "Anna", *, talk_id: int | None = None, sign_in: str | None = None,
             cookie: bool = True, page: str | None = None, arena: Arena | None = None,
             http: requests.Session | None = None) -> Browser:
        """A connected browser; joined to `talk_id` when given; named when `name` is given."""
        browser = Browser(arena or self.arena, page=page, sign_in=sign_in, cookie=cookie, http=http)
        self.opened.append(browser)
        browser.connect()
        if talk_id is not None:
            browser.join(talk_id)
        if name and not sign_in:
            browser.set_name(name)
        return browser

    def close_all(self) -> None:
        for browser in self.opened:
            try:
                browser.disconnect()
            except Exception:  # noqa: BLE001 - teardown must reach every browser
                pass
        self.opened.clear()


@contextmanager
def open_browsers(arena: Arena) -> Iterator[Browsers]:
    browsers = Browsers(arena)
    try:
        yield browsers
    finally:
        browsers.close_all()


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """One eventlet server with the demo event, for the tests of one module."""
    server = start_server(tmp_path_factory.mktemp("arena"))
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


@pytest.fixture
def browsers(arena: Arena) -> Iterator[Browsers]:
    with open_browsers(arena) as browsers:
        yield browsers


def server_errors(arena: Arena) -> list[str]:
    """Tracebacks the server logged (a handler that failed, a ticker that died)."""
    return [line for line in arena.server.log().splitlines() if "Traceback" in line or " failed" in line]
