"""Go-live benchmark (issue 6): capture-to-playback latency and the server's CPU per stream.

It starts `python -m server serve` (eventlet, real ffmpeg) with the demo event in a temporary
folder, and drives two pages of Debian's chromium (Playwright, fake camera and microphone):

- the speaker's studio, signed in with a speaker link, goes live in 1280x720. Before each
  frame the studio draws on its canvas (static/js/studio.js: window.arenaStudioStamp, defined
  only by this script) the capture time, Date.now() modulo 2^24 ms, as 24 black or white
  blocks of 40x40 px along the top of the picture;
- a viewer on the talk page, open before the speaker goes live, plays the stream (hls.js,
  the page's own player) and, for every frame it presents (requestVideoFrameCallback),
  draws the frame on a canvas, reads the blocks back and records Date.now() minus the stamp.

Both pages run on one machine, so they share one clock. The latency measured is from the
moment a frame is drawn in the studio to the moment the viewer's browser shows it: the
MediaRecorder slice (250 ms), the upload, ffmpeg's 1 s segments, the playlist refresh and
the player's distance from the live edge.

While the viewer measures, the script also reads /proc/<pid>/stat of the server process and
of its ffmpeg child (utime + stime) at the start and the end of the window: CPU time per
wall-clock second, as a percentage of one core, for one 720p stream. `--codec vp8` makes
the studio offer VP8 only (as Firefox would), so ffmpeg transcodes instead of copying.

    .venv/bin/python bench/golive_latency.py [--seconds 30] [--codec h264|vp8] [--json]

It prints a Markdown table (stderr with --json, the JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from event_page import free_port, log, machine, run_cli, server_env, start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]
SLUG = "sociala-medier-i-offentlig-sektor"
TALK = "skapa-arenor"
BITS, BLOCK = 24, 40

# Drawn by the studio after each frame of the picture: the capture time as 24 blocks.
STAMP_SCRIPT = f"""
window.arenaStudioStamp = function (context, width, height) {{
  var stamp = Date.now() % {2 ** BITS};
  context.fillStyle = "#808080";
  context.fillRect(0, 0, {BITS * BLOCK + 2 * BLOCK}, {BLOCK + 2 * 8});
  for (var bit = 0; bit < {BITS}; bit += 1) {{
    context.fillStyle = (stamp >> bit) & 1 ? "#ffffff" : "#000000";
    context.fillRect({BLOCK} + bit * {BLOCK}, 8, {BLOCK}, {BLOCK});
  }}
}};
"""

VP8_ONLY_SCRIPT = """
(function () {
  var supported = MediaRecorder.isTypeSupported.bind(MediaRecorder);
  MediaRecorder.isTypeSupported = function (type) { return !/h264|avc1/.test(type) && supported(type); };
})();
"""

# In the viewer: read the blocks back from every presented frame.
MEASURE_SCRIPT = f"""
() => {{
  const video = document.querySelector('[data-golive] video');
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', {{ willReadFrequently: true }});
  window.latencies = [];
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
    if (latency < 60000) window.latencies.push(latency);
  }}
  function frame() {{ read(); video.requestVideoFrameCallback(frame); }}
  video.requestVideoFrameCallback(frame);
}}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat[stat.index("(") + 1:stat.rindex(")")] == name and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(seconds: float, codec: str, keep: bool) -> dict[str, Any]:
    from playwright import sync_api

    tmp = Path(tempfile.mkdtemp(prefix="arena-golive-bench-"))
    port = free_port()
    env = server_env(tmp, port, f"sqlite:///{tmp / 'arena.db'}")
    run_cli(env, "migrate")
    run_cli(env, "load-demo")
    import subprocess

    granted = subprocess.run([sys.executable, "-m", "server", "grant-role", "speaker", "Mattias Jansson", "--event",
                              SLUG, "--talk", TALK], cwd=Path(__file__).resolve().parent.parent, env=env,
                             capture_output=True, text=True, check=True).stdout
    link = re.search(r"^Sign-in link: (\S+)", granted, re.M).group(1)
    server = start_server(tmp, env)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            viewer = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000}).new_page()
            viewer.goto(f"/events/{SLUG}/{TALK}")
            studio_context = browser.new_context(base_url=server.url)
            studio_context.add_init_script(STAMP_SCRIPT + (VP8_ONLY_SCRIPT if codec == "vp8" else ""))
            studio = studio_context.new_page()
            studio.goto(link.replace(server.url, ""))
            studio.goto(f"/events/{SLUG}/{TALK}/studio")
            studio.wait_for_selector("[data-studio-go-live]:not([disabled])")
            studio.click("[data-studio-go-live]")
            studio.wait_for_selector("[data-studio-badge][data-state=live]", timeout=30_000)
            viewer.wait_for_function("() => { const v = document.querySelector('[data-golive] video');"
                                     " return v && v.currentTime > 1 && v.videoWidth > 0; }", timeout=30_000)
            mime = studio.evaluate("window.arenaStudio.mimeType")
            log(f"live ({mime}); settling 5 s, then measuring {seconds:.0f} s")
            viewer.wait_for_timeout(5_000)
            viewer.evaluate(MEASURE_SCRIPT)
            ffmpeg = children(server.process.pid, "ffmpeg")
            processes = [server.process.pid, *ffmpeg]
            cpu_before = {pid: cpu_seconds(pid) for pid in processes}
            wall_before = time.monotonic()
            viewer.wait_for_timeout(seconds * 1000)
            wall = time.monotonic() - wall_before
            cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in processes}
            latencies = viewer.evaluate("window.latencies")
            size = viewer.evaluate("[document.querySelector('[data-golive] video').videoWidth,"
                                   " document.querySelector('[data-golive] video').videoHeight]")
            studio.click("[data-studio-end]")
            studio.wait_for_selector("[data-studio-badge][data-state=ended]", timeout=180_000)
            browser.close()
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not latencies:
        raise SystemExit("no frame could be read back: the stamp did not survive")
    server_pct = 100 * cpu[processes[0]] / wall
    ffmpeg_pct = 100 * sum(cpu[pid] for pid in ffmpeg) / wall
    return {
        "machine": machine(),
        "codec_from_browser": mime,
        "video": f"{size[0]}x{size[1]}",
        "window_seconds": round(wall, 1),
        "frames_read": len(latencies),
        "latency_ms": {"p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9),
                       "min": min(latencies), "max": max(latencies), "mean": round(statistics.mean(latencies))},
        "cpu_percent_of_one_core": {"server": round(server_pct, 2), "ffmpeg": round(ffmpeg_pct, 2),
                                    "total": round(server_pct + ffmpeg_pct, 2)},
    }


def markdown_table(result: dict[str, Any]) -> str:
    lat, cpu = result["latency_ms"], result["cpu_percent_of_one_core"]
    return "\n".join([
        f"One {result['video']} stream, browser sends `{result['codec_from_browser']}`, "
        f"{result['frames_read']} frames read in {result['window_seconds']} s",
        "",
        "| latency p50 | p90 | min | max | target p50 <= 3 s |",
        "|---:|---:|---:|---:|:---|",
        f"| {lat['p50'] / 1000:.2f} s | {lat['p90'] / 1000:.2f} s | {lat['min'] / 1000:.2f} s "
        f"| {lat['max'] / 1000:.2f} s | {'met' if lat['p50'] <= 3000 else 'NOT met'} |",
        "",
        "| CPU, server process | CPU, ffmpeg | together | target < 5 % of one core (remuxing) |",
        "|---:|---:|---:|:---|",
        f"| {cpu['server']:.2f} % | {cpu['ffmpeg']:.2f} % | {cpu['total']:.2f} % "
        f"| {'met' if cpu['total'] < 5 else 'NOT met'} |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of the measuring window")
    parser.add_argument("--codec", choices=["h264", "vp8"], default="h264",
                        help="what the studio offers: h264 (Chromium, copied) or vp8 (as Firefox, transcoded)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.codec, args.keep)
    table = markdown_table(result)
    if args.json:
        print(json.dumps(result, indent=2))
        log(table)
    else:
        print(table)
        print(json.dumps(result["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
