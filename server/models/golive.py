"""A stream a speaker sends from the browser's studio.

One row per time someone pressed "Go live" on a talk. While it is live, `active_talk_id`
holds the talk's id; the unique constraint on it is what makes "one publisher per talk"
hold across every server process. When the stream ends the archive (the whole input,
remuxed) is named in `archive_path`, and the admin can offer it as a source for the talk's
Recording (server/services/golive.py: finished_live_recordings).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Integer, String, Text
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
    # Where the stream comes from, "browser" (the studio) or "rtmp" (a venue's
    # encoder through nginx-rtmp), and the playlist viewers open in `directory`:
    # "index.m3u8" (one rendition) or "master.m3u8" (the ladder: source, 360p, audio only).
    source: Mapped[str] = mapped_column(String(10), default="browser")
    playlist_name: Mapped[str] = mapped_column(String(40), default="index.m3u8")
    # RTMP only: the key it was published with, the stream's name inside nginx (on_publish
    # renames it, so the key never reaches ffmpeg's command line or a log), nginx's client
    # id (to match on_publish_done) and the encoder's address.
    stream_key_id: Mapped[int | None] = mapped_column(ForeignKey("stream_keys.id", ondelete="SET NULL"),
                                                      default=None)
    rtmp_name: Mapped[str | None] = mapped_column(String(80), unique=True, default=None)
    rtmp_client_id: Mapped[str | None] = mapped_column(String(20), default=None)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    # What arrived, as nginx-rtmp's metadata or ffprobe told it (None until known).
    video_width: Mapped[int | None] = mapped_column(Integer, default=None)
    video_height: Mapped[int | None] = mapped_column(Integer, default=None)

    talk: Mapped[Talk] = relationship()

    @property
    def playlist_path(self) -> str:
        """The HLS playlist viewers open (the master playlist when there is a ladder),
        relative to the recordings folder."""
        return f"{self.directory}/{self.playlist_name or 'index.m3u8'}"

    @property
    def is_active(self) -> bool:
        return self.state is not StreamState.ended


class StreamKey(Base):
    """A talk's RTMP stream key. Only its SHA-256 is stored: the key itself is
    shown once, when it is made, and never again. Rotating or revoking sets `revoked_at`
    (the row stays, for the audit trail); `active_talk_id` holds the talk's id while the
    key is valid, and is unique, so a talk has at most one valid key."""

    __tablename__ = "stream_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    active_talk_id: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's last four characters, to tell keys apart on the page ("…x7Qa").
    hint: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(120), default=None)
    # "rotated" (a new key replaced it) or "revoked".
    revoke_reason: Mapped[str | None] = mapped_column(String(20), default=None)

    talk: Mapped[Talk] = relationship()


class SimulcastDestination(Base):
    """Somewhere a talk's live stream is also sent: YouTube Live, Facebook Live
    or any RTMP(S) server. The destination's stream key is a secret of the organisation's
    channel: stored encrypted (server/media/simulcast.py), shown masked by `key_hint`, never
    exported or logged. `state` is what the process pushing it last saw."""

    __tablename__ = "simulcast_destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(500))
    key_ciphertext: Mapped[str] = mapped_column(Text, default="")
    key_hint: Mapped[str] = mapped_column(String(8), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    # "idle" (no live stream), "connecting", "sending", "retrying" or "failed".
    state: Mapped[str] = mapped_column(String(20), default="idle")
    state_message: Mapped[str] = mapped_column(String(300), default="")
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    talk: Mapped[Talk] = relationship()
