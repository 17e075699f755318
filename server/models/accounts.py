"""Who may do more than participate: organiser accounts, and roles granted as signed,
expiring, revocable sign-in links."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, utcnow


class Role(str, enum.Enum):
    organiser = "organiser"  # everything, every event
    moderator = "moderator"  # chat and Q&A of one event
    speaker = "speaker"      # Q&A of one talk


class RoleGrant(Base):
    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=20))
    name: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), default=None)
    talk_id: Mapped[int | None] = mapped_column(ForeignKey("talks.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class Organiser(Base):
    """An organiser's account: a communications officer who runs events. Passwords are stored
    as Werkzeug's salted scrypt hashes, never as text."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class LoginAttempt(Base):
    """Every sign-in attempt, for throttling (and for the record)."""

    __tablename__ = "login_attempts"
    # The per-network throttle counts one network's failures in the window
    # (services/accounts.py): by address, then by time.
    __table_args__ = (Index("ix_login_attempts_remote_addr_created_at", "remote_addr", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordResetRequest(Base):
    """A "forgot my password" request, counted by the address typed (whether or not it has an
    account) and by the client's network, so the form cannot be used to flood a mailbox or
    the mail server (services/password_reset.py). Rows older than a day are deleted."""

    __tablename__ = "password_reset_requests"
    __table_args__ = (Index("ix_password_reset_requests_remote_addr_created_at", "remote_addr", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
