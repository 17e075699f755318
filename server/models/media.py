"""A talk's recording: the last stage of the talk's one record.

The recordings issue fills it (yt-dlp import, upload, go-live archive); the pages, the API
and the iCalendar feed already show it when it is published.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from server.models.events import Talk


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), unique=True)
    # Where it came from: a provider URL (shown behind the click-to-load facade) ...
    source_url: Mapped[str] = mapped_column(String(2000), default="")
    # ... and/or our own copy, relative to the recordings folder, a name the server made.
    file_path: Mapped[str | None] = mapped_column(String(500), default=None)
    captions_path: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    talk: Mapped[Talk] = relationship(back_populates="recording")

    @property
    def is_published(self) -> bool:
        return self.published_at is not None
