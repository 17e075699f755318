"""RTMP ingest benchmark (issue 12): encoder-to-viewer latency, server CPU per 720p30 stream,
and how many simultaneous ingests one machine holds, with and without the quality ladder.

It starts `python -m server serve` (eventlet, real ffmpeg, and the nginx-rtmp that Arena runs
as its child) with the demo event in a temporary folder, makes stream keys with the command
line (`python -m server stream-key EVENT TALK`, whose last line is the publish URL) and
publishes with real ffmpeg, as a venue's encoder would (H.264 high, a keyframe every second,
AAC 48 kHz, FLV over RTMP to rtmp://127.0.0.1:<port>/live/<key>):

(a) Latency, measured as the studio's is (bench/golive_latency.py): the encoder is ffmpeg
    drawing testsrc2 at 1280x720, 30 fps, paced in real time (`-re`). Each frame carries the
    wall clock at the moment it left the test source (ffmpeg's RTCTIME), Date.now() modulo
    2^24 ms, as 24 black or white blocks of 40x40 px along the top of the picture (made by
    `geq` on a 24x2 strip and scaled up, so it costs nothing), plus the time as text for a
    human eye. x264 `veryfast` with `-tune zerolatency` (no lookahead), CBR 3 Mbit/s, AAC
    128 kbit/s of a sine. A viewer in Debian's chromium opens the talk page before the
    encoder starts, plays the stream with the page's own player, and for every frame it
    presents (requestVideoFrameCallback) reads the blocks back and subtracts them from its own
    clock (one machine, one clock). The figure runs from the frame leaving the source to the
    same frame on the viewer's screen: encoding, RTMP, nginx-rtmp, Arena's ffmpeg and its 1 s
    segments, the playlist refresh and the player's distance from the live edge. With the
    ladder (the default) hls.js may pick any rendition; the blocks are read at whatever size
    the video has.
(b) CPU per 720p30 stream: the encoder is a file encoded once beforehand (same settings,
    60 s, looped with `-stream_loop -1 -re -c copy`), so the publisher costs nothing and
    does not compete for the cores. Over the measuring window it reads utime + stime from
    /proc/<pid>/stat of the server process and of every process under it (nginx's master and
    worker, Arena's ffmpeg), per wall-clock second, as a percentage of one core. Once with
    `ARENA_INGEST__LADDER=false` (copy only) and once with the ladder (x264 `veryfast` for
    360p, AAC 64k audio only). In the same window a reference runs beside Arena: a bare
    ffmpeg that reads the very same stream from Arena's nginx and writes the same HLS
    (server/media/hls.py's own output arguments) into a folder of its own: what the media
    work costs without Arena around it.
(c) Capacity: N publishers at once (the file of (b), N talks, N keys), N = 1, 2, 3, 4, 5, 6,
    8, 10, 12, 16 ... up to --max-streams, copy only and with the ladder. For each N, after the
    streams are live and have settled, it watches every media playlist of every stream (the
    source, and with the ladder 360p and audio) over the window and adds up the EXTINF of
    the segments that appeared: media seconds written per wall-clock second. A stream "keeps
    up" when each of its playlists advanced at least 0.95 s per second; N is held when every
    stream keeps up. It stops at the first N that is not held.

    .venv/bin/python bench/rtmp_ingest.py [--seconds 30] [--capacity-seconds 20] [--max-streams 16]
                                          [--skip latency,cpu,capacity] [--json] [--keep]

It prints Markdown tables (with --json: the JSON on stdout, the tables on stderr). Only
127.0.0.1 is contacted; the temporary folder is removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from event_page import LiveServer, free_port, log, machine, server_env, start_server  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
SLUG = "sociala-medier-i-offentlig-sektor"
TALK = "skapa-arenor"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
BITS, BLOCK = 24, 40
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CAPACITY_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
KEEPS_UP = 0.95  # media seconds per wall-clock second for a playlist to count as keeping up

# Targets from the issue.
TARGET_LATENCY_P50_MS = 3000
TARGET_CPU_COPY = 5.0
TARGET_CPU_LADDER = 60.0


# -- the encoder --------------------------------------------------------------------------

def encoder_video_args(kbps: int = 3000) -> list[str]:
    """What a venue's encoder is told to send (docs/ingest.md): H.264 high, CBR, a keyframe
    every second at 30 fps, AAC 128 kbit/s at 48 kHz."""
    return ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
            "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
            "-c:a", "aac", "-b:a", "128k", "-ar", "48000"]


def stamp_filter() -> str:
    """testsrc2 with the wall clock burnt in: Date.now() % 2^24 as 24 blocks (bit 0 left), read
    back by MEASURE_SCRIPT; the time as text beneath it for people watching."""
    text = ""
    if FONT.exists():
        text = (f",drawtext=fontfile={FONT}:text='%{{localtime\\:%T}}':x={BLOCK}:y={BLOCK + 40}:fontsize=48"
                ":fontcolor=white:box=1:boxcolor=black")
    return (
        # Timestamps become the wall clock in microseconds as each frame leaves the source ...
        "[0:v]settb=1/1000000,setpts=RTCTIME,split[main][strip];"
        # ... a 24x2 strip whose pixel X is bit X of the milliseconds, scaled to 24 blocks ...
        f"[strip]crop={BITS}:2:0:0,format=gray,"
        f"geq=lum='255*mod(floor(mod(floor(T*1000)\\,{2 ** BITS})/pow(2\\,X))\\,2)',"
        f"scale={BITS * BLOCK}:{BLOCK}:flags=neighbor,format=yuv420p[bits];"
        f"[main]drawbox=x=0:y=0:w={BITS * BLOCK + 2 * BLOCK}:h={BLOCK + 16}:color=gray:t=fill[ground];"
        # ... laid over a grey band; then ordinary timestamps again (frame n at n/30 s).
        f"[ground][bits]overlay={BLOCK}:8,settb=1/30,setpts=N{text}[v]"
    )


def stamped_publisher(url: str, log_path: Path) -> subprocess.Popen:
    command = [FFMPEG, "-hide_banner", "-nostats", "-loglevel", "error",
               "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
               "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
               "-filter_complex", stamp_filter(), "-map", "[v]", "-map", "1:a",
               *encoder_video_args(), "-tune", "zerolatency", "-f", "flv", url]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=log_path.open("w"), start_new_session=True)


def make_input_file(path: Path, seconds: int = 60) -> Path:
    """A venue encoder's output, made once: 720p30 testsrc2 and a sine, keyframe every second."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                    *encoder_video_args(), "-f", "flv", str(path)], check=True, timeout=600)
    return path


def file_publisher(path: Path, url: str, log_path: Path) -> subprocess.Popen:
    command = [FFMPEG, "-hide_banner", "-nostats", "-loglevel", "error", "-re", "-stream_loop", "-1",
               "-i", str(path), "-c", "copy", "-f", "flv", url]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=log_path.open("w"), start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the server ---------------------------------------------------------------------------

@dataclass
class Bench:
    tmp: Path
    env: dict[str, str]
    server: LiveServer
    ladder: bool
    publishers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def engine(self):
        from server.db import make_engine

        if not hasattr(self, "_engine"):
            self._engine = make_engine(self.env["ARENA_DATABASE__URL"])
        return self._engine

    def close(self) -> None:
        for publisher in self.publishers:
            stop(publisher)
        self.server.stop()
        if hasattr(self, "_engine"):
            self._engine.dispose()


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "server", *args], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise SystemExit(f"python -m server {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start_bench(tmp: Path, *, ladder: bool) -> Bench:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(tmp, port, f"sqlite:///{tmp / 'arena.db'}")
    env.update({
        "ARENA_INGEST__ENABLED": "true",
        "ARENA_INGEST__RTMP_PORT": str(free_port()),
        "ARENA_INGEST__LADDER": "true" if ladder else "false",
        # Streams of one capacity round must be over before the next round publishes again.
        "ARENA_GOLIVE__RECONNECT_SECONDS": "3",
        "ARENA_GOLIVE__MIN_FREE_MEGABYTES": "200",
    })
    cli(env, "migrate")
    cli(env, "load-demo", "--date", datetime.now(STOCKHOLM).date().isoformat())
    server = start_server(tmp, env)
    return Bench(tmp=tmp, env=env, server=server, ladder=ladder)


def publish_url(bench: Bench, talk_slug: str) -> str:
    """A key from the command line, as a crew would get it; the last line is the publish URL."""
    url = cli(bench.env, "stream-key", SLUG, talk_slug).strip().splitlines()[-1].strip()
    if not url.startswith("rtmp://"):
        raise SystemExit(f"stream-key's last line is not a publish URL: {url[:30]}...")
    # The server URL names ingest.public_host (base_url's host: 127.0.0.1 here).
    return url


_talk_numbers = itertools.count(1)


def new_talks(bench: Bench, count: int) -> list[tuple[int, str]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server.models import Event
    from server.services import events as event_service

    made = []
    with Session(bench.engine, expire_on_commit=False) as session:
        event = session.scalars(select(Event).where(Event.slug == SLUG)).one()
        starts_at = datetime.combine(event.starts_on, clock(7, 0), STOCKHOLM)
        for n in range(count):
            number = next(_talk_numbers)
            talk = event_service.create_talk(session, event, title=f"Mätpass {number:02d}",
                                              starts_at=starts_at + timedelta(minutes=n),
                                              ends_at=starts_at + timedelta(minutes=n + 30))
            session.flush()
            made.append((talk.id, talk.slug))
        session.commit()
    return made


def talk_id(bench: Bench, slug: str) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server.models import Event, Talk

    with Session(bench.engine) as session:
        return session.scalars(select(Talk.id).join(Event).where(Event.slug == SLUG, Talk.slug == slug)).one()


def live_stream(bench: Bench, talk: int):
    """The talk's stream once it is live and its first segment is listed, else None."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server.models import LiveStream
    from server.models.golive import StreamState

    with Session(bench.engine, expire_on_commit=False) as session:
        stream = session.scalars(select(LiveStream).where(LiveStream.talk_id == talk,
                                                          LiveStream.state == StreamState.live)
                                 .order_by(LiveStream.id.desc())).first()
    if stream is None or not stream.directory:
        return None
    # What viewers open: the master playlist (ladder) or the single one, once it lists a segment.
    viewer_playlist = Path(bench.env["ARENA_MEDIA__RECORDINGS_DIR"]) / stream.playlist_path
    return stream if viewer_playlist.exists() and media_playlists(bench, stream) else None


def stream_directory(bench: Bench, stream) -> Path:
    return Path(bench.env["ARENA_MEDIA__RECORDINGS_DIR"]) / stream.directory


def media_playlists(bench: Bench, stream) -> list[Path]:
    """Every media playlist of the stream (not the master) that lists a segment."""
    found = []
    for path in sorted(stream_directory(bench, stream).rglob("*.m3u8")):
        try:
            text = path.read_text()
        except OSError:
            continue
        if "#EXTINF" in text:
            found.append(path)
    return found


def active_streams(bench: Bench) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from server.models import LiveStream
    from server.models.golive import StreamState

    with Session(bench.engine) as session:
        return session.scalar(select(func.count()).select_from(LiveStream)
                              .where(LiveStream.state != StreamState.ended)) or 0


def wait_for(condition: Callable[[], Any], timeout: float, what: str, bench: Bench | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tail = bench.server.log()[-3000:] if bench else ""
    raise SystemExit(f"{what} did not happen within {timeout:.0f} s\n{tail}")


# -- /proc --------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, str]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            table[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), name)
    return table


def descendants(root: int) -> dict[int, str]:
    """Every process under `root` (not `root` itself), by pid, with its name."""
    table = process_table()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = name
                frontier.append(pid)
    return found


class CpuWindow:
    """CPU time of a set of processes between start() and stop(), as % of one core."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pids in self.groups.values() for pid in pids}
        self.wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        result = {}
        for group, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                now, then = cpu_seconds(pid), self.before.get(pid)
                if now is not None and then is not None:
                    total += now - then
            result[group] = round(100 * total / wall, 2)
        result["window_seconds"] = round(wall, 1)
        return result


def arena_groups(bench: Bench, exclude: set[int] = frozenset()) -> dict[str, list[int]]:
    below = {pid: name for pid, name in descendants(bench.server.process.pid).items() if pid not in exclude}
    return {
        "server": [bench.server.process.pid],
        "nginx": [pid for pid, name in below.items() if name.startswith("nginx")],
        "ffmpeg": [pid for pid, name in below.items() if name.startswith("ffmpeg")],
        "other": [pid for pid, name in below.items() if not name.startswith(("nginx", "ffmpeg"))],
    }


# -- HLS playlists ------------------------------------------------------------------------

def segments(playlist: Path) -> dict[str, float]:
    """Segment URI -> EXTINF seconds, as the playlist lists them now."""
    try:
        lines = playlist.read_text().splitlines()
    except OSError:
        return {}
    found, duration = {}, None
    for line in lines:
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            found[line] = duration
            duration = None
    return found


class PlaylistWatch:
    """Media seconds that appeared in a playlist between polls (segments are deleted from a
    live playlist after a while, so it is polled often and remembers what it saw)."""

    def __init__(self, playlist: Path) -> None:
        self.playlist = playlist
        self.seen = set(segments(playlist))
        self.media = 0.0

    def poll(self) -> None:
        for uri, seconds in segments(self.playlist).items():
            if uri not in self.seen:
                self.seen.add(uri)
                self.media += seconds


# -- (a) latency ----------------------------------------------------------------------------

MEASURE_SCRIPT = f"""
() => {{
  const video = document.querySelector('[data-golive] video') || document.querySelector('video');
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', {{ willReadFrequently: true }});
  window.latencies = []; window.heights = {{}};
  function read() {{
    if (!video.videoWidth) return;
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const scale = video.videoWidth / 1280;
    context.drawImage(video, 0, 0);
    let stamp = 0;
    for (let bit = 0; bit < {BITS}; bit += 1) {{
      const x = Math.round(({BLOCK} + bit * {BLOCK} + {BLOCK} / 2) * scale);
      const y = Math.round((8 + {BLOCK} / 2) * scale);
      const pixel = context.getImageData(x, y, 1, 1).data;
      if ((pixel[0] + pixel[1] + pixel[2]) / 3 > 128) stamp |= (1 << bit);
    }}
    const now = Date.now() % {2 ** BITS};
    const latency = (now - stamp + {2 ** BITS}) % {2 ** BITS};
    if (latency < 60000) {{
      window.latencies.push(latency);
      window.heights[video.videoHeight] = (window.heights[video.videoHeight] || 0) + 1;
    }}
  }}
  function frame() {{ read(); video.requestVideoFrameCallback(frame); }}
  video.requestVideoFrameCallback(frame);
}}
"""

PLAYING = """([since]) => {
  const video = document.querySelector('[data-golive] video') || document.querySelector('video');
  return !!video && video.videoWidth > 0 && video.currentTime > since && !video.paused;
}"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure_latency(bench: Bench, seconds: float) -> dict[str, Any]:
    from playwright import sync_api

    url = publish_url(bench, TALK)
    talk = talk_id(bench, TALK)
    publisher = None
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            viewer = browser.new_context(base_url=bench.server.url, viewport={"width": 1400, "height": 1000}).new_page()
            viewer.goto(f"/events/{SLUG}/{TALK}")
            publisher = stamped_publisher(url, bench.tmp / "encoder-latency.log")
            bench.publishers.append(publisher)
            started = time.monotonic()
            stream = wait_for(lambda: live_stream(bench, talk), 90, "the talk going live", bench)
            live_after = time.monotonic() - started
            viewer.wait_for_function(PLAYING, arg=[1.0], timeout=90_000)
            playing_after = time.monotonic() - started
            log(f"live after {live_after:.1f} s, the viewer plays after {playing_after:.1f} s; "
                f"settling 5 s, then measuring {seconds:.0f} s")
            viewer.wait_for_timeout(5_000)
            viewer.evaluate(MEASURE_SCRIPT)
            viewer.wait_for_timeout(seconds * 1000)
            latencies = viewer.evaluate("window.latencies")
            heights = viewer.evaluate("window.heights")
        finally:
            browser.close()
            stop(publisher)
    if not latencies:
        raise SystemExit("no frame could be read back: the stamp did not survive")
    wait_for(lambda: active_streams(bench) == 0, 120, "the stream ending after the encoder stopped", bench)
    return {
        "ladder": bench.ladder,
        "playlist": stream.playlist_name,
        "frames_read": len(latencies),
        "window_seconds": seconds,
        "heights_seen": {f"{height}p": count for height, count in sorted(heights.items(), key=lambda kv: -int(kv[0]))},
        "live_after_seconds": round(live_after, 1),
        "viewer_plays_after_seconds": round(playing_after, 1),
        "latency_ms": {"p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9),
                       "min": min(latencies), "max": max(latencies), "mean": round(statistics.mean(latencies))},
    }


# -- (b) CPU per stream ----------------------------------------------------------------------

def reference_command(bench: Bench, stream, directory: Path) -> list[str]:
    """A bare ffmpeg doing Arena's media work on the same stream: read it from Arena's nginx,
    write the same HLS (hls.output_args) into a folder of its own."""
    from server.config import load_settings
    from server.media import hls, rtmp

    settings = load_settings(environ=bench.env)
    source = rtmp.play_url(settings, stream.rtmp_name)
    output = hls.output_args(directory, copy_video=True, ladder=bench.ladder,
                             segment_seconds=settings.golive.segment_seconds,
                             preset=settings.ingest.ladder_preset)
    return [FFMPEG, "-hide_banner", "-nostats", "-loglevel", "error", "-i", source, *output]


def measure_cpu(bench: Bench, input_file: Path, seconds: float) -> dict[str, Any]:
    talk_slug = new_talks(bench, 1)[0][1]
    url = publish_url(bench, talk_slug)
    talk = talk_id(bench, talk_slug)
    publisher = file_publisher(input_file, url, bench.tmp / "encoder-cpu.log")
    bench.publishers.append(publisher)
    reference = None
    try:
        stream = wait_for(lambda: live_stream(bench, talk), 90, "the talk going live", bench)
        reference_dir = bench.tmp / "reference-hls"
        reference_dir.mkdir(exist_ok=True)
        reference = subprocess.Popen(reference_command(bench, stream, reference_dir), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=(bench.tmp / "reference.log").open("w"),
                                     start_new_session=True)
        log(f"live ({'ladder' if bench.ladder else 'copy only'}); settling 5 s, then measuring {seconds:.0f} s")
        time.sleep(5)
        groups = arena_groups(bench)
        groups["reference_ffmpeg"] = [reference.pid]
        window = CpuWindow(groups)
        window.start()
        time.sleep(seconds)
        cpu = window.stop()
        if reference.poll() is not None:
            raise SystemExit(f"the reference ffmpeg stopped: {(bench.tmp / 'reference.log').read_text()[-2000:]}")
    finally:
        stop(reference)
        stop(publisher)
    wait_for(lambda: active_streams(bench) == 0, 120, "the stream ending after the encoder stopped", bench)
    cpu["arena_total"] = round(cpu["server"] + cpu["nginx"] + cpu["ffmpeg"] + cpu["other"], 2)
    cpu["ladder"] = bench.ladder
    cpu["processes"] = {group: len(pids) for group, pids in groups.items()}
    return cpu


# -- (c) capacity ----------------------------------------------------------------------------

def capacity_round(bench: Bench, input_file: Path, talks: list[tuple[int, str]], urls: list[str],
                   window_seconds: float) -> dict[str, Any]:
    count = len(talks)
    publishers = [file_publisher(input_file, url, bench.tmp / f"encoder-{count}-{n}.log")
                  for n, url in enumerate(urls)]
    bench.publishers.extend(publishers)
    try:
        streams = wait_for(lambda: all_live(bench, talks), 60 + 10 * count, f"{count} streams going live", bench)
        time.sleep(5)
        watches = [[PlaylistWatch(path) for path in media_playlists(bench, stream)] for stream in streams]
        groups = arena_groups(bench)
        window = CpuWindow(groups)
        window.start()
        started = time.monotonic()
        while time.monotonic() - started < window_seconds:
            time.sleep(0.25)
            for stream_watches in watches:
                for watch in stream_watches:
                    watch.poll()
        wall = time.monotonic() - started
        cpu = window.stop()
        dead = sum(1 for publisher in publishers if publisher.poll() is not None)
    finally:
        for publisher in publishers:
            stop(publisher)
    rates = [[round(watch.media / wall, 3) for watch in stream_watches] for stream_watches in watches]
    worst = min((min(stream_rates) if stream_rates else 0.0) for stream_rates in rates)
    kept_up = sum(1 for stream_rates in rates if stream_rates and min(stream_rates) >= KEEPS_UP)
    wait_for(lambda: active_streams(bench) == 0, 120 + 10 * count, "every stream ending", bench)
    return {
        "streams": count,
        "kept_up": kept_up,
        "held": kept_up == count and dead == 0,
        "worst_rate": worst,
        "median_rate": statistics.median(rate for stream_rates in rates for rate in stream_rates),
        "publishers_died": dead,
        "cpu_percent_of_one_core": round(cpu["server"] + cpu["nginx"] + cpu["ffmpeg"] + cpu["other"], 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def all_live(bench: Bench, talks: list[tuple[int, str]]) -> list | None:
    streams = [live_stream(bench, talk) for talk, _slug in talks]
    return streams if all(streams) else None


def measure_capacity(bench: Bench, input_file: Path, window_seconds: float, max_streams: int) -> list[dict[str, Any]]:
    steps = [n for n in CAPACITY_STEPS if n <= max_streams]
    talks = new_talks(bench, steps[-1])
    with ThreadPoolExecutor(max_workers=4) as pool:
        urls = list(pool.map(lambda talk: publish_url(bench, talk[1]), talks))
    rounds = []
    for count in steps:
        log(f"{'ladder' if bench.ladder else 'copy only'}: {count} stream(s) at once")
        result = capacity_round(bench, input_file, talks[:count], urls[:count], window_seconds)
        log(f"  {result['kept_up']}/{count} kept up (worst {result['worst_rate']:.2f} s/s), "
            f"CPU {result['cpu_percent_of_one_core']:.0f} % of one core")
        rounds.append(result)
        if not result["held"]:
            break
    return rounds


# -- the report ------------------------------------------------------------------------------

def markdown(results: dict[str, Any]) -> str:
    lines = []
    for latency in results.get("latency", []):
        lat = latency["latency_ms"]
        heights = ", ".join(f"{height} {count}" for height, count in latency["heights_seen"].items())
        lines += [
            f"(a) RTMP to viewer, ladder {'on' if latency['ladder'] else 'off'} ({latency['playlist']}), "
            f"{latency['frames_read']} frames read in {latency['window_seconds']:.0f} s (renditions shown: {heights}); "
            f"live {latency['live_after_seconds']} s after the encoder started, playing after "
            f"{latency['viewer_plays_after_seconds']} s",
            "",
            "| latency p50 | p90 | min | max | target p50 <= 3 s |",
            "|---:|---:|---:|---:|:---|",
            f"| {lat['p50'] / 1000:.2f} s | {lat['p90'] / 1000:.2f} s | {lat['min'] / 1000:.2f} s "
            f"| {lat['max'] / 1000:.2f} s | {'met' if lat['p50'] <= TARGET_LATENCY_P50_MS else 'NOT met'} |",
            "",
        ]
    if results.get("cpu"):
        lines += [
            "(b) CPU per 720p30 stream, % of one core",
            "",
            "| mode | Arena process | nginx-rtmp | Arena's ffmpeg | Arena together | bare ffmpeg, same work | target |",
            "|:---|---:|---:|---:|---:|---:|:---|",
        ]
        for cpu in results["cpu"]:
            target = TARGET_CPU_LADDER if cpu["ladder"] else TARGET_CPU_COPY
            lines.append(
                f"| {'ladder (360p x264 veryfast, audio)' if cpu['ladder'] else 'copy only'} | {cpu['server']:.2f} % "
                f"| {cpu['nginx']:.2f} % | {cpu['ffmpeg']:.2f} % | **{cpu['arena_total']:.2f} %** "
                f"| {cpu['reference_ffmpeg']:.2f} % | <= {target:.0f} %: "
                f"{'met' if cpu['arena_total'] <= target else 'NOT met'} |")
        lines.append("")
    for mode, rounds in results.get("capacity", {}).items():
        lines += [
            f"(c) Simultaneous 720p30 ingests, {mode}",
            "",
            "| streams | kept up (>= 0.95 s of media per s) | worst | CPU, Arena's processes | load avg | held |",
            "|---:|---:|---:|---:|---:|:---|",
        ]
        for item in rounds:
            lines.append(f"| {item['streams']} | {item['kept_up']} | {item['worst_rate']:.2f} "
                         f"| {item['cpu_percent_of_one_core']:.0f} % | {item['load_average_1m']} "
                         f"| {'yes' if item['held'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="measuring window of (a) and (b)")
    parser.add_argument("--capacity-seconds", type=float, default=20, help="measuring window of each round of (c)")
    parser.add_argument("--max-streams", type=int, default=16, help="most simultaneous ingests tried in (c)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: latency, cpu, capacity")
    parser.add_argument("--latency-without-ladder", action="store_true",
                        help="measure (a) a second time with the ladder off")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, the tables on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}

    tmp = Path(tempfile.mkdtemp(prefix="arena-rtmp-bench-"))
    results: dict[str, Any] = {"machine": machine(), "latency": [], "cpu": [], "capacity": {}}
    try:
        input_file = None
        if not {"cpu", "capacity"} <= skip:
            log("encoding the 60 s input file (720p30, keyframe every second)")
            input_file = make_input_file(tmp / "venue.flv")
        for ladder in (True, False):
            wanted = {
                "latency": "latency" not in skip and (ladder or args.latency_without_ladder),
                "cpu": "cpu" not in skip,
                "capacity": "capacity" not in skip,
            }
            if not any(wanted.values()):
                continue
            log(f"server with the ladder {'on' if ladder else 'off'}")
            bench = start_bench(tmp / ("ladder" if ladder else "copy"), ladder=ladder)
            try:
                if wanted["latency"]:
                    results["latency"].append(measure_latency(bench, args.seconds))
                if wanted["cpu"]:
                    results["cpu"].append(measure_cpu(bench, input_file, args.seconds))
                if wanted["capacity"]:
                    results["capacity"]["ladder" if ladder else "copy only"] = measure_capacity(
                        bench, input_file, args.capacity_seconds, args.max_streams)
            finally:
                bench.close()
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    table = markdown(results)
    if args.json:
        print(json.dumps(results, indent=2))
        log(table)
    else:
        print(table)
        print(json.dumps(results["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
