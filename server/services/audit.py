"""The audit log's one writer: every change of state a service makes is recorded here.

Actions are named `thing.verb` (`talk.update`, `message.hide`, `grant.revoke`): the thing
changed, then what was done to it. services/audit_actions.py says each code in words, also
the older codes that earlier rows carry (the log is a public record: rows are never
rewritten). Only services call `record`; faces and the command line call a service.
The caller commits, as with every service.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from server.models import AuditEntry, Event, Talk

if TYPE_CHECKING:  # roles records its role links here: a type only, no import cycle
    from server.services.roles import Actor


def audit_value(value: Any) -> Any:
    """A value as the audit log stores it: plain JSON, every instant in one form (UTC, ISO 8601),
    so the same instant read from the database and typed in a form is the same text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: audit_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [audit_value(item) for item in value]
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The audit log's picture of an object: plain JSON values."""
    return {field: audit_value(getattr(obj, field)) for field in fields}


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, so the log reads as what was done."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def record(session: Session, actor: Actor | None, action: str, target: Any = None, *,
           event: Event | None = None, talk: Talk | None = None, event_id: int | None = None,
           target_type: str | None = None, target_id: Any = None,
           before: dict | None = None, after: dict | None = None, reason: str = "",
           actor_label: str | None = None, actor_role: str | None = None,
           created_at: datetime | None = None) -> AuditEntry:
    """Add one audit row to the session (the caller commits).

    `target` is the changed object (its type and id are recorded) or None; `target_type` and
    `target_id` name a target that is not an object (a participant id). The event is `event`,
    else the talk's, else `event_id`. `actor` None with `actor_label`/`actor_role` records a
    machine (an encoder, the import worker, the command line).
    """
    if event is None and talk is not None:
        event_id = talk.event_id
    elif event is not None:
        event_id = event.id
    if target_type is None:
        target_type = type(target).__name__.lower() if target is not None else ""
    if target_id is None:
        target_id = getattr(target, "id", "") if target is not None else ""
    label = actor_label if actor_label is not None else (actor.label if actor is not None else "")
    role = actor_role if actor_role is not None else (
        actor.role.value if actor is not None and actor.role else "participant")
    # Cut to the columns' sizes: a name or an address from outside must not fail the change.
    entry = AuditEntry(
        event_id=event_id, talk_id=talk.id if talk is not None else None,
        actor=label[:120], actor_role=role[:20], action=action, target_type=target_type[:40],
        target_id=str(target_id if target_id is not None else "")[:64],
        before=audit_value(before), after=audit_value(after), reason=reason,
    )
    if created_at is not None:
        entry.created_at = created_at
    session.add(entry)
    return entry
