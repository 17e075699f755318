"""One recording import, in a process of its own: `python -m server.media.import_worker`.

Started by server/media/importer.py, which writes the job as one JSON object on stdin and
reads JSON lines from stdout: "metadata", "progress", then "done" or "error". The server's
own process never runs yt-dlp: a slow site, a hung extractor or a crash here cannot block
the other clients, and the parent can kill this process (and its ffmpeg children) at the
wall-clock limit or on cancel.

Safety, in this process (docs/architecture.md, "Recording imports"):
- server/media/guard.py wraps getaddrinfo and connect before yt-dlp is imported: every
  connection, redirects and every URL yt-dlp fetches itself included, goes to a public
  address or to a host on the allow-list;
- curl_cffi is made unimportable, so yt-dlp cannot use a network stack that bypasses
  Python's sockets; no proxy from the environment, no cookies, no netrc, no cache, no
  config files (the library reads none), no exec, the native downloaders only;
- the one child that runs code from the web, deno (the YouTube extractor runs yt-dlp-ejs's
  challenge solver on YouTube's player script in it), is the binary of our own deno package,
  started with every permission denied, without its update check, and without remote
  scripts or npm packages: the guard cannot see its sockets, so it must have none;
- no playlists (the first item), no live streams, caps on duration and bytes (counted as
  they arrive), and the output names are fixed here: the work folder is the parent's.

Standard library, yt-dlp and the deno package (its binary's path) only: this module does not
import Flask or the database.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

# yt-dlp must not find an HTTP stack of its own (libcurl would connect past the guard).
sys.modules["curl_cffi"] = None  # type: ignore[assignment]

from deno import find_deno_bin  # noqa: E402  after curl_cffi is hidden from yt-dlp

from server.media import guard as guard_module  # noqa: E402  after curl_cffi is hidden from yt-dlp
from server.media.captions import CaptionsError, to_webvtt  # noqa: E402  after curl_cffi is hidden from yt-dlp
from server.media.probe import ProbeError, probe_duration, probe_video  # noqa: E402  after curl_cffi is hidden from yt-dlp

MEDIA_STEM = "media"
THUMBNAIL_STEM = "thumbnail"
CAPTIONS_STEM = "captions"
CAPTION_LANGUAGES = ("sv", "en")
THUMBNAIL_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"RIFF": ".webp"}
ALLOWED_PROTOCOLS = {"http", "https", "m3u8_native", "m3u8", "http_dash_segments"}
# yt-dlp already runs deno with no --allow-* flag, --no-remote, and --no-npm --cached-only for
# the solver we use; deno then refuses what is not allowed. Denying each permission outright
# keeps it so whatever a later yt-dlp adds, since a deny wins over any allow.
DENO_DENIALS = ("--deny-net", "--deny-import", "--deny-read", "--deny-write", "--deny-run",
                "--deny-env", "--deny-sys", "--deny-ffi")


class Refused(Exception):
    """The import stops here; `code` names why, for the admin's message."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code, self.detail = code, detail


class Output:
    """JSON lines to the parent on the real stdout (yt-dlp's own output goes to stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, event: str, **values: Any) -> None:
        self.stream.write(json.dumps({"event": event, **values}) + "\n")
        self.stream.flush()


class _Logger:
    """yt-dlp's messages, kept for the parent's log (stderr) and for telling errors apart."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, msg: str) -> None:
        if not msg.startswith("[debug] "):
            self.info(msg)

    def info(self, msg: str) -> None:
        self.messages.append(msg)
        print(msg, file=sys.stderr)

    warning = error = info


def _chapters(info: dict[str, Any]) -> list[dict[str, Any]]:
    chapters = []
    for chapter in info.get("chapters") or []:
        try:
            chapters.append({"start": float(chapter["start_time"]), "title": str(chapter.get("title") or "")[:200]})
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(chapters, key=lambda c: c["start"])


def js_runtimes(work: Path) -> dict[str, Any]:
    """yt-dlp's `js_runtimes`: the deno binary that our deno package installed (never another
    one on PATH), locked down; none (YouTube then offers fewer formats) when it is missing or
    when this yt-dlp runs deno in a way we do not know how to lock down. After the guard and
    `import yt_dlp`: this imports yt-dlp's deno provider."""
    # deno checks for a newer release of itself on the internet, past any permission: off.
    # Its caches go into the work folder, which the parent removes.
    os.environ["DENO_NO_UPDATE_CHECK"] = "1"
    os.environ["DENO_DIR"] = str(work / ".deno")
    try:
        path = find_deno_bin()
    except FileNotFoundError:
        print("deno is not installed: no JavaScript runtime for yt-dlp", file=sys.stderr)
        return {}
    from yt_dlp.extractor.youtube.jsc._builtin.deno import DenoJCP  # noqa: PLC0415  yt-dlp loads in the worker only

    base = getattr(DenoJCP, "_DENO_BASE_OPTIONS", None)
    if not isinstance(base, list) or "--no-remote" not in base:
        print("this yt-dlp starts deno differently: no JavaScript runtime until the worker knows how",
              file=sys.stderr)
        return {}
    DenoJCP._DENO_BASE_OPTIONS = [*base, *(flag for flag in DENO_DENIALS if flag not in base)]
    return {"deno": {"path": path}}


def youtube_dl_params(job: dict[str, Any], work: Path, logger: _Logger, hook: Any) -> dict[str, Any]:
    """The options of the import's YoutubeDL. After the guard is installed (js_runtimes)."""
    return {
        "logger": logger,
        "quiet": True,
        "noprogress": True,
        "no_color": True,
        # One item, never a playlist or a channel.
        "noplaylist": True,
        "playlist_items": "1",
        "lazy_playlist": False,
        # No credentials, no state on disk, no proxy from the environment.
        "cookiefile": None,
        "cookiesfrombrowser": None,
        "usenetrc": False,
        "cachedir": False,
        "proxy": "",
        # yt-dlp's own downloaders only (no aria2c, curl, ffmpeg as downloader), no exec.
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        "socket_timeout": job["socket_timeout"],
        "retries": 1,
        "fragment_retries": 1,
        "extractor_retries": 1,
        # Never a name from the source: the parent's work folder, our stems.
        "paths": {"home": str(work), "temp": str(work)},
        "outtmpl": {"default": f"{MEDIA_STEM}.%(ext)s", "thumbnail": f"{THUMBNAIL_STEM}.%(ext)s",
                    "subtitle": f"{CAPTIONS_STEM}.%(ext)s"},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "overwrites": True,
        "nopart": False,
        # One file that browsers play, at most 1080p: MP4 (H.264/AAC) first, then WebM; separate
        # video and audio are merged locally by ffmpeg (no network). A direct file or a page's
        # <video> has one format and ends at "b".
        "format": ("bv*[height<=1080][ext=mp4]+ba[ext=m4a]/b[height<=1080][ext=mp4]/"
                   "bv*[height<=1080][ext=webm]+ba[ext=webm]/b[ext=mp4]/b[ext=webm]/b"),
        "merge_output_format": "mp4/webm",
        "skip_download": not job["download"],
        "writethumbnail": True,
        "writesubtitles": True,
        "writeautomaticsub": False,
        "subtitleslangs": [f"{lang}.*" for lang in CAPTION_LANGUAGES] + list(CAPTION_LANGUAGES),
        "subtitlesformat": "vtt/srt/best",
        "progress_hooks": [hook],
        "check_formats": False,
        # The challenge solver from the yt-dlp-ejs package only: no script from GitHub
        # ("ejs:github") and no npm package ("ejs:npm") fetched at run time.
        "remote_components": [],
        "js_runtimes": js_runtimes(work),
    }


def run(job: dict[str, Any], out: Output) -> None:
    work = Path(job["work_dir"])
    guard = guard_module.Guard(job.get("allowed_hosts") or [])
    guard.check_url(job["url"])
    guard.install()

    import yt_dlp  # noqa: PLC0415  after the guard: nothing of yt-dlp runs unguarded

    max_bytes = int(job["max_bytes"])
    max_duration = float(job["max_duration"])
    state = {"refused": None, "last_percent": -1}

    def hook(progress: dict[str, Any]) -> None:
        if progress.get("status") != "downloading":
            return
        done = int(progress.get("downloaded_bytes") or 0)
        total = progress.get("total_bytes") or progress.get("total_bytes_estimate")
        # Content-Length (or the manifest's estimate) too big: stop at the first block.
        # Then the count itself, whatever the headers said.
        if (total and total > max_bytes) or done > max_bytes:
            state["refused"] = Refused("too_large", f"more than {max_bytes} bytes")
            raise state["refused"]
        _check_duration_so_far(progress, done)
        percent = int(done * 100 / total) if total else 0
        out.send("progress", downloaded=done, total=int(total) if total else None, percent=min(percent, 99))

    # A direct file says nothing of its length before it arrives; its header usually does
    # (MP4 with the index first, WebM). Ask ffprobe about the partial file at a few sizes,
    # so a file that is too long stops early instead of after the whole download.
    probe_at = [32 * 1024, 1024 * 1024, 16 * 1024 * 1024]

    def _check_duration_so_far(progress: dict[str, Any], done: int) -> None:
        if not probe_at or done < probe_at[0] or not progress.get("tmpfilename"):
            return
        while probe_at and done >= probe_at[0]:
            probe_at.pop(0)
        duration = probe_duration(job["ffprobe"], Path(progress["tmpfilename"]))
        if duration is None:
            return
        probe_at.clear()  # known: no need to ask again
        if duration > max_duration:
            state["refused"] = Refused("too_long", f"{duration:.0f} s (from the file's header)")
            raise state["refused"]

    def match_filter(info: dict[str, Any], *, incomplete: bool) -> str | None:
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
            state["refused"] = Refused("live_refused", str(info.get("live_status")))
            return "live"
        duration = info.get("duration")
        if duration and float(duration) > max_duration:
            state["refused"] = Refused("too_long", f"{duration} s")
            return "too long"
        return None

    logger = _Logger()
    params = youtube_dl_params(job, work, logger, hook)
    params["match_filter"] = match_filter
    with yt_dlp.YoutubeDL(params) as ydl:
        try:
            info = ydl.extract_info(job["url"], download=False)
            if info is None:
                raise state["refused"] or Refused("no_video")
            if info.get("_type") == "playlist":
                entries = [e for e in info.get("entries") or [] if e]
                if not entries:
                    raise state["refused"] or Refused("no_video", "empty playlist")
                info = entries[0]
            if state["refused"]:
                raise state["refused"]
            formats = info.get("requested_formats") or [info]
            if job["download"] and any(f.get("protocol") not in ALLOWED_PROTOCOLS for f in formats):
                raise Refused("download_failed", f"protocol {[f.get('protocol') for f in formats]}")
            size = sum(int(f.get("filesize") or f.get("filesize_approx") or 0) for f in formats)
            if job["download"] and size > max_bytes:
                raise Refused("too_large", f"{size} bytes announced")
            out.send("metadata", title=str(info.get("title") or "")[:300], duration=info.get("duration"),
                     upload_date=info.get("upload_date"), chapters=_chapters(info),
                     extractor=info.get("extractor_key"), webpage_url=info.get("webpage_url"),
                     direct=bool(info.get("direct")), download=job["download"])
            ydl.process_ie_result(info, download=True)
        except Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - yt-dlp raises anything; each becomes one of our codes
            raise _explain(exc, state["refused"], logger) from None
        if state["refused"]:
            raise state["refused"]
    out.send("done", **_collect(job, work, info))


def _explain(exc: BaseException, refused: Refused | None, logger: _Logger) -> Refused:
    """yt-dlp's error (often only text by now) as one of our codes."""
    if refused is not None:
        return refused
    if guard_module.last_refusal is not None:
        return Refused(guard_module.last_refusal.code, guard_module.last_refusal.detail)
    text = f"{exc} {' '.join(logger.messages[-5:])}"
    if "HTTP Error 404" in text or "HTTP Error 410" in text:
        return Refused("not_found", "HTTP 404")
    if "HTTP Error 401" in text or "HTTP Error 403" in text or "Sign in" in text or "private" in text.lower():
        return Refused("forbidden", text[:300])
    if "Unsupported URL" in text or "No video formats" in text or "no suitable" in text.lower():
        return Refused("no_video", text[:300])
    if "timed out" in text.lower():
        return Refused("unreachable", text[:300])
    return Refused("download_failed", text[:300])


def _collect(job: dict[str, Any], work: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The files yt-dlp left in the work folder, checked, under our names."""
    result: dict[str, Any] = {
        "title": str(info.get("title") or "")[:300], "duration": info.get("duration"),
        "upload_date": info.get("upload_date"), "chapters": _chapters(info),
        "webpage_url": info.get("webpage_url"), "media": None, "mime": None, "size": None,
        "thumbnail": None, "captions": None, "captions_language": None,
    }
    if job["download"]:
        # Whatever yt-dlp named it (.mp4, .webm, .unknown_video ...): ffprobe decides.
        media = [p for p in work.iterdir() if p.stem == MEDIA_STEM and p.is_file()]
        if not media:
            raise Refused("no_video", "no media file was written")
        try:
            probe = probe_video(job["ffprobe"], media[0])
        except ProbeError as exc:
            raise Refused("no_video", str(exc)) from None
        if probe["duration"] > float(job["max_duration"]):
            raise Refused("too_long", f"{probe['duration']:.0f} s")
        if media[0].stat().st_size > int(job["max_bytes"]):
            raise Refused("too_large", "file larger than the cap")
        extension = ".mp4" if probe["mime"] == "video/mp4" else ".webm"
        final = work / f"{MEDIA_STEM}.final{extension}"
        media[0].rename(final)
        result.update(media=final.name, mime=probe["mime"], size=final.stat().st_size,
                      duration=probe["duration"] or result["duration"],
                      chapters=result["chapters"] or probe["chapters"])
    for path in work.iterdir():
        if path.stem == THUMBNAIL_STEM and path.is_file():
            head = path.read_bytes()[:12]
            for magic, extension in THUMBNAIL_TYPES.items():
                if head.startswith(magic) and (magic != b"RIFF" or head[8:12] == b"WEBP"):
                    final = work / f"{THUMBNAIL_STEM}.final{extension}"
                    path.rename(final)
                    result["thumbnail"] = final.name
                    break
    subtitles = sorted(p for p in work.iterdir()
                       if p.name.startswith(CAPTIONS_STEM + ".") and p.suffix in (".vtt", ".srt"))
    for language in CAPTION_LANGUAGES + ("",):
        chosen = [p for p in subtitles if p.name.split(".")[1].startswith(language)]
        if chosen:
            try:
                vtt = to_webvtt(chosen[0].read_bytes())
            except CaptionsError:
                continue
            final = work / f"{CAPTIONS_STEM}.final.vtt"
            final.write_text(vtt, encoding="utf-8")
            result["captions"] = final.name
            result["captions_language"] = (chosen[0].name.split(".")[1] or "sv")[:20]
            break
    return result


def main() -> int:
    # The protocol owns the real stdout; anything printed by a library goes to stderr.
    out = Output(sys.stdout)
    sys.stdout = sys.stderr
    try:
        job = json.loads(sys.stdin.readline())
        run(job, out)
        return 0
    except guard_module.GuardRefused as exc:
        out.send("error", code=exc.code, detail=exc.detail[:300])
    except Refused as exc:
        out.send("error", code=exc.code, detail=exc.detail[:300])
    except Exception as exc:  # noqa: BLE001 - the parent shows a plain message; the detail goes to its log
        out.send("error", code="download_failed", detail=f"{type(exc).__name__}: {exc}"[:300])
    return 1


if __name__ == "__main__":
    sys.exit(main())
