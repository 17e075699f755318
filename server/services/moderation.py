"""Moderation (BBS-lagen: a public chat is supervised): hide, ban, slow mode, open and close,
reports. Hiding never deletes: who hid what, when and why stays on the row, and every action
is written to the audit log in the same transaction."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.i18n import _l
from server.models import AuditEntry, Ban, ChatMessage, Question, QuestionState, Report, Talk
from server.services import room_log
from server.services.chat import CONTROL_CHARACTERS
from server.services.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from server.services.roles import Actor

MAX_SLOW_MODE_SECONDS = 600
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REASON_MAX = 500


def record_audit(session: Session, actor: Actor, talk: Talk | None, action: str, target_type: str = "",
                 target_id: Any = "", *, before: dict | None = None, after: dict | None = None,
                 reason: str = "") -> AuditEntry:
    entry = AuditEntry(event_id=talk.event_id if talk else None, talk_id=talk.id if talk else None,
                       actor=actor.label, actor_role=actor.role.value if actor.role else "participant",
                       action=action, target_type=target_type, target_id=str(target_id), before=before,
                       after=after, reason=reason)
    session.add(entry)
    return entry


def clean_reason(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_l("The reason must be text."), code="invalid", field="reason")
    text = CONTROL_CHARACTERS.sub("", value).strip()
    if len(text) > REASON_MAX:
        raise ValidationError(_l("At most %(count)d characters.", count=REASON_MAX), code="too_long", field="reason")
    return text


def hide(session: Session, item: ChatMessage | Question, talk: Talk, actor: Actor, reason: Any) -> None:
    from server.services.roles import require_moderator

    require_moderator(actor, talk)
    reason = clean_reason(reason)
    if item.hidden_at is not None:
        return  # already hidden: the first hide's record stands
    before = _visible_state(item)
    item.hidden_at, item.hidden_by, item.hidden_reason = utcnow(), actor.label, reason
    if isinstance(item, Question):
        item.state = QuestionState.hidden
    room_log.append(session, talk.id, room_log.QUESTION_HIDDEN if isinstance(item, Question) else room_log.MESSAGE_HIDDEN,
                    **_item_of(item))
    record_audit(session, actor, talk, "hide", _kind(item), item.id, before=before,
                 after={"hidden": True}, reason=reason)


def restore(session: Session, item: ChatMessage | Question, talk: Talk, actor: Actor, reason: Any) -> None:
    """Show a hidden item again. The earlier hide stays in the audit log."""
    from server.services.roles import require_moderator

    require_moderator(actor, talk)
    reason = clean_reason(reason)
    if item.hidden_at is None:
        return
    item.hidden_at = item.hidden_by = item.hidden_reason = None
    if isinstance(item, Question):
        item.state = QuestionState.visible
    room_log.append(session, talk.id, room_log.QUESTION if isinstance(item, Question) else room_log.MESSAGE_RESTORED,
                    **_item_of(item))
    record_audit(session, actor, talk, "restore", _kind(item), item.id, before={"hidden": True},
                 after={"hidden": False}, reason=reason)


def _item_of(item: ChatMessage | Question) -> dict[str, Any]:
    return {"question": item} if isinstance(item, Question) else {"message": item}


def _kind(item: ChatMessage | Question) -> str:
    return "question" if isinstance(item, Question) else "message"


def _visible_state(item: ChatMessage | Question) -> dict[str, Any]:
    state = {"hidden": False, "body": item.body}
    if isinstance(item, Question):
        state["state"] = item.state.value
    return state


def ban(session: Session, talk: Talk, actor: Actor, participant_id: Any, *, whole_event: Any,
        reason: Any) -> Ban:
    from server.services.roles import require_moderator

    require_moderator(actor, talk)
    if not isinstance(participant_id, str) or not PARTICIPANT_ID.match(participant_id):
        raise ValidationError(_l("Choose whom to ban."), code="invalid", field="participant_id")
    if not isinstance(whole_event, bool):
        raise ValidationError(_l("Choose the talk or the whole event."), code="invalid", field="whole_event")
    if participant_id == actor.participant_id:
        raise ValidationError(_l("You cannot ban yourself."), code="invalid", field="participant_id")
    reason = clean_reason(reason)
    name = session.scalar(select(ChatMessage.display_name).where(ChatMessage.participant_id == participant_id)
                          .order_by(ChatMessage.id.desc()).limit(1)) or ""
    entry = Ban(event_id=talk.event_id, talk_id=None if whole_event else talk.id, participant_id=participant_id,
                display_name=name, reason=reason, created_by=actor.label)
    session.add(entry)
    session.flush()
    record_audit(session, actor, talk, "ban", "participant", participant_id,
                 after={"scope": "event" if whole_event else "talk", "ban_id": entry.id}, reason=reason)
    return entry


def lift_ban(session: Session, talk: Talk, actor: Actor, ban_id: Any) -> Ban:
    from server.services.roles import require_moderator

    require_moderator(actor, talk)
    entry = session.get(Ban, ban_id) if isinstance(ban_id, int) else None
    if entry is None or entry.event_id != talk.event_id:
        raise NotFound(_l("There is no such ban."), code="ban_not_found")
    if entry.lifted_at is None:
        entry.lifted_at, entry.lifted_by = utcnow(), actor.label
        record_audit(session, actor, talk, "lift_ban", "participant", entry.participant_id,
                     before={"ban_id": entry.id}, after={"lifted": True})
    return entry


def active_ban(session: Session, talk: Talk, participant_id: str) -> Ban | None:
    return session.scalars(select(Ban).where(
        Ban.participant_id == participant_id, Ban.event_id == talk.event_id, Ban.lifted_at.is_(None),
        or_(Ban.talk_id.is_(None), Ban.talk_id == talk.id),
    ).limit(1)).first()


def banned_participants(session: Session, talk: Talk) -> frozenset[str]:
    """Who may not write in this talk now (banned in it or in its whole event)."""
    return frozenset(session.scalars(select(Ban.participant_id).where(
        Ban.event_id == talk.event_id, Ban.lifted_at.is_(None), or_(Ban.talk_id.is_(None), Ban.talk_id == talk.id))))


def bans_since(session: Session, since: datetime) -> list[Ban]:
    """Bans made after `since`: every process closes the banned participant's connections."""
    return list(session.scalars(select(Ban).where(Ban.created_at >= since, Ban.lifted_at.is_(None))))


def set_room(session: Session, talk: Talk, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """Open or close chat and questions, pre-moderation and slow mode; returns the new rules."""
    from server.services.roles import require_moderator

    require_moderator(actor, talk)
    allowed = {"chat_open": bool, "questions_open": bool, "questions_premoderated": bool, "slow_mode_seconds": int}
    if not changes or set(changes) - set(allowed):
        raise ValidationError(_l("Unknown setting."), code="invalid")
    for key, value in changes.items():
        if type(value) is not allowed[key]:  # noqa: E721  (bool is an int: be exact)
            raise ValidationError(_l("Unknown setting."), code="invalid", field=key)
    slow = changes.get("slow_mode_seconds", talk.slow_mode_seconds)
    if not 0 <= slow <= MAX_SLOW_MODE_SECONDS:
        raise ValidationError(_l("Slow mode can be 0 to %(max)d seconds.", max=MAX_SLOW_MODE_SECONDS),
                              code="invalid", field="slow_mode_seconds")
    before = room_rules(talk)
    for key, value in changes.items():
        setattr(talk, key, value)
    after = room_rules(talk)
    room_log.append(session, talk.id, room_log.RULES, data=after)
    record_audit(session, actor, talk, "room_rules", "talk", talk.id, before=before, after=after)
    return after


def room_rules(talk: Talk) -> dict[str, Any]:
    return {"chat_open": talk.chat_open, "questions_open": talk.questions_open,
            "questions_premoderated": talk.questions_premoderated, "slow_mode_seconds": talk.slow_mode_seconds}


def slow_mode_wait(session: Session, talk: Talk, participant_id: str, now: datetime) -> int:
    """Seconds this participant must still wait under slow mode; 0 when they may write.
    Read from the database, so it holds across processes."""
    if talk.slow_mode_seconds <= 0:
        return 0
    last = session.scalar(select(ChatMessage.created_at).where(
        ChatMessage.talk_id == talk.id, ChatMessage.participant_id == participant_id
    ).order_by(ChatMessage.id.desc()).limit(1))
    if last is None:
        return 0
    remaining = last + timedelta(seconds=talk.slow_mode_seconds) - now
    return max(0, int(remaining.total_seconds() + 0.999))


def report(session: Session, talk: Talk, reporter_id: str, *, message_id: Any = None, question_id: Any = None,
           reason: Any = None) -> tuple[Report, bool]:
    """A participant reports a message or question; a second report of the same item by the
    same person is not stored again. Returns (report, created)."""
    reason = clean_reason(reason)
    if (message_id is None) == (question_id is None):
        raise ValidationError(_l("Choose what to report."), code="invalid")
    model, item_id = (ChatMessage, message_id) if message_id is not None else (Question, question_id)
    item = session.get(model, item_id) if isinstance(item_id, int) and not isinstance(item_id, bool) else None
    if item is None or item.talk_id != talk.id:
        raise NotFound(_l("That message does not exist."), code="not_found")
    column = Report.message_id if model is ChatMessage else Report.question_id
    existing = session.scalars(select(Report).where(column == item.id, Report.reporter_id == reporter_id)).first()
    if existing is not None:
        return existing, False
    entry = Report(talk_id=talk.id, reporter_id=reporter_id, reason=reason,
                   message_id=item.id if model is ChatMessage else None,
                   question_id=item.id if model is Question else None)
    session.add(entry)
    session.flush()
    return entry, True
