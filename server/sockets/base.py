"""What every Socket.IO namespace shares: payload validation, `acked` (the one place where a
handler commits and then sends what it queued) and a base namespace (process id, tickers,
closing a signed-out browser's connections).

`acked` is Arena's single commit point for sockets, as a request handler's is in Indico: the
handler validates, calls services and queues emits; `acked` commits once, then sends the room
log's new entries and the queued emits, and turns every outcome into an ack. Nothing is sent
for a change that was not committed, and no exception reaches a client.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g
from flask_babel import refresh
from flask_socketio import Namespace
from sqlalchemy.exc import DBAPIError, DisconnectionError

from server.db import database_locked, database_unreachable, db
from server.i18n import _
from server.services import room_log
from server.services.errors import ServiceError
from server.sockets import protocol as p

log = logging.getLogger(__name__)


class TickerFailures:
    """How a background job's failures reach the log: a bug with its traceback each time, but a
    database that is away as one warning when it goes and one line when it is back, not a
    traceback a second for as long as the outage lasts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.database_away = False

    def failed(self, error: BaseException) -> None:
        if database_unreachable(error):
            if not self.database_away:
                self.database_away = True
                log.warning("%s: the database is unreachable (%s); trying again every tick",
                            self.name, type(error).__name__)
            return
        log.error("%s failed", self.name, exc_info=error)

    def succeeded(self) -> None:
        if self.database_away:
            self.database_away = False
            log.info("%s: the database is reachable again", self.name)
LOCKED_RETRIES = 5  # SQLite "database is locked" under many writers: the handler runs again


class HandlerError(Exception):
    """An ack-worthy refusal raised inside a handler."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


def fields(data: Any, required: dict[str, type | tuple], optional: dict[str, type | tuple] | None = None
           ) -> dict[str, Any]:
    """The payload as a dict of known fields with the right types; anything else is refused."""
    optional = optional or {}
    if not isinstance(data, dict):
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
    unknown = set(data) - set(required) - set(optional)
    missing = set(required) - set(data)
    if unknown or missing:
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
    for name, value in data.items():
        expected = required.get(name) or optional[name]
        # bool is an int in Python: a vote's "up" must not count as a question id.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in _as_tuple(expected)):
            raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
        # Ids are 32-bit in PostgreSQL: a larger number is no id of ours.
        if isinstance(value, int) and not isinstance(value, bool) and not -2**31 <= value < 2**31:
            raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
        # A lone surrogate (half an emoji cut by a client) cannot be stored as UTF-8.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood.")) from None
    return data


def _as_tuple(expected: type | tuple) -> tuple:
    return expected if isinstance(expected, tuple) else (expected,)


def after_commit(send: Callable[[], None]) -> None:
    """Queue an emit (or any effect seen by others) until the handler's change is committed."""
    g.setdefault("arena_after_commit", []).append(send)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


def acked(handler: Callable | None = None, *, writes_room: bool = False) -> Callable:
    """Run a handler, commit once, then send; turn every outcome into an ack.

    `writes_room`: the handler may append to the room log, so it is refused ("paused") while
    the message queue is unreachable. Checked before the handler begins, never inside its
    transaction: asking Redis yields to other green threads, and one of them waiting for
    SQLite's write lock would block the whole process while this one holds it."""
    if handler is None:
        return lambda function: acked(function, writes_room=writes_room)

    @wraps(handler)
    def wrapper(self: ArenaNamespace, *args: Any) -> dict[str, Any]:
        refresh()  # choose the user's language for this event
        data = args[0] if args else None
        try:
            for attempt in range(LOCKED_RETRIES + 1):
                g.arena_after_commit, g.arena_author_has_ack = [], False
                room_log.pending(db.session)  # nothing left over from an earlier attempt
                try:
                    if writes_room and not self.queue_reachable():
                        return _refusal(p.E_PAUSED, _("The chat is paused for a moment. Retrying…"))
                    result = handler(self, data)
                    entries = room_log.pending(db.session)
                    db.session.commit()
                except HandlerError as error:
                    db.session.rollback()
                    return _refusal(error.code, error.message)
                except ServiceError as error:
                    db.session.rollback()
                    return error.as_dict()
                except (DBAPIError, DisconnectionError) as error:
                    db.session.rollback()
                    if database_locked(error) and attempt < LOCKED_RETRIES:
                        time.sleep(0.05 * (attempt + 1))  # another writer holds SQLite: run again
                        continue
                    if database_unreachable(error):
                        log.warning("socket handler %s: database unreachable: %s", handler.__name__, error)
                        return _refusal(p.E_UNAVAILABLE,
                                        _("The service is unavailable for a moment. Nothing was lost; trying again."))
                    raise
                self._send_after_commit(entries)
                return {"ok": True, **(result or {})}
            raise RuntimeError("unreachable")  # pragma: no cover  (the loop always returns)
        except Exception:
            _safe_rollback()
            log.exception("socket handler %s failed", handler.__name__)
            return _refusal(p.E_INTERNAL, _("Something went wrong on our side. Please try again in a moment."))
        finally:
            g.arena_after_commit = []
            room_log.pending(db.session)
            db.session.remove()

    return wrapper


def _safe_rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone: remove() in finally discards it
        log.debug("rollback failed", exc_info=True)


class ArenaNamespace(Namespace):
    """A namespace of Arena: its process id, its background tickers and sign-out."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.process_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tickers_started = False
        self._stopped = False
        self._app = None

    def stop(self) -> None:
        """End the background tickers (tests, shutdown)."""
        self._stopped = True

    @property
    def tickers_started(self) -> bool:
        return self._tickers_started

    def tickers(self) -> list[Callable[[], None]]:
        """Background loops of this namespace, started with its first connection."""
        return []

    def start_tickers(self, app: Any = None) -> None:
        if self._tickers_started:
            return
        self._tickers_started = True
        self._app = app or current_app._get_current_object()
        for ticker in self.tickers():
            self.socketio.start_background_task(ticker)

    def every(self, seconds: float, job: Callable[[], None], name: str) -> Callable[[], None]:
        """A ticker: run `job` in an app context every `seconds`; a failure is logged and the
        loop goes on (the database or the queue may be away for a moment)."""

        failures = TickerFailures(f"{name} ticker")

        def loop() -> None:
            while not self._stopped:
                self.socketio.sleep(seconds)
                if self._stopped:
                    return
                try:
                    with self._app.app_context():
                        job()
                    failures.succeeded()
                except Exception as error:
                    failures.failed(error)
                    _safe_rollback()
                finally:
                    db.session.remove()

        return loop

    def settings(self):
        return current_app.extensions["arena.settings"]

    # -- sending -------------------------------------------------------------------------
    def queue_reachable(self) -> bool:
        """Whether an entry of the room log can be delivered to every process now."""
        manager = self.socketio.server.manager
        reachable = getattr(manager, "reachable", None)
        return reachable() if reachable is not None else True

    def _send_after_commit(self, entries: list) -> None:
        if entries:
            self.publish_room_events(entries)
        for send in g.get("arena_after_commit", []):
            try:
                send()
            except Exception:  # committed already: a failed send is caught up by the log
                log.exception("sending after commit failed")

    def publish_room_events(self, entries: list) -> None:
        """Send committed entries of the room log; the live room's namespace does."""

    def emit_local(self, event: str, payload: Any, room: str) -> None:
        """To this process's clients only (each process sends its own, e.g. presence)."""
        self.socketio.server.emit(event, payload, to=room, namespace=self.namespace, ignore_queue=True)

    def disconnect_sid(self, sid: str) -> None:
        self.socketio.server.disconnect(sid, namespace=self.namespace)

    # -- signing out ----------------------------------------------------------------------
    def close_grant_connections(self, grant_id: int | None, participant_id: str | None,
                                organiser_id: int | None = None) -> None:
        """Close the connections of one browser that signed out of a role (this process)."""
        for sid, (connected_grant, connected_organiser, connected_participant) in self.holders():
            signed_out = (grant_id is not None and connected_grant == grant_id) or (
                organiser_id is not None and connected_organiser == organiser_id)
            if signed_out and connected_participant == participant_id:
                self.disconnect_sid(sid)
                self.forget(sid)

    def holders(self) -> list[tuple[str, tuple[int | None, int | None, str | None]]]:
        """(sid, (grant id, organiser id, participant id)) of this process's connections."""
        return []

    def forget(self, sid: str) -> None:
        """Drop a closed connection from this namespace's bookkeeping."""


def refuse_reserved_events(server: Any) -> None:
    """Drop client events named like Socket.IO's own (connect, disconnect, ...) on every
    namespace: python-socketio would otherwise run the connect or disconnect handler for them.
    Wraps the server's private `_handle_event`: python-socketio is pinned, and
    tests/live/test_reserved_events.py checks it."""
    original = server._handle_event

    def handle_event(eio_sid: str, namespace: str, id: Any, data: Any) -> Any:
        if isinstance(data, list) and data and (not isinstance(data[0], str) or data[0] in p.RESERVED_EVENTS):
            log.warning("refused a client event named %r on %s", data[0] if data else None, namespace)
            return None
        return original(eio_sid, namespace, id, data)

    server._handle_event = handle_event
