"""Captions: WebVTT or SRT in, a clean WebVTT file out.

Both formats are parsed into cues and written anew, so what we serve is always WebVTT that
we made (no STYLE or REGION blocks, no SRT font tags, UTF-8), whatever was uploaded or
imported. Pure module: no Flask, no files.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_TIME = r"(?:(\d{1,3}):)?([0-5]?\d):([0-5]\d)[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_SRT_TAGS = re.compile(r"</?font[^>]*>|\{\\[^}]*\}", re.IGNORECASE)
MAX_CUES = 20000


class CaptionsError(ValueError):
    """Not captions we can use; `code` names why (the services turn it into words)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def _timestamp(value: float) -> str:
    millis = round(value * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def decode(data: bytes) -> str:
    """UTF-16 with its byte order mark (Notepad's "Unicode", little- or big-endian), UTF-8 (with
    or without BOM), else Windows-1252: SRT files made in Sweden often are."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")  # reads the BOM, picks the byte order, drops the BOM
        except UnicodeDecodeError:
            raise CaptionsError("not_text") from None
        if "\x00" in text:
            raise CaptionsError("not_text")
        return text
    if b"\x00" in data:
        raise CaptionsError("not_text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse(text: str) -> list[Cue]:
    """The cues of a WebVTT or SRT text, in file order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    is_vtt = lines[0].lstrip("\ufeff").startswith("WEBVTT")
    cues: list[Cue] = []
    i = 0
    while i < len(lines):
        match = _TIMING.match(lines[i])
        if match is None:
            i += 1
            continue
        g = match.groups()
        start, end = _seconds(*g[0:4]), _seconds(*g[4:8])
        i += 1
        text_lines = []
        while i < len(lines) and lines[i].strip() and _TIMING.match(lines[i]) is None:
            text_lines.append(lines[i].replace("-->", "→"))
            i += 1
        body = "\n".join(text_lines).strip()
        if not is_vtt:
            body = _SRT_TAGS.sub("", body)
        if body and end > start:
            cues.append(Cue(start, end, body))
            if len(cues) > MAX_CUES:
                raise CaptionsError("too_many_cues")
    return cues


def to_webvtt(data: bytes) -> str:
    """Uploaded or imported captions (WebVTT or SRT) as our own WebVTT text."""
    cues = parse(decode(data))
    if not cues:
        raise CaptionsError("no_cues")
    blocks = ["WEBVTT", ""]
    for cue in cues:
        blocks.append(f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}")
        blocks.append(cue.text)
        blocks.append("")
    return "\n".join(blocks)
