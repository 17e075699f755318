"""Fixtures, in the Flask tutorial's shape: an app built by the factory from test settings,
a client, and factory fixtures that return functions (Indico's style).

Databases are real. SQLite by default; a test module marked `both_databases` runs each test
against SQLite and against a PostgreSQL, in a schema of its own that is dropped at the end.
That PostgreSQL, and the Redis the multi-process tests share, are the suite's own: started on
free ports in a temporary folder the first time a test needs them (tests/services.py), and
stopped at the end, so the suite needs no service of the machine and never touches one, and
two suites can run side by side. ARENA_TEST_POSTGRES_URL / ARENA_TEST_REDIS_URL name
existing ones instead (a developer's own, for speed). Live servers run as subprocesses, so
the pytest process is never monkey-patched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright import sync_api
from sqlalchemy import create_engine, text

from server import create_app
from server.config import PROJECT_ROOT, Settings, load_settings
from server.db import db, make_engine
from server.migrations import upgrade
from tests.services import PostgresService, RedisService, postgres_service, redis_service
from tests.waiting import wait_until

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TABLES_IN_DELETE_ORDER = (
    "form_tokens", "talk_old_slugs", "event_old_slugs", "import_jobs", "participations", "viewer_samples",
    "live_streams", "login_attempts", "password_reset_requests", "organisers", "audit_log", "role_grants", "presence",
    "reports", "bans", "question_votes", "questions", "chat_messages", "recordings", "talk_speakers", "talks",
    "speakers", "events",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_databases: run each test on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "browser: drives Debian's chromium through Playwright")
    config.addinivalue_line("markers", "postgresql_only: a behaviour SQLite cannot show (it has one writer at a "
                                       "time); runs on PostgreSQL only, even in a both_databases module")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("postgresql_only"):
        metafunc.parametrize("database_url", ["postgresql"], indirect=True)
    elif metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


# -- the suite's own PostgreSQL and Redis ------------------------------------------------

_suite_services = contextlib.ExitStack()
_suite_postgres: PostgresService | None = None
_suite_redis: RedisService | None = None


def suite_postgres_url() -> str:
    """The admin URL (SQLAlchemy) of the suite's PostgreSQL, database `test`, started on first use."""
    global _suite_postgres
    if os.environ.get("ARENA_TEST_POSTGRES_URL"):
        return os.environ["ARENA_TEST_POSTGRES_URL"]
    if _suite_postgres is None:
        _suite_postgres = _suite_services.enter_context(postgres_service())
        _suite_postgres.create_database("test")
    return _suite_postgres.url("test")


def suite_redis_url() -> str:
    """The URL (without a database number) of the suite's Redis, started on first use."""
    global _suite_redis
    if os.environ.get("ARENA_TEST_REDIS_URL"):
        return os.environ["ARENA_TEST_REDIS_URL"].rstrip("/")
    if _suite_redis is None:
        _suite_redis = _suite_services.enter_context(redis_service())
    return f"redis://127.0.0.1:{_suite_redis.port}"


def pytest_unconfigure(config: pytest.Config) -> None:
    _suite_services.close()


# -- databases ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: Alembic runs once per session."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@contextlib.contextmanager
def postgres_schema(prefix: str = "arena_test") -> Iterator[str]:
    """A fresh, empty schema in the suite's `test` database for as long as the block runs.

    Yields a database URL whose search_path is that schema (for the app, a server's
    environment or make_engine); the schema and everything in it is dropped at the end.
    The one PostgreSQL set-up of the suite: fixtures and tests that need a database of
    their own on PostgreSQL use this.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = suite_postgres_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the `test` database, migrated once and dropped at the end."""
    with postgres_schema() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_schema_url")
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES_IN_DELETE_ORDER)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return url
    path = tmp_path / "arena.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


# -- the app ------------------------------------------------------------------------------

@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def _make(**sections: dict[str, Any]) -> Settings:
        overrides: dict[str, dict[str, Any]] = {
            "server": {"instance_path": str(tmp_path / "instance"), "secret_key": "test-secret",
                       "base_url": "http://arena.test", "async_mode": "threading"},
            "media": {"recordings_dir": str(tmp_path / "recordings")},
            # In process, a test reads what a handler pushed as soon as its ack returns: every
            # entry goes out at once (servers in subprocesses keep the default; tests/live).
            "chat": {"push_interval_ms": 0},
        }
        for name, values in sections.items():
            overrides.setdefault(name, {}).update(values)
        return load_settings(config_file=None, environ={}, overrides=overrides)

    return _make


@pytest.fixture
def app(make_settings: Callable[..., Settings], database_url: str):
    with own_app(make_settings(database={"url": database_url})) as app, app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    return db.session


# -- factories ----------------------------------------------------------------------------

DAY = date(2026, 11, 24)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A time on the test day, in Stockholm."""
    return datetime.combine(day, datetime.min.time(), STOCKHOLM).replace(hour=hour, minute=minute)


@pytest.fixture
def make_event(session) -> Callable[..., Any]:
    from server.models import EventStatus
    from server.services.events import create_event

    counter = iter(range(1, 10_000))

    def _make(**values: Any):
        n = next(counter)
        values.setdefault("title", f"Dag {n} om sociala medier")
        values.setdefault("slug", f"dag-{n}")
        values.setdefault("starts_on", DAY)
        values.setdefault("organiser", "Kommunförbundet Norrbotten")
        values.setdefault("status", EventStatus.published)
        event = create_event(session, **values)
        session.flush()
        return event

    return _make


@pytest.fixture
def make_speaker(session) -> Callable[..., Any]:
    from server.services.events import create_speaker

    def _make(event, **values: Any):
        values.setdefault("name", "Anna Karlsson")
        speaker = create_speaker(session, event, **values)
        session.flush()
        return speaker

    return _make


@pytest.fixture
def make_talk(session) -> Callable[..., Any]:
    from server.services.events import create_talk

    counter = iter(range(1, 10_000))

    def _make(event, **values: Any):
        n = next(counter)
        values.setdefault("title", f"Pass {n}")
        values.setdefault("starts_at", at(9 + n % 8))
        values.setdefault("ends_at", values["starts_at"] + timedelta(minutes=45))
        values.setdefault("own_host", "arena.test")
        talk = create_talk(session, event, **values)
        session.flush()
        return talk

    return _make


# -- live servers (subprocesses) ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=PROJECT_ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def start_live_server(tmp_dir: Path, *, async_mode: str = "eventlet", demo_day: date | None = None,
                      extra_env: dict[str, str] | None = None, prepare: bool = True) -> LiveServer:
    """`python -m server serve` in a subprocess on a free port, with its own SQLite file
    (unless extra_env names another database). `prepare=False` skips migrate and load-demo:
    another process on a database that is ready (several processes, one database)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update({
        "ARENA_SERVER__PORT": str(port),
        "ARENA_SERVER__BASE_URL": url,
        "ARENA_SERVER__ASYNC_MODE": async_mode,
        "ARENA_SERVER__INSTANCE_PATH": str(tmp_dir / "instance"),
        "ARENA_DATABASE__URL": f"sqlite:///{tmp_dir / 'arena.db'}",
        "ARENA_MEDIA__RECORDINGS_DIR": str(tmp_dir / "recordings"),
        # Every test server's own RTMP port: several run at once.
        "ARENA_INGEST__RTMP_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    day = (demo_day or datetime.now(STOCKHOLM).date()).isoformat()
    for args in (("migrate",), ("load-demo", "--date", day)) if prepare else ():
        result = run_cli(env, *args)
        assert result.returncode == 0, result.stderr
    log_path = tmp_dir / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=PROJECT_ROOT, env=env,
                               stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    server = LiveServer(url=url, process=process, log_path=log_path, env=env)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log()}")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or slow on a busy machine
            return False

    try:
        wait_until(healthy, timeout=90, interval=0.1, message=lambda: f"the server never answered: {server.log()}")
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Arena under eventlet with the demo event, shared by the browser tests."""
    server = start_live_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture
def demo_event(session):
    """The demo day (Kommunförbundet Norrbotten's) on the test day, committed."""
    from server.services.demo import load_demo

    event = load_demo(session, day=DAY)
    session.commit()
    return event


# -- signed-in browsers (test clients) ----------------------------------------------------

ORGANISER_PASSWORD = "kluriga-lösenordet-2026"


def form_token(client, path: str) -> str:
    """The CSRF token of the form on `path`, as a browser would post it."""
    import re

    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


@pytest.fixture
def organiser_client(app, session):
    """A test client signed in as an organiser account (Karin Kommunikatör)."""
    from server.services.accounts import create_organiser

    create_organiser(session, email="karin@norrbotten.se", name="Karin Kommunikatör", password=ORGANISER_PASSWORD)
    session.commit()
    client = app.test_client()
    response = client.post("/sign-in", data={"email": "karin@norrbotten.se", "password": ORGANISER_PASSWORD,
                                              "csrf_token": form_token(client, "/sign-in")})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def role_client(app, session):
    """A test client signed in through a role link: role_client("moderator", event=...)."""
    from server.models import Role
    from server.services.roles import grant_role, sign_in_token

    def _make(role: str, *, event=None, talk=None, name: str = "Maja Moderator"):
        grant = grant_role(session, role=Role(role), name=name, now=datetime.now(ZoneInfo("UTC")), event=event,
                           talk=talk)
        session.commit()
        client = app.test_client()
        response = client.get(f"/staff/sign-in/{sign_in_token(app.config['SECRET_KEY'], grant)}")
        assert response.status_code == 303
        return client

    return _make


EVERY_KIND_OF_PERSON = ("anonymous", "participant", "speaker_here", "speaker_elsewhere", "moderator_here",
                        "moderator_elsewhere", "organiser")


@pytest.fixture
def every_kind_of_person(app, organiser_client, role_client):
    """every_kind_of_person(talk, other_talk, other_event) -> a test client per kind of person,
    for authorization matrices: "here" is `talk` and its event; "elsewhere" is `other_talk` (of
    the same event) for speakers and `other_event` for moderators."""
    def _make(talk, other_talk, other_event) -> dict[str, Any]:
        participant = app.test_client()
        participant.get(f"/events/{talk.event.slug}/{talk.slug}")  # gets the participant cookie
        return {
            "anonymous": app.test_client(),
            "participant": participant,
            "speaker_here": role_client("speaker", talk=talk, name="Erik Talare"),
            "speaker_elsewhere": role_client("speaker", talk=other_talk, name="Eva Talare"),
            "moderator_here": role_client("moderator", event=talk.event, name="Maja Moderator"),
            "moderator_elsewhere": role_client("moderator", event=other_event, name="Mats Moderator"),
            "organiser": organiser_client,
        }

    return _make


@contextlib.contextmanager
def own_app(settings: Settings) -> Iterator[Any]:
    """An app of a test's own settings. On leaving, its live and studio namespaces are stopped
    and its database connections closed, so that a test's own PostgreSQL can be stopped."""
    app = create_app(settings)
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        app.extensions["arena.live"].stop()
        app.extensions["arena.studio"].stop()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(make_settings: Callable[..., Settings], database_url: str) -> Iterator[Callable[..., Any]]:
    """make_app(**sections) -> an app of those settings (the test's database unless one is given),
    torn down as own_app does at the end of the test."""
    with contextlib.ExitStack() as apps:
        def _make(**sections: dict[str, Any]) -> Any:
            sections.setdefault("database", {"url": database_url})
            return apps.enter_context(own_app(make_settings(**sections)))

        yield _make


# -- browsers -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """The session's one Playwright (sync API). Playwright refuses a second sync instance while
    one is running in the same thread, so every browser test, whatever its folder, launches
    its browsers from this one."""
    with sync_api.sync_playwright() as instance:
        yield instance
