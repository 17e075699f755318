"""docs/nginx.conf, run with Debian's nginx in front of a real Arena: the example config in
the docs works. nginx serves recordings/ itself (HLS types and cache headers, private files
refused) and passes pages and Socket.IO websockets (the studio's included) to Arena.

nginx comes from Debian (`make test` installs it with chromium and ffmpeg). A missing nginx
is a failed set-up, not a reason to skip, as with the browser.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import requests
import socketio

from server.config import PROJECT_ROOT
from server.sockets import protocol as p
from tests.conftest import free_port, start_live_server
from tests.waiting import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLUG = "sociala-medier-i-offentlig-sektor"


def nginx_config(tmp: Path, port: int, arena_port: int, root: Path) -> Path:
    """docs/nginx.conf as written, with its ADJUST lines pointed at this test's folders,
    inside the smallest nginx.conf that runs unprivileged in the foreground."""
    site = (PROJECT_ROOT / "docs" / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:5000;", f"server 127.0.0.1:{arena_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("server_name arena.example.se;", "server_name 127.0.0.1;")
    site = site.replace("root /srv/arena;", f"root {root};")
    assert site.count(f"{arena_port}") == 1 and f"root {root};" in site
    main = tmp / "nginx.conf"
    # Run as root (a container), nginx's workers would be "nobody", who cannot read pytest's
    # private temporary folders: keep them as the user running the test.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    main.write_text(f"""
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
""")
    return main


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=30)
    except requests.ConnectionError:
        return False
    return True


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    assert Path(NGINX).exists(), f"no nginx at {NGINX}: run `make test` (it installs Debian's nginx)"
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    front = f"http://127.0.0.1:{port}"
    # Arena's public address is nginx's: the Socket.IO origin check compares with it.
    arena = start_live_server(tmp, extra_env={"ARENA_SERVER__BASE_URL": front})
    config = nginx_config(tmp, port, int(arena.env["ARENA_SERVER__PORT"]), tmp)
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(config), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until(lambda: answers(f"{front}/healthz"), message="nginx never answered")
    yield front, tmp / "recordings"
    nginx.terminate()
    nginx.wait(timeout=10)
    arena.stop()


def test_nginx_serves_hls_itself_with_types_and_cache_headers(behind_nginx):
    front, recordings = behind_nginx
    folder = recordings / "dag" / "pass" / "live" / "7"
    folder.mkdir(parents=True)
    (folder / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
    (folder / "segment-000001.ts").write_bytes(b"\x47" * 188 * 10)

    playlist = requests.get(f"{front}/recordings/dag/pass/live/7/index.m3u8", timeout=30)
    segment = requests.get(f"{front}/recordings/dag/pass/live/7/segment-000001.ts", timeout=30)

    assert playlist.status_code == 200 and playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "no-cache"
    assert segment.headers["Content-Type"] == "video/mp2t"
    assert segment.headers["Cache-Control"] == "public, max-age=86400, immutable"
    assert "nginx" in playlist.headers.get("Server", "")  # not Arena: no Python on this path


def test_nginx_refuses_a_streams_working_files(behind_nginx):
    front, recordings = behind_nginx
    folder = recordings / "dag" / "pass" / "archive" / "7-0123456789abcdef"
    folder.mkdir(parents=True)
    for name in ("source.mkv", "ffmpeg.log", "recording.mp4"):
        (folder / name).write_bytes(b"\0" * 64)

    answers = {name: requests.get(f"{front}/recordings/dag/pass/archive/7-0123456789abcdef/{name}", timeout=30)
               for name in ("source.mkv", "ffmpeg.log", "recording.mp4")}

    assert answers["source.mkv"].status_code == 404 and answers["ffmpeg.log"].status_code == 404
    assert answers["recording.mp4"].status_code == 200
    assert answers["recording.mp4"].headers["Content-Type"] == "video/mp4"


def test_nginx_passes_pages_and_socketio_websockets_to_arena(behind_nginx):
    front, _recordings = behind_nginx
    page = requests.get(f"{front}/events/{SLUG}/skapa-arenor", timeout=30)
    client = socketio.Client(reconnection=False)

    client.connect(front, namespaces=[p.LIVE_NAMESPACE, p.STUDIO_NAMESPACE], transports=["websocket"],
                   wait_timeout=10)
    connected = client.transport(), sorted(client.namespaces)
    client.disconnect()

    assert page.status_code == 200 and re.search(r"Skapa arenor", page.text)
    assert connected == ("websocket", [p.LIVE_NAMESPACE, p.STUDIO_NAMESPACE])
