"""What each kind of recipient sees: messages, questions and the room log's entries, rendered
for participants (public) or moderators (staff). docs/realtime.md describes the shapes."""

from __future__ import annotations

from typing import Any

from server.models import Ban, ChatMessage, Question, QuestionState, RoomEvent
from server.services import golive, room_log
from server.sockets import protocol as p

PUBLIC_QUESTION_STATES = (QuestionState.visible, QuestionState.answering, QuestionState.answered)

Rendered = tuple[str, dict[str, Any]]  # (event name, payload)


def message_payload(message: ChatMessage, *, staff: bool, mine: bool | None = None,
                    client_id: bool = False) -> dict[str, Any]:
    """A message as one kind of recipient sees it. `mine` and `client_id` go only to the
    author (join and ack): a client id in broadcasts would let others pose as their messages."""
    payload = {"id": message.id, "talk_id": message.talk_id, "seq": message.seq, "name": message.display_name,
               "role": message.author_role, "body": message.body,
               "created_at": message.created_at.isoformat()}
    if mine:
        payload["mine"] = True
    if client_id:
        payload["client_id"] = message.client_id
    if staff:
        payload.update(participant_id=message.participant_id, hidden=message.is_hidden,
                       hidden_by=message.hidden_by, hidden_reason=message.hidden_reason)
    return payload


def question_payload(question: Question, *, staff: bool, mine: bool | None = None,
                     client_id: bool = False) -> dict[str, Any]:
    payload = {"id": question.id, "talk_id": question.talk_id, "body": question.body,
               "name": None if question.anonymous and not (staff or mine) else question.display_name,
               "anonymous": question.anonymous, "state": question.state.value, "votes": question.vote_count,
               "created_at": question.created_at.isoformat(),
               "answered_at": question.answered_at.isoformat() if question.answered_at else None}
    if mine:
        payload["mine"] = True
    if client_id:
        payload["client_id"] = question.client_id
    if staff:
        payload.update(participant_id=question.participant_id, hidden_by=question.hidden_by,
                       hidden_reason=question.hidden_reason)
    return payload


def ban_payload(ban: Ban) -> dict[str, Any]:
    """A ban in force, for moderators only (the participant id is not public)."""
    return {"id": ban.id, "participant_id": ban.participant_id, "name": ban.display_name,
            "scope": "talk" if ban.talk_id is not None else "event", "talk_id": ban.talk_id,
            "reason": ban.reason, "created_by": ban.created_by, "created_at": ban.created_at.isoformat()}


def stream_payload(db_session, talk) -> dict[str, Any] | None:
    """The studio's stream, so a page that joins or reconnects catches up (docs/golive.md)."""
    stream = golive.latest_stream(db_session, talk)
    return golive.view_of(stream).as_dict() if stream is not None else None


def _numbered(payload: dict[str, Any], entry: RoomEvent) -> dict[str, Any]:
    return {**payload, "talk_id": entry.talk_id, "seq": entry.seq}


def _skip(entry: RoomEvent) -> Rendered:
    return p.SKIP, {"talk_id": entry.talk_id, "seq": entry.seq}


def render_entry(entry: RoomEvent, *, staff: bool) -> Rendered:
    """One entry of the room log as the event a participant or a moderator receives, from the
    item's state now: what has been hidden since is not shown to participants (a `skip`)."""
    kind, message, question = entry.kind, entry.message, entry.question
    if kind == room_log.RULES:
        return p.RULES, _numbered(entry.data or {}, entry)
    if message is not None:
        if staff:
            return kind, _numbered(message_payload(message, staff=True), entry)
        if kind == room_log.MESSAGE_HIDDEN:
            return p.MESSAGE_HIDDEN, _numbered({"id": message.id}, entry)
        if message.is_hidden:
            return _skip(entry)
        return kind, _numbered(message_payload(message, staff=False), entry)
    if question is not None:
        if staff:
            return p.QUESTION, _numbered(question_payload(question, staff=True), entry)
        if question.state is QuestionState.hidden:
            return p.QUESTION_HIDDEN, _numbered({"id": question.id}, entry)
        if question.state not in PUBLIC_QUESTION_STATES:
            return _skip(entry)  # waiting for approval: moderators only
        return p.QUESTION, _numbered(question_payload(question, staff=False), entry)
    return _skip(entry)


def history_item(entry: RoomEvent, *, staff: bool) -> dict[str, Any]:
    event, data = render_entry(entry, staff=staff)
    return {"event": event, "data": data}
