"""The activity report: how many watched, took part, wrote and asked, per event and per month.

Two histories are written while talks are live (server/sockets/live.py), since the live
tables do not keep them: `Participation` (a participant opened a talk's live room, once per
talk) and `ViewerSample` (the most viewers a talk had at once in each minute).

Peaks: a talk's sample for a minute is the highest global count the presence ticker saw in
that minute; an event's peak is the highest, over minutes, of the sum of its talks' samples
for that minute (a month's: the sum over every event's talks). Two talks that peak in
different seconds of the same minute are added as if they peaked together, so an event's
peak can be slightly overstated when parallel talks run; a single talk's peak is exact to
the ticker's one-second resolution.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, distinct, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.db import UTCDateTime
from server.i18n import _l
from server.models import ChatMessage, Event, Participation, Presence, Question, QuestionState, Talk, ViewerSample
from server.services.errors import ValidationError
from server.services.presence import FRESH_FOR

MINUTE = timedelta(minutes=1)
# The chart's step: every minute for a talk or two, coarser for a long day or several days,
# so the chart stays readable and its data table short.
STEPS = ((timedelta(hours=3), timedelta(minutes=1)), (timedelta(days=2), timedelta(minutes=5)))
LONG_STEP = timedelta(hours=1)


# -- recording (called by the live room; the caller commits) ------------------------------

def _insert(session: Session, model: type) -> Any:
    """INSERT with ON CONFLICT for the database in use (SQLite and PostgreSQL both have it)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(model)
    return sqlite_insert(model)


def record_participation(session: Session, talk: Talk, participant_id: str, now: datetime) -> None:
    """Remember that a participant opened a talk's live room; the first time only."""
    statement = _insert(session, Participation).values(
        talk_id=talk.id, participant_id=participant_id, event_id=talk.event_id, first_seen_at=now,
    ).on_conflict_do_nothing(index_elements=["talk_id", "participant_id"])
    session.execute(statement)


def record_participations(session: Session, seen: dict[tuple[int, str], int], now: datetime) -> None:
    """Many first visits in one statement: {(talk id, participant id): event id}. The live room
    collects them and its presence ticker writes them once a second, so a join writes nothing."""
    if not seen:
        return
    rows = [{"talk_id": talk_id, "participant_id": participant_id, "event_id": event_id, "first_seen_at": now}
            for (talk_id, participant_id), event_id in sorted(seen.items())]
    for start in range(0, len(rows), 500):  # SQLite caps the parameters of one statement
        session.execute(_insert(session, Participation).values(rows[start:start + 500]).on_conflict_do_nothing(
            index_elements=["talk_id", "participant_id"]))


def record_viewers(session: Session, talk_ids: Iterable[int], now: datetime) -> None:
    """Raise this minute's sample of each talk to its current global viewer count.

    One statement for all talks, whatever their number: INSERT ... SELECT the sums over the
    fresh presence rows, and on a sample that exists keep the larger number. Several
    processes writing the same minute therefore agree (the highest wins), and the rows are
    taken in talk order so two processes never lock them in opposite orders (PostgreSQL).
    """
    talk_ids = sorted(set(talk_ids))
    if not talk_ids:
        return
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    viewers = func.sum(Presence.viewers)
    totals = (
        select(Presence.talk_id, Talk.event_id, literal(minute, UTCDateTime()), viewers)
        .join(Talk, Talk.id == Presence.talk_id)
        .where(Presence.talk_id.in_(talk_ids), Presence.updated_at >= now - FRESH_FOR)
        .group_by(Presence.talk_id, Talk.event_id)
        .having(viewers > 0)
        .order_by(Presence.talk_id)
    )
    statement = _insert(session, ViewerSample).from_select(["talk_id", "event_id", "minute", "viewers"], totals)
    statement = statement.on_conflict_do_update(
        index_elements=["talk_id", "minute"],
        set_={"viewers": statement.excluded.viewers},
        where=ViewerSample.viewers < statement.excluded.viewers,
    )
    session.execute(statement)


# -- the report -----------------------------------------------------------------------------

@dataclass
class Figures:
    peak_viewers: int = 0
    participants: int = 0
    messages: int = 0
    questions: int = 0
    answered: int = 0


@dataclass
class Row:
    """One line of the report: a talk (event report) or an event (month report)."""

    title: str
    figures: Figures
    talk: Talk | None = None
    event: Event | None = None


@dataclass
class Point:
    starts_at: datetime  # UTC; shown in the report's zone
    viewers: int         # the peak within this step


@dataclass
class Report:
    time_zone: str
    starts_at: datetime | None  # the span the series covers (UTC), None without any viewers
    ends_at: datetime | None
    step: timedelta
    rows: list[Row] = field(default_factory=list)
    totals: Figures = field(default_factory=Figures)
    series: list[Point] = field(default_factory=list)


def _counts(session: Session, query: Select) -> dict[int, int]:
    return {key: int(value or 0) for key, value in session.execute(query)}


def _step_for(span: timedelta) -> timedelta:
    for longest, step in STEPS:
        if span <= longest:
            return step
    return LONG_STEP


def _series(minute_sums: dict[datetime, int], starts_at: datetime, ends_at: datetime, step: timedelta,
            zone: ZoneInfo) -> list[Point]:
    """Peaks per step from `starts_at` to `ends_at`, zero where nobody watched. Steps of a
    day are the zone's calendar days (23 or 25 hours when the clocks change)."""
    points: list[Point] = []
    if step >= timedelta(days=1):
        by_day: dict[date, int] = defaultdict(int)
        for minute, viewers in minute_sums.items():
            day = minute.astimezone(zone).date()
            by_day[day] = max(by_day[day], viewers)
        day = starts_at.astimezone(zone).date()
        while (start := datetime.combine(day, datetime.min.time(), zone)) < ends_at:
            points.append(Point(start.astimezone(UTC), by_day.get(day, 0)))
            day += timedelta(days=1)
        return points
    peaks: dict[datetime, int] = defaultdict(int)
    for minute, viewers in minute_sums.items():
        bucket = starts_at + (minute - starts_at) // step * step
        peaks[bucket] = max(peaks[bucket], viewers)
    start = starts_at
    while start < ends_at:
        points.append(Point(start, peaks.get(start, 0)))
        start += step
    return points


def _aligned(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a whole step of the clock (UTC; steps divide an hour)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return epoch + (moment - epoch) // step * step


def event_report(session: Session, event: Event) -> Report:
    """Per talk and for the whole event: peak viewers, participants, messages (hidden ones
    too: they were said), questions and answered questions, and viewers over time."""
    talk_ids = select(Talk.id).where(Talk.event_id == event.id)
    peaks = _counts(session, select(ViewerSample.talk_id, func.max(ViewerSample.viewers))
                    .where(ViewerSample.event_id == event.id).group_by(ViewerSample.talk_id))
    participants = _counts(session, select(Participation.talk_id, func.count())
                           .where(Participation.event_id == event.id).group_by(Participation.talk_id))
    messages = _counts(session, select(ChatMessage.talk_id, func.count())
                       .where(ChatMessage.talk_id.in_(talk_ids)).group_by(ChatMessage.talk_id))
    questions = _counts(session, select(Question.talk_id, func.count())
                        .where(Question.talk_id.in_(talk_ids)).group_by(Question.talk_id))
    answered = _counts(session, select(Question.talk_id, func.count())
                       .where(Question.talk_id.in_(talk_ids), Question.state == QuestionState.answered)
                       .group_by(Question.talk_id))
    minute_sums = {minute: int(viewers) for minute, viewers in session.execute(
        select(ViewerSample.minute, func.sum(ViewerSample.viewers))
        .where(ViewerSample.event_id == event.id).group_by(ViewerSample.minute))}

    rows = [Row(talk.title, Figures(peaks.get(talk.id, 0), participants.get(talk.id, 0), messages.get(talk.id, 0),
                                    questions.get(talk.id, 0), answered.get(talk.id, 0)), talk=talk)
            for talk in event.talks]
    everyone = session.scalar(select(func.count(distinct(Participation.participant_id)))
                              .where(Participation.event_id == event.id)) or 0
    totals = Figures(max(minute_sums.values(), default=0), everyone, sum(messages.values()),
                     sum(questions.values()), sum(answered.values()))
    report = Report(event.time_zone, None, None, MINUTE, rows, totals)
    if minute_sums:
        first, last = min(minute_sums), max(minute_sums) + MINUTE
        report.step = _step_for(last - first)
        report.starts_at = _aligned(first, report.step)
        report.ends_at = last
        report.series = _series(minute_sums, report.starts_at, last, report.step, ZoneInfo(event.time_zone))
    return report


def parse_month(value: str | None, today: date) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); nothing -> this month; anything else is refused."""
    if value is None or value.strip() == "":
        return today.year, today.month
    text = value.strip()
    year_text, dash, month_text = text.partition("-")
    if (dash and len(year_text) == 4 and len(month_text) == 2 and year_text.isdigit() and month_text.isdigit()
            and 1 <= int(month_text) <= 12 and 2000 <= int(year_text) <= 2999):
        return int(year_text), int(month_text)
    raise ValidationError(_l("Choose a month as year and month, for example 2026-11."), code="invalid_month",
                          field="month")


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month as a UTC interval [start, end) of the zone's calendar."""
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_report(session: Session, year: int, month: int, tz: str) -> Report:
    """Per event and for the whole month (in zone `tz`): what happened in that month.

    An event is listed when it falls in the month or had any activity in it. Participants
    are counted in the month they first opened a talk; messages and questions in the month
    they were written; a question counts as answered when it is marked answered now.
    """
    zone = ZoneInfo(tz)
    starts_at, ends_at = month_bounds(year, month, zone)
    in_month = and_(ViewerSample.minute >= starts_at, ViewerSample.minute < ends_at)

    event_minutes: dict[int, dict[datetime, int]] = defaultdict(dict)
    for event_id, minute, viewers in session.execute(
            select(ViewerSample.event_id, ViewerSample.minute, func.sum(ViewerSample.viewers))
            .where(in_month).group_by(ViewerSample.event_id, ViewerSample.minute)):
        event_minutes[event_id][minute] = int(viewers)
    minute_sums: dict[datetime, int] = defaultdict(int)
    for minutes in event_minutes.values():
        for minute, viewers in minutes.items():
            minute_sums[minute] += viewers

    seen = and_(Participation.first_seen_at >= starts_at, Participation.first_seen_at < ends_at)
    participants = _counts(session, select(Participation.event_id, func.count(distinct(Participation.participant_id)))
                           .where(seen).group_by(Participation.event_id))
    written = and_(ChatMessage.created_at >= starts_at, ChatMessage.created_at < ends_at)
    messages = _counts(session, select(Talk.event_id, func.count()).select_from(ChatMessage)
                       .join(Talk, Talk.id == ChatMessage.talk_id).where(written).group_by(Talk.event_id))
    asked = and_(Question.created_at >= starts_at, Question.created_at < ends_at)
    is_answered = case((Question.state == QuestionState.answered, 1), else_=0)
    question_rows = session.execute(
        select(Talk.event_id, func.count(), func.sum(is_answered)).select_from(Question)
        .join(Talk, Talk.id == Question.talk_id).where(asked).group_by(Talk.event_id)).all()
    questions = {event_id: int(count) for event_id, count, _answered in question_rows}
    answered = {event_id: int(count or 0) for event_id, _count, count in question_rows}

    first_day, last_day = starts_at.astimezone(zone).date(), (ends_at - MINUTE).astimezone(zone).date()
    active = set(event_minutes) | set(participants) | set(messages) | set(questions)
    events = session.scalars(
        select(Event).where(or_(Event.id.in_(active), and_(Event.starts_on <= last_day, Event.ends_on >= first_day)))
        .order_by(Event.starts_on, Event.id)).all()

    rows = [Row(event.title, Figures(max(event_minutes.get(event.id, {}).values(), default=0),
                                     participants.get(event.id, 0), messages.get(event.id, 0),
                                     questions.get(event.id, 0), answered.get(event.id, 0)), event=event)
            for event in events]
    everyone = session.scalar(select(func.count(distinct(Participation.participant_id))).where(seen)) or 0
    totals = Figures(max(minute_sums.values(), default=0), everyone, sum(messages.values()),
                     sum(questions.values()), sum(answered.values()))
    step = timedelta(days=1)
    return Report(tz, starts_at, ends_at, step, rows, totals, _series(minute_sums, starts_at, ends_at, step, zone))
