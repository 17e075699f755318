"""ffmpeg for an RTMP stream: a venue's encoder publishes to nginx-rtmp, and one
ffmpeg per publish session reads it back on loopback.

Each ffmpeg writes two outputs from one input: the HLS viewers play (server/media/hls.py:
the source copied when it is H.264, the ladder when configured) and a copy of the whole
input as it arrived, `source-<n>.mkv` in the stream's archive folder. An encoder that
reconnects within the wait continues the same stream: a new ffmpeg appends to the HLS (with a
discontinuity) and writes the next part, `source-<n+1>.mkv`. When the stream is over, every
part is joined into `recording.mp4` (H.264 video, AAC audio, the index at the front).

This module knows nothing of the database, nginx's callbacks or Socket.IO: the studio
(server/sockets/studio.py) tells it where to read and write, and asks whether it runs.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from server.media import hls
from server.media.ingest import Archive, probe_duration
from server.media.simulcast import _die_with_arena as die_with_arena

log = logging.getLogger(__name__)

# How nginx-rtmp names the video codec of a publisher (ngx_rtmp_codec_module), compared
# without case or punctuation. H.264 is copied; the older Flash codecs are decoded by ffmpeg
# and transcoded to H.264; anything else (JPEG, a codec nginx-rtmp does not know) is refused.
COPY_CODECS = frozenset({"h264", "avc", "avc1"})
TRANSCODE_CODECS = frozenset({"sorensonh263", "flv1", "h263", "screenvideo", "screenvideo2", "on2vp6", "vp6",
                              "on2vp6alpha", "vp6a"})
_PART = re.compile(r"^source-(\d+)\.mkv$")
# A publisher that sent this much without nginx recognising any video sends something, just
# not a picture we can use (only audio, an unknown codec): past the RTMP handshake and commands.
SENT_SOMETHING_BYTES = 64 * 1024
# An ffmpeg that does not stop by itself this long after its input ended is interrupted
# (it then writes its outputs' ends), and killed if that does not help either.
STOP_SECONDS = 10.0


def codec_key(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def video_decision(codec: str | None) -> str:
    """"copy", "transcode" or "refuse" for the video codec nginx-rtmp reports ("" when none yet)."""
    key = codec_key(codec)
    if key in COPY_CODECS:
        return "copy"
    if key in TRANSCODE_CODECS:
        return "transcode"
    return "refuse"


def part_path(work_dir: Path, number: int) -> Path:
    return work_dir / f"source-{int(number)}.mkv"


def parts(work_dir: Path) -> list[Path]:
    """The stream's source parts, in the order they were written."""
    if not work_dir.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in work_dir.iterdir() if (match := _PART.match(path.name))]
    return [path for _, path in sorted(found)]


def part_command(ffmpeg: str, url: str, directory: Path, source: Path, *, copy_video: bool, ladder: bool,
                 segment_seconds: int, preset: str, append: bool, audio: bool = True) -> list[str]:
    """One publish session: the RTMP stream in, the HLS and a copy of the input out.
    audio=False (the encoder sends no sound): the HLS gets silence instead, so the renditions
    stay the same across parts and an audio-only viewer's playlist goes on growing."""
    silence = [] if audio else ["-re", "-f", "lavfi", "-i", "anullsrc=channel_layout=mono:sample_rate=48000"]
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
        # nginx already holds the stream's first keyframe and metadata: read from the start
        # without waiting long for streams that never come (an encoder sending no audio).
        "-fflags", "+genpts", "-analyzeduration", "3000000", "-probesize", "2000000",
        "-i", url, *silence,
        *hls.output_args(directory, copy_video=copy_video, ladder=ladder, segment_seconds=segment_seconds,
                         preset=preset, append=append, audio=True, audio_input=0 if audio else 1),
        # The whole input as it came, for the recording: never re-encoded, never cut.
        "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-f", "matroska", str(source),
    ]


class RtmpIngestError(Exception):
    pass


class RtmpPart:
    """ffmpeg for one publish session of an RTMP stream."""

    def __init__(self, ffmpeg: str, url: str, directory: Path, work_dir: Path, number: int, *, copy_video: bool,
                 ladder: bool, segment_seconds: int, preset: str, append: bool, audio: bool = True) -> None:
        self.ffmpeg, self.url, self.directory, self.work_dir = ffmpeg, url, directory, work_dir
        self.number, self.copy_video, self.ladder = number, copy_video, ladder
        self.segment_seconds, self.preset, self.append, self.audio = segment_seconds, preset, append, audio
        self.source = part_path(work_dir, number)
        self.process: subprocess.Popen | None = None
        self.started = time.monotonic()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        command = part_command(self.ffmpeg, self.url, self.directory, self.source, copy_video=self.copy_video,
                               ladder=self.ladder, segment_seconds=self.segment_seconds, preset=self.preset,
                               append=self.append, audio=self.audio)
        with (self.work_dir / "ffmpeg.log").open("ab") as log_file:
            log_file.write(f"-- part {self.number} --\n".encode())
            log_file.flush()
            try:
                # The kernel ends ffmpeg with Arena, however Arena ends: an orphan's ffmpeg
                # would otherwise write its part while another process joins the parts.
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=log_file, preexec_fn=die_with_arena())
            except OSError as error:
                raise RtmpIngestError(str(error)) from error

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def ready(self) -> bool:
        """The first segment is listed: viewers can start."""
        return hls.ready(self.directory, self.ladder)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Wait for ffmpeg to finish (its input ends when nginx drops the publisher), then
        interrupt it (it closes its outputs), then kill it. Cooperative under eventlet."""
        process = self.process
        if process is None:
            return
        for action in (None, signal.SIGINT, signal.SIGKILL):
            if process.poll() is not None:
                return
            if action is not None:
                try:
                    process.send_signal(action)
                except ProcessLookupError:
                    return
            deadline = time.monotonic() + (timeout if action is None else 5.0)
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)  # monkey-patched: other clients go on meanwhile

    def log_tail(self, size: int = 400) -> str:
        path = self.work_dir / "ffmpeg.log"
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - size))
                return handle.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


def wait_for_parts(work_dir: Path, *, quiet_seconds: float = 3.0, timeout: float = 30.0) -> bool:
    """Until no part has grown for quiet_seconds (a stopped process's ffmpeg may still write its
    last part for a moment after its publisher was dropped): whether they settled in time.
    Cooperative under eventlet."""
    def sizes() -> list[tuple[str, int]]:
        found = []
        for path in parts(work_dir):
            try:
                found.append((path.name, path.stat().st_size))
            except OSError:
                pass
        return found

    last, quiet_since, deadline = sizes(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now_sizes = sizes()
        if now_sizes != last:
            last, quiet_since = now_sizes, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return True
    return False


@dataclass
class PartInfo:
    path: Path
    duration: float | None


def recording_command(ffmpeg: str, list_file: Path, target: Path, *, copy_video: bool) -> list[str]:
    video = (["-c:v", "copy"] if copy_video else
             ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"])
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", str(list_file),
            "-map", "0:v:0?", "-map", "0:a:0?", *video, "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", str(target)]


def _concat_list(paths: list[Path]) -> str:
    # The concat demuxer's own quoting: a quote inside a name is closed, escaped, reopened.
    return "".join("file '" + str(path).replace("'", "'\\''") + "'\n" for path in paths)


def _video_shape(ffmpeg: str, path: Path) -> tuple | None:
    """The part's video as a decoder must be set up for it (codec, size, pixels), or None."""
    ffprobe = str(Path(ffmpeg).with_name("ffprobe")) if "/" in ffmpeg else "ffprobe"
    try:
        result = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                                 "stream=codec_name,width,height,pix_fmt,profile", "-of", "csv=p=0", str(path)],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(result.stdout.strip().split(",")) if result.returncode == 0 else None


def make_recording(ffmpeg: str, work_dir: Path, *, copy_video: bool) -> Archive:
    """Join every part into `recording.mp4` (video copied when it was H.264 with the same
    picture in every part, else encoded once; audio AAC; faststart). When joining fails,
    every part is kept and there is no recording (Archive(None, None)): a private working
    file is never named as the recording, and nothing is left out of it silently."""
    usable = [path for path in parts(work_dir)
              if path.stat().st_size > 0 and (probe_duration(ffmpeg, path) or 0) > 0]
    if not usable:
        return Archive(None, None)
    if copy_video and len(usable) > 1 and len({_video_shape(ffmpeg, path) for path in usable}) > 1:
        # An encoder that changed its picture between sessions: a copy would play the later
        # parts with the first one's decoder settings (or not at all).
        log.info("the parts in %s differ in their picture: the recording is encoded once", work_dir)
        copy_video = False
    target = work_dir / "recording.mp4"
    list_file = work_dir / "parts.txt"
    list_file.write_text(_concat_list(usable))
    attempts = [copy_video] if not copy_video else [True, False]  # a copy that fails is encoded
    for copy in attempts:
        try:
            result = subprocess.run(recording_command(ffmpeg, list_file, target, copy_video=copy),
                                    capture_output=True, text=True, timeout=6 * 3600)
            error = result.stderr.strip()[-500:]
            ok = result.returncode == 0
        except (OSError, subprocess.TimeoutExpired) as failure:
            error, ok = str(failure), False
        duration = probe_duration(ffmpeg, target) if ok and target.is_file() else None
        if duration:
            for path in usable:
                path.unlink(missing_ok=True)  # the recording holds all of it now
            list_file.unlink(missing_ok=True)
            return Archive(target, duration)
        log.warning("joining the parts in %s into the recording (video %s) failed: %s", work_dir,
                    "copied" if copy else "encoded", error)
    list_file.unlink(missing_ok=True)
    if target.is_file():
        target.unlink(missing_ok=True)  # a broken half-written file is no recording
    log.error("no recording could be made from the %d parts in %s: they are kept there as they came",
              len(usable), work_dir)
    return Archive(None, None)
