"""Events, talks and speakers: reading the programme and changing it.

Every check a user can trip over raises a ServiceError with a message in the user's
language, before anything is added to the session.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from server.i18n import _l, local_date
from server.media.embeds import StreamEmbed, UnsupportedStreamURL, parse_stream_url
from server.models import Event, EventStatus, Speaker, Talk, TalkSpeaker
from server.services import addresses
from server.services.errors import NotFound, ValidationError

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Three queries for a whole programme: events, talks with their recording, speakers.
_TALK_LOADING = (
    selectinload(Event.talks).options(
        joinedload(Talk.recording),
        selectinload(Talk.speaker_links).joinedload(TalkSpeaker.speaker),
    ),
)


def slugify(text: str, max_length: int = 80) -> str:
    """"Skapa arenor!" -> "skapa-arenor"; å, ä and ö lose their dots and rings."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "x"


# -- reading ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HomeListing:
    live_now: list[Talk]
    upcoming: list[Event]
    past: list[Event]


@dataclass(frozen=True)
class ProgrammeDay:
    """One day of a programme: its date in the event's zone and its talks in programme order."""
    day: date
    talks: list[Talk]


def programme_days(talks: Iterable[Talk], time_zone: str) -> list[ProgrammeDay]:
    """Talks grouped by the day they start on in the event's zone, days in order. Every
    programme view (the event page, the recordings page, the admin list, later a tracks grid)
    groups with this, so a talk is under the same day everywhere."""
    zone = ZoneInfo(time_zone)
    days: dict[date, list[Talk]] = {}
    for talk in sorted(talks, key=lambda t: (t.starts_at, t.position, t.id or 0)):
        days.setdefault(talk.starts_at.astimezone(zone).date(), []).append(talk)
    return [ProgrammeDay(day=day, talks=day_talks) for day, day_talks in sorted(days.items())]


def published_events(session: Session) -> list[Event]:
    query = (
        select(Event)
        .where(Event.status == EventStatus.published)
        .order_by(Event.starts_on, Event.id)
        .options(*_TALK_LOADING)
    )
    return list(session.scalars(query))


def home_listing(session: Session, now: datetime) -> HomeListing:
    """The home page: talks live now, events to come (soonest first), events past (latest first)."""
    events = published_events(session)
    live_now = [talk for event in events for talk in event.talks if talk.is_live(now)]
    upcoming, past = [], []
    for event in events:
        last_end = max((talk.ends_at for talk in event.talks), default=None)
        ended = last_end < now if last_end else event.ends_on < now.astimezone(ZoneInfo(event.time_zone)).date()
        (past if ended else upcoming).append(event)
    past.reverse()
    return HomeListing(live_now=live_now, upcoming=upcoming, past=past)


def get_event(session: Session, slug: str, *, include_drafts: bool = False) -> Event:
    query = select(Event).where(Event.slug == slug).options(*_TALK_LOADING)
    event = session.scalars(query).first()
    if event is None or (event.status is not EventStatus.published and not include_drafts):
        raise NotFound(_l("There is no event at this address."), code="event_not_found")
    return event


def get_talk(session: Session, event_slug: str, talk_slug: str, *, include_drafts: bool = False) -> Talk:
    """One talk with its event, speakers and recording, without loading the whole programme."""
    query = (
        select(Talk).join(Talk.event).where(Event.slug == event_slug, Talk.slug == talk_slug)
        .options(contains_eager(Talk.event), joinedload(Talk.recording),
                 selectinload(Talk.speaker_links).joinedload(TalkSpeaker.speaker))
    )
    talk = session.scalars(query).first()
    if talk is None:
        get_event(session, event_slug, include_drafts=include_drafts)  # says which part is missing
        raise NotFound(_l("There is no talk at this address."), code="talk_not_found")
    if talk.event.status is not EventStatus.published and not include_drafts:
        raise NotFound(_l("There is no event at this address."), code="event_not_found")
    return talk


def stream_embed(talk: Talk, own_host: str) -> StreamEmbed | None:
    """The talk's player, or None when it has no (longer a valid) stream address."""
    if not talk.stream_url:
        return None
    try:
        return parse_stream_url(talk.stream_url, own_host=own_host)
    except UnsupportedStreamURL:
        return None


def recording_embed(talk: Talk, own_host: str) -> StreamEmbed | None:
    """The published recording's player: our own file first, else its source's player."""
    recording = talk.recording
    if recording is None or not recording.is_published:
        return None
    url = f"/recordings/{recording.file_path}" if recording.file_path else recording.source_url
    try:
        return parse_stream_url(url, own_host=own_host)
    except UnsupportedStreamURL:
        return None


# -- changing -----------------------------------------------------------------------------

def _required(value: Any, field: str, max_length: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError(_l("Please fill in this field."), code="required", field=field)
    if len(text) > max_length:
        raise ValidationError(
            _l("At most %(count)d characters.", count=max_length), code="too_long", field=field
        )
    return text


def _optional(value: Any, field: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_l("This value must be text."), code="invalid", field=field)
    text = value.strip()
    if len(text) > max_length:
        raise ValidationError(_l("At most %(count)d characters.", count=max_length), code="too_long", field=field)
    return text


def _http_url(value: Any, field: str) -> str:
    text = _optional(value, field, 2000)
    if text and not re.match(r"^https?://[^\s/$.?#][^\s]*$", text, re.IGNORECASE):
        raise ValidationError(_l("Give a web address that starts with https:// or http://."),
                              code="invalid_url", field=field)
    return text


def _slug(value: Any, fallback_from: str, field: str = "slug") -> str:
    slug = value.strip() if isinstance(value, str) and value.strip() else slugify(fallback_from)
    if not SLUG_PATTERN.match(slug) or len(slug) > 80:
        raise ValidationError(
            _l("Use lower-case letters a-z, digits and hyphens only."), code="invalid_slug", field=field
        )
    return slug


def create_event(
    session: Session,
    *,
    title: str,
    starts_on: date,
    ends_on: date | None = None,
    organiser: str = "",
    venue: str = "",
    time_zone: str = "Europe/Stockholm",
    invitation_text: str = "",
    slug: str | None = None,
    status: EventStatus = EventStatus.draft,
) -> Event:
    title = _required(title, "title", 200)
    slug = _slug(slug, title)
    ends_on = ends_on or starts_on
    if ends_on < starts_on:
        raise ValidationError(_l("An event cannot end before it starts."), code="ends_before_start", field="ends_on")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_l("Unknown time zone."), code="invalid_time_zone", field="time_zone") from None
    addresses.check_event_slug(session, slug, year=starts_on.year if isinstance(starts_on, date) else None)
    event = Event(
        slug=slug,
        title=title,
        organiser=_optional(organiser, "organiser", 200),
        venue=_optional(venue, "venue", 200),
        starts_on=starts_on,
        ends_on=ends_on,
        time_zone=time_zone,
        invitation_text=_optional(invitation_text, "invitation_text", 20000),
        status=status,
    )
    session.add(event)
    return event


def create_speaker(
    session: Session,
    event: Event,
    *,
    name: str,
    role: str = "",
    bio: str = "",
    links: Iterable[dict[str, str]] = (),
) -> Speaker:
    checked_links = []
    for link in links:
        label = _required(link.get("label"), "links", 80)
        checked_links.append({"label": label, "url": _http_url(link.get("url"), "links") or _missing_url()})
    speaker = Speaker(
        event=event,
        name=_required(name, "name", 120),
        role=_optional(role, "role", 200),
        bio=_optional(bio, "bio", 5000),
        links=checked_links,
    )
    session.add(speaker)
    return speaker


def _missing_url() -> str:
    raise ValidationError(_l("Give a web address that starts with https:// or http://."),
                          code="invalid_url", field="links")


def create_talk(
    session: Session,
    event: Event,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    speakers: Iterable[Speaker] = (),
    invitation_text: str = "",
    stream_url: str = "",
    slides_url: str = "",
    slug: str | None = None,
    own_host: str = "localhost",
) -> Talk:
    title = _required(title, "title", 200)
    slug = _slug(slug, title)
    check_talk_times(event, starts_at, ends_at)
    addresses.check_talk_slug(session, event, slug)
    stream_url = checked_stream_url(stream_url, own_host)
    talk = Talk(
        event=event,
        slug=slug,
        title=title,
        starts_at=starts_at.astimezone(UTC),  # one form of each instant, in memory as in the database
        ends_at=ends_at.astimezone(UTC),
        position=len(event.talks),
        invitation_text=_optional(invitation_text, "invitation_text", 20000),
        stream_url=stream_url,
        slides_url=_http_url(slides_url, "slides_url"),
    )
    for position, speaker in enumerate(speakers):
        if speaker.event is not event:
            raise ValidationError(_l("A speaker must belong to the same event."), code="invalid_speaker",
                                  field="speakers")
        talk.speaker_links.append(TalkSpeaker(speaker=speaker, position=position))
    session.add(talk)
    return talk


def checked_stream_url(value: Any, own_host: str) -> str:
    """A talk's stream address as stored: empty, or one the embed rules recognise."""
    url = _optional(value, "stream_url", 2000)
    if url:
        try:
            parse_stream_url(url, own_host=own_host)
        except UnsupportedStreamURL as exc:
            raise ValidationError(exc.message, code="unsupported_stream", field="stream_url") from None
    return url


def check_talk_times(event: Event, starts_at: datetime, ends_at: datetime) -> None:
    """A talk ends after it starts, and falls on its event's day(s) in the event's zone."""
    if not isinstance(starts_at, datetime) or not isinstance(ends_at, datetime):
        raise ValidationError(_l("Give a start and an end time."), code="invalid_time", field="starts_at")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValidationError(_l("Give a start and an end time."), code="invalid_time", field="starts_at")
    for value, field in ((starts_at, "starts_at"), (ends_at, "ends_at")):
        if isinstance(value.tzinfo, ZoneInfo):  # a wall time handed in as it was typed
            _refuse_skipped_time(value.replace(tzinfo=None), value.tzinfo, field)
    # Instants, not clock times: two datetimes in the same zone compare by their wall clocks.
    if ends_at.astimezone(UTC) <= starts_at.astimezone(UTC):
        raise ValidationError(_l("A talk must end after it starts."), code="ends_before_start", field="ends_at")
    zone = ZoneInfo(event.time_zone)
    first_day, last_day = starts_at.astimezone(zone).date(), ends_at.astimezone(zone).date()
    if first_day < event.starts_on or last_day > event.ends_on:
        raise ValidationError(_l("A talk must take place during its event."), code="outside_event",
                              field="starts_at")


# -- clock times in the event's zone ----------------------------------------------------------
# An organiser types a day and a clock time. Twice a year that is not one instant: in spring
# an hour is skipped (in Stockholm 02:00-02:59 never happens on the last Sunday of March), in
# autumn an hour happens twice. The first is refused, the second asked about: never guessed.

EARLIER, LATER = 0, 1  # PEP 495's fold: 0 is the first of a repeated clock time, 1 the second


@dataclass(frozen=True)
class RepeatedTime:
    """One of the two instants a clock time in the repeated autumn hour can mean."""
    fold: int
    utc_offset: str  # "+02:00"
    summer_time: bool


def _exists(naive: datetime, zone: ZoneInfo, fold: int) -> bool:
    return datetime.fromtimestamp(naive.replace(tzinfo=zone, fold=fold).timestamp(), zone).replace(
        tzinfo=None) == naive


def _offset_text(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _is_repeated(naive: datetime, zone: ZoneInfo) -> bool:
    earlier, later = naive.replace(tzinfo=zone, fold=EARLIER), naive.replace(tzinfo=zone, fold=LATER)
    return earlier.utcoffset() != later.utcoffset() and _exists(naive, zone, EARLIER) and _exists(naive, zone, LATER)


def _edges(naive: datetime, inside) -> tuple[datetime, datetime]:
    """The first minute of the span around `naive` where inside() holds, and the first after it."""
    minute = timedelta(minutes=1)
    start = naive.replace(second=0, microsecond=0)
    while inside(start - minute):
        start -= minute
    end = naive.replace(second=0, microsecond=0) + minute
    while inside(end):
        end += minute
    return start, end


def _refuse_skipped_time(naive: datetime, zone: ZoneInfo, field: str) -> None:
    if _exists(naive, zone, EARLIER) or _exists(naive, zone, LATER):
        return
    start, end = _edges(naive, lambda t: not (_exists(t, zone, EARLIER) or _exists(t, zone, LATER)))
    raise ValidationError(
        _l("On %(day)s the clocks go forward from %(start)s to %(end)s, so %(time)s does not exist that night. "
           "Choose a time before %(start)s or from %(end)s.", day=local_date(naive.date(), format="long"),
           start=start.strftime("%H:%M"), end=end.strftime("%H:%M"), time=naive.strftime("%H:%M")),
        code="time_skipped", field=field)


def repeated_time_choices(day: date, clock: time, time_zone: str) -> list[RepeatedTime]:
    """The two meanings of a clock time in the repeated autumn hour; empty for any other time."""
    zone = ZoneInfo(time_zone)
    naive = datetime.combine(day, clock.replace(tzinfo=None, fold=0))
    if not _is_repeated(naive, zone):
        return []
    return [RepeatedTime(fold=fold, utc_offset=_offset_text(naive.replace(tzinfo=zone, fold=fold).utcoffset()),
                         summer_time=bool(naive.replace(tzinfo=zone, fold=fold).dst()))
            for fold in (EARLIER, LATER)]


def local_instant(day: date, clock: time, time_zone: str, *, fold: int | None = None, field: str = "starts_at",
                  ) -> datetime:
    """The instant (in UTC) of a clock time on a day in the event's zone. A time the clocks skip
    is refused; a repeated one needs `fold` (EARLIER or LATER), else it is refused with a
    request to choose."""
    if not isinstance(day, date) or not isinstance(clock, time):
        raise ValidationError(_l("Give a start and an end time."), code="invalid_time", field=field)
    zone = ZoneInfo(time_zone)
    naive = datetime.combine(day, clock.replace(tzinfo=None, fold=0))  # which one: `fold`, below
    _refuse_skipped_time(naive, zone, field)
    if _is_repeated(naive, zone):
        if fold not in (EARLIER, LATER):
            start, end = _edges(naive, lambda t: _is_repeated(t, zone))
            raise ValidationError(
                _l("On %(day)s the clocks go back from %(end)s to %(start)s, so %(time)s happens twice. "
                   "Choose which %(time)s you mean.", day=local_date(naive.date(), format="long"),
                   start=start.strftime("%H:%M"), end=end.strftime("%H:%M"), time=naive.strftime("%H:%M")),
                code="time_repeated", field=field)
        return naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)
