"""nginx-rtmp's callbacks: `on_publish` asks whether a stream key may publish,
`on_publish_done` says that a publisher left.

Only nginx may ask: the request comes from this machine (the connection's own address,
never a forwarded one, and without the headers a reverse proxy adds) and carries the shared
secret of <instance>/ingest_secret (server/media/rtmp.py callback_secret), compared in
constant time. nginx sends the key as the stream's `name`; it is never logged or stored.
An accepted publish is answered with a redirect whose Location is the stream's new name
inside nginx (nginx-rtmp renames it), so nothing downstream sees the key.

Every refusal is a 403 and is audited (services/ingest.py record_refusal: the repeats of one
address, code and talk within ten minutes are one entry with a count); beyond a budget per
address and minute (RefusalBudget) a refusal is not written, and the log says so once. No
exception reaches nginx as anything but a refusal, and none is logged with the request's values.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from server.db import db, utcnow
from server.media import rtmp
from server.models import StreamKey, Talk
from server.services import golive, stream_keys
from server.services import ingest as ingest_service
from server.services.errors import ServiceError
from server.web.context import settings

log = logging.getLogger(__name__)
bp = Blueprint("ingest", __name__, url_prefix=rtmp.CALLBACK_PREFIX)

# Headers a reverse proxy adds: nginx-rtmp's callbacks never carry them, so a request with
# one came through the public proxy (whose own connection is from loopback).
_FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded", "X-Forwarded-Host")
_SECRET_IN_TEXT = re.compile(rf"([?&]{rtmp.SECRET_PARAMETER}=)[^&\s\"']*")


def redact(text: str) -> str:
    """A log line without the callback secret (a request line carries it in its query)."""
    return _SECRET_IN_TEXT.sub(r"\1[redacted]", text)


class RedactedLog:
    """The request (access) log of `serve` under eventlet or gevent, without the secret."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(redact(text))

    def flush(self) -> None:
        self._stream.flush()


class RedactSecretFilter(logging.Filter):
    """The same for a logging logger (werkzeug's request log in threading mode)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if rtmp.SECRET_PARAMETER in record.getMessage():
            record.msg, record.args = redact(record.getMessage()), None
        return True


def _secret() -> str:
    secret = current_app.extensions.get("arena.ingest_secret")
    if secret is None:
        secret = current_app.extensions["arena.ingest_secret"] = rtmp.callback_secret(settings())
    return secret


def _connection_address() -> str:
    """The address of the connection itself, before any ProxyFix rewrote it."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    return original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""


def _from_this_machine(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback):
        return True
    # Arena listening on one address only: nginx calls back to that address (rtmp.callback_base).
    return address == settings().server.host


def _untrusted() -> Response | None:
    """403 for anyone but nginx; logged without the secret or the form."""
    address = _connection_address()
    if not _from_this_machine(address) or any(name in request.headers for name in _FORWARDING_HEADERS):
        log.warning("ingest callback refused: not from this machine (%s)", address)
        return _refusal()
    presented = request.args.get(rtmp.SECRET_PARAMETER, "")
    if not hmac.compare_digest(presented.encode(), _secret().encode()):
        log.warning("ingest callback refused: without the right secret (from %s)", address)
        return _refusal()
    return None


def _refusal() -> Response:
    return Response("refused\n", status=403, mimetype="text/plain")


@bp.post("/on_publish")
def on_publish() -> Response:
    refused = _untrusted()
    if refused is not None:
        return refused
    form = request.form
    address, client_id = form.get("addr", ""), form.get("clientid", "")
    session = db.session
    talk = key = None
    try:
        talk, key = ingest_service.authorise_publish(
            session, app_name=form.get("app", ""), presented_key=form.get("name", ""), now=utcnow(),
            enabled=settings().ingest.enabled)
        studio = current_app.extensions["arena.studio"]
        rtmp_name = studio.rtmp_publish(talk_id=talk.id, stream_key_id=key.id, client_id=client_id[:20],
                                        address=address[:64])
        session.commit()
    except ingest_service.PublishRefused as exc:
        return _refuse(exc.code, exc.talk or talk, exc.stream_key or key, address, exc.detail)
    except golive.AlreadyLive:
        return _refuse("already_live", talk, key, address)
    except golive.NotEnoughSpace:
        return _refuse("disk_full", talk, key, address)
    except ServiceError as exc:
        # The studio cannot take the stream (no ffmpeg, ...): a refusal the organiser can read.
        code = exc.code if exc.code in ingest_service.REFUSALS else "server_error"
        return _refuse(code, talk, key, address, exc.code)
    except Exception:
        log.exception("on_publish failed for talk %s from %s", talk.id if talk is not None else "?", address)
        return _refuse("server_error", talk, key, address)
    log.info("RTMP publish accepted for talk %s from %s as stream %s", talk.id, address, rtmp_name)
    # nginx-rtmp renames the stream to the Location (a relative name, not a URL).
    return Response("", status=302, headers={"Location": rtmp_name})


class RefusalBudget:
    """How many refusals one address may have written a minute (in this process): beyond it the
    encoder is still refused, but nothing is written and one line a minute is logged. Port 1935
    faces the internet; a flood from one address costs a counter, not a transaction."""

    def __init__(self, per_minute: int = 30, addresses: int = 10_000) -> None:
        self.per_minute = per_minute
        self.addresses = addresses  # remembered at most (a scan from many addresses stays small)
        self._lock = threading.Lock()
        self._minutes: dict[str, list[float]] = {}  # address: [minute started, used, held back]

    def take(self, address: str, now: float | None = None) -> tuple[bool, int]:
        """(whether to write this refusal, how many were held back this minute so far)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            minute = self._minutes.get(address)
            if minute is None or now - minute[0] >= 60:
                if minute is None and len(self._minutes) >= self.addresses:
                    self._forget(now)
                minute = self._minutes[address] = [now, 0, 0]
            if minute[1] < self.per_minute:
                minute[1] += 1
                return True, 0
            minute[2] += 1
            return False, int(minute[2])

    def _forget(self, now: float) -> None:
        for address in [a for a, m in self._minutes.items() if now - m[0] >= 60]:
            del self._minutes[address]
        while len(self._minutes) >= self.addresses:  # all of them this minute: the oldest go
            del self._minutes[next(iter(self._minutes))]


def _budget() -> RefusalBudget:
    budget = current_app.extensions.get("arena.ingest_refusal_budget")
    if budget is None:
        budget = current_app.extensions["arena.ingest_refusal_budget"] = RefusalBudget()
    return budget


def _refuse(code: str, talk, key, address: str, detail: str = "") -> Response:
    talk_id = talk.id if talk is not None else None
    key_id = key.id if key is not None else None
    session = db.session
    session.rollback()
    write, held_back = _budget().take(address[:64])
    if not write:
        # Said once when the minute's budget runs out, then once every further 100.
        if held_back == 1 or held_back % 100 == 0:
            log.warning("RTMP publish refusals from %s over %d a minute: refused without an audit entry "
                        "(%d so far this minute)", address[:64], _budget().per_minute, held_back)
        return _refusal()
    try:
        talk = session.get(Talk, talk_id) if talk_id is not None else None
        key = session.get(StreamKey, key_id) if key_id is not None else None
        ingest_service.record_refusal(session, talk=talk, code=code, address=address, detail=detail,
                                      stream_key=key, now=utcnow())
        session.commit()
    except Exception:
        session.rollback()
        log.exception("the refusal of an RTMP publish (%s) could not be audited", code)
    log.warning("RTMP publish refused (%s) for talk %s from %s", code, talk_id if talk_id is not None else "-",
                address)
    return _refusal()


@bp.post("/on_publish_done")
def on_publish_done() -> Response:
    refused = _untrusted()
    if refused is not None:
        return refused
    form = request.form
    session = db.session
    try:
        if form.get("app", "") == ingest_service.APPLICATION:
            key = stream_keys.lookup(session, form.get("name", ""))
            studio = current_app.extensions["arena.studio"]
            studio.rtmp_publish_done(stream_key_id=key.id if key is not None else None,
                                     client_id=form.get("clientid", "")[:20])
            session.commit()
    except Exception:
        session.rollback()
        log.exception("on_publish_done failed (client %s)", form.get("clientid", "")[:20])
    # nginx takes no answer from on_publish_done; the publisher is gone either way.
    return Response("", status=204)
