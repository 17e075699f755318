"""A talk's recording (the last stage of the talk's one record) and the jobs that import it.

A Recording is what the public sees once `published_at` is set: our own copy (`file_path`)
in our own player, or the source's player behind the click-to-load facade (`source_url`),
with captions, a thumbnail and chapters that are always stored here, never hot-linked.
An ImportJob is one attempt to fetch a recording from a URL (server/media/importer.py):
its row is the truth about progress and outcome, so every server process and the admin
page after a reload see the same state.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Enum, ForeignKey, Integer, String
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
    # "url" (imported with yt-dlp), "upload" (a file from the organiser), "golive" (the
    # recording of a live broadcast: the browser studio or an RTMP encoder).
    origin: Mapped[str] = mapped_column(String(20), default="url")
    # The source's own title, shown to the organiser; the page shows the talk's title.
    source_title: Mapped[str] = mapped_column(String(300), default="")
    # Relative to the recordings folder, like file_path; a name the server made.
    thumbnail_path: Mapped[str | None] = mapped_column(String(500), default=None)
    # BCP 47 code of the captions (the <track>'s srclang).
    captions_language: Mapped[str] = mapped_column(String(20), default="sv")
    # [{"start": seconds, "title": text}, ...] in order of start.
    chapters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    # The day the source says it was uploaded (yt-dlp's upload_date).
    uploaded_on: Mapped[date | None] = mapped_column(Date, default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    file_type: Mapped[str] = mapped_column(String(40), default="")  # "video/mp4" or "video/webm"

    talk: Mapped[Talk] = relationship(back_populates="recording")

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def has_captions(self) -> bool:
        return bool(self.captions_path)


class JobState(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in (JobState.succeeded, JobState.failed, JobState.cancelled)


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    source_url: Mapped[str] = mapped_column(String(2000))
    # The organiser asked for our own copy (public bodies keep an archive of what they publish).
    archive: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, name="import_job_state", native_enum=False, length=20), default=JobState.queued
    )
    # Set by "Cancel" from any server process; the process running the job checks it.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    percent: Mapped[int] = mapped_column(Integer, default=0)
    downloaded_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Why it failed, as a code (server/services/recordings/imports.py: JOB_MESSAGES turns it into
    # words in the reader's language), plus a short technical detail for the log.
    error_code: Mapped[str | None] = mapped_column(String(40), default=None)
    error_detail: Mapped[str] = mapped_column(String(500), default="")
    requested_by: Mapped[str] = mapped_column(String(120), default="")
    process_id: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    talk: Mapped[Talk] = relationship()
