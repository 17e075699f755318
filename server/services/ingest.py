"""Who may publish over RTMP: nginx-rtmp's `on_publish` callback asks, this answers.

A publisher presents a stream key as the stream's name. It gets through when the key is
one of a talk's keys and still valid, and the talk's event is published (what the public
pages show); one publisher per talk is settled by the studio when it starts the stream
(golive.AlreadyLive). Every refusal is audited with the encoder's address, never with
the key it presented: at most the hint (last four characters) of a key Arena knows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import false, select, text, update
from sqlalchemy.orm import Session

from server.models import AuditEntry, EventStatus, StreamKey, Talk
from server.services import audit, stream_keys
from server.services.audit_actions import INGEST_REFUSALS
from server.services.errors import ServiceError

APPLICATION = "live"
AUDIT_ACTION = "ingest.refused"
# Who refused, in the audit log: the ingest itself, on behalf of nobody signed in.
AUDIT_ACTOR_ROLE = "encoder"  # an RTMP encoder: no person Arena knows
# Repeated refusals of one address, code and talk within this time of the first are one
# audit entry with a count (record_refusal).
REFUSAL_WINDOW = timedelta(minutes=10)

# The refusal codes and what they mean, for the organiser reading why an encoder did not
# get through (the audit page and the admin's Live video page say the same words).
REFUSALS = INGEST_REFUSALS


class PublishRefused(ServiceError):
    """nginx is told no (403). `talk` and `stream_key` are set when the key was one Arena knows."""

    code = "unknown_key"
    http_status = 403

    def __init__(self, code: str, *, talk: Talk | None = None, stream_key: StreamKey | None = None,
                 detail: str = "") -> None:
        super().__init__(REFUSALS.get(code, REFUSALS["server_error"]), code=code)
        self.talk = talk
        self.stream_key = stream_key
        self.detail = detail


def authorise_publish(session: Session, *, app_name: Any, presented_key: Any, now: datetime,
                      enabled: bool = True) -> tuple[Talk, StreamKey]:
    """The talk and key a publish is for, or PublishRefused with its code. Reads only."""
    if not enabled:
        raise PublishRefused("ingest_off")
    if app_name != APPLICATION:
        raise PublishRefused("wrong_application")
    key = stream_keys.lookup(session, presented_key if isinstance(presented_key, str) else "")
    if key is None:
        raise PublishRefused("unknown_key")
    talk = key.talk
    if key.revoked_at is not None or key.active_talk_id != key.talk_id:
        raise PublishRefused("revoked_key", talk=talk, stream_key=key)
    if talk.event.status is not EventStatus.published:
        raise PublishRefused("talk_not_published", talk=talk, stream_key=key)
    return talk, key


def record_refusal(session: Session, *, talk: Talk | None, code: str, address: str, detail: str = "",
                   stream_key: StreamKey | None = None, now: datetime | None = None) -> AuditEntry:
    """Audit "ingest.refused": the refusal's code as the reason, the encoder's address and, for a
    key Arena knows, its id and hint. Never the presented key.

    Port 1935 faces the internet, so an encoder retrying (or a scanner) must not write a row a
    try: the refusals of one address, code and talk within REFUSAL_WINDOW of the first are one
    entry, whose `after` counts them ("count") and says when the last came ("last_seen"); the
    next try after the window starts a new entry. The database decides, under a lock held to
    the end of the caller's transaction, so several processes count into the same entry."""
    now = now or datetime.now(UTC)
    address = _clean(address, 64) or "?"
    code = _clean(code, 40)
    actor = f"rtmp:{address}"[:120]
    talk_id = talk.id if talk is not None else None
    _lock_refusals(session, f"{actor}|{code}|{talk_id}")
    current = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == AUDIT_ACTION, AuditEntry.actor == actor, AuditEntry.reason == code,
               AuditEntry.talk_id.is_(None) if talk_id is None else AuditEntry.talk_id == talk_id,
               AuditEntry.created_at > now - REFUSAL_WINDOW)
        .order_by(AuditEntry.id.desc()).limit(1)).first()
    if current is not None:
        after = dict(current.after) if isinstance(current.after, dict) else {"code": code, "address": address}
        after["count"] = _count(after.get("count")) + 1
        after["last_seen"] = _iso(now)
        after.update(_key_fields(stream_key))  # the latest key tried (a crew may have pasted a new one)
        if detail:
            after["detail"] = _clean(detail, 300)
        current.after = after  # a new dict: the JSON column is written
        return current
    after: dict[str, Any] = {"code": code, "address": address, "count": 1, "last_seen": _iso(now)}
    after.update(_key_fields(stream_key))
    if detail:
        after["detail"] = _clean(detail, 300)
    entry = audit.record(session, None, AUDIT_ACTION, talk, talk=talk, after=after, reason=code,
                         actor_label=actor, actor_role=AUDIT_ACTOR_ROLE, created_at=now)
    session.flush()  # the next refusal in this transaction finds it
    return entry


def _key_fields(stream_key: StreamKey | None) -> dict[str, Any]:
    if stream_key is None:
        return {}
    fields: dict[str, Any] = {"stream_key_id": stream_key.id, "key_hint": stream_key.hint}
    if stream_key.revoke_reason:
        fields["revoke_reason"] = stream_key.revoke_reason  # "rotated" or "revoked"
    return fields


def _lock_refusals(session: Session, name: str) -> None:
    """One writer at a time for this address, code and talk, until the transaction ends:
    PostgreSQL's advisory lock on the name; SQLite's one write lock, taken by a write that
    changes nothing (a later read in the transaction then sees every committed count)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(name.encode()).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": int.from_bytes(digest[:8], "big", signed=True)})
    else:
        session.execute(update(AuditEntry).where(false()).values(reason=AuditEntry.reason))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Refusal:
    """One entry of the recent refusals list: when it was first and last seen, how often."""

    at: datetime          # the first refusal of the entry
    last_seen: datetime
    count: int
    code: str
    address: str
    detail: str
    key_hint: str


def recent_refusals(session: Session, talk_id: int, limit: int = 10) -> list[Refusal]:
    """The talk's latest refusal entries, newest first, each with how many tries it counts."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.talk_id == talk_id,
                                                    AuditEntry.action == AUDIT_ACTION)
                           .order_by(AuditEntry.id.desc()).limit(limit))
    refusals = []
    for entry in rows:
        after = entry.after if isinstance(entry.after, dict) else {}
        try:
            last_seen = datetime.fromisoformat(str(after.get("last_seen")))
        except ValueError:
            last_seen = entry.created_at
        refusals.append(Refusal(at=entry.created_at, last_seen=max(last_seen, entry.created_at),
                                count=_count(after.get("count")),
                                code=str(after.get("code") or entry.reason or ""),
                                address=str(after.get("address") or ""), detail=str(after.get("detail") or ""),
                                key_hint=str(after.get("key_hint") or "")))
    return refusals


def _clean(value: Any, limit: int) -> str:
    """What an encoder or nginx sent, as plain printable text of bounded length."""
    text = value if isinstance(value, str) else ""
    return "".join(ch for ch in text if ch.isprintable())[:limit]
