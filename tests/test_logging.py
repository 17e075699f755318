"""Logging as an operator reads it: every module's lines (INFO included) with time and level,
JSON lines for a log system, levels per logger, and one request-log line per request with its
request id, never its query string."""

from __future__ import annotations

import json
import logging
import re

import pytest
import requests

from server.logs import REQUEST_LOGGER, configure_logging
from tests.conftest import start_live_server
from tests.waiting import wait_until

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (?P<level>[A-Z]+) (?P<logger>\S+) ")


@pytest.fixture
def logged_app(make_app, make_settings):
    """An app with the logging settings a test chooses, and a page that logs a line."""
    def _make(trusted_proxies: int = 0, **logging_settings):
        app = make_app(logging=logging_settings, server={"trusted_proxies": trusted_proxies})

        @app.get("/test-logs-a-line")
        def logs_a_line():
            logging.getLogger("server.media.importer").info("import of a clip failed (test)")
            return "ok"

        return app

    yield _make
    configure_logging(make_settings())  # the defaults again for the tests that follow


def lines_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def json_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in lines_of(stderr)]


def test_logging_text_shows_a_module_loggers_info_line_with_time_level_and_logger(make_settings, capsys):
    configure_logging(make_settings(logging={"format": "text", "level": "INFO"}))

    logging.getLogger("server.media.importer").info("import of %s failed", "https://video.example/klipp")

    (line,) = lines_of(capsys.readouterr().err)
    found = TEXT_LINE.match(line)
    assert found and found["level"] == "INFO" and found["logger"] == "server.media.importer"
    assert line.endswith("import of https://video.example/klipp failed")


def test_logging_json_writes_one_object_per_line(make_settings, capsys):
    configure_logging(make_settings(logging={"format": "json"}))

    logging.getLogger("server.sockets").warning("lost the message queue:\nresubscribing")
    try:
        raise ValueError("trasig")
    except ValueError:
        logging.getLogger("server.web").exception("unhandled error")

    first, second = json_lines(capsys.readouterr().err)
    assert first["level"] == "WARNING" and first["logger"] == "server.sockets"
    assert first["message"] == "lost the message queue:\nresubscribing"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", first["time"])
    assert second["level"] == "ERROR" and "ValueError: trasig" in second["exception"]


def test_logging_levels_per_logger_override_the_root_level(make_settings, capsys):
    configure_logging(make_settings(logging={"level": "WARNING", "levels": ["server.media=DEBUG"]}))

    logging.getLogger("server.media.ingest").debug("a media detail")
    logging.getLogger("server.web").info("a page detail")

    err = capsys.readouterr().err
    assert "a media detail" in err
    assert "a page detail" not in err


def test_logging_configured_twice_writes_each_line_once_and_keeps_other_handlers(make_settings, capsys, caplog):
    configure_logging(make_settings(logging={"levels": ["server.media=DEBUG"]}))
    configure_logging(make_settings())

    with caplog.at_level(logging.INFO):
        logging.getLogger("server.media.ingest").debug("not any more")
        logging.getLogger("server.web").info("once")

    (line,) = lines_of(capsys.readouterr().err)
    assert line.endswith(" INFO server.web once")
    assert [record.getMessage() for record in caplog.records] == ["once"]


def test_request_log_line_has_method_path_status_time_and_request_id_without_query(logged_app, capsys):
    app = logged_app(format="json")

    response = app.test_client().get("/events/no-such-event/?token=hemlig-inbjudan")
    response.get_data()

    entries = json_lines(capsys.readouterr().err)
    (line,) = [e for e in entries if e["logger"] == REQUEST_LOGGER]
    assert line["method"] == "GET"
    assert line["path"] == "/events/no-such-event/"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert "hemlig-inbjudan" not in json.dumps(entries)


def test_request_id_is_on_every_line_logged_during_the_request(logged_app, capsys):
    app = logged_app(format="json")

    response = app.test_client().get("/test-logs-a-line")
    response.get_data()

    entries = json_lines(capsys.readouterr().err)
    (logged,) = [e for e in entries if e["message"] == "import of a clip failed (test)"]
    assert logged["request_id"] == response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", logged["request_id"])


def test_request_ids_differ_between_requests(logged_app):
    client = logged_app().test_client()

    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def test_request_id_from_a_trusted_proxy_is_kept(logged_app):
    app = logged_app(trusted_proxies=1)

    response = app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7",
                                                         "X-Request-ID": "nginx-4f1c2a9e"})

    assert response.headers["X-Request-ID"] == "nginx-4f1c2a9e"


@pytest.mark.parametrize("trusted_proxies, given", [
    (0, "nginx-4f1c2a9e"),                   # no proxy is trusted: anyone could send one
    (1, "a b\tINFO forged \"line\""),       # not an id: it would write into the log
    (1, "x" * 200),
])
def test_request_id_from_the_client_is_replaced(logged_app, trusted_proxies, given):
    app = logged_app(trusted_proxies=trusted_proxies)

    response = app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7", "X-Request-ID": given})

    assert response.headers["X-Request-ID"] != given
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_request_log_escapes_control_characters_in_the_path(logged_app, capsys):
    app = logged_app(format="text")

    app.test_client().get("/events/x%0A2026-01-01T00:00:00.000+00:00 ERROR forged").get_data()

    request_lines = [line for line in lines_of(capsys.readouterr().err) if f" {REQUEST_LOGGER} " in line]
    assert len(request_lines) == 1
    assert "/events/x\\x0a2026-01-01" in request_lines[0]


def test_request_log_can_be_switched_off(logged_app, capsys):
    app = logged_app(request_log=False)

    response = app.test_client().get("/healthz")
    response.get_data()

    assert f" {REQUEST_LOGGER} " not in capsys.readouterr().err
    assert response.headers["X-Request-ID"]  # the id is still made and returned


def test_served_arena_writes_the_request_log_in_production(tmp_path):
    server = start_live_server(tmp_path, extra_env={"ARENA_LOGGING__FORMAT": "json"})
    try:
        response = requests.get(f"{server.url}/events/no-such-event/?token=hemlig-inbjudan", timeout=30)

        def request_line():
            for line in server.log().splitlines():
                if line.startswith("{") and '"/events/no-such-event/"' in line:
                    return json.loads(line)
            return None

        line = wait_until(request_line, message=lambda: f"no request-log line in: {server.log()}")
    finally:
        server.stop()

    assert line["logger"] == REQUEST_LOGGER and line["status"] == 404 and line["method"] == "GET"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert "hemlig-inbjudan" not in server.log()
