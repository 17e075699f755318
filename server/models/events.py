"""Events, their talks and speakers.

A talk is ONE record across its whole life: announced with its invitation text, live with
its stream, then published with its recording (server/models/media.py). Pages, feeds, the
API and exports are all views of this record.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from server.models.media import Recording


class EventStatus(str, enum.Enum):
    draft = "draft"          # only organisers see it
    published = "published"  # on the home page, in the API and feeds


class LiveState(str, enum.Enum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    organiser: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    venue: Mapped[str] = mapped_column(String(200), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    # Markdown, rendered through a sanitiser (server/services/text.py).
    invitation_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, name="event_status", native_enum=False, length=20), default=EventStatus.draft
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    talks: Mapped[list[Talk]] = relationship(
        back_populates="event", order_by="(Talk.starts_at, Talk.position, Talk.id)", cascade="all, delete-orphan"
    )
    speakers: Mapped[list[Speaker]] = relationship(back_populates="event", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Event {self.slug}>"


class Speaker(Base):
    __tablename__ = "speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # What they are, as the invitation says it: "kommunchef, Katrineholms kommun".
    role: Mapped[str] = mapped_column(String(200), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    # [{"label": "Webbplats", "url": "https://..."}], in the order shown.
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # A file name the server made, under the media folder; None: no photo.
    photo_path: Mapped[str | None] = mapped_column(String(255), default=None)

    event: Mapped[Event] = relationship(back_populates="speakers")
    talk_links: Mapped[list[TalkSpeaker]] = relationship(back_populates="speaker", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Speaker {self.name}>"


class Talk(Base):
    __tablename__ = "talks"
    __table_args__ = (
        UniqueConstraint("event_id", "slug", name="uq_talks_event_slug"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Tie-breaker in the programme for talks that start at the same time.
    position: Mapped[int] = mapped_column(Integer, default=0)
    invitation_text: Mapped[str] = mapped_column(Text, default="")
    # As the organiser gave it; checked by server/media/embeds.py before it is stored.
    stream_url: Mapped[str] = mapped_column(String(2000), default="")
    slides_url: Mapped[str] = mapped_column(String(2000), default="")
    # An uploaded PDF deck, relative to the recordings folder, a name the server made; it
    # wins over slides_url on the talk page (shown in the browser's own PDF viewer).
    slides_file: Mapped[str | None] = mapped_column(String(500), default=None)
    live_state: Mapped[LiveState] = mapped_column(
        Enum(LiveState, name="live_state", native_enum=False, length=20), default=LiveState.scheduled
    )
    # The room's rules while live, set by moderators.
    chat_open: Mapped[bool] = mapped_column(Boolean, default=True)
    questions_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # Pre-moderated: new questions wait for a moderator's approval before others see them.
    questions_premoderated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Slow mode: one chat message per participant per this many seconds; 0 is off.
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # The last sequence number of the talk's room log (server/services/room_log.py): raised by
    # one under the row's lock in the transaction that appends an entry, so numbers have no gap.
    room_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(back_populates="talks")
    speaker_links: Mapped[list[TalkSpeaker]] = relationship(
        back_populates="talk", order_by="TalkSpeaker.position", cascade="all, delete-orphan"
    )
    recording: Mapped[Recording | None] = relationship(back_populates="talk", cascade="all, delete-orphan")

    @property
    def speakers(self) -> list[Speaker]:
        return [link.speaker for link in self.speaker_links]

    def is_live(self, now: datetime) -> bool:
        """Live when someone said so (go-live, organiser), or, for a talk with a stream that
        nobody has marked, while the clock is inside its slot."""
        if self.live_state is LiveState.live:
            return True
        if self.live_state is LiveState.ended:
            return False
        return bool(self.stream_url) and self.starts_at <= now < self.ends_at

    def shows_recording(self, now: datetime) -> bool:
        """Its published recording is what pages, embeds and the API show, except while the
        talk is live: then the live stream wins, and the recording appears once it has ended."""
        return self.recording is not None and self.recording.is_published and not self.is_live(now)

    def __repr__(self) -> str:
        return f"<Talk {self.slug}>"


class TalkSpeaker(Base):
    """Who speaks in a talk, in the order the invitation names them."""

    __tablename__ = "talk_speakers"

    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    talk: Mapped[Talk] = relationship(back_populates="speaker_links")
    speaker: Mapped[Speaker] = relationship(back_populates="talk_links")
