"""Run one recording import in its own worker process and relay what it says.

The worker (server/media/import_worker.py) does the fetching, guarded; this side starts it,
feeds it the job, turns its JSON lines into callbacks, and stops it at the wall-clock limit
or when the organiser cancels (the whole process group: yt-dlp may have started ffmpeg to
merge). Under eventlet the process is started with eventlet's green subprocess, and its
output is read by a green thread, so an import never blocks the server's other clients.
No database and no Flask here: server/services/recordings/imports.py owns the job row and the files.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from server.config import PROJECT_ROOT

log = logging.getLogger(__name__)
CANCEL_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class ImportSpec:
    url: str
    work_dir: str            # made by the caller; the worker writes only here
    download: bool           # our own copy (archive asked for, or a source we cannot embed)
    allowed_hosts: list[str] = field(default_factory=list)
    max_bytes: int = 4096 * 1024 * 1024
    max_duration: float = 6 * 3600
    socket_timeout: float = 30.0
    ffprobe: str = "ffprobe"


@dataclass
class ImportOutcome:
    ok: bool
    code: str | None = None          # why it failed: a key of JOB_MESSAGES
    detail: str = ""
    result: dict[str, Any] | None = None   # the worker's "done" event
    metadata: dict[str, Any] | None = None


def _subprocess_module() -> Any:
    """eventlet's green subprocess when this process is monkey-patched by it, so waiting
    for the worker yields to the other green threads; otherwise the standard one."""
    if "eventlet" in sys.modules:
        from eventlet import patcher  # noqa: PLC0415  only in a process that runs eventlet

        if patcher.is_monkey_patched("socket"):
            from eventlet.green import subprocess as green_subprocess  # noqa: PLC0415  as above

            return green_subprocess
    return subprocess


def _worker_environment(work_dir: str) -> dict[str, str]:
    # Nothing from ours: no proxy variables, no HOME with a .netrc or yt-dlp config.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": work_dir,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_import(spec: ImportSpec, *, timeout: float, on_event: Callable[[dict[str, Any]], None],
               should_cancel: Callable[[], bool] = lambda: False) -> ImportOutcome:
    """Run the worker to the end, the deadline or a cancel. Events ("metadata", "progress")
    are passed to `on_event` in this thread. The caller removes `spec.work_dir` on failure."""
    popen = _subprocess_module().Popen
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below, once the worker ended
    process = popen(
        [sys.executable, "-m", "server.media.import_worker"], cwd=str(PROJECT_ROOT),
        env=_worker_environment(spec.work_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        start_new_session=True,  # its own process group: a kill reaches ffmpeg too
    )
    process.stdin.write((json.dumps(asdict(spec)) + "\n").encode())
    process.stdin.close()

    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for raw in process.stdout:
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    outcome = ImportOutcome(ok=False, code="download_failed", detail="the worker said nothing")
    deadline = time.monotonic() + timeout
    next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
    stopped: str | None = None
    try:
        while True:
            try:
                raw = lines.get(timeout=0.2)
            except queue.Empty:
                raw = b""
            if raw is None:
                break
            if raw:
                event = _decode(raw)
                if event is None:
                    continue
                kind = event.get("event")
                if kind == "done":
                    outcome = ImportOutcome(ok=True, result=event, metadata=outcome.metadata)
                elif kind == "error":
                    outcome = ImportOutcome(ok=False, code=str(event.get("code") or "download_failed"),
                                            detail=str(event.get("detail") or ""), metadata=outcome.metadata)
                else:
                    if kind == "metadata":
                        outcome.metadata = event
                    on_event(event)
            now = time.monotonic()
            if now > deadline:
                stopped = "timeout"
                break
            if now >= next_cancel_check:
                next_cancel_check = now + CANCEL_CHECK_SECONDS
                if should_cancel():
                    stopped = "cancelled"
                    break
    finally:
        if stopped or process.poll() is None:
            _kill(process)
        process.wait()
        stderr.seek(0)
        tail = stderr.read()[-2000:].decode(errors="replace")
        stderr.close()
    if stopped:
        return ImportOutcome(ok=False, code=stopped, detail=f"stopped: {stopped}", metadata=outcome.metadata)
    if not outcome.ok:
        log.info("import of %s failed (%s): %s\n%s", spec.url, outcome.code, outcome.detail, tail)
    if outcome.ok and process.returncode != 0:
        return ImportOutcome(ok=False, code="download_failed", detail=f"worker exit {process.returncode}")
    return outcome


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _kill(process: Any) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def remove_tree(path: Path) -> None:
    """A failed or cancelled job leaves nothing: its work folder goes, and the talk's folder
    too when that leaves it empty."""
    shutil.rmtree(path, ignore_errors=True)
    remove_empty_folders(path.parent)


def remove_empty_folders(folder: Path) -> None:
    """The talk's folder and then the event's, each only when empty."""
    for candidate in (folder, folder.parent):
        try:
            candidate.rmdir()  # only succeeds when empty
        except OSError:
            break
