"""One-time tokens of creating forms: a form sent twice (a double click, a reload of a slow
POST) creates once, and the repeat gets the first one's answer.

Each creating form carries a random token. A submission is known by its key: the token, the
form's address and what was filled in, so a page the browser restored with an old token but
new contents is a new submission, not a repeat. The first request inserts the key's row in
the same transaction as what it creates; the unique key makes a concurrent repeat wait for
the first to commit (in short tries, see `claim`) and then fail, and it reads the first
one's result instead. A repeat whose first result is gone (deleted since) is no repeat: its
row is dropped and the form creates again.

Rows older than a day are deleted (`prune`, before a claim) in a transaction of their own,
committed at once: they are not public records, and a claim's transaction must hold no lock
but its own key's, or another organiser's unrelated form would wait for it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server.db import database_locked
from server.models import FormToken

KEPT_FOR = timedelta(days=1)
MAX_TOKEN_LENGTH = 100


def new_token() -> str:
    return secrets.token_urlsafe(24)


def submission_key(token: object, path: str, fields: Iterable[tuple[str, str]]) -> str | None:
    """The key of one submission, or None for a form without a (usable) token: it is then
    not recognised as a repeat, as before tokens existed."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hashlib.sha256()
    for part in (token, path, *(f"{name}={value}" for name, value in sorted(fields))):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Claim:
    row: FormToken | None
    # True: another request sent this form first. `row` holds its result; None when it was
    # still being saved after PATIENCE seconds.
    repeat: bool


# How long a repeat waits for the first request to commit, in short tries: a lock wait must
# never block for long, because under eventlet a database driver's wait blocks the whole
# process, the first request included (psycopg's wait does not yield to other greenlets).
# On PostgreSQL a try gives up after TRY_LOCK_MS; SQLite's busy timeout is the connection's
# (server/db.py), and a busy database is tried again the same way.
PATIENCE = timedelta(seconds=30)
TRY_LOCK_MS = 20
BETWEEN_TRIES = 0.1


def _lock_busy(error: OperationalError) -> bool:
    """Another transaction holds the lock (PostgreSQL's lock_timeout, SQLite's busy database)."""
    return getattr(error.orig, "sqlstate", None) == "55P03" or database_locked(error)


def prune(engine: Engine, now: datetime) -> None:
    """Deletes the rows older than a day, in a short transaction of its own on its own
    connection, committed at once: never in a claim's transaction, whose locks last until its
    request commits. Housekeeping only, so it never waits: rows another transaction holds
    (PostgreSQL) are left for the next time, and a busy SQLite database skips it (its busy
    wait would stop the whole eventlet process)."""
    cutoff = now - KEPT_FOR
    old = select(FormToken.id).where(FormToken.created_at < cutoff)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            waited = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            connection.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            if connection.scalar(old.limit(1)) is None:
                return  # nothing to do: no write lock taken (SQLite has one for the whole file)
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"SET LOCAL lock_timeout = '{TRY_LOCK_MS}ms'"))
                old = old.with_for_update(skip_locked=True)
            connection.execute(delete(FormToken).where(FormToken.id.in_(old.scalar_subquery())))
            connection.commit()
        except OperationalError as error:
            connection.rollback()
            if not _lock_busy(error):
                raise
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(waited)}")
                connection.commit()


def _claim_lock(key: str) -> int:
    """The key as a PostgreSQL advisory lock: signed 64 bits of its (uniform) hash."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return number - (1 << 64) if number >= 1 << 63 else number


def claim(session: Session, key: str, now: datetime, *, gone: Callable[[FormToken], bool] | None = None) -> Claim:
    """Claims a submission in the caller's transaction, before the caller writes anything else
    (on a repeat, the session is rolled back: it must hold nothing else yet).

    The first claim adds the key's row and the caller records its result on it before
    committing. A repeat gets the first one's row: at once when it was committed, else after
    waiting for it in short tries (sleeping between them lets the first request run on).
    `gone(row)`: the first one's result no longer exists; its row is then dropped in this
    transaction and the submission claimed anew.

    "Still being saved" (`Claim(None, repeat=True)`) is said only of this very key: on
    PostgreSQL a claim holds an advisory lock of its key until its transaction ends, and a
    repeat sees it taken. A lock that stays busy for another reason (SQLite has one writer at
    a time) is raised after PATIENCE, the database's "try again", never a false repeat."""
    deadline = time.monotonic() + PATIENCE.total_seconds()
    postgresql = session.get_bind().dialect.name == "postgresql"
    while True:
        first = session.scalar(select(FormToken).where(FormToken.key == key))
        if first is not None and (gone is None or not first.result_url or not gone(first)):
            return Claim(first, repeat=True)
        try:
            if postgresql:  # ended by the transaction's end, or below
                session.execute(text(f"SET LOCAL lock_timeout = '{TRY_LOCK_MS}ms'"))
                if not session.scalar(select(func.pg_try_advisory_xact_lock(_claim_lock(key)))):
                    session.rollback()  # the same key's first request is still saving
                    if time.monotonic() >= deadline:
                        return Claim(None, repeat=True)
                    time.sleep(BETWEEN_TRIES)
                    continue
            if first is not None:
                # What it created is gone: this submission creates again, as a first one.
                dropped = session.execute(delete(FormToken).where(FormToken.id == first.id))
                if dropped.rowcount != 1:  # another repeat took it over first: read again
                    session.rollback()
                    continue
            row = FormToken(key=key, created_at=now)
            session.add(row)
            session.flush()
            if postgresql:
                session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
        except IntegrityError:
            # The first request has committed its row (read above, next time round); or it
            # was rolled back (its form refused) and the key is free again.
            session.rollback()
            if time.monotonic() >= deadline:
                raise
            continue
        except OperationalError as error:
            if not _lock_busy(error):
                raise
            session.rollback()  # the first request is still saving, or another writer is
            if time.monotonic() >= deadline:
                raise  # not known to be this key's first: the database's 503, not "sent twice"
            time.sleep(BETWEEN_TRIES)  # monkey-patched under eventlet and gevent: others run
            continue
        return Claim(row, repeat=False)


def record(row: FormToken, *, result_url: str, message: str = "", target_id: int | None = None) -> None:
    """What the first request answered, for its repeats; committed with what it created."""
    row.result_url, row.message, row.target_id = result_url[:2000], message[:1000], target_id
