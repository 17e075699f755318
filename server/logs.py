"""Logging, configured once at start-up (create_app and `python -m server serve`).

- One handler of Arena's own on the root logger, writing to standard error (journald, docker
  and a terminal all read it): "text" is one readable line per record (time with its UTC offset,
  level, logger, request id, message); "json" is one JSON object per line for a log system.
  Records of every module logger reach it, INFO included, so nothing falls back to Python's
  last-resort handler (warnings only, no time).
- Levels: [logging] level for the root, levels = ["name=LEVEL"] for single loggers.
- The request log (RequestLog, a WSGI middleware): one line per request at INFO on the logger
  "arena.request" with method, path (never the query string: sign-in tokens and the ingest
  callbacks' secret travel there), status, milliseconds, the client's address and the request
  id. The id is made per request (or taken from a trusted proxy's X-Request-ID when it looks
  like one), returned as the X-Request-ID response header, and shown on every other line
  logged during the request, and on the lines of a Socket.IO connection's events.

Configuring again replaces only what this module added, never other handlers (pytest's caplog
keeps working).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from flask import has_request_context, request

from server.config import Settings

REQUEST_LOGGER = "arena.request"
REQUEST_ID_HEADER = "X-Request-ID"
ENVIRON_KEY = "arena.request_id"
# What an id from a proxy may look like (nginx's $request_id is 32 hex digits; UUIDs, too):
# anything else is replaced, so a client cannot write into the log through it.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_HOST",
                       "HTTP_X_FORWARDED_PROTO")
# Loggers whose INFO lines repeat ours or carry query strings: quieter unless named in levels.
_QUIET_BY_DEFAULT = {"werkzeug": logging.WARNING}

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("arena_request_id", default=None)
_levels_set: set[str] = set()  # loggers given a level by the last configure_logging


# -- configuration ------------------------------------------------------------------------

def configure_logging(settings: Settings) -> None:
    """Install Arena's handler on the root logger (replacing one installed before) and set
    the levels. Safe to call again: only what an earlier call added is replaced."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "arena", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.arena = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.logging.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.logging.level.upper())

    named = dict(_parse_levels(settings.logging.levels))
    for name in _levels_set - set(named) - set(_QUIET_BY_DEFAULT):
        logging.getLogger(name).setLevel(logging.NOTSET)  # no longer configured: back to the root's
    _levels_set.clear()
    for name, level in {**_QUIET_BY_DEFAULT, **named}.items():
        logging.getLogger(name).setLevel(level)
        _levels_set.add(name)


def _parse_levels(entries: Iterable[str]) -> Iterator[tuple[str, str]]:
    for entry in entries:  # checked by server/config.py: "name=LEVEL"
        name, _, level = entry.partition("=")
        yield name.strip(), level.strip().upper()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (as Python's last resort does), so a
    stream swapped later (pytest's capture, a daemon's redirect) is never written after close."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


# -- records ------------------------------------------------------------------------------

def current_request_id() -> str | None:
    """The id of the request (or Socket.IO connection) being handled, if any."""
    found = _request_id.get()
    if found:
        return found
    try:
        if has_request_context():  # a Socket.IO event runs in its connection's request context
            return request.environ.get(ENVIRON_KEY)
    except Exception:  # noqa: BLE001 - a log line must never fail for its id
        return None
    return None


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """2026-11-28T19:02:03.123+01:00 INFO server.web [3f2a…] message"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" [{request_id}]"
        line += " " + record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


# Attributes every LogRecord has; anything else was passed with `extra=` and goes into JSON.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                                        "request_id"}


class JsonFormatter(logging.Formatter):
    """{"time": ..., "level": ..., "logger": ..., "message": ..., "request_id": ..., ...extra}"""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        entry["process"] = record.process
        return json.dumps(entry, ensure_ascii=False, default=str)


# -- the request log ----------------------------------------------------------------------

def _printable(text: str, limit: int = 2000) -> str:
    """No control characters (a path with %0A must not forge a line of its own)."""
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _wsgi_text(value: str) -> str:
    """WSGI gives paths as latin-1 decoded bytes; the log shows them as the UTF-8 they were."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


# Sign-in and password links carry their secret as the path's last segment: never logged.
_SECRET_IN_PATH = re.compile(r"^((?:/staff/sign-in|/set-password|/reset-password)/)[^/]+")


class RequestLog:
    """WSGI middleware (inside ProxyFix, around Socket.IO and Flask): the request id and,
    when `log_requests`, one line per request on "arena.request".

    `trust_request_id`: an X-Request-ID from the proxy in front is kept (so nginx's and
    Arena's lines share it); without trusted proxies every id is made here."""

    def __init__(self, app: Callable, *, log_requests: bool, trust_request_id: bool) -> None:
        self.app = app
        self.log_requests = log_requests
        self.trust_request_id = trust_request_id
        self.log = logging.getLogger(REQUEST_LOGGER)

    def request_id(self, environ: dict[str, Any]) -> str:
        if self.trust_request_id and any(environ.get(h) for h in _FORWARDING_HEADERS):
            given = environ.get("HTTP_X_REQUEST_ID", "")
            if _SANE_REQUEST_ID.fullmatch(given):
                return given
        return uuid.uuid4().hex

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request_id = self.request_id(environ)
        environ[ENVIRON_KEY] = request_id
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status: list[str] = []

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [status_line]
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers = [*headers, (REQUEST_ID_HEADER, request_id)]
            return start_response(status_line, headers, exc_info)

        try:
            result = self.app(environ, start)
        except BaseException:
            self._write(environ, "500", started, request_id)
            raise
        finally:
            _request_id.reset(token)
        if not status:
            # eventlet's websocket answered the upgrade itself; its "result" is a marker the
            # server must see unwrapped. The call returned when the socket closed.
            upgraded = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            self._write(environ, "101" if upgraded else "-", started, request_id)
            return result
        logged = _LoggedSized if hasattr(result, "__len__") else _Logged
        return logged(result, lambda: self._write(environ, status[0].split(" ", 1)[0], started, request_id))

    def _write(self, environ: dict[str, Any], status: str, started: float, request_id: str) -> None:
        if not self.log_requests or not self.log.isEnabledFor(logging.INFO):
            return
        milliseconds = round((time.perf_counter() - started) * 1000, 1)
        method = _printable(environ.get("REQUEST_METHOD", ""), 16)
        path = _printable(_wsgi_text(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")))
        path = _SECRET_IN_PATH.sub(r"\1***", path)
        client = _printable(environ.get("REMOTE_ADDR") or "-", 64)
        self.log.info("%s %s %s %s %.1f ms", client, method, path, status, milliseconds,
                      extra={"method": method, "path": path, "status": int(status) if status.isdigit() else None,
                             "duration_ms": milliseconds, "client": client, "request_id": request_id})


class _Logged:
    """The response body, passed through; the line is written once, when the body has been
    sent (its iterator ran out) or the server closed it, whichever comes first."""

    def __init__(self, result: Iterable[bytes], on_done: Callable[[], None]) -> None:
        self._result = result
        self._on_done = on_done
        self._done = False

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._on_done()

    def __iter__(self) -> Iterator[bytes]:
        yield from self._result
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class _LoggedSized(_Logged):
    def __len__(self) -> int:  # eventlet sets Content-Length for a sized body
        return len(self._result)  # type: ignore[arg-type]


# -- the WSGI servers' own messages -------------------------------------------------------

class EventletLog:
    """eventlet.wsgi's log, into logging: its tracebacks as errors, its own access line
    dropped (the request log has it, without the query string)."""

    ACCESS_MARKER = "arena-eventlet-access-line"

    def __init__(self) -> None:
        self.log = logging.getLogger("eventlet.wsgi")

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if msg == self.ACCESS_MARKER:
            return
        if msg.startswith("Traceback"):
            self.log.error("%s", msg.rstrip())
        else:
            self.log.info("%s", msg.rstrip())

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log.debug("%s", msg.rstrip())

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log.error("%s", msg.rstrip())

    def write(self, msg: str, *args: Any) -> None:
        self.info(msg % args if args else msg)
