"""SQLite, the embedded default: set up for many readers and one writer, with integrity."""

from server.db import db


def test_sqlite_runs_with_wal_and_foreign_keys(app):
    with db.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()

    assert (journal, foreign_keys) == ("wal", 1)
