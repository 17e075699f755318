"""The import-job engine: a video from a URL becomes a talk's recording.

`start_import` queues a job (the face commits, then runs it in the background);
`execute_import` runs it through the import guard (server/media/importer.py) and commits as it
goes, so the admin page in any server process sees its progress; `cancel_import` asks the
runner to stop; `recover_interrupted` ends jobs whose process is gone. The finished video is
put in place by `edits.replace_recording`, as every other way a video arrives.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import utcnow
from server.i18n import _l
from server.media import importer
from server.models import AuditEntry, ImportJob, JobState, Role, Talk
from server.services import audit
from server.services.audit_actions import with_earlier
from server.services.errors import Conflict, NotFound, ValidationError
from server.services.recordings.edits import TOO_LONG, is_provider_url, replace_recording, require_organiser
from server.services.recordings.files import relative_path, talk_folder, unguessable_name
from server.services.roles import Actor

log = logging.getLogger(__name__)
MAX_URL_LENGTH = 2000
PROGRESS_WRITE_SECONDS = 0.5

# Why an import failed, in words; the job row keeps the code.
JOB_MESSAGES: dict[str, Any] = {
    "not_found": _l("The address gave “not found” (HTTP 404). Check the link and try again."),
    "no_video": _l("There is no video at this address that we can import (no video file, and no video in the page)."),
    "too_large": _l("The video is larger than the limit for imports."),
    "too_long": TOO_LONG,
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
# Audit actions that put a video in place some other way than an import (older rows: their older codes).
RECORDING_REPLACED = with_earlier("recording.upload", "recording.from_live")


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


# -- reading ------------------------------------------------------------------------------

def latest_job(session: Session, talk: Talk) -> ImportJob | None:
    return session.scalars(select(ImportJob).where(ImportJob.talk_id == talk.id)
                           .order_by(ImportJob.id.desc()).limit(1)).first()


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


# -- starting and stopping ----------------------------------------------------------------

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


# -- running ------------------------------------------------------------------------------

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
    moved: list[Path] = []

    def keep(name: str | None, stem: str) -> str | None:
        if not name:
            return None
        source = work / name
        target = folder / unguessable_name(stem, source.suffix)
        os.replace(source, target)
        moved.append(target)
        return relative_path(limits.recordings_path, target)

    try:
        media = keep(result.get("media"), "recording")
        thumbnail = keep(result.get("thumbnail"), "thumbnail")
        captions = keep(result.get("captions"), "captions")
        duration = result.get("duration")
        # The worker finishes what an organiser asked for: recorded in their name.
        replace_recording(
            session, talk, action="recording.imported", actor=None, origin="url", source_url=job.source_url,
            source_title=str(result.get("title") or ""), file_path=media,
            file_size=result.get("size") if media else None, file_type=(result.get("mime") or "") if media else "",
            duration=float(duration) if duration else None, thumbnail_path=thumbnail, captions_path=captions,
            captions_language=str(result.get("captions_language") or "sv"), chapters=result.get("chapters"),
            uploaded_on=_upload_date(result.get("upload_date")), actor_label=job.requested_by,
            actor_role=Role.organiser.value)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise


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
