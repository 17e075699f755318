"""Forgot my password: a link to choose a new one, sent to the account's address.

- `request_reset` records every request, whether or not the address has an account, and
  counts them: at most MAX_PER_ADDRESS per address and MAX_PER_NETWORK per client network
  (accounts.throttle_key: an IPv6 /64 counts as one) within WINDOW, so the form cannot
  flood a mailbox or the mail server. It returns the account to write to, or None (no
  account, or a closed one); the face answers the same either way and sends in the
  background, so neither the page nor its timing says which.
- The link is signed (SECRET_KEY, its own salt: an invitation's link is not a reset link
  and the other way round), expires after RESET_MAX_AGE and names a fingerprint of the
  password hash, so it works once: choosing the password changes the hash. A password
  changed any other way (the command line, an invitation link) ends it too.
- Choosing the new password is audited (`password.reset`), by the account's owner.

Requests are kept a day for the count, then deleted: they carry addresses that may belong
to nobody, and are no record of what anyone did.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from server.i18n import _l
from server.models import Organiser, PasswordResetRequest
from server.services import audit
from server.services.accounts import _fingerprint, choose_password, normalise_email, throttle_key
from server.services.errors import ServiceError

RESET_SALT = "arena.reset-password"
RESET_MAX_AGE = timedelta(hours=1)
MAX_PER_ADDRESS = 3
MAX_PER_NETWORK = 10
WINDOW = timedelta(hours=1)
KEPT_FOR = timedelta(days=1)


class TooManyResetRequests(ServiceError):
    code = "too_many_reset_requests"
    http_status = 429


class ResetLinkRefused(ServiceError):
    code = "reset_link_refused"
    http_status = 403


def _same_network(key: str):
    if ":" in key and len(key) == 39:  # an exploded IPv6 address: its /64
        return PasswordResetRequest.remote_addr.startswith(key[:20], autoescape=True)
    return PasswordResetRequest.remote_addr == key


def _lock(session: Session, name: str) -> None:
    """Held until the transaction ends (as services/ingest.py's refusal counts)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(name.encode()).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": int.from_bytes(digest[:8], "big", signed=True)})


def request_reset(session: Session, email: Any, *, now: datetime, remote_addr: str = "") -> Organiser | None:
    """Record a request; the open account to send a link to, or None. ValidationError for
    something that is no address, TooManyResetRequests over a limit (both say nothing of
    whether an account exists). The caller commits."""
    address = normalise_email(email)
    network = throttle_key(remote_addr)
    # Counted and recorded under a lock, or requests at the same moment would all count
    # below the limit. PostgreSQL: advisory locks on the network, then the address (always
    # in this order: no deadlock). SQLite: the delete below takes its one write lock.
    _lock(session, f"reset-network|{network}")
    _lock(session, f"reset-address|{address}")
    session.execute(delete(PasswordResetRequest).where(PasswordResetRequest.created_at < now - KEPT_FOR))
    recent = select(func.count()).select_from(PasswordResetRequest).where(
        PasswordResetRequest.created_at >= now - WINDOW)
    if session.scalar(recent.where(_same_network(network))) >= MAX_PER_NETWORK:
        raise TooManyResetRequests(_l("Too many password links were asked for from your network. Wait an hour and "
                                      "try again, or ask an organiser."), code="too_many_reset_requests_from_network")
    if session.scalar(recent.where(PasswordResetRequest.email == address)) >= MAX_PER_ADDRESS:
        raise TooManyResetRequests(_l("Too many password links were asked for this address. Wait an hour and try "
                                      "again, or ask an organiser."))
    session.add(PasswordResetRequest(email=address, remote_addr=network, created_at=now))
    organiser = session.scalars(select(Organiser).where(Organiser.email == address)).first()
    if organiser is None or organiser.disabled_at is not None:
        return None
    return organiser


def reset_token(secret_key: str, organiser: Organiser) -> str:
    return URLSafeTimedSerializer(secret_key, salt=RESET_SALT).dumps(
        {"organiser": organiser.id, "hash": _fingerprint(organiser)})


def organiser_from_reset_token(session: Session, secret_key: str, token: str) -> Organiser:
    serializer = URLSafeTimedSerializer(secret_key, salt=RESET_SALT)
    try:
        data = serializer.loads(token, max_age=int(RESET_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise ResetLinkRefused(_l("This link has expired: it works for one hour. Ask for a new one."),
                               code="reset_link_expired") from None
    except BadSignature:
        raise ResetLinkRefused(_l("This link is not valid. Check that the whole address was copied, or ask for a "
                                  "new one."), code="reset_link_invalid") from None
    organiser = session.get(Organiser, data.get("organiser")) if isinstance(data, dict) else None
    if organiser is None or organiser.disabled_at is not None:
        raise ResetLinkRefused(_l("This link is not valid. Check that the whole address was copied, or ask for a "
                                  "new one."), code="reset_link_invalid")
    if not hmac.compare_digest(str(data.get("hash", "")), _fingerprint(organiser)):
        raise ResetLinkRefused(_l("This link has already been used, or the password has been changed since. Ask "
                                  "for a new one if you need it."), code="reset_link_used")
    return organiser


def reset_password(session: Session, organiser: Organiser, password: Any, repeated: Any, *,
                   action: str = "password.reset") -> Organiser:
    """The new password (ValidationError if weak or not repeated alike), audited as the
    owner's own act: `password.reset` through a reset link, `password.set` through a
    colleague's invitation link. The caller commits; the link stops working with the commit."""
    choose_password(organiser, password, repeated)
    audit.record(session, None, action, organiser, actor_label=organiser.name, actor_role="organiser")
    return organiser
