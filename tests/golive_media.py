"""What a browser's MediaRecorder sends, made by ffmpeg for tests and benchmarks: WebM/Matroska
with H.264 (Chromium) or VP8 (Firefox) video and Opus audio, a keyframe each second."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"


def recorder_output(path: Path, *, codec: str = "h264", seconds: float = 4, size: str = "640x480",
                    rate: int = 25) -> Path:
    video = (["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", str(rate)]
             if codec == "h264" else ["-c:v", "libvpx", "-deadline", "realtime", "-g", str(rate)])
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), *video,
                    "-c:a", "libopus", "-f", "matroska" if codec == "h264" else "webm", str(path)],
                   check=True, timeout=120)
    return path


def pieces(data: bytes, size: int = 30_000) -> list[bytes]:
    return [data[offset:offset + size] for offset in range(0, len(data), size)]


def probe(path: Path) -> dict:
    """ffprobe's view of a media file: format (duration) and streams (codecs)."""
    result = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
