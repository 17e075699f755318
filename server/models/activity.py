"""What the activity report counts that the live tables do not keep: how many watched, and who.

Presence (server/models/live.py) is overwritten every second; the report needs the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, utcnow


class ViewerSample(Base):
    """The most viewers a talk had at once during one minute (UTC, seconds cut off)."""

    __tablename__ = "viewer_samples"
    __table_args__ = (Index("ix_viewer_samples_event_id_minute", "event_id", "minute"),)

    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    viewers: Mapped[int] = mapped_column(Integer, default=0)


class Participation(Base):
    """A participant (the anonymous id in their cookie) opened a talk's live room."""

    __tablename__ = "participations"
    __table_args__ = (Index("ix_participations_event_id_first_seen_at", "event_id", "first_seen_at"),)

    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
