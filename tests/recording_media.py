"""Test media made with Debian's ffmpeg, and a small local web site that serves it (the
recording tests and bench/recording_import.py use both). Nothing comes from the internet."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHAPTERS = (("Inledning", 0.0), ("Frågor från publiken", 2.0))
CAPTIONS_VTT = "WEBVTT\n\n00:00.000 --> 00:02.000\nHej och välkommen\n\n00:02.000 --> 00:04.000\nNu tar vi frågor\n"


def make_clip(path: Path, *, seconds: float = 4, size: str = "160x120", rate: int = 15, webm: bool = False,
              chapters: bool = True) -> Path:
    """A test picture with a tone; chapters at 0 s and 2 s."""
    metadata = path.with_suffix(".chapters.txt")
    lines = [";FFMETADATA1"]
    if chapters:
        starts = [start for _, start in CHAPTERS] + [seconds]
        for (title, start), end in zip(CHAPTERS, starts[1:], strict=True):
            lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(start * 1000)}", f"END={int(end * 1000)}",
                      f"title={title}"]
    metadata.write_text("\n".join(lines) + "\n", encoding="utf-8")
    codecs = (["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", "-c:a", "libopus", "-b:a", "32k"] if webm
              else ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k",
                    "-movflags", "+faststart"])
    subprocess.run(["ffmpeg", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-i", str(metadata),
                    "-map", "0:v", "-map", "1:a", "-map_metadata", "2", "-map_chapters", "2", *codecs, "-shortest",
                    str(path)], check=True, capture_output=True, timeout=300)
    metadata.unlink()
    return path


class MediaSite:
    """A web server on 127.0.0.1 in a thread: the clip as a file, in a page, and every kind
    of trouble an import must survive."""

    def __init__(self, clip: Path, long_clip: Path | None = None, *, big_bytes: int = 3 * 1024 * 1024) -> None:
        site = self
        self.clip, self.long_clip, self.big_bytes = clip, long_clip, big_bytes
        self.thumbnail = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "image2",
                                         "-c:v", "mjpeg", "-"], check=True, capture_output=True, timeout=60).stdout
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                site.requests.append(self.path)
                name = self.path.strip("/").split("?")[0].replace(".", "_").replace("-", "_")
                route = getattr(site, "route_" + name, None)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- routes -----------------------------------------------------------------------------
    @staticmethod
    def _send(handler, body: bytes, content_type: str, *, length: bool = True) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            try:
                handler.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # yt-dlp's extractor reads the start of a file and hangs up: normal

    def route_clip_mp4(self, handler) -> None:
        self._send(handler, self.clip.read_bytes(), "video/mp4")

    def route_long_mp4(self, handler) -> None:
        self._send(handler, self.long_clip.read_bytes(), "video/mp4")

    def route_thumb_jpg(self, handler) -> None:
        self._send(handler, self.thumbnail, "image/jpeg")

    def route_clip_vtt(self, handler) -> None:
        self._send(handler, CAPTIONS_VTT.encode(), "text/vtt; charset=utf-8")

    def route_page_html(self, handler) -> None:
        page = ('<!doctype html><html lang="sv"><head><title>Skapa arenor! – inspelning</title></head><body>'
                '<h1>Skapa arenor!</h1><video controls src="clip.mp4" poster="thumb.jpg">'
                '<track kind="captions" srclang="sv" label="Svenska" src="clip.vtt"></video></body></html>')
        self._send(handler, page.encode(), "text/html; charset=utf-8")

    def route_no_video_html(self, handler) -> None:
        page = ('<!doctype html><html lang="sv"><head><title>Program</title></head>'
                '<body><p>Ingen film här.</p></body></html>')
        self._send(handler, page.encode(), "text/html; charset=utf-8")

    def route_private_extras_html(self, handler) -> None:
        # The video is on this (allowed) host; its captions and poster are on "localhost", which
        # is not allowed: yt-dlp fetches those itself, and the guard must see those fetches too.
        other = f"http://localhost:{self.port}"
        page = ('<!doctype html><html lang="sv"><head><title>Extras</title></head><body>'
                f'<video controls src="clip.mp4" poster="{other}/thumb.jpg">'
                f'<track kind="captions" srclang="sv" src="{other}/clip.vtt"></video></body></html>')
        self._send(handler, page.encode(), "text/html; charset=utf-8")

    def route_two_videos_html(self, handler) -> None:
        # Two videos make a playlist for yt-dlp: only the first may be imported.
        page = ('<!doctype html><html lang="sv"><head><title>Två filmer</title></head><body>'
                '<video controls src="clip.mp4"></video><video controls src="long.mp4"></video></body></html>')
        self._send(handler, page.encode(), "text/html; charset=utf-8")

    def route_live_m3u8(self, handler) -> None:
        # An HLS playlist without #EXT-X-ENDLIST: a live stream still going on.
        playlist = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n"
                    "#EXTINF:2.0,\nsegment41.ts\n#EXTINF:2.0,\nsegment42.ts\n")
        self._send(handler, playlist.encode(), "application/vnd.apple.mpegurl")

    def route_big_mp4(self, handler) -> None:
        # Says how big it is: the import stops at the first block.
        self._stream(handler, self.big_bytes, length=True)

    def route_big_unannounced_mp4(self, handler) -> None:
        # No Content-Length: only counting the bytes as they arrive catches it.
        self._stream(handler, self.big_bytes, length=False)

    def route_long_then_slow_mp4(self, handler) -> None:
        # The long clip's bytes, then a trickle that would take minutes: only a length read
        # from the header while the bytes arrive stops it before the time limit.
        body = self.long_clip.read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Content-Length", str(len(body) + self.big_bytes))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        try:
            handler.wfile.write(body)
            for _ in range(self.big_bytes // 1000):
                handler.wfile.write(b"\0" * 1000)
                handler.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route_slow_mp4(self, handler) -> None:
        self._stream(handler, self.big_bytes, length=True, delay=0.2, chunk=2000)

    def route_redirect_to_loopback(self, handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", self.url("clip.mp4"))
        handler.end_headers()

    def _stream(self, handler, total: int, *, length: bool, delay: float = 0.0, chunk: int = 64 * 1024) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        if length:
            handler.send_header("Content-Length", str(total))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        head = self.clip.read_bytes()[:chunk]
        sent = 0
        try:
            while sent < total:
                piece = (head if sent == 0 else b"\0" * chunk)[: total - sent]
                handler.wfile.write(piece)
                handler.wfile.flush()
                sent += len(piece)
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
