"""Simulcast destinations: where a talk's live stream is also sent (YouTube Live, Facebook Live,
any RTMP(S) server), kept by organisers in the admin (server/web/admin/simulcast.py) and pushed
while the talk is live (server/sockets/simulcast.py, server/media/simulcast.py).

A destination's stream key is a secret of the organisation's channel: it is checked and
encrypted here (server/media/simulcast.py KeyBox), shown only as •••• and its last four
characters, and never written to the audit log, an export or a log line. Changing it means
typing a new one; the form never shows it back.

The server URL must be rtmp:// or rtmps:// and reach the internet: a host that resolves to a
private, loopback or other non-public address is refused unless it is in
media.import_allowed_hosts (the same rule and checks as a recording import, media/guard.py).

State (what the push last saw) is written by `record_state`: `state` one of idle, connecting,
sending, retrying, failed; `state_message` a reason code (REASONS; words by the page in the
reader's language); `state_at` when the state began, or for "retrying" when the next attempt
starts; `attempts` the attempts that failed in a row.

Every organiser's change is audited (simulcast.create, .update, .delete) with label, URL,
on/off and the key's hint: never the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.i18n import _l
from server.media.guard import GuardRefused
from server.media.simulcast import (
    CONNECTING,
    FAILED,
    IDLE,
    RETRYING,
    SENDING,
    KeyBox,
    check_host,
    key_hint,
    masked,
)
from server.models import SimulcastDestination, Talk
from server.services.audit import changed, record
from server.services.errors import NotFound, ValidationError
from server.services.roles import Actor

MAX_LABEL = 80
MAX_URL = 500
MAX_KEY = 300
# Each destination is an ffmpeg process and the stream's bitrate once more out of the server.
MAX_DESTINATIONS = 10
AUDITED = ("label", "url", "enabled", "key_hint")

STATES = (IDLE, CONNECTING, SENDING, RETRYING, FAILED)
STATE_TEXTS = {
    IDLE: _l("Waiting for the broadcast"),
    CONNECTING: _l("Connecting"),
    SENDING: _l("Sending"),
    RETRYING: _l("Trying again"),
    FAILED: _l("Stopped"),
}
DISABLED_TEXT = _l("Switched off")
# Why a push failed, in words (server/media/simulcast.py failure_reason gives the codes).
REASONS = {
    "refused": _l("The server refused the connection."),
    "timeout": _l("The server did not answer in time."),
    "connection_lost": _l("The connection to the server was lost."),
    "rejected": _l("The server refused the stream. Check the stream key."),
    "unresolvable": _l("The server's name could not be found."),
    "tls": _l("The secure connection (rtmps) could not be set up."),
    "source": _l("Waiting for Arena's own stream."),
    "error": _l("The push stopped because of an error."),
    "address_refused": _l("The server is inside our own network, which is not allowed."),
    "key_unreadable": _l("The stream key can no longer be read on this server. Type it again."),
    "no_ffmpeg": _l("ffmpeg is missing on the server. Tell the administrator."),
}


# -- checks ---------------------------------------------------------------------------------

def check_label(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError(_l("Give the destination a name, e.g. YouTube."), code="required", field="label")
    if len(text) > MAX_LABEL:
        raise ValidationError(_l("At most %(count)d characters.", count=MAX_LABEL), code="too_long", field="label")
    return text


def check_url(value: Any, allowed_hosts: Iterable[str]) -> str:
    """An rtmp:// or rtmps:// server URL with an application path, on a public host (or an
    allowed one). Raises ValidationError in the reader's language."""
    url = value.strip() if isinstance(value, str) else ""
    field = "url"
    if not url:
        raise ValidationError(_l("Please fill in this field."), code="required", field=field)
    if len(url) > MAX_URL:
        raise ValidationError(_l("At most %(count)d characters.", count=MAX_URL), code="too_long", field=field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError(_l("The server address cannot be read. Copy it again from the streaming service."),
                              code="invalid_url", field=field) from None
    if parts.scheme.lower() not in ("rtmp", "rtmps"):
        raise ValidationError(_l("The server address must begin with rtmp:// or rtmps://, for example "
                                 "rtmp://a.rtmp.youtube.com/live2."), code="invalid_scheme", field=field)
    if not parts.hostname:
        raise ValidationError(_l("The server address has no server name after rtmp://."),
                              code="invalid_url", field=field)
    if parts.username is not None or parts.password is not None:
        raise ValidationError(_l("Leave user names and passwords out of the server address."),
                              code="invalid_url", field=field)
    if parts.query or parts.fragment or any(ch.isspace() for ch in url):
        raise ValidationError(_l("The server address cannot contain spaces, ? or #. If the service gave you one "
                                 "long address, put its last part in the stream key field."),
                              code="invalid_url", field=field)
    if not parts.path.strip("/"):
        raise ValidationError(_l("The server address must end with the application, such as /live2 in "
                                 "rtmp://a.rtmp.youtube.com/live2."), code="missing_application", field=field)
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) >= 2 and len(segments[-1]) >= 16:
        # The whole publish address pasted: its key would be stored (and audited) as part of the URL.
        raise ValidationError(_l("The server address seems to end with the stream key. Put its last part, after "
                                 "/%(app)s/, in the stream key field.", app="/".join(segments[:-1])),
                              code="key_in_url", field=field)
    try:
        check_host(url, allowed_hosts)
    except GuardRefused as refusal:
        if refusal.code == "private_address":
            raise ValidationError(_l("%(host)s is an address inside our own network. Only servers on the "
                                     "internet can receive the stream (an administrator can allow a host in "
                                     "media.import_allowed_hosts).", host=parts.hostname),
                                  code="address_refused", field=field) from None
        raise ValidationError(_l("The server %(host)s could not be found. Check the address.", host=parts.hostname),
                              code="unresolvable", field=field) from None
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


def check_key(value: Any, *, required: bool) -> str:
    """The stream key as typed, without surrounding spaces; "" when not required and empty."""
    key = value.strip() if isinstance(value, str) else ""
    if not key:
        if required:
            raise ValidationError(_l("Paste the stream key from the streaming service."), code="required",
                                  field="stream_key")
        return ""
    if len(key) > MAX_KEY:
        raise ValidationError(_l("At most %(count)d characters.", count=MAX_KEY), code="too_long", field="stream_key")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ValidationError(_l("A stream key has no spaces or line breaks. Copy it again."),
                              code="invalid_key", field="stream_key")
    return key


# -- changes --------------------------------------------------------------------------------

def add(session: Session, actor: Actor, talk: Talk, *, label: Any, url: Any, stream_key: Any, enabled: bool,
        keys: KeyBox, allowed_hosts: Iterable[str], now: datetime) -> SimulcastDestination:
    label = check_label(label)
    url = check_url(url, allowed_hosts)
    stream_key = check_key(stream_key, required=True)
    if len(destinations(session, talk.id)) >= MAX_DESTINATIONS:
        raise ValidationError(_l("A talk can be sent to at most %(count)d destinations. Remove one first.",
                                 count=MAX_DESTINATIONS), code="too_many_destinations")
    destination = SimulcastDestination(talk_id=talk.id, label=label, url=url, key_ciphertext=keys.encrypt(stream_key),
                                       key_hint=key_hint(stream_key), enabled=bool(enabled), created_at=now,
                                       created_by=actor.label, state=IDLE, state_at=now)
    session.add(destination)
    session.flush()
    record(session, actor, "simulcast.create", destination, talk=talk, after=_snapshot(destination))
    return destination


def update(session: Session, actor: Actor, destination: SimulcastDestination, *, label: Any, url: Any,
           stream_key: Any, enabled: bool, keys: KeyBox, allowed_hosts: Iterable[str]) -> bool:
    """Changes what was changed; an empty key keeps the stored one. True when anything changed."""
    label = check_label(label)
    typed = url.strip() if isinstance(url, str) else ""
    # Unchanged: not looked up again (a name server away for a moment must not block a new label).
    url = destination.url if typed == destination.url else check_url(typed, allowed_hosts)
    stream_key = check_key(stream_key, required=False)
    before = _snapshot(destination)
    destination.label, destination.url, destination.enabled = label, url, bool(enabled)
    key_changed = bool(stream_key) and keys_differ(keys, destination.key_ciphertext, stream_key)
    if key_changed:
        destination.key_ciphertext = keys.encrypt(stream_key)
        destination.key_hint = key_hint(stream_key)
    old, new = changed(before, _snapshot(destination))
    if key_changed:
        # Two keys can share their last four characters: say that the key changed, never what it is.
        old["stream_key"], new["stream_key"] = masked(before["key_hint"]), masked(destination.key_hint)
    if not new:
        return False
    record(session, actor, "simulcast.update", destination, talk=destination.talk,
           before=old, after=new)
    return True


def keys_differ(keys: KeyBox, ciphertext: str, stream_key: str) -> bool:
    try:
        return keys.decrypt(ciphertext) != stream_key
    except Exception:
        return True


def remove(session: Session, actor: Actor, destination: SimulcastDestination) -> None:
    """Gone from the talk; a push running for it stops (server/sockets/simulcast.py notices)."""
    talk = destination.talk
    record(session, actor, "simulcast.delete", destination, talk=talk, before=_snapshot(destination))
    session.delete(destination)


def _snapshot(destination: SimulcastDestination) -> dict[str, Any]:
    return {"label": destination.label, "url": destination.url, "enabled": destination.enabled,
            "key_hint": destination.key_hint}


# -- reading --------------------------------------------------------------------------------

def destinations(session: Session, talk_id: int) -> list[SimulcastDestination]:
    return list(session.scalars(select(SimulcastDestination).where(SimulcastDestination.talk_id == talk_id)
                                .order_by(SimulcastDestination.id)))


def get(session: Session, talk: Talk, destination_id: int) -> SimulcastDestination:
    destination = session.get(SimulcastDestination, destination_id)
    if destination is None or destination.talk_id != talk.id:
        raise NotFound(_l("There is no such destination. It may have been removed."), code="destination_not_found")
    return destination


def record_state(session: Session, destination_id: int, state: str, reason: str, attempts: int,
                 at: datetime) -> SimulcastDestination | None:
    """What a push saw. `at`: now, or for "retrying" when the next attempt starts. None when
    the destination was removed meanwhile."""
    destination = session.get(SimulcastDestination, destination_id)
    if destination is None:
        return None
    destination.state = state if state in STATES else FAILED
    destination.state_message = reason if reason in REASONS else ("error" if reason else "")
    destination.state_at = at
    destination.attempts = attempts
    return destination


def view(destination: SimulcastDestination) -> dict[str, Any]:
    """What the studio and the admin's status list show: no URL, no key. Texts by code, so
    each page says them in its reader's language (templates/partials/studio_simulcast.html)."""
    return {
        "id": destination.id,
        "talk_id": destination.talk_id,
        "label": destination.label,
        "enabled": destination.enabled,
        "state": destination.state,
        "reason": destination.state_message or "",
        "next_attempt_at": destination.state_at.isoformat()
        if destination.state == RETRYING and destination.state_at else None,
    }


def state_text(item: dict[str, Any]) -> str:
    """A view's state in words, for the page as it is first rendered (the script says the same)."""
    if not item["enabled"]:
        return str(DISABLED_TEXT)
    return str(STATE_TEXTS.get(item["state"], item["state"]))


def reason_text(item: dict[str, Any]) -> str:
    if not item["enabled"] or item["state"] not in (RETRYING, FAILED, CONNECTING) or not item["reason"]:
        return ""
    return str(REASONS.get(item["reason"], REASONS["error"]))
