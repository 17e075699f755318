"""One-time tokens of the admin's creating forms, once sent.

A double click (or a reload of a slow POST) sends the same form twice. Each creating form
carries a random token; the first request that sends it inserts this row in the same
transaction as what it creates, and a repeat, even a concurrent one (the unique key makes
it wait for, then lose to, the first), is answered with the first one's result. Rows are
kept a day (server/services/form_tokens.py prunes them); they are not public records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, utcnow


class FormToken(Base):
    __tablename__ = "form_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the token, the form's address and what was filled in: the same form
    # sent again, not a new form that happens to carry a restored token.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # What the first request answered: where it redirected, and the status message it showed.
    result_url: Mapped[str] = mapped_column(String(2000), default="")
    message: Mapped[str] = mapped_column(String(1000), default="")
    # The id of what it created, for a face that shows more than a redirect (an organiser's link).
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
