"""Simulcast's moving parts: pushing a live stream, as it is, to another RTMP(S) server, and the
stream keys of those servers, encrypted at rest.

`Pusher` runs one destination of one live stream: `ffmpeg -i <source> -c copy -f flv <server>`,
read from Arena's own nginx-rtmp (an RTMP stream) or from the source rendition's HLS playlist
(a browser stream). It only READS Arena's stream, so whatever happens to it (a destination that
refuses, drops or hangs) never touches Arena's HLS or recording. A push that fails is tried
again after 2, 4, 8 ... seconds, at most `retry_max_seconds`, until `stop()`. Bytes flowing
(ffmpeg's `-progress` on stdout: `total_size` grows) make it "sending".

The destination's stream key never reaches ffmpeg's command line (`ps` and /proc show that to
every user of the machine) nor a file: ffmpeg reads it from an inherited pipe as a preset file
(`-fpre /dev/fd/N`, lines `rtmp_playpath=<key>`), and its stderr (loglevel error) is scrubbed
of the key before anything of it is kept or logged.

This module knows nothing of the database or of Socket.IO: it is told what to push and calls
back `on_state(state, reason, attempts, next_attempt_at)`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from server.media.guard import Guard, GuardRefused

log = logging.getLogger(__name__)

SCHEMES = ("rtmp", "rtmps")
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
KEY_FILE = "simulcast_key"
MASK = "\u2022\u2022\u2022\u2022"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's ca-certificates
# ffmpeg's -progress comes every half second; this long without new bytes is a hung push.
STALLED_SECONDS = 20.0
SOURCE_RETRY_SECONDS = 2
# Sending this long without a failure: the next failure starts the backoff again at 2 s.
STEADY_SECONDS = 30.0

# The states a destination is in (SimulcastDestination.state).
IDLE, CONNECTING, SENDING, RETRYING, FAILED = "idle", "connecting", "sending", "retrying", "failed"


# -- stream keys at rest --------------------------------------------------------------------

class KeyUnreadable(Exception):
    """A stored key cannot be decrypted (the instance's key file was replaced): type it again."""


class KeyBox:
    """Fernet with a key made once into the instance folder (0600), like the secret key
    (server/config.py ensure_secret_key). The database alone reveals no stream key."""

    def __init__(self, instance_dir: Path) -> None:
        self.path = Path(instance_dir) / KEY_FILE
        self._fernet: Fernet | None = None

    def _box(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._key())
        return self._fernet

    def _key(self) -> bytes:
        if self.path.exists():
            key = self.path.read_bytes().strip()
            if key:
                return key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            # O_EXCL: two processes starting at once agree on one key (the loser reads it).
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.1)
            return self.path.read_bytes().strip()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    def encrypt(self, stream_key: str) -> str:
        return self._box().encrypt(stream_key.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._box().decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise KeyUnreadable("the stored stream key cannot be decrypted") from None


def key_hint(stream_key: str) -> str:
    """The last four characters, to tell keys apart on the page, only of a key long enough
    that they give little away."""
    return stream_key[-4:] if len(stream_key) >= 8 else ""


def masked(hint: str) -> str:
    return MASK + hint


# -- the push -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where to push: the server URL as the organiser typed it (rtmp[s]://host[:port]/app)
    and the stream key."""

    url: str
    stream_key: str

    @property
    def parts(self):
        return urlsplit(self.url)

    @property
    def app(self) -> str:
        return self.parts.path.strip("/")


def check_host(url: str, allowed_hosts: Iterable[str]) -> list[str]:
    """The addresses the URL's host resolves to, refused (GuardRefused) when any is not public
    and the host is not in media.import_allowed_hosts (server/media/guard.py)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    guard = Guard(allowed_hosts)
    infos = guard.resolve(parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme, 1935), type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def push_command(ffmpeg: str, source: str, target: Target, key_fd: int, connect_to: str | None = None) -> list[str]:
    """ffmpeg's arguments: no secret among them. `connect_to`: the checked address to connect
    to (plain RTMP: no second name lookup between the check and the connection), with the
    URL's own host kept in the tcUrl the server sees."""
    is_playlist = not source.startswith(("rtmp://", "rtmps://"))
    parts = target.parts
    url = target.url.rstrip("/")
    if connect_to is not None:
        host = f"[{connect_to}]" if ":" in connect_to else connect_to
        url = f"{parts.scheme}://{host}:{parts.port or DEFAULT_PORTS[parts.scheme.lower()]}/{target.app}"
    return [
        ffmpeg, "-hide_banner", "-nostats", "-nostdin", "-loglevel", "error",
        # The HLS of a browser stream: start at its newest segment, then follow it.
        *(["-live_start_index", "-1"] if is_playlist else []),
        "-i", source,
        "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy",
        # The stream key and the application, from the pipe (never the command line).
        "-fpre", f"/dev/fd/{key_fd}",
        "-progress", "pipe:1",
        "-f", "flv", "-flvflags", "no_duration_filesize", url,
    ]


def preset_text(target: Target, tcurl: str | None) -> bytes:
    """The preset ffmpeg reads from the pipe: rtmp options of the output, one per line."""
    lines = [f"rtmp_app={target.app}", f"rtmp_playpath={target.stream_key}",
             # A destination that stops reading fails the push within this time (microseconds).
             "rw_timeout=15000000"]
    if tcurl:
        lines.append(f"rtmp_tcurl={tcurl}")
    if target.parts.scheme.lower() == "rtmps":
        # The key travels inside TLS: only to the server the name says (ffmpeg verifies nothing
        # by default).
        lines.append("tls_verify=1")
        if Path(CA_FILE).exists():
            lines.append(f"ca_file={CA_FILE}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def failure_reason(stderr: str, source: str, returncode: int | None) -> str:
    """A short reason code from ffmpeg's last words (the admin and the studio say it in words)."""
    text = stderr.lower()
    if source and source.lower() in text or "live_start_index" in text:
        return "source"
    if "connection refused" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "name or service not known" in text or "failed to resolve" in text or "temporary failure in name" in text:
        return "unresolvable"
    # The TLS layer's own complaint (an rtmps server whose certificate does not verify).
    if "[tls @" in text or "certificate" in text:
        return "tls"
    if "server error" in text or "unauthorized" in text or "forbidden" in text or "rejected" in text:
        return "rejected"
    if ("broken pipe" in text or "connection reset" in text or "end of file" in text
            or "error writing" in text or "i/o error" in text or "input/output error" in text):
        return "connection_lost"
    # Only the input ends a push by itself: Arena's stream paused (an encoder reconnecting).
    return "source" if returncode == 0 else "error"


_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _die_with_arena() -> Callable[[], None] | None:
    """A preexec_fn: the kernel ends the push's ffmpeg when Arena ends, however it ends
    (a browser stream's HLS input would otherwise keep it waiting for segments for ever).
    The pusher's thread waits for its ffmpeg, so the thread never ends first."""
    libc = _libc()
    if libc is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # Arena ended before prctl took effect
            os._exit(1)

    return preexec


StateCallback = Callable[[str, str, int, "datetime | None"], None]


class Pusher:
    """One destination of one live stream, in a thread of its own (green under eventlet)."""

    def __init__(self, ffmpeg: str, source: str, target: Target, *, on_state: StateCallback,
                 allowed_hosts: Iterable[str] = (), retry_max_seconds: int = 60, name: str = "") -> None:
        self.ffmpeg, self.source, self.target = ffmpeg, source, target
        self.on_state = on_state
        self.allowed_hosts = list(allowed_hosts)
        self.retry_max_seconds = max(2, int(retry_max_seconds))
        self.name = name or target.parts.hostname or "destination"
        self.state = IDLE
        self.bytes_sent = 0
        self.failures = 0          # attempts that failed in a row
        self._stop = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._stderr: deque[str] = deque(maxlen=20)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"simulcast {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop pushing (the stream ended, the destination was switched off or removed)."""
        self._stop.set()
        self._kill()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_source(self, source: str) -> None:
        """The stream came back under another source (a reconnect): the next attempt reads it."""
        self.source = source

    # -- the loop --------------------------------------------------------------------------
    def _set(self, state: str, reason: str = "", next_at: datetime | None = None) -> None:
        self.state = state
        try:
            self.on_state(state, reason, self.failures, next_at)
        except Exception:
            log.exception("simulcast %s: recording the state %s failed", self.name, state)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                reason, permanent = self._attempt()
                if self._stop.is_set():
                    break
                if permanent:
                    self._set(FAILED, reason)
                    return
                if reason == "source":
                    # Arena's own stream is away (an encoder reconnecting within the wait): look
                    # again soon, it costs the destination nothing.
                    delay = SOURCE_RETRY_SECONDS
                else:
                    self.failures += 1
                    delay = min(2 ** self.failures, self.retry_max_seconds)
                self._set(RETRYING, reason, datetime.now(UTC) + timedelta(seconds=delay))
                log.info("simulcast %s: %s; trying again in %s s", self.name, reason, delay)
                if self._stop.wait(delay):
                    break
        except Exception:
            log.exception("simulcast %s failed", self.name)
            self._set(FAILED, "error")
            return
        self._set(IDLE)

    def _attempt(self) -> tuple[str, bool]:
        """One ffmpeg run. Returns (reason, permanent) when it is over."""
        self._set(CONNECTING)
        target = self.target
        scheme = target.parts.scheme.lower()
        try:
            addresses = check_host(target.url, self.allowed_hosts)
        except GuardRefused as refusal:
            return ("address_refused" if refusal.code == "private_address" else "unresolvable",
                    refusal.code == "private_address")
        connect_to, tcurl = None, None
        if scheme == "rtmp" and addresses:
            # Connect to the address just checked; tell the server the name it was given.
            connect_to = addresses[0]
            tcurl = f"{scheme}://{target.parts.netloc.rsplit('@', 1)[-1]}/{target.app}"
        read_fd, write_fd = os.pipe()
        try:
            os.write(write_fd, preset_text(target, tcurl))
        finally:
            os.close(write_fd)
        self._stderr.clear()
        try:
            process = subprocess.Popen(push_command(self.ffmpeg, self.source, target, read_fd, connect_to),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       pass_fds=(read_fd,), start_new_session=True,
                                       preexec_fn=_die_with_arena())
        except OSError:
            log.exception("simulcast %s: ffmpeg did not start", self.name)
            return "no_ffmpeg", True
        finally:
            os.close(read_fd)
        self._process = process
        if self._stop.is_set():
            self._kill()
        errors = threading.Thread(target=self._read_stderr, args=(process,), daemon=True)
        errors.start()
        sending_since = self._follow_progress(process)
        process.wait()
        errors.join(5)
        self._process = None
        if sending_since is not None and time.monotonic() - sending_since >= STEADY_SECONDS:
            self.failures = 0  # it worked for a while: this is a new drop, not the same failure
        stderr = scrub("\n".join(self._stderr), [target.stream_key])
        if stderr and not self._stop.is_set():
            log.warning("simulcast %s: ffmpeg: %s", self.name, stderr.splitlines()[-1][:300])
        return failure_reason(stderr, self.source, process.returncode), False

    def _follow_progress(self, process: subprocess.Popen) -> float | None:
        """Read ffmpeg's -progress until it ends; "sending" once bytes flow. A push whose
        bytes stop growing for STALLED_SECONDS is ended (it is tried again)."""
        assert process.stdout is not None  # noqa: S101  Popen(stdout=PIPE): for the type checker
        sending_since: float | None = None
        last_size = 0
        last_growth = time.monotonic()
        watchdog_stop = threading.Event()

        def watchdog() -> None:
            while not watchdog_stop.wait(1.0):
                if time.monotonic() - last_growth > STALLED_SECONDS and process.poll() is None:
                    log.warning("simulcast %s: no bytes for %s s, starting again", self.name, STALLED_SECONDS)
                    self._kill()
                    return

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            for raw in process.stdout:
                name, _, value = raw.decode("ascii", "replace").strip().partition("=")
                if name != "total_size" or not value.isdigit():
                    continue
                size = int(value)
                if size > last_size:
                    last_growth = time.monotonic()
                    self.bytes_sent += size - last_size
                    last_size = size
                    if sending_since is None:
                        sending_since = last_growth
                        self._set(SENDING)
        finally:
            watchdog_stop.set()
        return sending_since

    def _read_stderr(self, process: subprocess.Popen) -> None:
        assert process.stderr is not None  # noqa: S101  Popen(stderr=PIPE): for the type checker
        for raw in process.stderr:
            self._stderr.append(scrub(raw.decode("utf-8", "replace").rstrip(), [self.target.stream_key]))

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.kill()
            except OSError:
                pass

