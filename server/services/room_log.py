"""The room's log: every change a client shows, numbered per talk without a gap.

A service that changes what a room shows (a message said, hidden or restored; a question
asked or moved; the rules) appends an entry here in the same transaction. The number comes
from `talks.room_seq`, raised by one with UPDATE ... RETURNING: the row stays locked until
the transaction ends, so the writers of one talk commit in number order, and a write that
rolls back gives its number back. The entries appended in a session wait in `pending` until
the face that commits (server/sockets/base.py: acked) sends them; docs/realtime.md has the
client's half and the proof.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.models import ChatMessage, Question, RoomEvent, Talk

# The kinds of entry, named as the events that clients receive (server/sockets/protocol.py).
MESSAGE, MESSAGE_HIDDEN, MESSAGE_RESTORED = "message", "message_hidden", "message_restored"
QUESTION, QUESTION_HIDDEN, RULES = "question", "question_hidden", "rules"

PENDING_KEY = "arena.room_events"
HISTORY_LIMIT = 200  # entries in one history answer at the most


def next_seq(session: Session, talk_id: int) -> int:
    """Take the talk's next number; the row stays locked until the transaction ends."""
    return session.execute(
        update(Talk).where(Talk.id == talk_id).values(room_seq=Talk.room_seq + 1).returning(Talk.room_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def give_back(session: Session, talk_id: int) -> None:
    """Return the number just taken (a retry turned out to be stored already). Safe: the row
    is still locked by this transaction, so nobody has taken a later one."""
    session.execute(update(Talk).where(Talk.id == talk_id).values(room_seq=Talk.room_seq - 1)
                    .execution_options(synchronize_session=False))


def append(session: Session, talk_id: int, kind: str, *, message: ChatMessage | None = None,
           question: Question | None = None, data: dict[str, Any] | None = None,
           seq: int | None = None) -> RoomEvent:
    """Number and store one entry; the caller's transaction commits it (or gives it back).
    `seq`: a number the caller already took with next_seq (a message stored with its number)."""
    if message is not None or question is not None:
        session.flush()  # the item needs its id
    if seq is None:
        seq = next_seq(session, talk_id)
    entry = RoomEvent(talk_id=talk_id, seq=seq, kind=kind, message_id=message.id if message else None,
                      question_id=question.id if question else None, data=data)
    entry.message, entry.question = message, question
    if message is not None and kind == "message" and message.seq is None:
        message.seq = seq
    session.add(entry)
    session.info.setdefault(PENDING_KEY, []).append(entry)
    return entry


def pending(session: Session) -> list[RoomEvent]:
    """The entries appended in this session since the last call: the face sends them after
    committing. Taking them empties the list (a rolled-back session's must be dropped too)."""
    return session.info.pop(PENDING_KEY, [])


def has_pending(session: Session) -> bool:
    return bool(session.info.get(PENDING_KEY))


def seq_of_question(session: Session, question: Question) -> int | None:
    """The number of the entry that asked it."""
    # By the talk first: the primary key's prefix, so no scan of every talk's log.
    return session.scalar(select(RoomEvent.seq).where(RoomEvent.talk_id == question.talk_id,
                                                      RoomEvent.question_id == question.id,
                                                      RoomEvent.kind == QUESTION).order_by(RoomEvent.seq).limit(1))


def heads(session: Session, talk_ids: list[int]) -> dict[int, int]:
    """Each talk's last number, as committed."""
    if not talk_ids:
        return {}
    return dict(session.execute(select(Talk.id, Talk.room_seq).where(Talk.id.in_(talk_ids))).all())


def entries(session: Session, talk_id: int, *, after: int, before: int | None = None,
            limit: int = HISTORY_LIMIT) -> tuple[list[RoomEvent], bool]:
    """Entries with after < seq < before, oldest first, at most `limit`; and whether the range
    held more."""
    query = select(RoomEvent).where(RoomEvent.talk_id == talk_id, RoomEvent.seq > after)
    if before is not None:
        query = query.where(RoomEvent.seq < before)
    rows = list(session.scalars(query.order_by(RoomEvent.seq).limit(limit + 1)).unique())
    return rows[:limit], len(rows) > limit
