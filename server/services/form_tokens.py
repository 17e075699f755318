"""One-time tokens of creating forms: a form sent twice (a double click, a reload of a slow
POST) creates once, and the repeat gets the first one's answer.

Each creating form carries a random token. A submission is known by its key: the token, the
form's address and what was filled in, so a page the browser restored with an old token but
new contents is a new submission, not a repeat. The first request inserts the key's row in
the same transaction as what it creates; the unique key makes a concurrent repeat wait for
the first to commit and then fail, and it reads the first one's result instead. Rows older
than a day are deleted whenever a new one is added: they are not public records.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
    row: FormToken
    repeat: bool  # True: another request sent this form first; `row` holds its result


def claim(session: Session, key: str, now: datetime) -> Claim:
    """Claims a submission in the caller's transaction, before the caller writes anything else.

    The first claim adds the key's row (flushed, so a concurrent claim waits on its unique
    key) and the caller records its result on it before committing. A repeat gets the
    first one's row. When the repeat ran concurrently, its failed insert has rolled the
    session back, which held nothing else yet."""
    for _attempt in range(2):
        first = session.scalar(select(FormToken).where(FormToken.key == key))
        if first is not None:
            return Claim(first, repeat=True)
        session.execute(delete(FormToken).where(FormToken.created_at < now - KEPT_FOR))
        row = FormToken(key=key, created_at=now)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            # The other request holds the key. Once it has committed, its row is readable;
            # had it been rolled back (its form refused), the key is free again: try again.
            session.rollback()
            continue
        return Claim(row, repeat=False)
    raise RuntimeError("a form token could be neither claimed nor read")


def record(row: FormToken, *, result_url: str, message: str = "", target_id: int | None = None) -> None:
    """What the first request answered, for its repeats; committed with what it created."""
    row.result_url, row.message, row.target_id = result_url[:2000], message[:1000], target_id
