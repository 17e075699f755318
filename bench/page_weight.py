"""Page weight before any click: the event page and a talk page of the demo event.

    .venv/bin/python bench/page_weight.py [--talk SLUG] [--with-hls-talk] [--json]

It starts `python -m server serve` (eventlet) on a free port of 127.0.0.1 with a fresh SQLite
file (`python -m server migrate`, `python -m server load-demo`), opens each page with
Playwright's sync API in Debian's chromium (/usr/bin/chromium; no browser is ever downloaded),
in a new browser context each (cold cache), records every request, waits for network idle,
and sums the response bodies:

  - compressed: gzip level 6 (nginx's gzip_comp_level default is 1, but 6 is the usual
    setting and the brief's) for text types (HTML, CSS, JS, JSON, SVG, XML); other bodies
    (images, fonts, media) count as they are, since nginx does not gzip them;
  - uncompressed: the bodies as they are;
  - requests, and third-party requests (any host but 127.0.0.1). Those are aborted through
    page.route (page.route_web_socket for WebSockets), so nothing leaves the machine; they
    are counted, not weighed;
  - WebSockets the page opens by itself (the live room): each counts as a request, and the
    frames it receives before any click count as one more body, gzipped as one stream.

HTTP headers are not counted. --with-hls-talk adds, after the demo pages are measured, a talk
whose stream is our own HLS (/recordings/live/bench/index.m3u8) and weighs its page twice: as
chromium (which plays HLS natively) and as a browser without native HLS such as Firefox
(canPlayType answers "" for HLS), where player.js loads hls.js.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from event_page import free_port, log, machine, run_cli, server_env, start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO_SLUG = "sociala-medier-i-offentlig-sektor"
DEFAULT_TALK = "skapa-arenor"  # the demo talk with a YouTube stream (click-to-load facade)
HLS_TALK = "bench-hls"
LOCAL_HOST = "127.0.0.1"
TARGET_KB = 60.0
COMPRESSIBLE = ("text/", "application/javascript", "application/x-javascript", "application/json",
                "application/xml", "image/svg+xml", "application/manifest+json")


def is_compressible(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith(COMPRESSIBLE)


# Chromium 141+ plays HLS natively (canPlayType says "maybe"), Firefox does not: this makes
# chromium answer as Firefox would, so player.js takes its hls.js path.
NO_NATIVE_HLS = """
(() => {
  const original = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : original.call(this, type);
  };
})();
"""


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname == LOCAL_HOST


def weigh(browser, url: str, settle_ms: int, init_script: str | None = None) -> dict[str, Any]:
    """Open url in a fresh context; every request and the weight of every response body, and
    of every WebSocket frame the page receives before any click."""
    context = browser.new_context(locale="sv-SE", service_workers="block")
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    requests: list[dict[str, Any]] = []
    responses: list[Any] = []
    failed: list[str] = []
    sockets: list[dict[str, Any]] = []

    def route(route_) -> None:
        if _is_local(route_.request.url):
            route_.continue_()
        else:
            route_.abort("blockedbyclient")

    def on_websocket(ws) -> None:
        record: dict[str, Any] = {"url": ws.url, "third_party": not _is_local(ws.url), "received": [], "sent": 0}
        sockets.append(record)
        ws.on("framereceived", lambda payload: record["received"].append(
            payload.encode() if isinstance(payload, str) else payload))
        ws.on("framesent", lambda payload: record.__setitem__("sent", record["sent"] + len(payload)))

    page.route("**/*", route)
    # page.route does not see WebSockets: one to another host is closed before it connects.
    page.route_web_socket(lambda ws_url: not _is_local(ws_url), lambda ws_route: ws_route.close())
    page.on("websocket", on_websocket)
    page.on("request", lambda request: requests.append({
        "url": request.url, "type": request.resource_type, "third_party": not _is_local(request.url),
    }))
    page.on("response", lambda response: responses.append(response))
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(url, wait_until="networkidle", timeout=30_000)
        page.wait_for_timeout(settle_ms)  # anything a script starts late still counts
        rows = []
        for response in responses:
            try:
                body = response.body()
            except Exception:  # a redirect or an aborted request has no body
                body = b""
            content_type = response.headers.get("content-type", "")
            if body and is_compressible(content_type):
                compressed = len(gzip.compress(body, compresslevel=6))
            else:
                compressed = len(body)
            rows.append({"url": response.url, "status": response.status, "content_type": content_type,
                         "bytes": len(body), "compressed_bytes": compressed})
    finally:
        context.close()
    for record in sockets:
        # The frames received, as one stream: about what permessage-deflate would carry.
        data = b"".join(record["received"])
        rows.append({"url": record["url"], "status": 101, "content_type": "websocket frames received",
                     "bytes": len(data), "compressed_bytes": len(gzip.compress(data, compresslevel=6)) if data else 0,
                     "frames": len(record["received"]), "bytes_sent": record["sent"]})
    third_party = [r["url"] for r in requests if r["third_party"]] + [w["url"] for w in sockets if w["third_party"]]
    return {
        "url": url,
        "requests": len(requests) + len(sockets),
        "websockets": len(sockets),
        "third_party_requests": len(third_party),
        "third_party_urls": third_party,
        "failed_requests": failed,
        "uncompressed_bytes": sum(r["bytes"] for r in rows),
        "compressed_bytes": sum(r["compressed_bytes"] for r in rows),
        "responses": rows,
    }


def add_hls_talk(tmp: Path, database_url: str) -> None:
    """A talk on the demo event whose stream is our own HLS: a <video data-hls-src> player."""
    from datetime import time as clock

    from event_page import make_app

    from server.db import db
    from server.services.events import create_talk, get_event

    app = make_app(tmp, database_url)
    with app.app_context():
        event = get_event(db.session, DEMO_SLUG)
        zone = ZoneInfo(event.time_zone)
        create_talk(
            db.session, event, slug=HLS_TALK, title="Egen sändning (HLS)",
            starts_at=datetime.combine(event.starts_on, clock(15, 0), zone),
            ends_at=datetime.combine(event.starts_on, clock(15, 45), zone),
            invitation_text="Ett pass som sänds från vår egen server.",
            stream_url="/recordings/live/bench/index.m3u8", own_host=LOCAL_HOST,
        )
        db.session.commit()
        db.session.remove()
    db.engine.dispose()


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        "| page | requests | third-party | uncompressed | compressed (gzip 6) | target <= 60 KB, 0 third-party |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for name, page in results["pages"].items():
        kb = page["compressed_bytes"] / 1024
        met = kb <= TARGET_KB and page["third_party_requests"] == 0
        lines.append(f"| {name} | {page['requests']} | {page['third_party_requests']} "
                     f"| {page['uncompressed_bytes'] / 1024:.1f} KB | {kb:.1f} KB | {'met' if met else 'NOT met'} |")
    lines += ["", "| page | response | status | bytes | compressed |", "|:---|:---|---:|---:|---:|"]
    for name, page in results["pages"].items():
        for row in page["responses"]:
            path = urlsplit(row["url"]).path
            lines.append(f"| {name} | `{path}` | {row['status']} | {row['bytes']} | {row['compressed_bytes']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talk", default=DEFAULT_TALK, help=f"the demo talk to weigh (default {DEFAULT_TALK})")
    parser.add_argument("--with-hls-talk", action="store_true",
                        help="also add and weigh a talk whose stream is our own HLS")
    parser.add_argument("--settle-ms", type=int, default=1000, help="wait after network idle (default 1000)")
    parser.add_argument("--json", action="store_true", help="JSON results on stdout (the table goes to stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium (no browser is downloaded)")

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="arena-weight-"))
    server = None
    try:
        port = free_port()
        database_url = f"sqlite:///{tmp / 'arena.db'}"
        env = server_env(tmp, port, database_url)
        today = datetime.now(ZoneInfo("Europe/Stockholm")).date().isoformat()
        run_cli(env, "migrate")
        run_cli(env, "load-demo", "--date", today)
        server = start_server(tmp, env)
        pages = {"event page": f"{server.url}/events/{DEMO_SLUG}/",
                 "talk page": f"{server.url}/events/{DEMO_SLUG}/{args.talk}"}
        results: dict[str, Any] = {"machine": machine(), "demo_day": today, "pages": {}}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                results["chromium"] = browser.version
                for name, url in pages.items():
                    log(f"weighing {url}")
                    results["pages"][name] = weigh(browser, url, args.settle_ms)
                if args.with_hls_talk:
                    add_hls_talk(tmp, database_url)
                    url = f"{server.url}/events/{DEMO_SLUG}/{HLS_TALK}"
                    log(f"weighing {url} (own HLS stream, added for this run)")
                    results["pages"]["talk page, own HLS stream"] = weigh(browser, url, args.settle_ms)
                    log(f"weighing {url} as a browser without native HLS (Firefox)")
                    results["pages"]["talk page, own HLS stream, no native HLS"] = weigh(
                        browser, url, args.settle_ms, init_script=NO_NATIVE_HLS)
            finally:
                browser.close()
        if server.process.poll() is not None:
            raise SystemExit(f"the server died during the run:\n{server.log()}")
        table = markdown_table(results)
        if args.json:
            print(table, file=sys.stderr)
            print(json.dumps(results, indent=2))
        else:
            print(table)
        return 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
