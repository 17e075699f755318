"""Where a recording's files live, the names they get, and who may fetch them.

Files live in <recordings_dir>/<event slug>/<talk slug>/ under names made here from a random
token (`recording-<token>.mp4`, `captions-<token>.vtt`, `thumbnail-<token>.jpg`), never from an
id, so nobody finds a file before it is published by counting. Work in progress lives in a
folder whose name starts with a dot, which public.recording_file never serves, and is renamed
into place only when complete. `file_access` says who may fetch a file: the public only what a
published event shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Event, EventStatus, LiveStream, Recording, Speaker, Talk
from server.services.uploads import UPLOADS_FOLDER

# A live stream's HLS stays public this long after it ends: viewers a few seconds behind
# play to the closed playlist's end (static/js/stage.js). Then only its publishers see it.
LIVE_HLS_GRACE = timedelta(minutes=10)


def talk_folder(recordings_path: Path, talk: Talk) -> Path:
    # Slugs are checked against SLUG_PATTERN when they are made: safe as folder names.
    return recordings_path / talk.event.slug / talk.slug


def unguessable_name(stem: str, suffix: str) -> str:
    """`recording-<22 random characters>.mp4`: 128 random bits, nothing derived from an id."""
    return f"{stem}-{secrets.token_urlsafe(16)}{suffix}"


def relative_path(recordings_path: Path, path: Path) -> str:
    """How the database names a file: relative to the recordings folder, with slashes."""
    return path.relative_to(recordings_path).as_posix()


@dataclass(frozen=True)
class FileAccess:
    """Who may fetch a file under the recordings folder: everyone (`public`), or only the
    organisers and the speakers of `talk` (None: organisers only)."""

    public: bool
    talk: Talk | None = None


def _published(event: Event) -> bool:
    return event.status is EventStatus.published


def file_access(session: Session, name: str, now: datetime) -> FileAccess:
    """`name` is relative to the recordings folder, normalised as it will be served.

    Public: a published event's talk's published recording, its captions and thumbnail;
    a published event's slides and speaker photos; and a published event's live HLS while
    the stream is on (and LIVE_HLS_GRACE after). Everything else (drafts, unpublished or
    replaced recordings, live broadcasts' archives, files nothing refers to) only to organisers
    and, for a talk's own files, its speaker."""
    if name.startswith(UPLOADS_FOLDER + "/"):
        talk = session.scalars(select(Talk).where(Talk.slides_file == name).limit(1)).first()
        if talk is not None:
            return FileAccess(_published(talk.event), talk)
        speaker = session.scalars(select(Speaker).where(Speaker.photo_path == name).limit(1)).first()
        return FileAccess(speaker is not None and _published(speaker.event))
    recording = session.scalars(select(Recording).where(
        (Recording.file_path == name) | (Recording.captions_path == name) | (Recording.thumbnail_path == name))
        .limit(1)).first()
    if recording is not None and recording.is_published and _published(recording.talk.event):
        return FileAccess(True, recording.talk)
    folder = name.rpartition("/")[0]
    stream = session.scalars(select(LiveStream).where(
        (LiveStream.directory == folder) | (LiveStream.archive_directory == folder)).limit(1)).first()
    if stream is not None and stream.directory == folder and _published(stream.talk.event):
        on_now = stream.is_active or (stream.ended_at is not None and stream.ended_at >= now - LIVE_HLS_GRACE)
        return FileAccess(on_now, stream.talk)
    talk = recording.talk if recording is not None else stream.talk if stream is not None else None
    return FileAccess(False, talk)


def published_recordings(event: Event) -> list[Talk]:
    """The event's talks with a published recording, in programme order."""
    return [talk for talk in event.talks if talk.recording is not None and talk.recording.is_published]


def file_size(recordings_path: Path, recording: Recording) -> int | None:
    if recording.file_size:
        return recording.file_size
    if recording.file_path:
        try:
            return (recordings_path / recording.file_path).stat().st_size
        except OSError:
            return None
    return None
