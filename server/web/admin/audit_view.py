"""The audit log's page: each entry as an organiser reads it, what was done in words of the
page's language, the thing it was done to (linked while it still exists), and only the values
that changed, with times in the event's zone; 100 entries a page, newest first.

The log itself keeps machine-readable codes (`talk.update`, field names, UTC times): the
public-records export hands those over as they are. This module only reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import db
from server.i18n import _, _l, local_date, local_datetime
from server.models import AuditEntry, Ban, Event, RoleGrant, Speaker, Talk
from server.services.audit_actions import INGEST_REFUSALS
from server.services.events import get_event
from server.web.admin import bp
from server.web.templating import audit_action

AUDIT_PAGE_SIZE = 100

ROLES = {
    "organiser": _l("organiser"),
    "moderator": _l("moderator"),
    "speaker": _l("speaker"),
    "participant": _l("participant"),
    "encoder": _l("RTMP encoder"),
    "system": _l("Arena itself"),
}

# The snapshot's field names (server/services/programme.py and the moderation services).
FIELDS = {
    "slug": _l("Address (slug)"),
    "title": _l("Title"),
    "organiser": _l("Organiser"),
    "venue": _l("Venue"),
    "starts_on": _l("First day"),
    "ends_on": _l("Last day"),
    "time_zone": _l("Time zone"),
    "invitation_text": _l("Invitation text"),
    "status": _l("Status"),
    "starts_at": _l("Starts"),
    "ends_at": _l("Ends"),
    "position": _l("Order among talks at the same time"),
    "stream_url": _l("Stream address"),
    "slides_url": _l("Slides address"),
    "slides_file": _l("Slides file (PDF)"),
    "live_state": _l("Live status"),
    "speakers": _l("Speakers"),
    "name": _l("Name"),
    "role": _l("Title and organisation"),
    "bio": _l("Biography"),
    "links": _l("Links"),
    "photo_path": _l("Photo"),
    "talks": _l("Talks"),
    "order": _l("Order"),
    "hidden": _l("Hidden"),
    "body": _l("Text"),
    "state": _l("Status"),
    "scope": _l("Applies to"),
    "ban_id": _l("Ban (number)"),
    "lifted": _l("Lifted"),
    "chat_open": _l("Chat open"),
    "questions_open": _l("Questions open"),
    "questions_premoderated": _l("Questions checked before they are shown"),
    "slow_mode_seconds": _l("Slow mode (seconds between messages)"),
    "source_url": _l("Source address"),
    "archive": _l("Keep our own copy"),
    "cancel_requested": _l("Cancel requested"),
    "origin": _l("Source"),
    "file_path": _l("Video file"),
    "captions_path": _l("Captions file"),
    "published": _l("Published on the talk's page"),
    "rows": _l("Rows exported"),
    "event_id": _l("Event"),
    "talk_id": _l("Talk"),
    "expires_at": _l("Valid until"),
    "revoked_at": _l("Withdrawn"),
    # Live video: stream keys are audited by their last four characters only.
    "hint": _l("Stream key (last four characters)"),
    "key_hint": _l("Stream key (last four characters)"),
    "stream_key_id": _l("Stream key (number)"),
    "revoke_reason": _l("Why the key no longer works"),
    "address": _l("Encoder's address"),
    "code": _l("Refusal"),
    "detail": _l("Details"),
    "count": _l("Attempts"),
    "last_seen": _l("Last attempt"),
    "reason": _l("Why it ended"),
    "recording": _l("Recording kept"),
    "recording_failed": _l("The recording could not be made (every part is kept)"),
    "label": _l("Name"),
    "url": _l("Server address"),
    "enabled": _l("Sending"),
}
# A role link's "role" is the role it gives, not a speaker's title.
GRANT_FIELDS = {"role": _l("Role"), "name": _l("Name")}

VALUES = {
    "status": {"draft": _l("Draft"), "published": _l("Published")},
    "live_state": {"scheduled": _l("By the programme's times"), "live": _l("Live now"), "ended": _l("Ended")},
    "state": {"awaiting_approval": _l("Waiting for approval"), "visible": _l("Visible"),
              "answering": _l("Being answered"), "answered": _l("Answered"), "hidden": _l("Hidden"),
              "queued": _l("Queued"), "running": _l("Running")},
    "scope": {"event": _l("the whole event"), "talk": _l("this talk")},
    "origin": {"upload": _l("uploaded"), "import": _l("imported"), "golive": _l("live broadcast")},
    "role": ROLES,
    "code": INGEST_REFUSALS,
    # Why a live stream ended (server/sockets/studio.py).
    "reason": {"ended": _l("End was pressed"), "connection_lost": _l("the sender did not come back in time"),
               "ffmpeg_failed": _l("a fault on the server"), "disk_full": _l("the server's disk was full"),
               "server_stopped": _l("the server restarted"), "role_withdrawn": _l("the sign-in link was withdrawn"),
               "key_revoked": _l("the stream key was replaced or revoked"), "no_data": _l("no video arrived"),
               "too_large": _l("the picture was larger than allowed"),
               "unsupported_codec": _l("a video format Arena cannot take"),
               "bitrate_too_high": _l("the bitrate was higher than allowed")},
    "revoke_reason": {"rotated": _l("replaced by a new key"), "revoked": _l("revoked")},
}

ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LONG_TEXT = 200


@dataclass
class Change:
    label: str
    before: str | None  # None: the field had no value before (a creation)
    after: str | None


@dataclass
class AuditRow:
    entry: AuditEntry
    action: str
    code: str
    role: str
    subject: str
    subject_url: str | None
    talk_title: str | None
    changes: list[Change] = field(default_factory=list)
    reason: str = ""


class _Names:
    """Names of the event's talks, speakers, role links and banned people, read once per page."""

    def __init__(self, session: Session, event: Event) -> None:
        self.event = event
        self.talks = {t.id: t for t in session.scalars(select(Talk).where(Talk.event_id == event.id))}
        self.talks_by_slug = {t.slug: t for t in self.talks.values()}
        self.speakers = {s.id: s for s in session.scalars(select(Speaker).where(Speaker.event_id == event.id))}
        self.grants = {g.id: g for g in session.scalars(select(RoleGrant).where(RoleGrant.event_id == event.id))}
        self.bans = {b.participant_id: b for b in session.scalars(
            select(Ban).where(Ban.event_id == event.id).order_by(Ban.id))}


@bp.get("/events/<slug>/audit")
def event_audit(slug: str) -> str:
    event = get_event(db.session, slug, include_drafts=True)
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100000 else 1
    total = db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event_id == event.id))
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.event_id == event.id).order_by(AuditEntry.id.desc())
        .limit(AUDIT_PAGE_SIZE).offset((page - 1) * AUDIT_PAGE_SIZE)
    ).all()
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render_template("admin/audit.html", event=event, rows=audit_rows(db.session, event, entries), page=page,
                           pages=pages, total=total)


def audit_rows(session: Session, event: Event, entries: Iterable[AuditEntry]) -> list[AuditRow]:
    names = _Names(session, event)
    return [_row(names, entry) for entry in entries]


def _row(names: _Names, entry: AuditEntry) -> AuditRow:
    action = audit_action(entry)
    role = str(ROLES.get(entry.actor_role, entry.actor_role))
    subject, url = _subject(names, entry)
    talk = names.talks.get(entry.talk_id) if entry.talk_id else None
    # Which talk, where the subject does not say it already (a message, a question, a ban, a link).
    talk_title = (talk.title if talk is not None
                  and entry.target_type not in ("talk", "recording", "import_job", "stream_key", "live_stream")
                  else None)
    # An encoder's refusal keeps its code as the reason: shown in words.
    reason = str(INGEST_REFUSALS.get(entry.reason, entry.reason)) if entry.action == "ingest.refused" else entry.reason
    return AuditRow(entry=entry, action=action, code=entry.action, role=role, subject=subject, subject_url=url,
                    talk_title=talk_title, changes=_changes(names, entry), reason=reason)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _remembered(entry: AuditEntry, key: str) -> str:
    for picture in (entry.before, entry.after):
        if isinstance(picture, dict) and isinstance(picture.get(key), str):
            return picture[key]
    return ""


def _subject(names: _Names, entry: AuditEntry) -> tuple[str, str | None]:
    """What the entry is about, and the admin page where it can be found while it exists."""
    event, kind, target = names.event, entry.target_type, _int(entry.target_id)
    if kind == "event":
        return event.title, url_for("admin.edit_event", slug=event.slug)
    if kind == "talk":
        talk = names.talks.get(target)
        if talk is not None:
            return talk.title, url_for("admin.edit_talk", slug=event.slug, talk_slug=talk.slug)
        return _remembered(entry, "title") or _("A deleted talk"), None
    if kind == "speaker":
        speaker = names.speakers.get(target)
        if speaker is not None:
            return speaker.name, url_for("admin.edit_speaker", slug=event.slug, speaker_id=speaker.id)
        return _remembered(entry, "name") or _("A deleted speaker"), None
    talk = names.talks.get(entry.talk_id) if entry.talk_id else None
    if kind in ("recording", "import_job"):
        if talk is None:
            return _("A deleted talk"), None
        return (_("The recording of \u201c%(title)s\u201d", title=talk.title),
                url_for("admin.talk_recording", slug=event.slug, talk_slug=talk.slug))
    if kind in ("stream_key", "live_stream"):
        if talk is None:
            return _("A deleted talk"), None
        label = (_("The stream key of “%(title)s”", title=talk.title) if kind == "stream_key"
                 else _("The live stream of “%(title)s”", title=talk.title))
        return label, url_for("admin.talk_ingest", slug=event.slug, talk_slug=talk.slug)
    if kind == "simulcastdestination":
        name = _remembered(entry, "label") or _("A destination")
        if talk is None:
            return name, None
        return name, url_for("admin.talk_simulcast", slug=event.slug, talk_slug=talk.slug)
    if kind == "rolegrant":
        grant = names.grants.get(target)
        name = grant.name if grant is not None else _remembered(entry, "name")
        return name or _("A role link"), url_for("admin.event_people", slug=event.slug)
    if kind in ("message", "question"):
        label = (_("Chat message %(number)s", number=entry.target_id) if kind == "message"
                 else _("Question %(number)s", number=entry.target_id))
        if talk is not None:
            return label, url_for("public.talk_page", slug=event.slug, talk_slug=talk.slug)
        return label, None
    if kind == "participant":
        ban = names.bans.get(entry.target_id)
        name = ban.display_name if ban is not None and ban.display_name else ""
        short = entry.target_id[:8]
        return (_("%(name)s (participant %(id)s)", name=name, id=short) if name
                else _("Participant %(id)s", id=short)), url_for("admin.event_people", slug=event.slug)
    return (f"{kind} {entry.target_id}".strip(), None) if kind else ("", None)


def _changes(names: _Names, entry: AuditEntry) -> list[Change]:
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    labels = GRANT_FIELDS if entry.target_type == "rolegrant" else {}
    changes = []
    for key in list(dict.fromkeys([*before, *after])):
        if key in before and key in after and before[key] == after[key]:
            continue  # the snapshot holds it for context; it did not change
        if (key in before) != (key in after) and _empty(before.get(key, after.get(key))):
            continue  # created or deleted empty: nothing to read
        if key == "order" or (key in names.talks_by_slug and entry.action == "talk.move"):
            label = (str(FIELDS["order"]) if key == "order"
                     else _("Start of \u201c%(title)s\u201d", title=names.talks_by_slug[key].title))
        else:
            label = str(labels.get(key) or FIELDS.get(key) or key)
        changes.append(Change(label=label,
                              before=_shown(names, entry, key, before[key]) if key in before else None,
                              after=_shown(names, entry, key, after[key]) if key in after else None))
    return changes


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _shown(names: _Names, entry: AuditEntry, key: str, value: Any) -> str:
    """One stored value as a person reads it."""
    zone = names.event.time_zone
    if _empty(value):
        return _("(none)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key in VALUES and isinstance(value, str):
        return str(VALUES[key].get(value, value))
    if key == "speakers" and isinstance(value, list):
        return ", ".join(names.speakers[v].name if v in names.speakers else _("deleted speaker %(id)s", id=v)
                         for v in value)
    if key == "talks" and isinstance(value, list):
        return ", ".join(names.talks[v].title if v in names.talks else _("deleted talk %(id)s", id=v) for v in value)
    if key == "order" and isinstance(value, list):
        return ", ".join(names.talks_by_slug[v].title if v in names.talks_by_slug else str(v) for v in value)
    if key == "talk_id" and _int(value) in names.talks:
        return names.talks[_int(value)].title
    if key == "event_id" and _int(value) == names.event.id:
        return names.event.title
    if key == "links" and isinstance(value, list):
        return "; ".join(f"{link.get('label', '')} ({link.get('url', '')})" if isinstance(link, dict) else str(link)
                         for link in value)
    if isinstance(value, dict):
        return ", ".join(f"{item_key} {_shown(names, entry, item_key, item)}" for item_key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_shown(names, entry, key, item) for item in value)
    if isinstance(value, str) and ISO_INSTANT.match(value):
        try:
            return local_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")), zone, "short")
        except ValueError:
            return value
    if isinstance(value, str) and ISO_DAY.match(value):
        try:
            return local_date(date.fromisoformat(value), format="long")
        except ValueError:
            return value
    text = str(value)
    return text if len(text) <= LONG_TEXT else text[:LONG_TEXT].rstrip() + "\u2026"
