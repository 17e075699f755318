"""A talk's RTMP stream key: what a venue's encoder (OBS, vMix, an ATEM Mini)
sends as the stream name to publish the talk's live video through Arena's own ingest.

Only the key's SHA-256 is stored, with its last four characters as a hint to tell keys
apart; the key itself is returned once, by `make`, and shown once. A talk has at most one
valid key (StreamKey.active_talk_id is unique while valid). Rotating or revoking keeps the
old row for the audit trail; a running publish on a key no longer valid is ended by the
stream's ticker (server/sockets/studio.py), which checks the key every second.

Functions over a Session and plain values: they never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.config import Settings
from server.i18n import _l
from server.models import Role, StreamKey, Talk
from server.services import audit
from server.services.errors import Conflict, Forbidden
from server.services.roles import Actor

# secrets.token_urlsafe(32): 43 characters of A-Z a-z 0-9 - _, which nginx-rtmp takes as a
# stream name as they are. Anything else presented cannot be one of our keys.
KEY_BYTES = 32
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
APPLICATION = "live"


class KeyRace(Conflict):
    code = "stream_key_race"


def can_manage(actor: Actor, talk: Talk) -> bool:
    """The same people who may go live from the browser: an organiser, the talk's speaker."""
    return actor.role is Role.organiser or (actor.role is Role.speaker and actor.talk_id == talk.id)


def require_manager(actor: Actor, talk: Talk) -> None:
    if not can_manage(actor, talk):
        raise Forbidden(_l("Only the talk's speaker or an organiser can manage its stream key."))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def active(session: Session, talk_id: int) -> StreamKey | None:
    return session.scalar(select(StreamKey).where(StreamKey.active_talk_id == talk_id))


def make(session: Session, talk: Talk, actor: Actor, now: datetime) -> str:
    """A new key for the talk, replacing (rotating) a valid one in the same transaction.
    Returns the key: the only time it exists outside the encoder."""
    require_manager(actor, talk)
    key = secrets.token_urlsafe(KEY_BYTES)
    old = active(session, talk.id)
    old_hint = old.hint if old is not None else None
    new = StreamKey(talk_id=talk.id, active_talk_id=talk.id, key_hash=hash_key(key), hint=key[-4:],
                    created_at=now, created_by=actor.label[:120])
    try:
        # The unique active_talk_id settles two people making a key at the same moment: the
        # second insert fails, and that person is told rather than handed a key already dead.
        with session.begin_nested():
            if old is not None:
                _end(old, actor, now, "rotated")
                session.flush()  # free active_talk_id before the new row takes it
            session.add(new)
            session.flush()
    except IntegrityError:
        raise KeyRace(_l("Someone else made a new stream key for this talk at the same moment. "
                         "Reload the page to see it, and make another if you need to.")) from None
    if old is None:
        audit.record(session, actor, "stream_key.create", talk=talk, target_type="stream_key", target_id=new.id,
                     after={"hint": new.hint})
    else:
        audit.record(session, actor, "stream_key.rotate", talk=talk, target_type="stream_key", target_id=new.id,
                     before={"hint": old_hint}, after={"hint": new.hint})
    return key


def revoke(session: Session, talk: Talk, actor: Actor, now: datetime) -> None:
    """The talk's valid key stops working; an encoder publishing with it is stopped. No-op
    when there is none (a second press of Revoke)."""
    require_manager(actor, talk)
    key = active(session, talk.id)
    if key is None:
        return
    _end(key, actor, now, "revoked")
    session.flush()
    audit.record(session, actor, "stream_key.revoke", talk=talk, target_type="stream_key", target_id=key.id,
                 before={"hint": key.hint}, after={"revoked_at": now.astimezone(UTC).isoformat()})


def _end(key: StreamKey, actor: Actor, now: datetime, reason: str) -> None:
    key.active_talk_id = None
    key.revoked_at = now
    key.revoked_by = actor.label[:120]
    key.revoke_reason = reason


def lookup(session: Session, presented: Any) -> StreamKey | None:
    """The key row (valid or not: the caller tells "revoked" from "unknown") for what an
    encoder sent, or None for anything that is not one of our keys. Never raises on input."""
    if not isinstance(presented, str) or not _KEY_SHAPE.fullmatch(presented):
        return None
    digest = hash_key(presented)
    row = session.scalar(select(StreamKey).where(StreamKey.key_hash == digest))
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row


def is_valid(key: StreamKey | None) -> bool:
    return key is not None and key.revoked_at is None and key.active_talk_id is not None


def server_url(settings: Settings) -> str:
    """rtmp://HOST:PORT/live: what an encoder is given as its server."""
    host = settings.ingest.public_host.strip() or urlsplit(settings.public_base_url).hostname or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"rtmp://{host}:{int(settings.ingest.rtmp_port)}/{APPLICATION}"


def publish_url(settings: Settings, key: str) -> str:
    """The whole URL some encoders (and ffmpeg) take in one field."""
    return f"{server_url(settings)}/{key}"


def masked(key: StreamKey) -> str:
    return "\u2022" * 8 + key.hint
