"""`python -m server` as a real process: under eventlet (the default) and under gevent,
chosen by the one key server.async_mode; and its command line."""

import pytest
import requests
import socketio

from tests.conftest import run_cli, start_live_server

SLUG = "sociala-medier-i-offentlig-sektor"


@pytest.fixture(params=["eventlet", "gevent"])
def server_under(request, tmp_path):
    server = start_live_server(tmp_path, async_mode=request.param)
    yield request.param, server
    server.stop()


def test_live_server_serves_pages_and_socketio_under_each_async_mode(server_under):
    mode, server = server_under

    health = requests.get(f"{server.url}/healthz", timeout=30).json()
    page = requests.get(f"{server.url}/events/{SLUG}/", timeout=30)
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], wait_timeout=30)  # sends its own Origin
    connected_over = client.transport()
    client.disconnect()

    assert health["ok"] is True and health["database"]["dialect"] == "sqlite" and health["async_mode"] == mode
    assert page.status_code == 200 and "Skapa arenor!" in page.text
    assert connected_over == "websocket"


def test_live_server_refuses_socketio_handshake_from_another_origin(live_server):
    response = requests.get(f"{live_server.url}/socket.io/", params={"EIO": "4", "transport": "polling"},
                            headers={"Origin": "https://evil.example"}, timeout=30)
    same_origin = requests.get(f"{live_server.url}/socket.io/", params={"EIO": "4", "transport": "polling"},
                               headers={"Origin": live_server.url}, timeout=30)

    assert response.status_code == 400
    assert same_origin.status_code == 200


def test_cli_stops_on_an_unknown_setting_and_names_it(tmp_path):
    result = run_cli({"ARENA_SERVER__PROT": "5000", "PATH": "/usr/bin:/bin"}, "serve")

    assert result.returncode == 2
    assert "server.prot" in result.stderr


def test_cli_help_lists_the_commands():
    result = run_cli({"PATH": "/usr/bin:/bin"}, "--help")

    assert result.returncode == 0
    for command in ("serve", "migrate", "load-demo", "check-config"):
        assert command in result.stdout


def test_cli_loads_the_demo_only_into_an_empty_database(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ARENA_DATABASE__URL": f"sqlite:///{tmp_path / 'a.db'}",
           "ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "instance")}

    assert run_cli(env, "migrate").returncode == 0
    first = run_cli(env, "load-demo", "--if-empty", "--date", "2026-11-24")
    second = run_cli(env, "load-demo", "--if-empty")

    assert first.returncode == 0 and "/events/sociala-medier-i-offentlig-sektor/" in first.stdout
    assert second.returncode == 0 and "already has events" in second.stdout
