"""A stream a speaker sends from the browser's studio (issue 6: go live).

One row per time someone pressed "Go live" on a talk. While it is live, `active_talk_id`
holds the talk's id; the unique constraint on it is what makes "one publisher per talk"
hold across every server process. When the stream ends the archive (the whole input,
remuxed) is named in `archive_path`, and the admin can offer it as a source for the talk's
Recording (server/services/golive.py: finished_live_recordings).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, UTCDateTime, utcnow
from server.models.events import Talk


class StreamState(str, enum.Enum):
    live = "live"                  # chunks arrive, ffmpeg writes HLS
    reconnecting = "reconnecting"  # the speaker's connection dropped; waiting up to golive.reconnect_seconds
    ending = "ending"              # End pressed (or the wait ran out): ffmpeg finishes, the archive is made
    ended = "ended"                # finished; end_reason says why


class LiveStream(Base):
    __tablename__ = "live_streams"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    # The talk's id while this stream is live, reconnecting or ending; NULL afterwards.
    # Unique: a second publisher's row cannot be written (NULLs never collide).
    active_talk_id: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    state: Mapped[StreamState] = mapped_column(
        Enum(StreamState, name="stream_state", native_enum=False, length=20), default=StreamState.live
    )
    # "ended" (End pressed), "connection_lost", "ffmpeg_failed", "disk_full", "server_stopped".
    end_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    # Who pressed Go live, as the role grant or organiser account names them.
    publisher_name: Mapped[str] = mapped_column(String(120), default="")
    # The browser's participant id: only the same browser may resume after a drop.
    publisher_participant_id: Mapped[str] = mapped_column(String(64), default="")
    # What the browser sends: "h264" (copied), "vp8" or "vp9" (transcoded to H.264 for HLS).
    video_codec: Mapped[str] = mapped_column(String(20), default="")
    # Relative to media.recordings_dir, made by the server: "<event>/<talk>/live/<id>-<random>",
    # the public HLS (playlist and segments), at a name nobody can guess from the id ...
    directory: Mapped[str] = mapped_column(String(500), default="")
    # ... and "<event>/<talk>/archive/<id>-<random>": the whole input and the recording, at a
    # name nobody can guess from the public playlist's, until an organiser publishes it.
    archive_directory: Mapped[str] = mapped_column(String(500), default="")
    # The finished recording, relative to media.recordings_dir; None until it is made.
    archive_path: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    bytes_received: Mapped[int] = mapped_column(Integer, default=0)
    # The server process that runs ffmpeg, and when it last said it still does: a stream
    # whose process went quiet is closed and archived by another (a crash keeps the recording).
    process_id: Mapped[str] = mapped_column(String(100), default="")
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    talk: Mapped[Talk] = relationship()

    @property
    def playlist_path(self) -> str:
        """The HLS playlist, relative to the recordings folder."""
        return f"{self.directory}/index.m3u8"

    @property
    def is_active(self) -> bool:
        return self.state is not StreamState.ended
