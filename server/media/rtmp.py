"""nginx with Debian's RTMP module (libnginx-mod-rtmp): the RTMP server a venue's encoder
(OBS, vMix, an ATEM Mini) publishes to (docs/ingest.md).

- `nginx_config` writes the whole nginx.conf from the settings: one RTMP application, `live`,
  whose `on_publish`/`on_publish_done` ask Arena over loopback HTTP (with the shared secret
  of `callback_secret`) whether a stream key may publish; nginx renames an accepted stream
  to the name Arena answers, so the key itself never reaches ffmpeg or a log. Only loopback
  may play (Arena's own ffmpeg). Stat and control are served on a unix socket.
- `ManagedNginx` runs that nginx as a child of `python -m server serve`: it never outlives
  Arena (PR_SET_PDEATHSIG), is started again when it dies, and when it cannot run (nginx or
  the module missing, the port taken) says why in one log line while Arena serves on.
- `RtmpControl` reads nginx-rtmp's stat XML and drops publishers, over the unix socket or
  the system nginx's `ingest.control_url` (`manage_nginx = false`).

Threat model: the RTMP port faces encoders on the internet; everything they send is
refused unless Arena's callback accepts the key. The callback secret stops anyone else on
the machine, or a request through the public reverse proxy, from answering for nginx.
Standard library only, except `control_for(app)`, which reads the running objects from the
Flask app's extensions.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import http.client
import ipaddress
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from server.config import Settings

log = logging.getLogger(__name__)

APPLICATION = "live"
DEFAULT_NGINX = "/usr/sbin/nginx"
EXTENSION = "arena.rtmp"
CALLBACK_PREFIX = "/_ingest"
SECRET_PARAMETER = "secret"  # noqa: S105  the name of the callback's parameter, not a secret
# A unix socket's path has room for 107 bytes on Linux.
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1
_MAX_ERROR_LOG = 10 * 1024 * 1024


# -- settings-derived values ----------------------------------------------------------------

def work_dir(settings: Settings) -> Path:
    return settings.instance_dir / "ingest"


def callback_secret(settings: Settings) -> str:
    """The secret nginx's callbacks carry: made once into <instance>/ingest_secret (owner-only),
    so a system nginx configured by hand (docs/ingest.md) can be given the same value."""
    path = settings.instance_dir / "ingest_secret"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "*")  # noqa: S104  recognising the operator's choice, not binding


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def callback_base(settings: Settings) -> str:
    """Where nginx reaches Arena: loopback, unless Arena listens on one address only."""
    host = settings.server.host
    if _is_wildcard(host) or _is_loopback(host):
        host = "::1" if host in ("::", "::1") else "127.0.0.1"
    return f"http://{_url_host(host)}:{settings.server.port}"


def callback_url(base: str, secret: str, which: str) -> str:
    return f"{base}{CALLBACK_PREFIX}/{which}?{urlencode({SECRET_PARAMETER: secret})}"


def play_url(settings: Settings, rtmp_name: str) -> str:
    """Where Arena's own ffmpeg reads a stream from nginx (only loopback may play)."""
    return f"rtmp://127.0.0.1:{settings.ingest.rtmp_port}/{APPLICATION}/{quote(rtmp_name, safe='')}"


def _listen_lines(settings: Settings) -> list[str]:
    bind, port = settings.ingest.rtmp_bind.strip(), settings.ingest.rtmp_port
    if bind in ("", "0.0.0.0", "*"):  # noqa: S104  the operator chose every interface for encoders
        return [f"listen {port};"]
    if bind == "::":
        return [f"listen [::]:{port} ipv6only=off;"]
    lines = [f"listen {_url_host(bind)}:{port};"]
    if not _is_loopback(bind):
        # Arena's ffmpeg plays from loopback, the only address allowed to play.
        lines.append(f"listen 127.0.0.1:{port};")
    return lines


def _quoted(value: Path | str) -> str:
    """A value as an nginx string: quoted, so a path with spaces stays one argument."""
    text = str(value)
    if any(ch in text for ch in "\n\r\0"):
        raise ValueError(f"not usable in nginx.conf: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nginx_config(settings: Settings, callback_base: str, secret: str, control_socket: Path, work_dir: Path) -> str:
    """nginx.conf for the managed nginx. It holds the callback secret: written owner-only."""
    ingest = settings.ingest
    on_publish = callback_url(callback_base, secret, "on_publish")
    on_publish_done = callback_url(callback_base, secret, "on_publish_done")
    listen = "\n        ".join(_listen_lines(settings))
    return f"""# Written by Arena (server/media/rtmp.py) at every start: edit config.toml's [ingest] instead.
load_module {_quoted(ingest.rtmp_module)};
daemon off;
# One process, Arena's child: nothing survives it, and nginx-rtmp's stat sees every stream
# (with workers, each worker reports its own streams only).
master_process off;
pid {_quoted(work_dir / "nginx.pid")};
# warn: at info level nginx would log the callback URLs, and with them the secret.
error_log {_quoted(work_dir / "error.log")} warn;

events {{
    worker_connections 1024;
}}

rtmp {{
    # An access log would write each stream's name, which is its key.
    access_log off;
    server {{
        {listen}
        application {APPLICATION} {{
            live on;
            record off;
            # Players (Arena's ffmpeg) are disconnected when the publisher leaves.
            idle_streams off;
            # Start players at a keyframe: the HLS copy begins with a whole picture.
            wait_key on;
            drop_idle_publisher {max(1, ingest.no_data_seconds)}s;
            allow play 127.0.0.1;
            deny play all;
            notify_method post;
            on_publish {_quoted(on_publish)};
            on_publish_done {_quoted(on_publish_done)};
        }}
    }}
}}

http {{
    access_log off;
    client_body_temp_path {_quoted(work_dir / "client_body")};
    proxy_temp_path {_quoted(work_dir / "proxy")};
    fastcgi_temp_path {_quoted(work_dir / "fastcgi")};
    uwsgi_temp_path {_quoted(work_dir / "uwsgi")};
    scgi_temp_path {_quoted(work_dir / "scgi")};
    server {{
        listen {_quoted(f"unix:{control_socket}")};
        location /stat {{
            rtmp_stat all;
        }}
        location /control {{
            rtmp_control all;
        }}
    }}
}}
"""


# -- stat and control ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamStat:
    """One stream in nginx-rtmp's stat, as the encoder sends it (metadata: None until known)."""

    name: str
    publishing: bool
    client_id: str | None = None
    address: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    bytes_in: int = 0
    # Bits per second over nginx-rtmp's last measurement (about 10 s).
    bw_in: int = 0
    bw_video: int = 0
    # How long the stream has existed, in milliseconds.
    time_ms: int = 0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class RtmpControl:
    """nginx-rtmp's stat and control: `unix:/path.sock`, a Path to the socket, or an http URL
    under which /stat and /control/ are served (the system nginx)."""

    def __init__(self, control_url_or_socket: str | Path, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._socket: str | None = None
        self._http: tuple[str, str, int | None, str] | None = None
        text = str(control_url_or_socket)
        if isinstance(control_url_or_socket, Path) or text.startswith("unix:") or text.startswith("/"):
            self._socket = text.removeprefix("unix:")
        else:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"ingest.control_url must be an http URL or unix:/path, got {text!r}")
            self._http = (parts.scheme, parts.hostname, parts.port, parts.path.rstrip("/"))

    def __repr__(self) -> str:
        return f"RtmpControl({self._socket or self._http})"

    def _get(self, path_and_query: str) -> tuple[int, bytes]:
        if self._socket is not None:
            connection: http.client.HTTPConnection = _UnixConnection(self._socket, self.timeout)
            target = path_and_query
        else:
            scheme, host, port, prefix = self._http  # type: ignore[misc]
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = cls(host, port, timeout=self.timeout)
            target = prefix + path_and_query
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            return response.status, response.read(4 * 1024 * 1024)
        finally:
            connection.close()

    def stats(self) -> dict[str, StreamStat]:
        """Every stream of the `live` application by its name; OSError when nginx is away,
        ValueError when it answers something else than nginx-rtmp's stat."""
        status, body = self._get("/stat")
        if status != 200:
            raise ValueError(f"nginx-rtmp's stat answered HTTP {status}")
        return parse_stat(body)

    def drop_publisher(self, name: str) -> bool:
        """Disconnect whoever publishes `name`; True when nginx dropped someone."""
        query = urlencode({"app": APPLICATION, "name": name})
        status, body = self._get(f"/control/drop/publisher?{query}")
        if status != 200:
            return False
        try:
            return int(body.strip() or b"0") > 0
        except ValueError:
            return True


def _int(element: ElementTree.Element | None, path: str) -> int | None:
    text = element.findtext(path) if element is not None else None
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def parse_stat(body: bytes) -> dict[str, StreamStat]:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314  our own nginx's stat page, over a socket only Arena reads
    except ElementTree.ParseError as exc:
        raise ValueError(f"nginx-rtmp's stat is not XML: {exc}") from None
    streams: dict[str, StreamStat] = {}
    for application in root.iter("application"):
        if application.findtext("name") != APPLICATION:
            continue
        for stream in application.iter("stream"):
            name = stream.findtext("name") or ""
            publisher = next((c for c in stream.findall("client") if c.find("publishing") is not None), None)
            meta = stream.find("meta")
            video = meta.find("video") if meta is not None else None
            audio = meta.find("audio") if meta is not None else None
            frame_rate = video.findtext("frame_rate") if video is not None else None
            try:
                rate = float(frame_rate) if frame_rate else None
            except ValueError:
                rate = None
            streams[name] = StreamStat(
                name=name,
                publishing=stream.find("publishing") is not None,
                client_id=publisher.findtext("id") if publisher is not None else None,
                address=publisher.findtext("address") if publisher is not None else None,
                width=_int(video, "width") or None,
                height=_int(video, "height") or None,
                frame_rate=rate,
                video_codec=(video.findtext("codec") or None) if video is not None else None,
                audio_codec=(audio.findtext("codec") or None) if audio is not None else None,
                bytes_in=_int(stream, "bytes_in") or 0,
                bw_in=_int(stream, "bw_in") or 0,
                bw_video=_int(stream, "bw_video") or 0,
                time_ms=_int(stream, "time") or 0,
            )
    return streams


# -- the managed nginx ----------------------------------------------------------------------------

def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


class ManagedNginx:
    """nginx-rtmp as a child process of Arena (ingest.manage_nginx)."""

    def __init__(self, settings: Settings, *, callback_base: str, secret: str) -> None:
        self.settings = settings
        self.work_dir = work_dir(settings)
        self.nginx = settings.ingest.nginx or DEFAULT_NGINX
        self.control_socket = self._socket_path()
        self.config_path = self.work_dir / "nginx.conf"
        self.error_log = self.work_dir / "error.log"
        self._callback_base = callback_base
        self._secret = secret
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._supervisor: threading.Thread | None = None
        self._last_reason: str | None = None
        self._log_offset = 0
        self._libc = _libc()

    def _socket_path(self) -> Path:
        path = self.work_dir / "control.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # A deep instance folder: the socket goes to a private folder of its own.
        return Path(tempfile.mkdtemp(prefix="arena-rtmp-")) / "control.sock"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def control(self) -> RtmpControl:
        return RtmpControl(self.control_socket)

    # -- checks ------------------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why this nginx cannot run at all (not worth trying again), or None."""
        module = self.settings.ingest.rtmp_module
        if not (os.path.isfile(self.nginx) and os.access(self.nginx, os.X_OK)):
            return (f"nginx is not installed at {self.nginx}: install Debian's packages nginx and "
                    f"libnginx-mod-rtmp (make run does), or set ingest.nginx")
        if not os.path.isfile(module):
            return (f"nginx's RTMP module is not installed at {module}: install Debian's package "
                    f"libnginx-mod-rtmp (make run does), or set ingest.rtmp_module")
        return None

    def port_taken(self) -> str | None:
        """Another program listens on the RTMP port: say which setting moves it."""
        ingest = self.settings.ingest
        bind = ingest.rtmp_bind.strip()
        host = "::" if bind == "::" else ("0.0.0.0" if _is_wildcard(bind) else bind)  # noqa: S104  as configured
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx does
                probe.bind((host, ingest.rtmp_port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"the RTMP port {_url_host(host)}:{ingest.rtmp_port} is taken by another program: "
                        f"stop it, or set ingest.rtmp_port (ARENA_INGEST__RTMP_PORT)")
            return (f"the RTMP port {_url_host(host)}:{ingest.rtmp_port} cannot be used ({exc.strerror}): "
                    f"see ingest.rtmp_bind")
        return None

    # -- life -----------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> bool:
        """Start nginx and wait until its RTMP port answers; False (logged) when it cannot."""
        with self._lock:
            if self.alive():
                return True
            self._stopping = False
            reason = self.problem() or self.port_taken()
            if reason is not None:
                # Said once, not at every try of the supervisor.
                if reason != self._last_reason:
                    log.error("RTMP ingest is off: %s. Arena serves everything else.", reason)
                self._last_reason = reason
                return False
            self._write_config()
            try:
                self._log_offset = self.error_log.stat().st_size
                if self._log_offset > _MAX_ERROR_LOG:  # kept one generation back, not forever
                    os.replace(self.error_log, self.error_log.with_suffix(".log.1"))
                    self._log_offset = 0
            except OSError:
                self._log_offset = 0
            try:
                self._process = subprocess.Popen(
                    [self.nginx, "-p", f"{self.work_dir}/", "-e", str(self.error_log), "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    close_fds=True, preexec_fn=self._die_with_parent(os.getpid()),
                )
            except OSError as exc:
                log.error("RTMP ingest is off: nginx (%s) could not be started: %s", self.nginx, exc)
                return False
            started = self._wait_until_listening(timeout)
            if self._stopping:  # Arena is ending while this start waited
                self._process_gone_or_stop()
                return False
            if started:
                if self._last_reason is not None:
                    log.warning("RTMP ingest is on again (nginx pid %s)", self._process.pid)
                self._last_reason = None
                return True
            self._process_gone_or_stop()
            reason = f"nginx did not start: {self.last_error() or 'no message in its error log'}"
            if reason != self._last_reason:
                log.error("RTMP ingest is off: %s", reason)
            self._last_reason = reason
            return False

    def _die_with_parent(self, parent_pid: int):
        libc = self._libc

        def preexec() -> None:
            # In the child, between fork and exec: the kernel sends SIGTERM when Arena ends,
            # however it ends (SIGKILL included).
            if libc is not None:
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent_pid:  # Arena ended before prctl took effect
                os._exit(1)

        return preexec

    def _write_config(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work_dir, 0o700)  # the control socket can drop any publisher
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.work_dir / name).mkdir(exist_ok=True)
        self.control_socket.parent.mkdir(parents=True, exist_ok=True)
        # Left behind by a killed nginx, the socket file would stop the next one binding.
        self.control_socket.unlink(missing_ok=True)
        text = nginx_config(self.settings, self._callback_base, self._secret, self.control_socket, self.work_dir)
        partial = self.config_path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(partial, self.config_path)

    def _wait_until_listening(self, timeout: float) -> bool:
        bind = self.settings.ingest.rtmp_bind.strip()
        host = "127.0.0.1" if _is_wildcard(bind) and bind != "::" else ("::1" if bind == "::" else bind)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((host, self.settings.ingest.rtmp_port), timeout=1):
                    pass
                if self.control_socket.exists():
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def _process_gone_or_stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def last_error(self) -> str:
        """The last [emerg]/[alert]/[crit] line of nginx's error log (what stopped it)."""
        try:
            with open(self.error_log, "rb") as fh:
                fh.seek(self._log_offset)  # this run's lines only
                lines = fh.read().decode(errors="replace").splitlines()[-50:]
        except OSError:
            return ""
        for line in reversed(lines):
            if "[emerg]" in line or "[alert]" in line or "[crit]" in line:
                # "2026/11/28 15:38:52 [emerg] 13120#13120: bind() to ... failed": from "bind()"
                return re.sub(r"^\d+#\d+: ", "", line.split("] ", 1)[-1].strip())
        return ""

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx (and its supervisor); encoders are disconnected."""
        self._stopping = True
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def signal_stop(self) -> None:
        """From a signal handler: ask nginx to stop, and wait for nothing."""
        self._stopping = True
        process = self._process
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                pass

    def supervise(self, interval: float = 1.0, max_backoff: float = 60.0) -> None:
        """Start a background thread (green under eventlet/gevent) that starts nginx again
        whenever it is not running, waiting 2, 4, ... max_backoff seconds between failures."""
        if self._supervisor is not None:
            return

        def loop() -> None:
            backoff = 0.0
            while not self._stopping:
                time.sleep(interval if backoff == 0 else backoff)
                if self._stopping:
                    return
                if self.alive():
                    backoff = 0.0
                    continue
                if self.problem() is not None:
                    log.error("RTMP ingest stopped for good: %s", self.problem())
                    return
                process = self._process
                if process is not None:  # it ran and ended: said once
                    self._process = None
                    error = self.last_error()
                    log.warning("nginx (RTMP ingest) stopped (exit code %s%s); starting it again",
                                process.returncode, f": {error}" if error else "")
                try:
                    started = self.start()
                except Exception:
                    log.exception("nginx (RTMP ingest) could not be started again")
                    started = False
                backoff = 0.0 if started else min(max_backoff, max(2.0, backoff * 2))

        self._supervisor = threading.Thread(target=loop, name="nginx-rtmp-supervisor", daemon=True)
        self._supervisor.start()


@dataclass
class RtmpRuntime:
    """What `python -m server serve` put on app.extensions[EXTENSION]."""

    control: RtmpControl
    nginx: ManagedNginx | None = None


def start_managed(settings: Settings) -> RtmpRuntime | None:
    """Start the managed nginx for `serve` (supervised, stopped at exit); None when it cannot run."""
    nginx = ManagedNginx(settings, callback_base=callback_base(settings), secret=callback_secret(settings))
    atexit.register(nginx.stop)
    started = nginx.start()
    if not started and nginx.problem() is not None:
        return None  # nothing to supervise: the log line said which package or setting
    # A port that was taken, or a start that failed, is tried again by the supervisor.
    nginx.supervise()
    if started:
        shown = settings.ingest.rtmp_bind or "0.0.0.0"  # noqa: S104  only printed: where nginx listens
        print(f"RTMP ingest on rtmp://{_url_host(shown)}:"
              f"{settings.ingest.rtmp_port}/{APPLICATION} (nginx pid {nginx.pid})", flush=True)
    return RtmpRuntime(control=nginx.control(), nginx=nginx)


def install(app: Any, runtime: RtmpRuntime | None) -> None:
    if runtime is not None:
        app.extensions[EXTENSION] = runtime


def control_for(app: Any) -> RtmpControl | None:
    """The stat/control of the RTMP server this Arena uses, or None when ingest is off."""
    settings = app.extensions["arena.settings"]
    if not settings.ingest.enabled:
        return None
    runtime = app.extensions.get(EXTENSION)
    if runtime is not None:
        return runtime.control
    if settings.ingest.control_url:
        return RtmpControl(settings.ingest.control_url)
    return None
