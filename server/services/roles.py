"""Who is acting, and what they may do. Checked inside every socket handler and route.

A role other than an organiser account's is granted as a signed sign-in link that expires
and can be revoked (an organiser makes it in the admin, or `python -m server grant-role`).
The grant is read from the database on every check, so a revocation takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.i18n import _l
from server.models import Event, Role, RoleGrant, Talk
from server.services import audit
from server.services.accounts import active_organiser
from server.services.errors import Forbidden, ValidationError

TOKEN_SALT = "arena.role-grant"  # noqa: S105  a salt names the token's purpose; the key is secret
# A role link as the audit log pictures it.
GRANT_FIELDS = ("role", "name", "event_id", "talk_id", "expires_at", "revoked_at")


@dataclass(frozen=True)
class Actor:
    """A person in a live room: always a participant id; maybe a granted role."""

    participant_id: str
    role: Role | None = None
    staff_name: str = ""
    grant_id: int | None = None
    event_id: int | None = None
    talk_id: int | None = None

    def can_moderate(self, talk: Talk) -> bool:
        if self.role is Role.organiser:
            return True
        return self.role is Role.moderator and self.event_id == talk.event_id

    def can_host_questions(self, talk: Talk) -> bool:
        """Mark "answering now" / "answered": moderators, and the talk's own speaker."""
        return self.can_moderate(talk) or (self.role is Role.speaker and self.talk_id == talk.id)

    def role_in(self, talk: Talk) -> str:
        """The badge shown beside this person's name in the talk's chat."""
        if self.can_moderate(talk) or self.can_host_questions(talk):
            return self.role.value if self.role else ""
        return ""

    @property
    def label(self) -> str:
        return self.staff_name or f"participant:{self.participant_id}"


def require_moderator(actor: Actor, talk: Talk) -> None:
    if not actor.can_moderate(talk):
        raise Forbidden(_l("Only a moderator of this event can do that."))


def require_host(actor: Actor, talk: Talk) -> None:
    if not actor.can_host_questions(talk):
        raise Forbidden(_l("Only a moderator or the speaker can do that."))


def actor_for(session: Session, participant_id: str, grant_id: Any, now: datetime,
              organiser_id: Any = None) -> Actor:
    """The actor behind a participant id, an optional signed-in organiser account and an
    optional role grant (all from the signed session), checked against the database now."""
    if organiser_id is not None:
        organiser = active_organiser(session, organiser_id)
        if organiser is not None:
            return Actor(participant_id=participant_id, role=Role.organiser, staff_name=organiser.name)
    grant = session.get(RoleGrant, grant_id) if isinstance(grant_id, int) else None
    if grant is None or not grant.is_active(now):
        return Actor(participant_id=participant_id)
    return Actor(participant_id=participant_id, role=grant.role, staff_name=grant.name, grant_id=grant.id,
                 event_id=grant.event_id, talk_id=grant.talk_id)


def grant_role(session: Session, *, role: Role, name: str, now: datetime, event: Event | None = None,
               talk: Talk | None = None, valid_days: int = 7, actor: Actor | None = None) -> RoleGrant:
    """A role link (moderator, speaker or organiser). Made by someone (`actor`: the admin, the
    command line) it is recorded as grant.<role>; the tests' factories make links unrecorded."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise ValidationError(_l("Give the person's name (at most 120 characters)."), code="invalid_name")
    if role is Role.moderator and event is None:
        raise ValidationError(_l("A moderator needs an event."), code="event_required")
    if role is Role.speaker and talk is None:
        raise ValidationError(_l("A speaker needs a talk."), code="talk_required")
    if not 1 <= valid_days <= 366:
        raise ValidationError(_l("A link can be valid for 1 to 366 days."), code="invalid_days")
    grant = RoleGrant(
        role=role, name=name,
        event_id=(event.id if event else talk.event_id if talk else None),
        talk_id=talk.id if talk else None,
        created_at=now, expires_at=now + timedelta(days=valid_days),
    )
    session.add(grant)
    session.flush()
    if actor is not None:
        audit.record(session, actor, f"grant.{role.value}", grant, talk=talk, event=event,
                     after=audit.snapshot(grant, GRANT_FIELDS))
    return grant


def revoke_grant(session: Session, grant_id: int, now: datetime, actor: Actor | None = None) -> RoleGrant:
    """Withdraw a role link (recorded as grant.revoke when someone did it); a second withdrawal
    changes nothing and records nothing."""
    grant = session.get(RoleGrant, grant_id)
    if grant is None:
        raise ValidationError(_l("There is no such role grant."), code="grant_not_found")
    if grant.revoked_at is None:
        before = audit.snapshot(grant, GRANT_FIELDS)
        grant.revoked_at = now
        if actor is not None:
            audit.record(session, actor, "grant.revoke", grant, talk=session.get(Talk, grant.talk_id)
                         if grant.talk_id else None, event_id=grant.event_id,
                         before=before, after=audit.snapshot(grant, GRANT_FIELDS))
    return grant


def revoked_since(session: Session, since: datetime) -> list[int]:
    """Grants revoked after `since`: their holders' open connections must end."""
    return list(session.scalars(select(RoleGrant.id).where(RoleGrant.revoked_at >= since)))


def sign_in_token(secret_key: str, grant: RoleGrant) -> str:
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT).dumps({"grant": grant.id})


def grant_from_token(session: Session, secret_key: str, token: str, now: datetime) -> RoleGrant:
    serializer = URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)
    try:
        data = serializer.loads(token, max_age=366 * 24 * 3600)
    except SignatureExpired:
        raise Forbidden(_l("This sign-in link has expired. Ask the organiser for a new one."),
                        code="token_expired") from None
    except BadSignature:
        raise Forbidden(_l("This sign-in link is not valid."), code="token_invalid") from None
    grant = session.get(RoleGrant, data.get("grant")) if isinstance(data, dict) else None
    if grant is None or grant.revoked_at is not None:
        raise Forbidden(_l("This sign-in link has been withdrawn."), code="token_revoked")
    if not grant.is_active(now):
        raise Forbidden(_l("This sign-in link has expired. Ask the organiser for a new one."), code="token_expired")
    return grant
