"""docs/deploy.md's topology on this machine, from the shipped files in deploy/.

- nginx: Debian's /usr/sbin/nginx runs deploy/nginx.conf with only its ADJUST lines changed
  (ports, folders, certificate, access log), as docs/deploy.md tells an operator to; the site
  goes inside the smallest main nginx.conf that runs unprivileged in the foreground, where
  Debian's /etc/nginx/nginx.conf would include it.
- Arena: each process is started as deploy/arena@.service starts it: its ExecStart, its
  Environment= lines (the instance %i is the port), and an environment file with the keys of
  deploy/arena.env.example; the release /opt/arena/current points to is this checkout, and
  /etc/arena/config.toml is deploy/config.toml. The test machine's own values (folders, the
  public address, no RTMP ingest) are added to the environment file, where an operator's would go.
"""

from __future__ import annotations

import getpass
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from server.config import PROJECT_ROOT
from tests.waiting import wait_until

NGINX = "/usr/sbin/nginx"
DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx.conf"
UNIT = DEPLOY / "arena@.service"
ENV_EXAMPLE = DEPLOY / "arena.env.example"
CONFIG = DEPLOY / "config.toml"
INSTALLED_AT = "/opt/arena"
CURRENT = f"{INSTALLED_AT}/current"  # a link to the running release: releases/<version>
EXEC_START = re.compile(r"/bin/sh -c 'exec \"\$\$\(readlink -f " + re.escape(CURRENT)
                        + r"\)/\.venv/bin/python\" (?P<args>[^']+)'")
CONFIG_AT = "/etc/arena/config.toml"


# -- TLS ----------------------------------------------------------------------------------

def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), its own trust anchor: what certbot's
    fullchain.pem and privkey.pem are in production."""
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(certificate)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return certificate, key


# -- nginx --------------------------------------------------------------------------------

def render_site(*, http_port: int, https_port: int, arena_ports: list[int], root: Path, static: Path,
                certificate: Path, key: Path, cache: Path, access_log: Path,
                error_log: Path | None = None) -> str:
    """deploy/nginx.conf with each ADJUST line changed for this machine, and nothing else (the
    site's error log goes next to its access log unless given)."""
    error_log = error_log or access_log.with_name("arena.error.log")
    site = SITE.read_text()
    shipped_upstream = "".join(line + "\n" for line in site.splitlines()
                               if re.match(r"\s+server 127\.0\.0\.1:\d+ .*# ADJUST", line))
    upstream = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in arena_ports)
    changes = {  # the shipped text: (what it becomes, how often it is there)
        "proxy_cache_path /var/lib/nginx/arena-media-access ": (f"proxy_cache_path {cache} ", 1),
        shipped_upstream: (upstream, 1),
        "listen 80;": (f"listen 127.0.0.1:{http_port};", 1),
        "listen 443 ssl http2;": (f"listen 127.0.0.1:{https_port} ssl http2;", 1),
        "server_name arena.example.se;": ("server_name 127.0.0.1;", 2),
        "access_log /var/log/nginx/arena.access.log arena;": (f"access_log {access_log} arena;", 2),
        "error_log /var/log/nginx/arena.error.log crit;": (f"error_log {error_log} crit;", 2),
        "/etc/letsencrypt/live/arena.example.se/fullchain.pem;": (f"{certificate};", 1),
        "/etc/letsencrypt/live/arena.example.se/privkey.pem;": (f"{key};", 1),
        "(?<arena_metrics_port>5001|5002)": (f"(?<arena_metrics_port>{'|'.join(map(str, arena_ports))})", 1),
        "root /var/lib/arena;": (f"root {root};", 1),
        "alias /opt/arena/current/static/;": (f"alias {static}/;", 1),
        # The monitoring network stays as shipped (192.0.2.0/24, for documentation): this
        # machine's 127.0.0.1 is allowed as loopback, and 127.0.0.2 is the stranger.
        "allow 192.0.2.0/24;": ("allow 192.0.2.0/24;", 2),
    }
    adjusted = [line for line in site.splitlines() if "# ADJUST" in line]
    for shipped, (replacement, count) in changes.items():
        assert site.count(shipped) == count, f"deploy/nginx.conf no longer has {shipped!r} {count} time(s)"
        site = site.replace(shipped, replacement)
    # Every ADJUST line is one this function knows: a new one must be added above (and to the docs).
    known = [shipped.split("#")[0].strip() for shipped in changes if shipped != shipped_upstream]
    unknown = [line for line in adjusted
               if line + "\n" not in shipped_upstream and not any(text in line for text in known)]
    assert not unknown, f"ADJUST lines the test does not change: {unknown}"
    return site


def main_config(folder: Path, site: str) -> Path:
    """The site inside the smallest nginx.conf that runs in the foreground without root's
    folders (Debian's /etc/nginx/nginx.conf includes sites-enabled/ in its http block)."""
    # As root (a container), nginx's workers would be "nobody", who cannot read pytest's
    # private temporary folders: keep them as the user running the test.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    path = folder / "nginx.conf"
    path.write_text(f"""
{user}
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
""")
    return path


LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \S+ \S+ "(?P<agent>[^"]*)" '
                      r"upstream=(?P<upstream>.+?) "
                      r"upstream_status=(?P<upstream_status>.+?) route=(?P<route>\S+) request_id=(?P<request_id>\S+)$")
# upstream= and upstream_status= hold two, comma-separated, when nginx tried a second process.


@dataclass
class Nginx:
    folder: Path
    config: Path
    https_port: int
    http_port: int
    access_log: Path
    certificate: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def check(self) -> None:
        checked = subprocess.run([NGINX, "-t", "-p", str(self.folder), "-c", str(self.config)],
                                 check=False, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr

    def start(self) -> None:
        self.check()
        self.process = subprocess.Popen([NGINX, "-p", str(self.folder), "-c", str(self.config), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=60, message=lambda: f"nginx never answered: {self.errors()}")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.errors()}")
        try:
            requests.get(f"{self.http_url}/", timeout=10, allow_redirects=False)
        except requests.ConnectionError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def errors(self) -> str:
        """nginx's own error log (start-up; the http block's)."""
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def site_errors(self) -> str:
        """The site's error log (its error_log line)."""
        path = self.access_log.with_name("arena.error.log")
        return path.read_text(errors="replace") if path.exists() else ""

    def requests_log(self) -> list[dict[str, str]]:
        """The access log's lines, each as its fields (the site's log_format "arena")."""
        if not self.access_log.exists():
            return []
        return [found.groupdict() for line in self.access_log.read_text(errors="replace").splitlines()
                if (found := LOG_LINE.search(line))]

    def upstreams(self, *, route: str, path_prefix: str, agent: str | None = None) -> set[str]:
        """The Arena processes (127.0.0.1:<port>) that answered a route's requests under a path
        (of one user agent, if given). nginx writes a line once the answer is sent, and a
        websocket's when it closes: wait for what should be there."""
        return {line["upstream"] for line in self.requests_log()
                if line["route"] == route and line["path"].startswith(path_prefix)
                and (agent is None or agent in line["agent"])}

    def line(self, request_id: str) -> dict[str, str]:
        """The access log's line of one request (the X-Request-ID Arena answered with)."""
        def found() -> dict[str, str] | None:
            return next((line for line in self.requests_log() if line["request_id"] == request_id), None)

        return wait_until(found, message=f"nginx logged no request {request_id}")

    def lines(self, route: str, count: int) -> list[dict[str, str]]:
        """The first `count` lines of a route, once there are that many."""
        def found() -> list[dict[str, str]]:
            lines = [line for line in self.requests_log() if line["route"] == route]
            return lines[:count] if len(lines) >= count else []

        return wait_until(found, message=f"nginx logged fewer than {count} requests of {route}")


def start_nginx(folder: Path, *, arena_ports: list[int], recordings_parent: Path) -> Nginx:
    from tests.conftest import free_port

    certificate, key = self_signed_certificate(folder)
    https_port, http_port = free_port(), free_port()
    access_log = folder / "arena.access.log"
    site = render_site(http_port=http_port, https_port=https_port, arena_ports=arena_ports, root=recordings_parent,
                       static=PROJECT_ROOT / "static", certificate=certificate, key=key,
                       cache=folder / "media-access", access_log=access_log)
    nginx = Nginx(folder, main_config(folder, site), https_port, http_port, access_log, certificate)
    nginx.start()
    return nginx


# -- Arena, as its systemd unit runs it -----------------------------------------------------

def unit_service_lines(unit_text: str) -> list[tuple[str, str]]:
    """(key, value) of the [Service] section, in order."""
    lines, section = [], ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            lines.append((key, value))
    return lines


def read_environment_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile= for the simple lines docs/deploy.md asks for: KEY=value."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@dataclass
class ArenaProcess:
    """One arena@<port> unit: started, stopped (SIGTERM) and started again on the same port."""

    port: int
    env: dict[str, str]
    argv: list[str]
    cwd: Path
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = field(default=0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"=== start {self.starts} ===\n")
            log.flush()
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, timeout=120, interval=0.2,
                   message=lambda: f"arena@{self.port} never got ready: {self.log()}")

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"arena@{self.port} exited: {self.log()}")
        try:
            return requests.get(f"{self.url}/readyz", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def terminate(self) -> int:
        """SIGTERM, as `systemctl stop` (or restart) sends it; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)  # systemd's TimeoutStopSec would kill it
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def arena_unit(port: int, environment_file: Path, log_path: Path) -> ArenaProcess:
    """arena@<port>.service as systemd would start it, with this checkout for the release
    /opt/arena/current points to."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ARENA_")}
    argv: list[str] = []
    cwd = PROJECT_ROOT
    for key, value in unit_service_lines(UNIT.read_text()):
        value = value.replace("%i", str(port))
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = str(CONFIG) if setting == CONFIG_AT else setting
        elif key == "EnvironmentFile":
            assert value == "/etc/arena/arena.env", value
            env.update(read_environment_file(environment_file.read_text()))
        elif key == "ExecStart":
            # The release `current` points to when the unit starts, resolved once: a process
            # keeps its own release's packages when the link moves to another (docs/deploy.md).
            started = EXEC_START.fullmatch(value)
            assert started, value
            argv = [sys.executable, *started["args"].split()]
        elif key == "WorkingDirectory":
            assert value == CURRENT, value
    assert argv and env.get("ARENA_SERVER__PORT") == str(port) and env.get("ARENA_CONFIG") == str(CONFIG)
    return ArenaProcess(port=port, env=env, argv=argv, cwd=cwd, log_path=log_path)


def environment_file(folder: Path, values: dict[str, str], machine: dict[str, str]) -> Path:
    """/etc/arena/arena.env: every key of deploy/arena.env.example with this test's value, then
    this machine's own settings."""
    keys = list(read_environment_file(ENV_EXAMPLE.read_text()))
    missing = set(keys) - set(values)
    assert not missing, f"no test value for {missing} (deploy/arena.env.example)"
    lines = [f"{key}={values[key]}" for key in keys] + [f"{key}={value}" for key, value in machine.items()]
    path = folder / "arena.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def run_command(process: ArenaProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`arena-manage <args>` (deploy/arena-manage): the command line with the unit's environment."""
    return subprocess.run([*process.argv[:-1], *args], cwd=process.cwd, env=process.env, input=stdin,
                          check=False, capture_output=True, text=True, timeout=180)
