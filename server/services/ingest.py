"""Who may publish over RTMP (issue 12): nginx-rtmp's `on_publish` callback asks, this answers.

A publisher presents a stream key as the stream's name. It gets through when the key is
one of a talk's keys and still valid, and the talk's event is published (what the public
pages show); one publisher per talk is settled by the studio when it starts the stream
(golive.AlreadyLive). Every refusal is audited with the encoder's address, never with
the key it presented: at most the hint (last four characters) of a key Arena knows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.models import AuditEntry, EventStatus, StreamKey, Talk
from server.services import stream_keys
from server.services.audit_actions import INGEST_REFUSALS
from server.services.errors import ServiceError

APPLICATION = "live"
AUDIT_ACTION = "ingest.refused"
# Who refused, in the audit log: the ingest itself, on behalf of nobody signed in.
AUDIT_ACTOR_ROLE = "encoder"  # an RTMP encoder: no person Arena knows

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
    key Arena knows, its id and hint. Never the presented key."""
    address = _clean(address, 64) or "?"
    after: dict[str, Any] = {"code": code, "address": address}
    if stream_key is not None:
        after["stream_key_id"] = stream_key.id
        after["key_hint"] = stream_key.hint
        if stream_key.revoke_reason:
            after["revoke_reason"] = stream_key.revoke_reason  # "rotated" or "revoked"
    if detail:
        after["detail"] = _clean(detail, 300)
    entry = AuditEntry(
        event_id=talk.event_id if talk is not None else None, talk_id=talk.id if talk is not None else None,
        actor=f"rtmp:{address}"[:120], actor_role=AUDIT_ACTOR_ROLE, action=AUDIT_ACTION,
        target_type="talk" if talk is not None else "", target_id=str(talk.id) if talk is not None else "",
        after=after, reason=_clean(code, 40),
    )
    if now is not None:
        entry.created_at = now
    session.add(entry)
    return entry


def _clean(value: Any, limit: int) -> str:
    """What an encoder or nginx sent, as plain printable text of bounded length."""
    text = value if isinstance(value, str) else ""
    return "".join(ch for ch in text if ch.isprintable())[:limit]
