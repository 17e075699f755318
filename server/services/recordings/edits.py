"""What an organiser does to a talk's recording by hand: upload a video, add captions, use a
live broadcast's recording, publish or unpublish. An import (`imports`) puts its video in place
through the same `replace_recording`.

Nothing here commits: the face (an admin view, the command line) commits once.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from server.config import Settings
from server.db import utcnow
from server.i18n import _l
from server.media import importer
from server.media.captions import CaptionsError, to_webvtt
from server.media.embeds import UnsupportedStreamURL, parse_stream_url
from server.media.probe import ProbeError, probe_video
from server.models import Recording, Role, Talk
from server.services import audit
from server.services.errors import Conflict, Forbidden, NotFound, ValidationError
from server.services.golive import finished_live_recordings
from server.services.recordings.files import relative_path, talk_folder, unguessable_name
from server.services.roles import Actor

CAPTION_LANGUAGES = {"sv": "Svenska", "en": "English"}
TOO_LONG = _l("The video is longer than the limit for imports.")


def require_organiser(actor: Actor) -> None:
    if actor.role is not Role.organiser:
        raise Forbidden(_l("Only an organiser can do that."))


def is_provider_url(url: str) -> bool:
    """YouTube, Vimeo, Twitch or Facebook: a player we can show behind the facade. Anything
    else (a file, a page with a <video>) is always copied: we never hot-link media."""
    try:
        return parse_stream_url(url).kind == "iframe"
    except UnsupportedStreamURL:
        return False


def recording_state(recording: Recording | None) -> dict[str, Any] | None:
    """What the audit keeps of a recording, before and after a change."""
    if recording is None:
        return None
    return {"origin": recording.origin, "source_url": recording.source_url, "file_path": recording.file_path,
            "captions_path": recording.captions_path, "published": recording.is_published}


def clean_chapters(chapters: Any, duration: int | None) -> list[dict[str, Any]] | None:
    """Chapters as a source gave them, kept only where they make sense: a start within the
    video, a short title, in order."""
    if not isinstance(chapters, list):
        return None
    clean = []
    for chapter in chapters:
        try:
            start = max(0.0, float(chapter["start"]))
        except (KeyError, TypeError, ValueError):
            continue
        if duration is not None and start > duration:
            continue
        clean.append({"start": round(start, 3), "title": str(chapter.get("title") or "").strip()[:200]})
    clean.sort(key=lambda c: c["start"])
    return clean or None


def replace_recording(session: Session, talk: Talk, *, action: str, actor: Actor | None, origin: str,
                      file_path: str | None, file_type: str = "", file_size: int | None = None,
                      duration: float | None = None, source_url: str = "", source_title: str = "",
                      chapters: Any = None, thumbnail_path: str | None = None, captions_path: str | None = None,
                      captions_language: str | None = None, uploaded_on: date | None = None,
                      actor_label: str | None = None, actor_role: str | None = None) -> Recording:
    """The talk's video replaced as a whole, whichever way it came (an import, an upload, a live
    broadcast): every field about the video is set anew, a field not given emptied, so nothing
    of the old video (its captions, chapters, thumbnail, date) stays with the new one. Whether it
    is published does not change. Audited as `action`."""
    recording = talk.recording or Recording(talk=talk)
    before = recording_state(talk.recording)
    recording.origin, recording.source_url, recording.source_title = origin, source_url, source_title[:300]
    recording.file_path, recording.file_type, recording.file_size = file_path, file_type, file_size
    recording.duration_seconds = round(duration) if duration else None
    recording.chapters = clean_chapters(chapters, recording.duration_seconds)
    recording.thumbnail_path, recording.captions_path = thumbnail_path, captions_path
    if captions_language is not None:
        recording.captions_language = captions_language[:20]
    recording.uploaded_on = uploaded_on
    session.add(recording)
    session.flush()
    audit.record(session, actor, action, talk=talk, target_type="recording", target_id=recording.id,
                 before=before, after=recording_state(recording), actor_label=actor_label, actor_role=actor_role)
    return recording


# -- uploads ------------------------------------------------------------------------------

def _copy_capped(stream: IO[bytes], target: Path, max_bytes: int) -> int:
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > max_bytes:
                raise ValidationError(_l("The file is larger than the limit of %(megabytes)d MB.",
                                         megabytes=max_bytes // (1024 * 1024)), code="too_large", field="file")
            out.write(chunk)
    return written


@dataclass(frozen=True)
class StoredVideo:
    """An uploaded video copied and checked, not yet the talk's recording."""
    path: Path
    size: int
    probe: dict[str, Any]


def store_uploaded_video(talk: Talk, stream: IO[bytes], *, settings: Settings, actor: Actor) -> StoredVideo:
    """Copies an MP4 or WebM from the organiser and checks it with ffprobe (not by its name or
    type). Writes nothing to the database: the copy of up to gigabytes and the check must run
    before the request's transaction starts, as no other writer could write meanwhile on SQLite.
    Then `record_uploaded_video` makes it the recording, or `discard_stored_video` removes it."""
    require_organiser(actor)
    folder = talk_folder(settings.recordings_path, talk)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".upload-{secrets.token_hex(8)}"
    max_bytes = settings.media.upload_max_megabytes * 1024 * 1024
    try:
        size = _copy_capped(stream, partial, max_bytes)
        if size == 0:
            raise ValidationError(_l("Choose a video file to upload."), code="required", field="file")
        try:
            probe = probe_video(settings.media.ffprobe or "ffprobe", partial)
        except ProbeError:
            raise ValidationError(_l("This file is not an MP4 or WebM video."), code="not_video",
                                  field="file") from None
        if probe["duration"] > settings.media.import_max_duration_seconds:
            raise ValidationError(TOO_LONG, code="too_long", field="file")
        extension = ".mp4" if probe["mime"] == "video/mp4" else ".webm"
        target = folder / unguessable_name("recording", extension)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        importer.remove_empty_folders(folder)
        raise
    return StoredVideo(target, size, probe)


def discard_stored_video(stored: StoredVideo) -> None:
    """A stored video that did not become a recording (its form was a repeat, or refused)."""
    stored.path.unlink(missing_ok=True)
    importer.remove_empty_folders(stored.path.parent)


def save_uploaded_video(session: Session, talk: Talk, stream: IO[bytes], *, settings: Settings,
                        actor: Actor) -> Recording:
    """An MP4 or WebM from the organiser, checked by ffprobe, as the talk's recording (the CLI,
    whose transaction holds no lock yet; a view stores first, then claims, then records)."""
    stored = store_uploaded_video(talk, stream, settings=settings, actor=actor)
    try:
        return record_uploaded_video(session, talk, stored, settings=settings, actor=actor)
    except BaseException:
        discard_stored_video(stored)
        raise


def record_uploaded_video(session: Session, talk: Talk, stored: StoredVideo, *, settings: Settings,
                          actor: Actor) -> Recording:
    """The stored, checked video as the talk's recording; audited."""
    require_organiser(actor)
    probe = stored.probe
    return replace_recording(session, talk, action="recording.upload", actor=actor, origin="upload",
                             file_path=relative_path(settings.recordings_path, stored.path), file_type=probe["mime"],
                             file_size=stored.size, duration=probe["duration"], chapters=probe["chapters"])


# -- captions -----------------------------------------------------------------------------

def save_captions(session: Session, talk: Talk, data: bytes, *, language: Any, settings: Settings,
                  actor: Actor) -> Recording:
    """WebVTT or SRT (converted), stored as our own WebVTT file."""
    require_organiser(actor)
    recording = talk.recording
    if recording is None:
        raise Conflict(_l("Add the video first, then its captions."), code="no_recording")
    if language not in CAPTION_LANGUAGES:
        raise ValidationError(_l("Choose the language of the captions."), code="invalid", field="language")
    if not data:
        raise ValidationError(_l("Choose a captions file to upload."), code="required", field="captions")
    if len(data) > settings.media.captions_max_kilobytes * 1024:
        raise ValidationError(_l("The file is larger than the limit of %(kilobytes)d kB.",
                                 kilobytes=settings.media.captions_max_kilobytes), code="too_large", field="captions")
    try:
        vtt = to_webvtt(data)
    except CaptionsError:
        raise ValidationError(_l("This is not a WebVTT or SRT captions file (no timed captions were found)."),
                              code="not_captions", field="captions") from None
    folder = talk_folder(settings.recordings_path, talk)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / unguessable_name("captions", ".vtt")
    partial = folder / f".{target.name}.partial"
    partial.write_text(vtt, encoding="utf-8")
    os.replace(partial, target)
    before = recording_state(recording)
    recording.captions_path = relative_path(settings.recordings_path, target)
    recording.captions_language = language
    audit.record(session, actor, "recording.captions", talk=talk, target_type="recording", target_id=recording.id,
                 before=before, after=recording_state(recording))
    return recording


# -- a live broadcast's recording ---------------------------------------------------------

def use_live_recording(session: Session, talk: Talk, stream_id: Any, *, actor: Actor) -> Recording:
    """The archive of one of the talk's finished live broadcasts (from the browser or an
    encoder) as its recording."""
    require_organiser(actor)
    stream = next((s for s in finished_live_recordings(session, talk) if s.id == stream_id), None)
    if stream is None:
        raise NotFound(_l("There is no such recording of a live broadcast for this talk."), code="stream_not_found")
    return replace_recording(
        session, talk, action="recording.from_live", actor=actor, origin="golive", file_path=stream.archive_path,
        file_type="video/mp4" if (stream.archive_path or "").endswith(".mp4") else "video/webm",
        duration=stream.duration_seconds)


# -- publishing ---------------------------------------------------------------------------

def set_published(session: Session, talk: Talk, published: bool, *, actor: Actor) -> Recording:
    require_organiser(actor)
    recording = talk.recording
    if recording is None or not (recording.file_path or is_provider_url(recording.source_url)):
        raise Conflict(_l("There is no video to publish yet."), code="no_recording")
    if recording.is_published == published:
        return recording  # pressed twice: nothing changed, so nothing is logged
    before = recording_state(recording)
    if published and recording.published_at is None:
        recording.published_at = utcnow()
    elif not published:
        recording.published_at = None
    audit.record(session, actor, "recording.publish" if published else "recording.unpublish", talk=talk,
                 target_type="recording", target_id=recording.id, before=before, after=recording_state(recording))
    return recording
