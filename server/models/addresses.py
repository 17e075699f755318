"""Addresses an event or a talk had before: links to them were shared (calendars, mails,
social media, a participant's open tab), so they keep working and redirect (301) to the
current address.

An old address stays its event's (or talk's) for good: another event cannot take it while
links to it lead somewhere, so a shared link never silently shows a different event. Only
the event (or talk) itself takes it back, which ends its redirect.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, utcnow


class EventOldSlug(Base):
    __tablename__ = "event_old_slugs"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TalkOldSlug(Base):
    __tablename__ = "talk_old_slugs"
    # Unique within the event, as talks' own addresses are (uq_talks_event_slug).
    __table_args__ = (UniqueConstraint("event_id", "slug", name="uq_talk_old_slugs_event_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
