"""A background job's failures in the log: a database outage is said once when it starts and
once when it ends, not as a traceback every second; any other failure keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from server.sockets.base import TickerFailures
from tests.services import free_port


def _unreachable_database_error() -> OperationalError:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("nothing listens on a free port, so connecting must fail")


def test_ticker_failures_database_outage_is_one_warning_then_one_recovery(caplog: pytest.LogCaptureFixture):
    failures = TickerFailures("presence ticker")
    error = _unreachable_database_error()
    with caplog.at_level(logging.INFO, logger="server.sockets.base"):
        for _ in range(30):
            failures.failed(error)
        failures.succeeded()
        failures.succeeded()
    lines = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert len(lines) == 2
    assert lines[0][0] == "WARNING" and "presence ticker: the database is unreachable" in lines[0][1]
    assert lines[1] == ("INFO", "presence ticker: the database is reachable again")
    assert all(record.exc_info is None for record in caplog.records)


def test_ticker_failures_bug_is_logged_with_its_traceback_every_time(caplog: pytest.LogCaptureFixture):
    failures = TickerFailures("votes ticker")
    with caplog.at_level(logging.INFO, logger="server.sockets.base"):
        for _ in range(2):
            try:
                {}["missing"]
            except KeyError as error:
                failures.failed(error)
    assert [record.levelname for record in caplog.records] == ["ERROR", "ERROR"]
    assert all(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records)
