"""Organiser accounts: creating them, passwords, signing in with throttling.

Passwords are hashed with Werkzeug's scrypt. Sign-in failures are counted in the database,
in the login_attempts rows that are kept for the record anyway, so every server process
sees the same figures. Two limits, both over LOCK_WINDOW:

- MAX_FAILURES for one account from one client network (`throttle_key`): whoever mistypes
  an organiser's address, or guesses at it, locks it out for their own network only; the
  organiser signs in from theirs.
- MAX_FAILURES_PER_NETWORK across all accounts from one client network: one network cannot
  try many accounts.

Why the database and not the `limits` package: its storages are memory (one process only),
Redis, Memcached and MongoDB. Arena runs on SQLite or PostgreSQL and needs Redis only for
several processes, and the attempts are written to the database anyway, so counting them
there adds no service and no second copy of the truth. The per-account count uses the
index on email; the per-network one the index on (remote_addr, created_at), so both stay
cheap when the table has grown large.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from server.i18n import _l
from server.models import AuditEntry, LoginAttempt, Organiser
from server.services import audit
from server.services.errors import Forbidden, ServiceError, ValidationError

if TYPE_CHECKING:  # roles reads accounts (active_organiser): a type only here
    from server.services.roles import Actor

MIN_PASSWORD_LENGTH = 12
MAX_FAILURES = 5
MAX_FAILURES_PER_NETWORK = 20
LOCK_WINDOW = timedelta(minutes=15)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Compared against when the address is unknown, so a wrong address takes as long as a wrong
# password and does not reveal which addresses have accounts.
_DUMMY_HASH = generate_password_hash("not a password of anyone")
# An account as the audit log pictures it (never its password).
ACCOUNT_FIELDS = ("email", "name", "disabled_at")


class SignInRefused(ServiceError):
    code = "sign_in_refused"
    http_status = 401


class TooManyAttempts(ServiceError):
    code = "too_many_attempts"
    http_status = 429


def normalise_email(value: Any) -> str:
    email = value.strip().lower() if isinstance(value, str) else ""
    if not EMAIL.match(email) or len(email) > 254:
        raise ValidationError(_l("Give a valid e-mail address."), code="invalid_email", field="email")
    return email


def check_password(value: Any) -> str:
    if not isinstance(value, str) or len(value) < MIN_PASSWORD_LENGTH:
        raise ValidationError(_l("The password must be at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
                              code="weak_password", field="password")
    if len(value) > 1024:
        raise ValidationError(_l("At most %(count)d characters.", count=1024), code="too_long", field="password")
    return value


def create_organiser(session: Session, *, email: Any, name: Any, password: Any,
                     actor: Actor | None = None) -> Organiser:
    """An organiser account. Made by someone (`actor`: a colleague, the command line) it is
    recorded as organiser.create; the tests' factories make accounts unrecorded."""
    email = normalise_email(email)
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise ValidationError(_l("Give the person's name (at most 120 characters)."), code="invalid_name",
                              field="name")
    password = check_password(password)
    if session.scalar(select(Organiser.id).where(Organiser.email == email)) is not None:
        raise ValidationError(_l("There is already an account with this e-mail address."), code="email_taken",
                              field="email")
    organiser = Organiser(email=email, name=name, password_hash=generate_password_hash(password))
    session.add(organiser)
    session.flush()
    if actor is not None:
        audit.record(session, actor, "organiser.create", organiser, after=audit.snapshot(organiser, ACCOUNT_FIELDS))
    return organiser


def set_password(session: Session, email: Any, password: Any, actor: Actor | None = None) -> Organiser:
    """A new password from the command line (recorded as organiser.reset_password, never the password)."""
    organiser = session.scalars(select(Organiser).where(Organiser.email == normalise_email(email))).first()
    if organiser is None:
        raise ValidationError(_l("There is no account with this e-mail address."), code="unknown_email",
                              field="email")
    organiser.password_hash = generate_password_hash(check_password(password))
    if actor is not None:
        audit.record(session, actor, "organiser.reset_password", organiser)
    return organiser


def throttle_key(remote_addr: str) -> str:
    """What the throttle counts by, stored as the attempt's remote_addr: an IPv4 address as
    it is, an IPv6 address written out in full so that its /64 (one subscriber's network,
    where an attacker picks any address at will) is the first 20 characters."""
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return remote_addr.strip()[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.exploded if isinstance(address, ipaddress.IPv6Address) else str(address)


def _same_network(key: str):
    if ":" in key and len(key) == 39:  # an exploded IPv6 address: its /64
        return LoginAttempt.remote_addr.startswith(key[:20], autoescape=True)
    return LoginAttempt.remote_addr == key


def authenticate(session: Session, email: Any, password: Any, *, now: datetime, remote_addr: str = "") -> Organiser:
    """The organiser, or SignInRefused / TooManyAttempts. Every attempt is recorded; the
    caller commits either way, so failures count even when the request fails."""
    address = email.strip().lower() if isinstance(email, str) else ""
    network = throttle_key(remote_addr)
    recent_failures = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.created_at >= now - LOCK_WINDOW, _same_network(network))
    if session.scalar(recent_failures) >= MAX_FAILURES_PER_NETWORK:
        raise TooManyAttempts(_l("Too many failed sign-ins from your network. Wait 15 minutes and try again."),
                              code="too_many_attempts_from_network")
    if session.scalar(recent_failures.where(LoginAttempt.email == address[:254])) >= MAX_FAILURES:
        raise TooManyAttempts(_l("Too many failed sign-ins. Wait 15 minutes and try again."))
    organiser = session.scalars(select(Organiser).where(Organiser.email == address)).first() if address else None
    good = check_password_hash(organiser.password_hash if organiser else _DUMMY_HASH,
                               password if isinstance(password, str) else "")
    ok = bool(organiser and good and organiser.disabled_at is None)
    session.add(LoginAttempt(email=address[:254], remote_addr=network, succeeded=ok, created_at=now))
    if not ok:
        raise SignInRefused(_l("The e-mail address or the password is wrong."))
    organiser.last_login_at = now
    return organiser


def active_organiser(session: Session, organiser_id: Any) -> Organiser | None:
    organiser = session.get(Organiser, organiser_id) if isinstance(organiser_id, int) else None
    return organiser if organiser is not None and organiser.disabled_at is None else None


# The browser's session keeps the password's fingerprint from its sign-in: a new password
# (reset by e-mail, chosen through a colleague's link, set on the command line) ends every
# other session of the account, the intruder's included.
SESSION_ORGANISER = "organiser_id"
SESSION_FINGERPRINT = "organiser_fingerprint"
PASSWORD_CHANGES = ("password.reset", "password.set", "organiser.reset_password")


def sign_in_session(cookie: Any, organiser: Organiser) -> None:
    """Names the signed-in organiser in a browser's session, with its password's fingerprint."""
    cookie[SESSION_ORGANISER] = organiser.id
    cookie[SESSION_FINGERPRINT] = _fingerprint(organiser)


def session_organiser_id(session: Session, cookie: Any) -> int | None:
    """The organiser a browser's session (a request's or a socket's copy) names, if its password
    is still the one it signed in with; None otherwise, also for sessions from before
    fingerprints were kept (they sign in once more)."""
    organiser_id = cookie.get(SESSION_ORGANISER)
    fingerprint = cookie.get(SESSION_FINGERPRINT)
    if not isinstance(organiser_id, int) or not isinstance(fingerprint, str):
        return None
    organiser = session.get(Organiser, organiser_id)
    if organiser is None or not hmac.compare_digest(fingerprint, _fingerprint(organiser)):
        return None
    return organiser_id


# -- colleagues: accounts made by an organiser, passwords chosen by their owners ------------

PASSWORD_LINK_SALT = "arena.set-password"  # noqa: S105  a salt names the purpose; the key is secret
PASSWORD_LINK_DAYS = 7


def invite_organiser(session: Session, *, email: Any, name: Any, actor: Actor | None = None) -> Organiser:
    """An account whose owner chooses the password through a link (password_link_token):
    nobody else ever knows it. Until then no password signs in to it."""
    organiser = create_organiser(session, email=email, name=name, password=secrets.token_urlsafe(32), actor=actor)
    return organiser


def password_link_token(secret_key: str, organiser: Organiser) -> str:
    """A signed link token for choosing a password. It names a fingerprint of the current
    password hash, so it stops working once used (or once the password changes otherwise)."""
    return URLSafeTimedSerializer(secret_key, salt=PASSWORD_LINK_SALT).dumps(
        {"organiser": organiser.id, "hash": _fingerprint(organiser)})


def record_password_link(session: Session, actor: Actor, organiser: Organiser) -> None:
    """A colleague made a new password link for the account: recorded, the link itself never."""
    audit.record(session, actor, "organiser.password_link", organiser)


def organiser_from_password_token(session: Session, secret_key: str, token: str) -> Organiser:
    serializer = URLSafeTimedSerializer(secret_key, salt=PASSWORD_LINK_SALT)
    try:
        data = serializer.loads(token, max_age=PASSWORD_LINK_DAYS * 24 * 3600)
    except SignatureExpired:
        raise Forbidden(_l("This link has expired. Ask an organiser for a new one."), code="token_expired") from None
    except BadSignature:
        raise Forbidden(_l("This link is not valid."), code="token_invalid") from None
    organiser = session.get(Organiser, data.get("organiser")) if isinstance(data, dict) else None
    if organiser is None or organiser.disabled_at is not None:
        raise Forbidden(_l("This link is not valid."), code="token_invalid")
    if not hmac.compare_digest(str(data.get("hash", "")), _fingerprint(organiser)):
        raise Forbidden(_l("This link has already been used. Ask an organiser for a new one."), code="token_used")
    return organiser


def choose_password(organiser: Organiser, password: Any, repeated: Any) -> Organiser:
    password = check_password(password)
    if password != repeated:
        raise ValidationError(_l("The two passwords are not the same."), code="passwords_differ", field="repeat")
    organiser.password_hash = generate_password_hash(password)
    return organiser


def _fingerprint(organiser: Organiser) -> str:
    return hashlib.sha256(organiser.password_hash.encode()).hexdigest()[:16]


def set_disabled(session: Session, organiser: Organiser, *, disabled: bool, by: Organiser | None, now: datetime,
                 actor: Actor | None = None) -> None:
    """Close or reopen an account (recorded as organiser.close or organiser.reopen when it
    changed and someone did it). Nobody closes their own (or the last open) account: the
    installation must never lock its organisers out."""
    before = audit.snapshot(organiser, ACCOUNT_FIELDS)
    _set_disabled(session, organiser, disabled=disabled, by=by, now=now)
    after = audit.snapshot(organiser, ACCOUNT_FIELDS)
    if actor is not None and after != before:
        audit.record(session, actor, "organiser.close" if disabled else "organiser.reopen", organiser,
                     before=before, after=after)


def _set_disabled(session: Session, organiser: Organiser, *, disabled: bool, by: Organiser | None,
                  now: datetime) -> None:
    if not disabled:
        organiser.disabled_at = None
        return
    if by is not None and by.id == organiser.id:
        raise ValidationError(_l("You cannot close your own account."), code="own_account")
    open_accounts = session.scalar(select(func.count()).select_from(Organiser).where(Organiser.disabled_at.is_(None)))
    if organiser.disabled_at is None and open_accounts <= 1:
        raise ValidationError(_l("This is the last open organiser account."), code="last_account")
    if organiser.disabled_at is None:
        organiser.disabled_at = now


def disabled_since(session: Session, since: datetime) -> list[int]:
    """Accounts closed, or given a new password, after `since`: their open live connections
    must end (a browser that signed in after the change connects again)."""
    closed = set(session.scalars(select(Organiser.id).where(Organiser.disabled_at >= since)))
    changed = session.scalars(select(AuditEntry.target_id).where(
        AuditEntry.action.in_(PASSWORD_CHANGES), AuditEntry.target_type == "organiser",
        AuditEntry.created_at >= since))
    closed.update(int(target) for target in changed if target.isdigit())
    return sorted(closed)
