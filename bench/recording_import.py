"""Recording import benchmark: a 60 s 720p clip from a web server on 127.0.0.1.

    .venv/bin/python bench/recording_import.py [--runs N] [--seconds S] [--json] [--keep]

It makes the clip with Debian's ffmpeg (H.264 720p30 + AAC, about 60 s), serves it from a
local HTTP server (the tests' MediaSite, tests/recording_media.py) and measures:

  (a) time to metadata: from starting the import worker (server/media/importer.py, a new
      Python process that imports yt-dlp and runs its generic extractor) to its "metadata"
      event: title, duration, direct file or not;
  (b) time to an archived copy: the whole service path (server/services/recordings/imports.py:
      start_import + execute_import): worker, download with the byte cap counted, ffprobe
      check, rename into recordings/<event>/<talk>/, Recording row committed;
  (c) the server's other clients during an import: `python -m server serve` (eventlet) with
      the demo day; an organiser starts the import through the admin form, and meanwhile
      GET /healthz (a database round trip) is timed back to back on one connection, and
      compared with the same loop while no import runs.

Only 127.0.0.1 is contacted. The temporary folder is removed at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.recording_media import MediaSite  # noqa: E402

PASSWORD = "benchmark-lösenord-2026"
DEMO_SLUG = "sociala-medier-i-offentlig-sektor"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_720p_clip(path: Path, seconds: int) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast",
                    "-b:v", "2500k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart",
                    "-shortest", str(path)], check=True, timeout=600)
    return path


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1],
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], "n": len(ordered)}


def time_to_metadata(site: MediaSite, folder: Path, runs: int) -> list[float]:
    from server.media import importer

    times = []
    for run in range(runs):
        work = folder / f"meta-{run}"
        work.mkdir()
        started = time.perf_counter()
        seen: dict[str, float] = {}

        def on_event(event: dict[str, Any], seen: dict[str, float] = seen, started: float = started) -> None:
            if event.get("event") == "metadata" and "metadata" not in seen:
                seen["metadata"] = time.perf_counter() - started

        spec = importer.ImportSpec(url=site.url("clip.mp4"), work_dir=str(work), download=True,
                                   allowed_hosts=["127.0.0.1"], max_bytes=1024 ** 3)
        outcome = importer.run_import(spec, timeout=300, on_event=on_event)
        assert outcome.ok, outcome
        times.append(seen["metadata"])
        importer.remove_tree(work)
    return times


def time_to_archive(site: MediaSite, folder: Path, runs: int) -> tuple[list[float], int]:
    from server import create_app
    from server.config import load_settings
    from server.db import db
    from server.migrations import upgrade
    from server.models import JobState, Role
    from server.services.demo import load_demo
    from server.services.events import get_talk
    from server.services.recordings import imports as recording_imports
    from server.services.roles import Actor

    settings = load_settings(config_file=None, environ={}, overrides={
        "server": {"instance_path": str(folder / "instance"), "secret_key": "bench", "async_mode": "threading"},
        "database": {"url": f"sqlite:///{folder / 'arena.db'}"},
        "media": {"recordings_dir": str(folder / "recordings"), "import_allowed_hosts": ["127.0.0.1"]},
    })
    app = create_app(settings)
    actor = Actor(participant_id="bench", role=Role.organiser, staff_name="bench")
    times, size = [], 0  # size: of the last archived copy
    with app.app_context():
        upgrade(db.engine)
        from datetime import date

        load_demo(db.session, day=date.today())
        db.session.commit()
        talk = get_talk(db.session, DEMO_SLUG, "skapa-arenor")
        limits = recording_imports.ImportLimits.from_settings(settings)
        for _ in range(runs):
            started = time.perf_counter()
            job = recording_imports.start_import(db.session, talk, site.url("clip.mp4"), archive=True, actor=actor)
            db.session.commit()
            job = recording_imports.execute_import(db.session, job.id, limits)
            times.append(time.perf_counter() - started)
            assert job.state is JobState.succeeded, job.error_detail
            size = talk.recording.file_size
        db.session.remove()
    app.extensions["arena.live"].stop()
    return times, size


def server_during_import(site: MediaSite, folder: Path) -> dict[str, Any]:
    import requests

    from tests.conftest import run_cli, start_live_server

    server = start_live_server(folder / "live", extra_env={"ARENA_MEDIA__IMPORT_ALLOWED_HOSTS": "127.0.0.1"})
    try:
        result = run_cli(server.env, "create-organiser", "bench@kommun.se", "Bench", stdin=PASSWORD + "\n")
        assert result.returncode == 0, result.stderr
        browser = requests.Session()
        token = lambda path: re.search(r'name="csrf_token"[^>]*value="([^"]+)"',  # noqa: E731
                                       browser.get(server.url + path).text).group(1)
        browser.post(server.url + "/sign-in", data={"email": "bench@kommun.se", "password": PASSWORD,
                                                    "csrf_token": token("/sign-in")}).raise_for_status()
        page = f"/admin/events/{DEMO_SLUG}/talks/skapa-arenor/recording"

        def ping_loop(stop: threading.Event) -> list[float]:
            client, samples = requests.Session(), []
            while not stop.is_set():
                started = time.perf_counter()
                client.get(server.url + "/healthz").raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            return samples

        def measure(during_import: bool) -> tuple[list[float], float]:
            stop, box = threading.Event(), {}
            thread = threading.Thread(target=lambda: box.update(samples=ping_loop(stop)))
            thread.start()
            started = time.perf_counter()
            if during_import:
                browser.post(server.url + page + "/import", data={"url": site.url("clip.mp4"), "archive": "y",
                                                                  "csrf_token": token(page)}).raise_for_status()
                while 'data-running="false"' not in browser.get(server.url + page).text:
                    time.sleep(0.05)
            else:
                time.sleep(3)
            elapsed = time.perf_counter() - started
            stop.set()
            thread.join()
            return box["samples"], elapsed

        idle, _ = measure(False)
        busy, import_seconds = measure(True)
        assert "Importerad." in browser.get(server.url + page).text, "the import through the server failed"
        return {"idle_ms": stats(idle), "during_import_ms": stats(busy), "import_through_server_s": import_seconds}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="arena-bench-import-"))
    try:
        log(f"making a {args.seconds} s 720p clip ...")
        clip = make_720p_clip(folder / "clip.mp4", args.seconds)
        clip_bytes = clip.stat().st_size
        site = MediaSite(clip, clip)
        log("time to metadata ...")
        metadata = time_to_metadata(site, folder, args.runs)
        log("time to an archived copy ...")
        archive, _ = time_to_archive(site, folder, args.runs)
        log("the server's other clients during an import ...")
        server = server_during_import(site, folder)
        site.close()
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "clip_bytes": clip_bytes, "clip_seconds": args.seconds,
        "time_to_metadata_s": stats(metadata), "time_to_archived_copy_s": stats(archive), "server": server,
    }
    m, a = results["time_to_metadata_s"], results["time_to_archived_copy_s"]
    idle, busy = server["idle_ms"], server["during_import_ms"]
    table = "\n".join([
        f"Clip: {args.seconds} s, 1280x720 H.264 + AAC, {clip_bytes / 1048576:.1f} MB, served from 127.0.0.1. "
        f"{results['machine']}.",
        "",
        "| measure | median | min | max | runs |",
        "|---|---|---|---|---|",
        f"| time to metadata (worker start -> metadata) "
        f"| {m['median']:.2f} s | {m['min']:.2f} s | {m['max']:.2f} s | {m['n']} |",
        f"| time to archived copy (service path, file in place, row committed) "
        f"| {a['median']:.2f} s | {a['min']:.2f} s | {a['max']:.2f} s | {a['n']} |",
        "",
        "| GET /healthz on the eventlet server | median | p99 | max | requests |",
        "|---|---|---|---|---|",
        f"| no import running | {idle['median']:.1f} ms | {idle['p99']:.1f} ms | {idle['max']:.1f} ms | {idle['n']} |",
        f"| while an import runs ({server['import_through_server_s']:.2f} s, form to done) "
        f"| {busy['median']:.1f} ms | {busy['p99']:.1f} ms | {busy['max']:.1f} ms | {busy['n']} |",
    ])
    if args.json:
        print(json.dumps(results, indent=2))
        print(table, file=sys.stderr)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
