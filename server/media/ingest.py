"""ffmpeg for a browser stream: pieces of MediaRecorder output in, HLS and a recording out.

One `Ingest` per live stream. The socket handler only queues a piece (`feed`) and returns;
a worker thread appends it to `source.<webm|mkv>` (the whole input, kept as the recording)
and writes it to ffmpeg's stdin. Under eventlet and gevent, threads and subprocess pipes are
monkey-patched to be cooperative, so a slow ffmpeg never stalls the server's other clients.

ffmpeg copies H.264 (Chromium's MediaRecorder offers it) and transcodes VP8/VP9 only when it
must; audio becomes AAC, which HLS players everywhere take. Segments are short (1 s) so
viewers are a few seconds behind; with the quality ladder (settings.ingest.ladder) the same
ffmpeg also writes a 360p and an audio-only rendition (server/media/hls.py). At the end, ffmpeg
sees its stdin close and writes the last segment; Arena closes the playlists (#EXT-X-ENDLIST)
and the source is remuxed into `recording.mp4` (H.264) or
`recording.webm` (VP8/VP9) with a proper index and duration. If the server process dies,
ffmpeg sees the same end of input; the source file stays, and the next process closes the
playlists and remuxes it (server/sockets/studio.py: orphans).

This module knows nothing of the database or of Socket.IO: it is told where to write and
calls back when something happens.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.media import hls

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # every WebM/Matroska file starts with it
ENDLIST = "#EXT-X-ENDLIST"
MAX_BACKLOG_BYTES = 32 * 1024 * 1024  # ffmpeg this far behind is stuck, not slow
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")

# What each kind of file is, and how long a cache may keep it (public.recording_file, nginx).
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".vtt": "text/vtt",
}


def media_headers(name: str) -> tuple[str | None, str]:
    """(Content-Type, Cache-Control) for a file under recordings/.

    A live playlist changes every second: caches must ask again each time. A segment never
    changes once written (ffmpeg writes it to a temporary name first), so it may be kept."""
    suffix = Path(name).suffix.lower()
    if suffix == ".m3u8":
        return MEDIA_TYPES[suffix], "no-cache"
    if suffix in (".ts", ".m4s"):
        return MEDIA_TYPES[suffix], "public, max-age=86400, immutable"
    return MEDIA_TYPES.get(suffix), "public, max-age=3600"


def is_private(name: str) -> bool:
    """Working files of a stream are never served, under any name: the raw input (`source.*`
    from the browser, `source-<n>.mkv` per RTMP session), the list of those parts
    (`parts.txt`) and ffmpeg's logs."""
    parts = Path(name).parts
    if "archive" not in parts:
        return False
    last = parts[-1]
    return last == "parts.txt" or last.endswith(".log") or last.startswith(("source.", "source-"))


def ffmpeg_binary(configured: str = "") -> str | None:
    """The configured ffmpeg, else Debian's on PATH (make run installs it); None: neither."""
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    return shutil.which("ffmpeg")


def hls_command(ffmpeg: str, directory: Path, codec: str, segment_seconds: int, *, ladder: bool = False,
                preset: str = "veryfast", audio: bool = True) -> list[str]:
    """ffmpeg reading the browser's WebM/Matroska from stdin, writing HLS (server/media/hls.py)."""
    return [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning",
        # Start from the first bytes: no waiting to fill probe buffers. (+nobuffer only for
        # a copy: it makes ffmpeg 5.1 misparse VP8 from Matroska and drop frames.)
        "-fflags", "+nobuffer+genpts" if codec == "h264" else "+genpts",
        "-probesize", "65536", "-analyzeduration", "500000",
        "-f", "matroska", "-i", "pipe:0",
        *hls.output_args(directory, copy_video=codec == "h264", ladder=ladder, segment_seconds=segment_seconds,
                         preset=preset, audio=audio),
    ]


# Matroska's first Cluster follows the header (EBML, Segment info, Tracks): once its id has
# arrived, the Tracks are whole. MediaRecorder's first slice holds both.
_CLUSTER_ID = b"\x1f\x43\xb6\x75"
_MAX_HEADER_BYTES = 1024 * 1024  # a header is a few hundred bytes: beyond this, start anyway
_AUDIO_CODEC_IDS = (b"A_OPUS", b"A_VORBIS", b"A_AAC", b"A_MPEG", b"A_PCM", b"A_FLAC")


def header_complete(head: bytes) -> bool:
    return _CLUSTER_ID in head or len(head) >= _MAX_HEADER_BYTES


def has_audio_track(head: bytes) -> bool:
    """Does the input's header list a sound track? A speaker without a microphone sends
    video only, and the ladder's audio-only rendition then has nothing to carry."""
    header = head.split(_CLUSTER_ID, 1)[0]
    return any(codec in header for codec in _AUDIO_CODEC_IDS)


def archive_command(ffmpeg: str, source: Path, target: Path, codec: str) -> list[str]:
    # The whole input, with an index and a duration MediaRecorder never writes. H.264 keeps
    # its video as sent; Opus becomes AAC so the MP4 plays in every browser.
    audio = ["-c:a", "aac", "-b:a", "128k"] if codec == "h264" else ["-c:a", "copy"]
    return [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error", "-y", "-fflags", "+genpts",
            "-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy", *audio,
            *(["-movflags", "+faststart"] if target.suffix == ".mp4" else []), str(target)]


def probe_duration(ffmpeg: str, path: Path) -> float | None:
    """The container's duration, read by ffmpeg itself (the one binary go-live needs)."""
    result = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=60)
    match = _DURATION.search(result.stderr)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def close_playlist(directory: Path) -> None:
    """The stream is over: every media playlist (one, or each rendition of the ladder) gets its
    end mark, so players treat it as a finished video instead of waiting for more."""
    hls.close_playlists(directory)


@dataclass
class Archive:
    path: Path | None           # the recording file, or None when nothing usable arrived
    duration_seconds: float | None


def make_archive(ffmpeg: str, work_dir: Path, codec: str) -> Archive:
    """Remux the whole input into the recording; keep the source if remuxing fails."""
    source = source_path(work_dir, codec)
    if not source.exists() or source.stat().st_size == 0:
        return Archive(None, None)
    target = work_dir / ("recording.mp4" if codec == "h264" else "recording.webm")
    result = subprocess.run(archive_command(ffmpeg, source, target, codec), capture_output=True, text=True,
                            timeout=3600)
    duration = probe_duration(ffmpeg, target) if result.returncode == 0 and target.exists() else None
    if duration is None:
        log.warning("remuxing %s failed (%s); the source file is kept as the recording", source,
                    result.stderr.strip()[-500:])
        return Archive(source, probe_duration(ffmpeg, source))
    source.unlink()  # the recording holds all of it now
    return Archive(target, duration)


def source_path(work_dir: Path, codec: str) -> Path:
    return work_dir / ("source.mkv" if codec == "h264" else "source.webm")


class IngestError(Exception):
    pass


class Ingest:
    """ffmpeg for one stream. `feed` from the socket handler; everything slow in a worker."""

    def __init__(self, ffmpeg: str, directory: Path, work_dir: Path, codec: str, segment_seconds: int, *,
                 on_ready: Callable[[], None], on_failed: Callable[[str], None], ladder: bool = False,
                 preset: str = "veryfast") -> None:
        # directory: the public HLS; work_dir: the source, ffmpeg's log and the recording.
        # ladder: source, 360p and audio only under a master playlist (server/media/hls.py).
        self.ffmpeg, self.directory, self.work_dir, self.codec = ffmpeg, directory, work_dir, codec
        self.segment_seconds = segment_seconds
        self.ladder, self.preset = ladder, preset
        self._on_ready, self._on_failed = on_ready, on_failed
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._backlog = 0
        self._lock = threading.Lock()
        self.ready = False      # the first segment and playlist exist
        self.failed = False
        self.closed = False
        self.bytes_received = 0
        self.started = time.monotonic()
        self.process: subprocess.Popen | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Ready to take pieces. ffmpeg itself starts with the first piece that ends the
        input's header (`_launch`): whether the stream has sound decides its renditions."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not (Path(self.ffmpeg).exists() or shutil.which(self.ffmpeg)):
            raise IngestError(f"no ffmpeg at {self.ffmpeg}")
        self._worker = threading.Thread(target=self._run, name=f"ingest:{self.directory.name}", daemon=True)
        self._worker.start()

    def _launch(self, head: bytes) -> None:
        audio = has_audio_track(head)
        log_file = (self.work_dir / "ffmpeg.log").open("ab")
        try:
            self.process = subprocess.Popen(hls_command(self.ffmpeg, self.directory, self.codec,
                                                        self.segment_seconds, ladder=self.ladder,
                                                        preset=self.preset, audio=audio),
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log_file)
        except OSError as error:
            raise IngestError(str(error)) from error
        finally:
            log_file.close()

    def feed(self, data: bytes) -> None:
        """Queue one piece, in order. Raises IngestError when ffmpeg is gone or stuck."""
        if self.failed or self.closed:
            raise IngestError("the stream is not running")
        with self._lock:
            if self._backlog + len(data) > MAX_BACKLOG_BYTES:
                raise IngestError("ffmpeg is not keeping up")
            self._backlog += len(data)
        self.bytes_received += len(data)
        self._queue.put(data)

    def finish(self) -> None:
        """No more input: ffmpeg writes the last segment and closes the playlist."""
        if not self.closed:
            self.closed = True
            self._queue.put(None)

    def wait(self, timeout: float = 60) -> None:
        """Until ffmpeg has finished (after `finish`), then close the playlists (ffmpeg leaves them
        open: server/media/hls.py)."""
        if self._worker is not None:
            self._worker.join(timeout)
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        close_playlist(self.directory)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _run(self) -> None:
        source = source_path(self.work_dir, self.codec).open("ab")
        head = b""  # the input until its header is whole: ffmpeg starts then
        try:
            while True:
                data = self._queue.get()
                if data is None:
                    break
                with self._lock:
                    self._backlog -= len(data)
                source.write(data)
                source.flush()
                if self.process is None:
                    head += data
                    if not header_complete(head):
                        continue
                    data, head = head, b""
                    try:
                        self._launch(data)
                    except IngestError as error:
                        self._fail(f"ffmpeg did not start: {error}")
                        return
                assert self.process.stdin is not None  # noqa: S101  Popen(stdin=PIPE): for the type checker
                try:
                    self.process.stdin.write(data)
                    self.process.stdin.flush()
                except (BrokenPipeError, ValueError, OSError):
                    self._fail("ffmpeg stopped")
                    return
                if not self.ready and hls.ready(self.directory, self.ladder):
                    self.ready = True
                    self._tell_ready()
            if self.process is None and head:
                self._launch(head)  # a stream shorter than its header: what there is
                assert self.process.stdin is not None  # noqa: S101  Popen(stdin=PIPE): for the type checker
                try:
                    self.process.stdin.write(head)
                except (BrokenPipeError, ValueError, OSError):
                    pass
            if self.process is None:
                return  # nothing came
            # End of input: ffmpeg finishes the last segment (`wait` then closes the playlists).
            try:
                self.process.stdin.close()
            except OSError:
                pass
            self.process.wait()
        except Exception:
            log.exception("ingest worker failed")
            self._fail("ingest failed")
        finally:
            source.close()

    def _fail(self, reason: str) -> None:
        if self.failed:
            return
        self.failed = True
        self.closed = True
        self._queue.put(None)  # a worker waiting for input stops
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        log.warning("live stream in %s failed: %s (%s)", self.directory, reason,
                    _tail(self.work_dir / "ffmpeg.log"))
        self._on_failed(reason)

    def check_alive(self) -> bool:
        """Called by the ticker: ffmpeg may die while no piece arrives (a reconnect wait)."""
        if not self.failed and not self.closed and self.process is not None and self.process.poll() is not None:
            self._fail(f"ffmpeg exited with {self.process.returncode}")
        return not self.failed

    def check_ready(self) -> bool:
        """Called by the ticker: the first playlist can appear after the last piece of a burst."""
        if not self.ready and not self.failed and hls.ready(self.directory, self.ladder):
            self.ready = True
            self._tell_ready()
        return self.ready

    def _tell_ready(self) -> None:
        # A failure to tell (the database, a socket) must not stop the stream itself.
        try:
            self._on_ready()
        except Exception:
            log.exception("telling that the stream in %s is ready failed", self.directory)


def _tail(path: Path, size: int = 400) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
