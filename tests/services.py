"""A Redis and a PostgreSQL of a test's own, so that it can kill, stop and restart them.

Each runs on a free port, with its data in a temporary folder of its own, and never touches
the machine's own services (Redis on 6379, PostgreSQL on 5432):

    with redis_service() as queue, postgres_service() as database:
        url = database.create_database("arena")      # postgresql+psycopg://postgres@127.0.0.1:P/arena
        ... ARENA_CHAT__MESSAGE_QUEUE=queue.url() ...
        queue.kill()      # SIGKILL, as a crash would
        queue.start()     # the same port (and, for PostgreSQL, the same data), ready when it returns
        database.stop()   # a clean ("fast") shutdown: every connection is cut
        database.start()

PostgreSQL refuses to run as root, so when the tests run as root its processes run as the
user `nobody`, and its folder belongs to that user. Every process a service started is killed
when the context manager exits, and at the latest when the Python process exits.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.waiting import wait_until

#: Starting, and restarting after SIGKILL (PostgreSQL recovers its data), can take long on a busy
#: machine: only a failing start waits this long.
READY_TIMEOUT = 60.0


def _newest_postgres_bin() -> Path:
    """Debian's PostgreSQL of whatever major version is installed (make test installs one)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


POSTGRES_BIN = Path(os.environ.get("ARENA_TEST_POSTGRES_BIN") or _newest_postgres_bin())
REDIS_SERVER = os.environ.get("ARENA_TEST_REDIS_SERVER", "redis-server")
MACHINE_PORTS = frozenset({6379, 5432})  # the machine's own services: never ours

_running: set[Service] = set()


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in MACHINE_PORTS:
            return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Service:
    """One server process of a test's own: start, stop (clean), kill (SIGKILL), start again."""

    name = "service"

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen | None = None
        self.log_path = directory / f"{self.name}.log"
        self.starts = 0

    # -- to implement ------------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def popen_options(self) -> dict:
        return {}

    # -- life -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = READY_TIMEOUT) -> Service:
        """Start (again, on the same port and data) and return once it answers."""
        if self.running:
            raise RuntimeError(f"{self.name} on port {self.port} is already running")
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"\n=== start {self.starts} ===\n")
        self._spawn()
        deadline = time.monotonic() + timeout

        def answering() -> bool:
            if not self.running:
                # PostgreSQL after SIGKILL may refuse to start while its old backends are still
                # leaving (shared memory in use): start it again until the deadline.
                if time.monotonic() < deadline - 1:
                    time.sleep(0.5)
                    self._spawn()
                return False
            try:
                return self.ready()
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                return False

        wait_until(answering, timeout=timeout, interval=0.1,
                   message=lambda: f"{self.name} on port {self.port} did not start: {self.log()[-3000:]}")
        return self

    def _spawn(self) -> None:
        log = self.log_path.open("a")
        try:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            **self.popen_options())
        finally:
            log.close()
        _running.add(self)

    def kill(self) -> None:
        """SIGKILL to the process and everything it started (PostgreSQL's backends), as a crash
        of the machine's service would; returns once the port is closed."""
        self._signal(signal.SIGKILL, group=True)

    def stop(self, timeout: float = READY_TIMEOUT) -> None:
        """A clean shutdown; SIGKILL if it has not ended within `timeout`."""
        self._signal(self.stop_signal, group=False, timeout=timeout)

    stop_signal = signal.SIGTERM

    def _signal(self, signum: int, *, group: bool, timeout: float = READY_TIMEOUT) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                if group:
                    os.killpg(process.pid, signum)
                else:
                    process.send_signal(signum)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if group:
            try:  # whatever of the group is left (backends that have not noticed yet)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _running.discard(self)
        wait_until(lambda: not _port_open(self.port), timeout=READY_TIMEOUT, interval=0.1,
                   message=f"{self.name} still answers on port {self.port} after it ended")

    def close(self) -> None:
        """Kill it and remove its folder."""
        try:
            if self.process is not None:
                self._signal(signal.SIGKILL, group=True)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


class RedisService(Service):
    name = "redis"

    def command(self) -> list[str]:
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "no"]

    def ready(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)
        try:
            return client.ping() is True
        finally:
            client.close()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


class PostgresService(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM ("smart") would wait for every client to leave

    def __init__(self, directory: Path, port: int, user: str | None) -> None:
        super().__init__(directory, port)
        self.user = user
        self.data = directory / "data"

    def popen_options(self) -> dict:
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def initdb(self) -> None:
        result = subprocess.run([str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                 "--no-sync", "-E", "UTF8", "--locale", "C"],
                                check=False, capture_output=True, text=True, timeout=300,
                                **self.popen_options())
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stdout}\n{result.stderr}")

    def command(self) -> list[str]:
        return [str(POSTGRES_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.directory),
                "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                # fsync=off survives a killed process (the kernel keeps what was written), not a
                # crashed machine; synchronous_commit stays on, so an acknowledged commit survives SIGKILL.
                "-c", "fsync=off"]

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str = "arena") -> str:
        """The SQLAlchemy URL Arena takes (ARENA_DATABASE__URL)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str = "arena") -> str:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)


def _temporary_folder(prefix: str, owner: str | None) -> Path:
    # Not under pytest's tmp_path: that folder is root's alone, and PostgreSQL runs as `owner`.
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    return directory


def _postgres_user() -> str | None:
    """None: run as ourselves. As root: `nobody` (or ARENA_TEST_POSTGRES_USER)."""
    if os.geteuid() != 0:
        return None
    return os.environ.get("ARENA_TEST_POSTGRES_USER", "nobody")


@contextmanager
def redis_service() -> Iterator[RedisService]:
    """A Redis of our own, started and answering; killed and removed afterwards."""
    service = RedisService(_temporary_folder("arena-redis-", None), free_port())
    try:
        service.start()
        yield service
    finally:
        service.close()


@contextmanager
def postgres_service() -> Iterator[PostgresService]:
    """A PostgreSQL cluster of our own (user `postgres`, trust), started and answering."""
    user = _postgres_user()
    service = PostgresService(_temporary_folder("arena-postgres-", user), free_port(), user)
    try:
        service.initdb()
        service.start()
        yield service
    finally:
        service.close()


@atexit.register
def _kill_leftovers() -> None:
    for service in list(_running):
        process = service.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
