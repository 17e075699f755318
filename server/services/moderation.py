"""Moderation (BBS-lagen: a public chat is supervised): hide, ban, slow mode, open and close,
reports. Hiding never deletes: who hid what, when and why stays on the row, and every action
is written to the audit log in the same transaction."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from server.db import utcnow
from server.i18n import _l
from server.models import (
    Ban,
    ChatMessage,
    Event,
    Question,
    QuestionState,
    Report,
    Role,
    Talk,
)
from server.services import audit, room_log
from server.services.chat import CONTROL_CHARACTERS
from server.services.errors import Conflict, Forbidden, NotFound, ValidationError
from server.services.roles import Actor, require_moderator

MAX_SLOW_MODE_SECONDS = 600
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REASON_MAX = 500


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
    require_moderator(actor, talk)
    reason = clean_reason(reason)
    if item.hidden_at is not None:
        return  # already hidden: the first hide's record stands
    before = _visible_state(item)
    item.hidden_at, item.hidden_by, item.hidden_reason = utcnow(), actor.label, reason
    if isinstance(item, Question):
        item.state = QuestionState.hidden
    entry = room_log.QUESTION_HIDDEN if isinstance(item, Question) else room_log.MESSAGE_HIDDEN
    room_log.append(session, talk.id, entry, **_item_of(item))
    audit.record(session, actor, f"{_kind(item)}.hide", talk=talk, target_type=_kind(item), target_id=item.id,
                 before=before, after={"hidden": True}, reason=reason)


def restore(session: Session, item: ChatMessage | Question, talk: Talk, actor: Actor, reason: Any) -> None:
    """Show a hidden item again. The earlier hide stays in the audit log."""
    require_moderator(actor, talk)
    reason = clean_reason(reason)
    if item.hidden_at is None:
        return
    item.hidden_at = item.hidden_by = item.hidden_reason = None
    if isinstance(item, Question):
        item.state = QuestionState.visible
    room_log.append(session, talk.id, room_log.QUESTION if isinstance(item, Question) else room_log.MESSAGE_RESTORED,
                    **_item_of(item))
    audit.record(session, actor, f"{_kind(item)}.restore", talk=talk, target_type=_kind(item), target_id=item.id,
                 before={"hidden": True}, after={"hidden": False}, reason=reason)


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
    """Stop a participant from writing in this talk or the whole event. Banning someone whom an
    active ban already stops there adds nothing and says so (code `already_banned`)."""
    require_moderator(actor, talk)
    if not isinstance(participant_id, str) or not PARTICIPANT_ID.match(participant_id):
        raise ValidationError(_l("Choose whom to ban."), code="invalid", field="participant_id")
    if not isinstance(whole_event, bool):
        raise ValidationError(_l("Choose the talk or the whole event."), code="invalid", field="whole_event")
    if participant_id == actor.participant_id:
        raise ValidationError(_l("You cannot ban yourself."), code="invalid", field="participant_id")
    reason = clean_reason(reason)
    name = session.scalar(select(ChatMessage.display_name).where(ChatMessage.participant_id == participant_id)
                          .order_by(ChatMessage.id.desc()).limit(1)) or session.scalar(
        select(Question.display_name).where(Question.participant_id == participant_id)
        .order_by(Question.id.desc()).limit(1)) or ""  # someone who only asked questions
    # Two moderators pressing "Ban" at once: the event's row is locked first (PostgreSQL: a row
    # lock; SQLite: the database's write lock), so the second one's check below sees the first
    # one's ban once it is committed, and adds nothing.
    _lock_event(session, talk.event_id)
    existing = _covering_ban(session, talk, participant_id, whole_event)
    if existing is not None:
        message = (_l("%(name)s is already stopped from writing here.", name=name) if name
                   else _l("This person is already stopped from writing here."))
        raise Conflict(message, code="already_banned", field="participant_id")
    entry = Ban(event_id=talk.event_id, talk_id=None if whole_event else talk.id, participant_id=participant_id,
                display_name=name, reason=reason, created_by=actor.label)
    session.add(entry)
    session.flush()
    audit.record(session, actor, "participant.ban", talk=talk, target_type="participant", target_id=participant_id,
                 after={"scope": "event" if whole_event else "talk", "ban_id": entry.id}, reason=reason)
    return entry


def _lock_event(session: Session, event_id: int) -> None:
    # An UPDATE that changes nothing: it takes the row's lock until the transaction ends.
    session.execute(update(Event).where(Event.id == event_id).values(updated_at=Event.updated_at)
                    .execution_options(synchronize_session=False))


def _covering_ban(session: Session, talk: Talk, participant_id: str, whole_event: bool) -> Ban | None:
    """An active ban that already stops this participant where the new one would: one for the
    whole event, or (for a ban in this talk) one in this talk."""
    scope = Ban.talk_id.is_(None) if whole_event else or_(Ban.talk_id.is_(None), Ban.talk_id == talk.id)
    return session.scalars(select(Ban).where(
        Ban.participant_id == participant_id, Ban.event_id == talk.event_id, Ban.lifted_at.is_(None), scope,
    ).order_by(Ban.id).limit(1)).first()


def lift_ban(session: Session, talk: Talk, actor: Actor, ban_id: Any) -> Ban:
    """End a ban from a talk's live room. The row stays, with who lifted it and when; the audit
    log has it too. Lifting a lifted ban changes nothing."""
    require_moderator(actor, talk)
    return _lift(session, actor, talk.event_id, ban_id)


def lift_ban_in_event(session: Session, event_id: int, actor: Actor, ban_id: Any) -> Ban:
    """The same from the admin's list of an event's bans (organisers, or the event's moderators)."""
    if not (actor.role is Role.organiser or (actor.role is Role.moderator and actor.event_id == event_id)):
        raise Forbidden(_l("Only a moderator of this event can do that."))
    return _lift(session, actor, event_id, ban_id)


def _lift(session: Session, actor: Actor, event_id: int, ban_id: Any) -> Ban:
    entry = session.get(Ban, ban_id) if isinstance(ban_id, int) and not isinstance(ban_id, bool) else None
    if entry is None or entry.event_id != event_id:
        raise NotFound(_l("There is no such ban."), code="ban_not_found")
    if entry.lifted_at is None:
        entry.lifted_at, entry.lifted_by = utcnow(), actor.label
        # The ban's own talk (None for a ban in the whole event), not the room the moderator
        # lifted it from: the audit page says where the ban was.
        banned_in = session.get(Talk, entry.talk_id) if entry.talk_id is not None else None
        audit.record(session, actor, "participant.unban", talk=banned_in, event_id=event_id,
                     target_type="participant", target_id=entry.participant_id,
                     before={"ban_id": entry.id, "scope": "talk" if entry.talk_id else "event"},
                     after={"lifted": True})
    return entry


def active_bans(session: Session, event_id: int, talk_id: int | None = None) -> list[Ban]:
    """Bans in force, newest first: in the whole event, or those that stop people in one talk."""
    query = select(Ban).where(Ban.event_id == event_id, Ban.lifted_at.is_(None))
    if talk_id is not None:
        query = query.where(or_(Ban.talk_id.is_(None), Ban.talk_id == talk_id))
    return list(session.scalars(query.order_by(Ban.created_at.desc(), Ban.id.desc())))


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
    if after == before:
        return after  # a repeated press: nothing changed, so nothing to announce or log
    room_log.append(session, talk.id, room_log.RULES, data=after)
    audit.record(session, actor, "talk.room_rules", talk, talk=talk, before=before, after=after)
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
