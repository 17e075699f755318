"""What participants say while a talk is live: chat messages, questions, votes, reports, bans.

Public-records rule (offentlighetsprincipen): nothing said is ever deleted. Moderation hides;
who hid what, when and why stays on the row (and in the audit log).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, UTCDateTime, utcnow


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        # A client's retry of the same message (same client-made id) is stored once.
        UniqueConstraint("talk_id", "participant_id", "client_id", name="uq_chat_messages_client_id"),
        Index("ix_chat_messages_talk_id_id", "talk_id", "id"),
        Index("ix_chat_messages_talk_id_seq", "talk_id", "seq"),
    )

    # Increases with every message, so within a talk it is the order and the catch-up cursor.
    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(64))
    # The name as shown when it was said; a later change of name does not rewrite the record.
    display_name: Mapped[str] = mapped_column(String(40))
    # "organiser", "moderator", "speaker" or "" for a participant.
    author_role: Mapped[str] = mapped_column(String(20), default="")
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    hidden_by: Mapped[str | None] = mapped_column(String(120), default=None)
    hidden_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # The number of the room-log entry that said it: the order and the cursor of the room.
    seq: Mapped[int | None] = mapped_column(Integer, default=None)

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class QuestionState(str, enum.Enum):
    awaiting_approval = "awaiting_approval"  # the talk is pre-moderated
    visible = "visible"
    answering = "answering"                  # "answering now", at most one per talk
    answered = "answered"
    hidden = "hidden"


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("talk_id", "participant_id", "client_id", name="uq_questions_client_id"),
        Index("ix_questions_talk_id_id", "talk_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(40))
    # Anonymous to other participants, never to moderators.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[QuestionState] = mapped_column(
        Enum(QuestionState, name="question_state", native_enum=False, length=20), default=QuestionState.visible
    )
    # Kept equal to the number of QuestionVote rows in the same transaction as each vote.
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    hidden_by: Mapped[str | None] = mapped_column(String(120), default=None)
    hidden_reason: Mapped[str | None] = mapped_column(String(500), default=None)

    votes: Mapped[list[QuestionVote]] = relationship(back_populates="question", cascade="all, delete-orphan")


class QuestionVote(Base):
    """One vote per participant and question, enforced by the primary key."""

    __tablename__ = "question_votes"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    question: Mapped[Question] = relationship(back_populates="votes")


class Ban(Base):
    """A participant may not write in one talk, or in every talk of an event (talk_id None)."""

    __tablename__ = "bans"
    __table_args__ = (Index("ix_bans_event_id_participant_id", "event_id", "participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    talk_id: Mapped[int | None] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), default=None)
    participant_id: Mapped[str] = mapped_column(String(64))
    # The name they used, so the record reads without a lookup.
    display_name: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lifted_by: Mapped[str | None] = mapped_column(String(120), default=None)


class Report(Base):
    """A participant's "report this" on a message or a question, for the moderators."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"), default=None)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), default=None)
    reporter_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    handled_by: Mapped[str | None] = mapped_column(String(120), default=None)


class Presence(Base):
    """How many viewers each server process holds in a talk, refreshed every second; the
    viewer count is the sum over processes seen recently, so it adds up across processes."""

    __tablename__ = "presence"

    process_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), primary_key=True)
    viewers: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomEvent(Base):
    """One entry of a talk's room log: every change a client shows, numbered 1, 2, 3, ... per
    talk without a gap (docs/realtime.md, "The room's log"). The entry names what changed; its
    content is read from the message or question itself (rules keep their values in `data`)."""

    __tablename__ = "room_events"

    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A server -> client event name of the log (server/sockets/protocol.py: LOGGED_EVENTS).
    kind: Mapped[str] = mapped_column(String(30))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"),
                                                   default=None)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), default=None)
    data: Mapped[dict | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[ChatMessage | None] = relationship(lazy="joined")
    question: Mapped[Question | None] = relationship(lazy="joined")
