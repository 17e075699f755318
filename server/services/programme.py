"""Organisers change the programme: events, talks, speakers, their order and their files.

Each change is checked first (a ServiceError in the user's language, nothing touched), then
applied and written to the audit log with what it was before and after. The caller commits
once; a refused change leaves the session as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import Base
from server.i18n import _l
from server.models import Event, EventStatus, LiveState, Speaker, Talk, TalkSpeaker
from server.services import addresses
from server.services.audit import audit_value, changed, record, snapshot
from server.services.errors import ValidationError
from server.services.events import _http_url, _optional, _required, _slug, check_talk_times, checked_stream_url
from server.services.golive import active_stream
from server.services.roles import Actor

EVENT_FIELDS = ("slug", "title", "organiser", "starts_on", "ends_on", "venue", "time_zone", "invitation_text", "status")
TALK_FIELDS = ("slug", "title", "starts_at", "ends_at", "position", "invitation_text", "stream_url", "slides_url",
               "slides_file", "live_state")
SPEAKER_FIELDS = ("name", "role", "bio", "links", "photo_path")

# Where slide decks may live: the services the invitation texts link to, or any PDF.
SLIDE_HOSTS = ("slideshare.net", "www.slideshare.net", "speakerdeck.com", "docs.google.com")


# -- events -------------------------------------------------------------------------------

def update_event(session: Session, actor: Actor, event: Event, *, title: Any, slug: Any, starts_on: date,
                 ends_on: date | None, organiser: Any = "", venue: Any = "", time_zone: Any = "Europe/Stockholm",
                 invitation_text: Any = "") -> Event:
    title = _required(title, "title", 200)
    slug = _slug(slug, title)
    ends_on = ends_on or starts_on
    if ends_on < starts_on:
        raise ValidationError(_l("An event cannot end before it starts."), code="ends_before_start", field="ends_on")
    if not isinstance(time_zone, str):
        time_zone = ""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_l("Unknown time zone."), code="invalid_time_zone", field="time_zone") from None
    addresses.check_event_slug(session, slug, year=starts_on.year, event=event)
    for talk in event.talks:
        talk_days = (talk.starts_at.astimezone(zone).date(), talk.ends_at.astimezone(zone).date())
        if talk_days[0] < starts_on or talk_days[1] > ends_on:
            raise ValidationError(
                _l("The talk \u201c%(title)s\u201d would fall outside the event's days. Move the talk first.",
                   title=talk.title), code="talk_outside_event", field="starts_on")
    before = snapshot(event, EVENT_FIELDS)
    addresses.retire_event_slug(session, event, event.slug, slug)  # old links keep working (301)
    event.title, event.slug, event.starts_on, event.ends_on = title, slug, starts_on, ends_on
    event.organiser = _optional(organiser, "organiser", 200)
    event.venue = _optional(venue, "venue", 200)
    event.time_zone = time_zone
    event.invitation_text = _optional(invitation_text, "invitation_text", 20000)
    old, new = changed(before, snapshot(event, EVENT_FIELDS))
    if new:
        record(session, actor, "event.update", event, event=event, before=old, after=new)
    return event


def record_event_created(session: Session, actor: Actor, event: Event) -> None:
    session.flush()
    record(session, actor, "event.create", event, event=event, after=snapshot(event, EVENT_FIELDS))


def set_event_status(session: Session, actor: Actor, event: Event, status: EventStatus) -> Event:
    if event.status is status:
        return event
    if status is EventStatus.published and not event.talks:
        raise ValidationError(_l("Add at least one talk before publishing the event."), code="no_talks")
    before = {"status": event.status.value}
    event.status = status
    action = "event.publish" if status is EventStatus.published else "event.unpublish"
    record(session, actor, action, event, event=event, before=before, after={"status": status.value})
    return event


# -- talks --------------------------------------------------------------------------------

def checked_slides_url(value: Any) -> str:
    url = _http_url(value, "slides_url")
    if not url:
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in SLIDE_HOSTS or parts.path.lower().endswith(".pdf"):
        return url
    raise ValidationError(
        _l("Slides can be on Slideshare, Speaker Deck or Google Slides, or a link to a PDF file."),
        code="unsupported_slides", field="slides_url")


def update_talk(session: Session, actor: Actor, talk: Talk, *, title: Any, slug: Any, starts_at: datetime,
                ends_at: datetime, invitation_text: Any = "", stream_url: Any = "", slides_url: Any = "",
                speakers: Iterable[Speaker] = (), own_host: str = "localhost", live_state: Any = None) -> Talk:
    event = talk.event
    title = _required(title, "title", 200)
    slug = _slug(slug, title)
    check_talk_times(event, starts_at, ends_at)
    addresses.check_talk_slug(session, event, slug, talk)
    stream_url = checked_stream_url(stream_url, own_host)
    slides_url = checked_slides_url(slides_url)
    invitation_text = _optional(invitation_text, "invitation_text", 20000)
    speakers = _event_speakers(event, speakers)
    live_state = _checked_live_state(session, talk, live_state)
    before = snapshot(talk, TALK_FIELDS) | {"speakers": [s.id for s in talk.speakers]}
    addresses.retire_talk_slug(session, talk, talk.slug, slug)  # old links keep working (301)
    talk.title, talk.slug = title, slug
    talk.starts_at, talk.ends_at = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    talk.invitation_text, talk.stream_url, talk.slides_url = invitation_text, stream_url, slides_url
    talk.live_state = live_state
    _set_speakers(talk, speakers)
    old, new = changed(before, snapshot(talk, TALK_FIELDS) | {"speakers": [s.id for s in speakers]})
    if new:
        record(session, actor, "talk.update", talk, talk=talk, before=old, after=new)
    return talk


def _checked_live_state(session: Session, talk: Talk, value: Any) -> LiveState:
    """An organiser marks a talk streamed elsewhere live or ended by hand; while a speaker is
    live from the studio, the stream decides, not the form."""
    if value is None:
        return talk.live_state
    try:
        wanted = LiveState(value)
    except ValueError:
        raise ValidationError(_l("Choose one of the live statuses."), code="invalid_live_state",
                              field="live_state") from None
    if wanted is not talk.live_state:
        if active_stream(session, talk.id) is not None:
            raise ValidationError(_l("The speaker is live from the studio now. The stream sets the status; "
                                     "end it in the studio."), code="live_from_studio", field="live_state")
    return wanted


def record_talk_created(session: Session, actor: Actor, talk: Talk) -> None:
    session.flush()
    record(session, actor, "talk.create", talk, talk=talk,
          after=snapshot(talk, TALK_FIELDS) | {"speakers": [s.id for s in talk.speakers]})


def _event_speakers(event: Event, speakers: Iterable[Speaker]) -> list[Speaker]:
    chosen = list(speakers)
    if any(speaker.event_id != event.id for speaker in chosen):
        raise ValidationError(_l("A speaker must belong to the same event."), code="invalid_speaker", field="speakers")
    return chosen


def _set_speakers(talk: Talk, speakers: list[Speaker]) -> None:
    keep = {speaker.id for speaker in speakers}
    for link in list(talk.speaker_links):
        if link.speaker_id not in keep:
            talk.speaker_links.remove(link)
    existing = {link.speaker_id: link for link in talk.speaker_links}
    for position, speaker in enumerate(speakers):
        link = existing.get(speaker.id)
        if link is None:
            talk.speaker_links.append(TalkSpeaker(speaker=speaker, position=position))
        else:
            link.position = position


def move_talk(session: Session, actor: Actor, talk: Talk, direction: str) -> Talk:
    """Swap a talk with its neighbour in the programme. The two keep their lengths and the
    span they shared: the earlier slot's start and the later slot's end stay where they were,
    and so does any break between them."""
    if direction not in ("up", "down"):
        raise ValidationError(_l("Choose up or down."), code="invalid_direction")
    talks = list(talk.event.talks)  # in programme order
    index = talks.index(talk)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(talks):
        message = (_l("This talk is already first.") if direction == "up" else _l("This talk is already last."))
        raise ValidationError(message, code="cannot_move")
    first, second = sorted((talk, talks[other_index]), key=talks.index)
    before = {"order": [first.slug, second.slug], first.slug: audit_value(first.starts_at),
              second.slug: audit_value(second.starts_at)}
    gap = max(second.starts_at - first.ends_at, timedelta(0))
    first_length, second_length = first.ends_at - first.starts_at, second.ends_at - second.starts_at
    if first.starts_at == second.starts_at:
        # Parallel talks: only the tie-breaker changes.
        first.position, second.position = max(first.position, second.position) + 1, min(first.position, second.position)
    else:
        second.starts_at, second.ends_at = first.starts_at, first.starts_at + second_length
        first.starts_at = second.ends_at + gap
        first.ends_at = first.starts_at + first_length
    after = {"order": [second.slug, first.slug], first.slug: audit_value(first.starts_at),
             second.slug: audit_value(second.starts_at)}
    record(session, actor, "talk.move", talk, talk=talk, before=before, after=after)
    return talk


# -- speakers -----------------------------------------------------------------------------

def parse_links(text: Any) -> list[dict[str, str]]:
    """Links as the form takes them: one per line, "Label | https://...". A bare address is
    labelled with its host."""
    if not isinstance(text, str):
        return []
    links = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if "|" in line:
            label, _, url = line.rpartition("|")
        else:
            # "Webbplats https://kommun.se" is taken as meant: the text, then the address.
            match = _LABEL_THEN_ADDRESS.match(line)
            label, url = (match["label"], match["url"]) if match else ("", line)
        url = url.strip()
        if not _http_url_or_none(url):
            if "|" not in line:
                # Nothing on the line looks like an address: say what a line should look like.
                raise ValidationError(
                    _l("Line %(line)d: write a link as \u201cText | https://\u2026\u201d, or give only the "
                       "address, starting with https://.", line=line_number),
                    code="invalid_url", field="links")
            raise ValidationError(
                _l("Line %(line)d: give a web address that starts with https:// or http://.", line=line_number),
                code="invalid_url", field="links")
        label = label.strip() or (urlsplit(url).hostname or url)
        if len(label) > 80:
            raise ValidationError(_l("Line %(line)d: a link's label can be at most 80 characters.", line=line_number),
                                  code="too_long", field="links")
        links.append({"label": label, "url": url})
    if len(links) > 10:
        raise ValidationError(_l("At most 10 links."), code="too_many", field="links")
    return links


_LABEL_THEN_ADDRESS = re.compile(r"^(?P<label>\S.*?)\s+(?P<url>https?://\S+)$", re.IGNORECASE)


def _http_url_or_none(url: str) -> str | None:
    try:
        return _http_url(url, "links") or None
    except ValidationError:
        return None


def links_text(links: list[dict[str, str]]) -> str:
    return "\n".join(f"{link['label']} | {link['url']}" for link in links)


def update_speaker(session: Session, actor: Actor, speaker: Speaker, *, name: Any, role: Any = "", bio: Any = "",
                   links: Any = "") -> Speaker:
    name = _required(name, "name", 120)
    role = _optional(role, "role", 200)
    bio = _optional(bio, "bio", 5000)
    checked_links = parse_links(links)
    before = snapshot(speaker, SPEAKER_FIELDS)
    speaker.name, speaker.role, speaker.bio, speaker.links = name, role, bio, checked_links
    old, new = changed(before, snapshot(speaker, SPEAKER_FIELDS))
    if new:
        record(session, actor, "speaker.update", speaker, event=speaker.event, before=old, after=new)
    return speaker


def record_speaker_created(session: Session, actor: Actor, speaker: Speaker) -> None:
    session.flush()
    record(session, actor, "speaker.create", speaker, event=speaker.event, after=snapshot(speaker, SPEAKER_FIELDS))


def set_speaker_photo(session: Session, actor: Actor, speaker: Speaker, photo_path: str | None) -> None:
    before = {"photo_path": speaker.photo_path}
    speaker.photo_path = photo_path
    record(session, actor, "speaker.photo", speaker, event=speaker.event, before=before,
           after={"photo_path": photo_path})


def set_talk_slides_file(session: Session, actor: Actor, talk: Talk, slides_file: str | None) -> None:
    before = {"slides_file": talk.slides_file}
    talk.slides_file = slides_file
    record(session, actor, "talk.slides", talk, talk=talk, before=before, after={"slides_file": slides_file})


# -- deleting mistakes ----------------------------------------------------------------------

# What makes a talk part of the record: once anything was said or broadcast in it, the talk
# stays (public records); the organiser can still change it or unpublish the event.
TALK_RECORD_TABLES = ("chat_messages", "questions", "recordings", "live_streams")


def talk_has_records(session: Session, talk: Talk) -> bool:
    for name in TALK_RECORD_TABLES:
        table = Base.metadata.tables.get(name)
        if table is not None and session.scalar(
                select(func.count()).select_from(table).where(table.c.talk_id == talk.id)):
            return True
    return False


def delete_talk(session: Session, actor: Actor, talk: Talk) -> None:
    if talk_has_records(session, talk):
        raise ValidationError(
            _l("This talk has chat, questions or a recording, which are public records, so it cannot be deleted. "
               "Change it instead, or unpublish the event."), code="talk_has_records")
    event = talk.event
    record(session, actor, "talk.delete", talk, event=event,
          before=snapshot(talk, TALK_FIELDS) | {"speakers": [s.id for s in talk.speakers]})
    event.talks.remove(talk)
    session.delete(talk)


def delete_speaker(session: Session, actor: Actor, speaker: Speaker) -> None:
    """A speaker added by mistake. Their talks stay; only the link to them goes."""
    event = speaker.event
    record(session, actor, "speaker.delete", speaker, event=event,
          before=snapshot(speaker, SPEAKER_FIELDS) | {"talks": [link.talk_id for link in speaker.talk_links]})
    event.speakers.remove(speaker)
    session.delete(speaker)
