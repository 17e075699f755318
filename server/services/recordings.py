"""A talk's recording: import from a URL, upload, the go-live archive, captions, publishing.

Functions over a Session and plain values, like every service: they validate first, raise
ServiceError with words in the user's language, write an audit entry for every organiser
action, and never commit, except `execute_import`, which IS the background job: it runs
outside any request, owns its job row and commits each step so that the admin page (in any
server process) sees progress from the database.

Files live in <recordings_dir>/<event slug>/<talk slug>/ under names this module makes
from a random token (`recording-<token>.mp4`, `captions-<token>.vtt`, `thumbnail-<token>.jpg`,
`unguessable_name`), never from an id, so nobody finds a file before it is published by
counting. Work in progress lives in a folder whose name starts with a dot, which
public.recording_file never serves, and is renamed into place only when complete.
`file_access` says who may fetch a file: the public only what a published event shows.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import utcnow
from server.i18n import _l
from server.media import importer
from server.media.captions import CaptionsError, to_webvtt
from server.media.embeds import UnsupportedStreamURL, parse_stream_url
from server.media.probe import ProbeError, probe_video
from server.media.uploads import UPLOADS_FOLDER
from server.models import (
    AuditEntry, Event, EventStatus, ImportJob, JobState, LiveStream, Recording, Role, Speaker, Talk,
)
from server.services import audit
from server.services.audit_actions import with_earlier
from server.services.errors import Conflict, Forbidden, NotFound, ValidationError
from server.services.roles import Actor

log = logging.getLogger(__name__)
MAX_URL_LENGTH = 2000
PROGRESS_WRITE_SECONDS = 0.5
# A live stream's HLS stays public this long after it ends: viewers a few seconds behind
# play to the closed playlist's end (static/js/stage.js). Then only its publishers see it.
LIVE_HLS_GRACE = timedelta(minutes=10)
CAPTION_LANGUAGES = {"sv": "Svenska", "en": "English"}

# Why an import failed, in words; the job row keeps the code.
JOB_MESSAGES: dict[str, Any] = {
    "not_found": _l("The address gave “not found” (HTTP 404). Check the link and try again."),
    "no_video": _l("There is no video at this address that we can import (no video file, and no video in the page)."),
    "too_large": _l("The video is larger than the limit for imports."),
    "too_long": _l("The video is longer than the limit for imports."),
    "private_address": _l("The address leads into a private network (or to this server), so it was not fetched. "
                          "An administrator can allow a trusted host in the settings."),
    "scheme_refused": _l("Only web addresses that start with http:// or https:// can be imported."),
    "bad_url": _l("This is not a web address we can import."),
    "unresolvable": _l("The host name of the address could not be found."),
    "unreachable": _l("The site did not answer in time."),
    "timeout": _l("The import took longer than the time limit and was stopped."),
    "cancelled": _l("The import was cancelled."),
    "live_refused": _l("This is a live stream. Import the recording once the broadcast has ended."),
    "forbidden": _l("The site refused access to the video (it may be private or need a sign-in)."),
    "interrupted": _l("The import was interrupted when the server restarted. Start it again."),
    "download_failed": _l("The video could not be imported. Try again, or upload the file instead."),
    "internal": _l("Something went wrong on our side. Please try again in a moment."),
}
JOB_STATE_TEXT: dict[JobState, Any] = {
    JobState.queued: _l("Waiting to start…"),
    JobState.running: _l("Importing…"),
    JobState.succeeded: _l("Imported."),
}


@dataclass(frozen=True)
class ImportLimits:
    allowed_hosts: list[str]
    max_bytes: int
    max_duration: float
    timeout: float
    ffprobe: str
    recordings_path: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportLimits:
        media = settings.media
        return cls(allowed_hosts=list(media.import_allowed_hosts), max_bytes=media.import_max_megabytes * 1024 * 1024,
                   max_duration=float(media.import_max_duration_seconds), timeout=float(media.import_timeout_seconds),
                   ffprobe=media.ffprobe or "ffprobe", recordings_path=settings.recordings_path)


def require_organiser(actor: Actor) -> None:
    if actor.role is not Role.organiser:
        raise Forbidden(_l("Only an organiser can do that."))


def talk_folder(recordings_path: Path, talk: Talk) -> Path:
    # Slugs are checked against SLUG_PATTERN when they are made: safe as folder names.
    return recordings_path / talk.event.slug / talk.slug


def unguessable_name(stem: str, suffix: str) -> str:
    """`recording-<22 random characters>.mp4`: 128 random bits, nothing derived from an id."""
    return f"{stem}-{secrets.token_urlsafe(16)}{suffix}"


def _relative(recordings_path: Path, path: Path) -> str:
    return path.relative_to(recordings_path).as_posix()


def _recording_state(recording: Recording | None) -> dict[str, Any] | None:
    if recording is None:
        return None
    return {"origin": recording.origin, "source_url": recording.source_url, "file_path": recording.file_path,
            "captions_path": recording.captions_path, "published": recording.is_published}


def is_provider_url(url: str) -> bool:
    """YouTube, Vimeo, Twitch or Facebook: a player we can show behind the facade. Anything
    else (a file, a page with a <video>) is always copied: we never hot-link media."""
    try:
        return parse_stream_url(url).kind == "iframe"
    except UnsupportedStreamURL:
        return False


# -- reading ------------------------------------------------------------------------------

def latest_job(session: Session, talk: Talk) -> ImportJob | None:
    return session.scalars(select(ImportJob).where(ImportJob.talk_id == talk.id)
                           .order_by(ImportJob.id.desc()).limit(1)).first()


# Audit actions that put a video in place some other way than an import (older rows: their older codes).
RECORDING_REPLACED = with_earlier("recording.upload", "recording.from_live")


def job_to_show(session: Session, talk: Talk) -> ImportJob | None:
    """The import the admin page shows: the latest, except a failed or cancelled one after
    which a video came another way (an upload, a live broadcast's recording): its error
    would only mislead then. The job's row stays, as a record."""
    job = latest_job(session, talk)
    if job is None or job.state not in (JobState.failed, JobState.cancelled):
        return job
    replaced = session.scalar(select(AuditEntry.id).where(
        AuditEntry.talk_id == talk.id, AuditEntry.action.in_(RECORDING_REPLACED),
        AuditEntry.created_at >= (job.finished_at or job.created_at)).limit(1))
    return None if replaced is not None else job


def job_view(job: ImportJob) -> dict[str, Any]:
    """What the admin's progress bar shows, over Socket.IO and in the page."""
    if job.state in (JobState.failed, JobState.cancelled):
        message = JOB_MESSAGES.get(job.error_code or "", JOB_MESSAGES["download_failed"])
    else:
        message = JOB_STATE_TEXT[job.state]
    return {"job_id": job.id, "talk_id": job.talk_id, "state": job.state.value, "percent": job.percent,
            "downloaded_bytes": job.downloaded_bytes, "total_bytes": job.total_bytes,
            "error": job.error_code, "message": str(message), "finished": job.state.is_finished}


@dataclass(frozen=True)
class FileAccess:
    """Who may fetch a file under the recordings folder: everyone (`public`), or only the
    organisers and the speakers of `talk` (None: organisers only)."""

    public: bool
    talk: Talk | None = None


def file_access(session: Session, name: str, now: datetime) -> FileAccess:
    """`name` is relative to the recordings folder, normalised as it will be served.

    Public: a published event's talk's published recording, its captions and thumbnail;
    a published event's slides and speaker photos; and a published event's live HLS while
    the stream is on (and LIVE_HLS_GRACE after). Everything else (drafts, unpublished or
    replaced recordings, go-live archives, files nothing refers to) only to organisers and,
    for a talk's own files, its speaker."""
    from server.media.uploads import UPLOADS_FOLDER

    def published(event: Event) -> bool:
        return event.status is EventStatus.published

    if name.startswith(UPLOADS_FOLDER + "/"):
        talk = session.scalars(select(Talk).where(Talk.slides_file == name).limit(1)).first()
        if talk is not None:
            return FileAccess(published(talk.event), talk)
        speaker = session.scalars(select(Speaker).where(Speaker.photo_path == name).limit(1)).first()
        return FileAccess(speaker is not None and published(speaker.event))
    recording = session.scalars(select(Recording).where(
        (Recording.file_path == name) | (Recording.captions_path == name) | (Recording.thumbnail_path == name))
        .limit(1)).first()
    if recording is not None and recording.is_published and published(recording.talk.event):
        return FileAccess(True, recording.talk)
    folder = name.rpartition("/")[0]
    stream = session.scalars(select(LiveStream).where(
        (LiveStream.directory == folder) | (LiveStream.archive_directory == folder)).limit(1)).first()
    if stream is not None and stream.directory == folder and published(stream.talk.event):
        on_now = stream.is_active or (stream.ended_at is not None and stream.ended_at >= now - LIVE_HLS_GRACE)
        return FileAccess(on_now, stream.talk)
    talk = recording.talk if recording is not None else stream.talk if stream is not None else None
    return FileAccess(False, talk)


def published_recordings(event: Event) -> list[Talk]:
    """The event's talks with a published recording, in programme order."""
    return [talk for talk in event.talks if talk.recording is not None and talk.recording.is_published]


def moment(seconds: float) -> str:
    """12 m 30 s -> "12m30s": the fragment of a deep link (#t=12m30s)."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs}s"


def clock(seconds: float | None) -> str:
    """Shown beside a chapter: 1:02:03 or 12:30."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- importing from a URL -----------------------------------------------------------------

def clean_source_url(value: Any) -> str:
    url = value.strip() if isinstance(value, str) else ""
    if not url:
        raise ValidationError(_l("Please fill in this field."), code="required", field="url")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(_l("At most %(count)d characters.", count=MAX_URL_LENGTH), code="too_long", field="url")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise ValidationError(JOB_MESSAGES["scheme_refused"], code="scheme_refused", field="url")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError(JOB_MESSAGES["bad_url"], code="bad_url", field="url")
    return url


def start_import(session: Session, talk: Talk, url: Any, *, archive: bool, actor: Actor) -> ImportJob:
    """A queued job; the face commits, then starts `execute_import` in the background."""
    require_organiser(actor)
    source = clean_source_url(url)
    running = session.scalars(select(ImportJob).where(
        ImportJob.talk_id == talk.id, ImportJob.state.in_((JobState.queued, JobState.running)))).first()
    if running is not None:
        raise Conflict(_l("An import for this talk is already running. Wait for it, or cancel it."),
                       code="import_running")
    job = ImportJob(talk_id=talk.id, source_url=source, archive=bool(archive), requested_by=actor.label[:120],
                    state=JobState.queued)
    session.add(job)
    session.flush()
    audit.record(session, actor, "recording.import", talk=talk, target_type="import_job", target_id=job.id,
                 after={"source_url": source, "archive": bool(archive)})
    return job


def cancel_import(session: Session, job: ImportJob, actor: Actor) -> None:
    require_organiser(actor)
    if job.state.is_finished:
        raise Conflict(_l("This import has already ended."), code="import_finished")
    before = job.state.value
    # The process running it sees the flag within a second, stops the worker and cleans up.
    # A job that has not started yet ends here, but only if it is still queued at this very
    # UPDATE: a background task may be claiming it at the same moment (execute_import), and
    # a running job must be ended by its runner, after its files are gone.
    session.execute(update(ImportJob).where(ImportJob.id == job.id).values(cancel_requested=True))
    session.execute(update(ImportJob).where(ImportJob.id == job.id, ImportJob.state == JobState.queued)
                    .values(state=JobState.cancelled, error_code="cancelled", finished_at=utcnow()))
    session.refresh(job)
    audit.record(session, actor, "recording.import_cancel", talk=job.talk, target_type="import_job",
                 target_id=job.id, before={"state": before}, after={"cancel_requested": True})


def execute_import(session: Session, job_id: int, limits: ImportLimits,
                   notify: Callable[[dict[str, Any]], None] = lambda view: None) -> ImportJob:
    """Run a queued job to its end: the background task (server/sockets/admin.py) and the
    command line call this. Commits as it goes; `notify` gets job_view() after each step."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(_l("There is no such import."), code="import_not_found")
    claimed = session.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.state == JobState.queued)
                              .values(state=JobState.running, started_at=utcnow(),
                                      process_id=f"{os.uname().nodename}:{os.getpid()}"[:100]))
    session.commit()
    session.refresh(job)
    if claimed.rowcount != 1:
        return job  # cancelled before it started, or another process has it
    notify(job_view(job))
    talk = job.talk
    folder = talk_folder(limits.recordings_path, talk)
    work = folder / f".import-{job.id}"
    last_write = 0.0

    def on_event(event: dict[str, Any]) -> None:
        nonlocal last_write
        if event.get("event") != "progress":
            return
        job.downloaded_bytes = int(event.get("downloaded") or 0)
        job.total_bytes = int(event["total"]) if event.get("total") else None
        job.percent = max(0, min(99, int(event.get("percent") or 0)))
        now = time.monotonic()
        if now - last_write >= PROGRESS_WRITE_SECONDS:
            last_write = now
            session.commit()
            notify(job_view(job))

    def should_cancel() -> bool:
        session.commit()  # end the transaction: see what other processes wrote
        return bool(session.scalar(select(ImportJob.cancel_requested).where(ImportJob.id == job.id)))

    try:
        work.mkdir(parents=True, exist_ok=True)
        spec = importer.ImportSpec(
            url=job.source_url, work_dir=str(work), download=job.archive or not is_provider_url(job.source_url),
            allowed_hosts=limits.allowed_hosts, max_bytes=limits.max_bytes, max_duration=limits.max_duration,
            socket_timeout=min(30.0, limits.timeout), ffprobe=limits.ffprobe)
        outcome = importer.run_import(spec, timeout=limits.timeout, on_event=on_event, should_cancel=should_cancel)
        if outcome.ok and outcome.result is not None:
            _keep_import(session, job, talk, work, folder, outcome.result, limits)
            job.state, job.percent, job.finished_at = JobState.succeeded, 100, utcnow()
        else:
            job.state = JobState.cancelled if outcome.code == "cancelled" else JobState.failed
            job.error_code, job.error_detail = outcome.code, outcome.detail[:500]
            job.finished_at = utcnow()
        # Files first, then the row: whoever sees the job finished sees its folder gone.
        importer.remove_tree(work)
        session.commit()
    except Exception as exc:
        log.exception("import job %s failed", job_id)
        session.rollback()
        importer.remove_tree(work)
        job = session.get(ImportJob, job_id)
        job.state, job.error_code, job.error_detail = JobState.failed, "internal", repr(exc)[:500]
        job.finished_at = utcnow()
        session.commit()
    finally:
        importer.remove_tree(work)  # also when this task itself is stopped; idempotent
    notify(job_view(job))
    return job


def _keep_import(session: Session, job: ImportJob, talk: Talk, work: Path, folder: Path,
                 result: dict[str, Any], limits: ImportLimits) -> None:
    """Move the worker's checked files to their final names and point the Recording at them."""
    base = limits.recordings_path
    moved: list[Path] = []

    def keep(name: str | None, stem: str) -> str | None:
        if not name:
            return None
        source = work / name
        target = folder / unguessable_name(stem, source.suffix)
        os.replace(source, target)
        moved.append(target)
        return _relative(base, target)

    try:
        media = keep(result.get("media"), "recording")
        thumbnail = keep(result.get("thumbnail"), "thumbnail")
        captions = keep(result.get("captions"), "captions")
        recording = talk.recording or Recording(talk=talk)
        before = _recording_state(talk.recording)
        recording.origin = "url"
        recording.source_url = job.source_url
        recording.source_title = str(result.get("title") or "")[:300]
        recording.file_path = media
        recording.file_size = result.get("size") if media else None
        recording.file_type = (result.get("mime") or "") if media else ""
        duration = result.get("duration")
        recording.duration_seconds = round(float(duration)) if duration else None
        recording.thumbnail_path = thumbnail
        recording.captions_path = captions
        recording.captions_language = str(result.get("captions_language") or "sv")[:20]
        recording.chapters = _clean_chapters(result.get("chapters"), recording.duration_seconds)
        recording.uploaded_on = _upload_date(result.get("upload_date"))
        session.add(recording)
        session.flush()
        # The worker finishes what an organiser asked for: recorded in their name.
        audit.record(session, None, "recording.imported", talk=talk, target_type="recording",
                     target_id=recording.id, before=before, after=_recording_state(recording),
                     actor_label=job.requested_by, actor_role=Role.organiser.value)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise


def _clean_chapters(chapters: Any, duration: int | None) -> list[dict[str, Any]] | None:
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


def _upload_date(value: Any) -> date | None:
    try:
        return datetime.strptime(str(value), "%Y%m%d").date() if value else None
    except ValueError:
        return None


def recover_interrupted(session: Session, recordings_path: Path) -> int:
    """Jobs whose process on this machine is gone (a restart, a crash) are marked
    interrupted and their work folders removed. Called when the admin page is shown."""
    host = os.uname().nodename
    count = 0
    for job in session.scalars(select(ImportJob).where(ImportJob.state == JobState.running)):
        job_host, _, pid = job.process_id.rpartition(":")
        if job_host != host or not pid.isdigit() or _process_alive(int(pid)):
            continue
        job.state, job.error_code, job.finished_at = JobState.failed, "interrupted", utcnow()
        importer.remove_tree(talk_folder(recordings_path, job.talk) / f".import-{job.id}")
        count += 1
    return count


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            raise ValidationError(_l("This file is not an MP4 or WebM video."), code="not_video", field="file") from None
        if probe["duration"] > settings.media.import_max_duration_seconds:
            raise ValidationError(JOB_MESSAGES["too_long"], code="too_long", field="file")
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
    recording = talk.recording or Recording(talk=talk)
    before = _recording_state(talk.recording)
    recording.origin, recording.source_url, recording.source_title = "upload", "", ""
    recording.file_path = _relative(settings.recordings_path, stored.path)
    recording.file_size, recording.file_type = stored.size, probe["mime"]
    recording.duration_seconds = round(probe["duration"]) if probe["duration"] else None
    recording.chapters = _clean_chapters(probe["chapters"], recording.duration_seconds)
    recording.thumbnail_path, recording.captions_path, recording.uploaded_on = None, None, None
    session.add(recording)
    session.flush()
    audit.record(session, actor, "recording.upload", talk=talk, target_type="recording", target_id=recording.id,
                 before=before, after=_recording_state(recording))
    return recording


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
    before = _recording_state(recording)
    recording.captions_path = _relative(settings.recordings_path, target)
    recording.captions_language = language
    audit.record(session, actor, "recording.captions", talk=talk, target_type="recording", target_id=recording.id,
                 before=before, after=_recording_state(recording))
    return recording


def use_live_recording(session: Session, talk: Talk, stream_id: Any, *, actor: Actor) -> Recording:
    """The archive of one of the talk's finished browser streams (issue 6) as its recording."""
    require_organiser(actor)
    from server.services.golive import finished_live_recordings

    stream = next((s for s in finished_live_recordings(session, talk) if s.id == stream_id), None)
    if stream is None:
        raise NotFound(_l("There is no such recording of a live broadcast for this talk."), code="stream_not_found")
    recording = talk.recording or Recording(talk=talk)
    before = _recording_state(talk.recording)
    recording.origin, recording.source_url, recording.source_title = "golive", "", ""
    recording.file_path = stream.archive_path
    recording.file_type = "video/mp4" if (stream.archive_path or "").endswith(".mp4") else "video/webm"
    recording.file_size = None
    recording.duration_seconds = round(stream.duration_seconds) if stream.duration_seconds else None
    recording.chapters, recording.thumbnail_path, recording.captions_path = None, None, None
    session.add(recording)
    session.flush()
    audit.record(session, actor, "recording.from_live", talk=talk, target_type="recording", target_id=recording.id,
                 before=before, after=_recording_state(recording))
    return recording


def live_recordings(session: Session, talk: Talk) -> list[Any]:
    """What go-live (issue 6) offers for this talk; empty when go-live is not installed."""
    try:
        from server.services.golive import finished_live_recordings
    except ImportError:
        return []
    return finished_live_recordings(session, talk)


# -- publishing ---------------------------------------------------------------------------

def set_published(session: Session, talk: Talk, published: bool, *, actor: Actor) -> Recording:
    require_organiser(actor)
    recording = talk.recording
    if recording is None or not (recording.file_path or is_provider_url(recording.source_url)):
        raise Conflict(_l("There is no video to publish yet."), code="no_recording")
    if recording.is_published == published:
        return recording  # pressed twice: nothing changed, so nothing is logged
    before = _recording_state(recording)
    if published and recording.published_at is None:
        recording.published_at = utcnow()
    elif not published:
        recording.published_at = None
    audit.record(session, actor, "recording.publish" if published else "recording.unpublish", talk=talk,
                 target_type="recording", target_id=recording.id, before=before, after=_recording_state(recording))
    return recording


def file_size(recordings_path: Path, recording: Recording) -> int | None:
    if recording.file_size:
        return recording.file_size
    if recording.file_path:
        try:
            return (recordings_path / recording.file_path).stat().st_size
        except OSError:
            return None
    return None
