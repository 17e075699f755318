"""/healthz (is each part up?) and /readyz (should this process get traffic?), as a load
balancer and an operator's monitoring ask them: no sign-in, JSON, no secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from server.db import make_engine
from server.migrations import alembic_config, upgrade
from server.web.ops import mark_shutting_down
from tests.conftest import own_app
from tests.services import postgres_service, redis_service
from tests.waiting import wait_until

pytestmark = pytest.mark.both_databases


@contextmanager
def running_app(settings) -> Iterator:
    """An app of the test's own settings (another database or Redis than the fixtures')."""
    with own_app(settings) as app, app.app_context():
        yield app


def test_healthz_reports_the_database_and_no_redis_for_one_process(client, database_url):
    response = client.get("/healthz")

    body = response.get_json()
    assert response.status_code == 200
    assert body["ok"] is True
    assert body["database"] == {"ok": True,
                                "dialect": "postgresql" if database_url.startswith("postgresql") else "sqlite"}
    assert body["redis"] == {"ok": None}
    assert body["async_mode"] == "threading"
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"ready": True}


def test_health_and_readiness_need_no_sign_in_and_show_no_secret(make_settings, database_url):
    settings = make_settings(database={"url": database_url}, metrics={"token": "metrics-token-123"},
                             mail={"host": "smtp.kommun.example", "from_address": "arena@kommun.example",
                                   "password": "smtp-password-456"})
    with running_app(settings) as app:
        client = app.test_client()
        pages = [client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"}) for path in ("/healthz", "/readyz")]

    for page in pages:
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "metrics-token-123" not in text and "smtp-password-456" not in text and "test-secret" not in text


def test_readyz_not_ready_on_a_database_that_was_never_migrated(make_settings, tmp_path):
    settings = make_settings(database={"url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with running_app(settings) as app:
        ready = app.test_client().get("/readyz")
        health = app.test_client().get("/healthz")

    assert ready.status_code == 503
    assert ready.get_json() == {"ready": False, "reasons": ["migrations_pending"]}
    assert health.status_code == 200  # reachable all the same


def test_readyz_not_ready_until_the_last_migration_ran(make_settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'older.db'}"
    scripts = ScriptDirectory.from_config(alembic_config(url))
    (head,) = scripts.get_heads()
    before_head = scripts.get_revision(head).down_revision
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, before_head)
    settings = make_settings(database={"url": url})

    with running_app(settings) as app:
        before = app.test_client().get("/readyz")
        upgrade(engine)
        after = app.test_client().get("/readyz")
    engine.dispose()

    assert before.status_code == 503 and before.get_json()["reasons"] == ["migrations_pending"]
    assert after.status_code == 200 and after.get_json() == {"ready": True}


def test_readyz_not_ready_once_shutting_down(app, client):
    assert client.get("/readyz").status_code == 200

    mark_shutting_down(app)
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json() == {"ready": False, "reasons": ["shutting_down"]}


def test_healthz_and_readyz_report_redis_down_while_its_redis_is_killed(make_settings, database_url):
    with redis_service() as queue:
        settings = make_settings(database={"url": database_url}, chat={"message_queue": queue.url()})
        with running_app(settings) as app:
            client = app.test_client()
            up = client.get("/healthz")

            queue.kill()
            down = wait_until(lambda: (r := client.get("/healthz")).status_code == 503 and r,
                              message="/healthz never said Redis was down")
            not_ready = client.get("/readyz")

            queue.start()
            back = wait_until(lambda: (r := client.get("/readyz")).status_code == 200 and r,
                              message="/readyz never came back with Redis")

    assert up.status_code == 200 and up.get_json()["redis"] == {"ok": True}
    assert down.get_json()["ok"] is False
    assert down.get_json()["redis"] == {"ok": False}
    assert down.get_json()["database"]["ok"] is True
    assert not_ready.get_json() == {"ready": False, "reasons": ["redis_unreachable"]}
    assert back.get_json() == {"ready": True}


def test_healthz_and_readyz_report_the_database_down_while_postgresql_is_stopped(make_settings):
    with postgres_service() as database:
        url = database.create_database("arena")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with running_app(make_settings(database={"url": url})) as app:
            client = app.test_client()
            up = client.get("/healthz")

            database.stop()
            down = client.get("/healthz")
            not_ready = client.get("/readyz")

            database.start()
            back = wait_until(lambda: (r := client.get("/healthz")).status_code == 200 and r,
                              message="/healthz never came back with PostgreSQL")

    assert up.status_code == 200 and up.get_json()["database"] == {"ok": True, "dialect": "postgresql"}
    assert down.status_code == 503
    assert down.get_json()["database"] == {"ok": False, "dialect": "postgresql"}
    assert down.get_json()["redis"] == {"ok": None}
    assert not_ready.status_code == 503 and not_ready.get_json()["reasons"] == ["database_unreachable"]
    assert back.get_json()["ok"] is True
