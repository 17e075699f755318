"""What ffprobe says of a media file before we keep it: MP4 or WebM with a video stream,
its duration and chapters. Used by the import worker and by uploads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


class ProbeError(ValueError):
    """Not a video file we can play in our own player."""


def _ffprobe(ffprobe: str, path: Path) -> dict[str, Any]:
    result = subprocess.run(
        # Only the local file itself: a "video" that is really a playlist must not make
        # ffprobe fetch URLs from inside our network.
        [ffprobe, "-v", "error", "-protocol_whitelist", "file", "-print_format", "json", "-show_format",
         "-show_streams", "-show_chapters", str(path)], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ProbeError(result.stderr.strip()[:300])
    return json.loads(result.stdout or "{}")


def probe_video(ffprobe: str, path: Path) -> dict[str, Any]:
    """What ffprobe says of a media file we are about to keep: MP4 or WebM with a video
    stream, its duration and chapters. Shared with uploads (server/services/recordings/edits.py)."""
    data = _ffprobe(ffprobe, path)
    format_name = data.get("format", {}).get("format_name", "")
    streams = data.get("streams", [])
    if not any(s.get("codec_type") == "video" for s in streams):
        raise ProbeError(f"no video stream ({format_name})")
    if "mp4" in format_name or "mov" in format_name:
        mime = "video/mp4"
    elif "webm" in format_name or "matroska" in format_name:
        mime = "video/webm"
    else:
        raise ProbeError(f"format {format_name}")
    try:
        duration = float(data.get("format", {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    chapters = []
    for chapter in data.get("chapters", []):
        title = (chapter.get("tags") or {}).get("title", "")
        try:
            chapters.append({"start": float(chapter["start_time"]), "title": str(title)[:200]})
        except (KeyError, ValueError):
            continue
    return {"mime": mime, "duration": duration, "chapters": chapters}


def probe_duration(ffprobe: str, path: Path) -> float | None:
    """The duration a (possibly partial) media file's header states, or None."""
    try:
        data = _ffprobe(ffprobe, path)
        duration = float(data.get("format", {}).get("duration") or 0)
    except (ProbeError, ValueError, OSError, subprocess.SubprocessError):
        return None
    return duration or None
