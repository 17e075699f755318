"""The activity report (issue 4): the history the live room writes (who opened a talk, the
most viewers per minute), the figures per talk, event and month, the CSV for Excel, and the
admin pages that only organisers may open."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.models import Participation, Role, ViewerSample
from server.services import activity, chat, moderation, presence, qa
from server.services.accounts import create_organiser
from server.services.errors import ValidationError
from server.services.roles import Actor, grant_role, sign_in_token
from tests.conftest import at

pytestmark = pytest.mark.both_databases

PASSWORD = "kluriga-lösenordet-2026"
ORGANISER = Actor("organiser-karin", role=Role.organiser, staff_name="Karin Kommunikatör")


# -- helpers ----------------------------------------------------------------------------------

def watched(session, talk, now, **processes: int) -> None:
    """Each named server process holds that many viewers of `talk` at `now`, and the
    ticker samples the talk (what LiveNamespace._presence_ticker does every second)."""
    for process_id, viewers in processes.items():
        presence.record(session, process_id, {talk.id: viewers}, now)
    activity.record_viewers(session, [talk.id], now)
    session.flush()


def say(session, talk, participant_id: str, body: str = "Hej!"):
    message, _ = chat.post_message(session, talk, participant_id=participant_id, display_name="Anna", body=body,
                                   client_id=f"client-{uuid.uuid4().hex}",
                                   max_length=500, author_role="")
    return message


def ask(session, talk, participant_id: str, body: str = "Hur gör ni?"):
    question, _ = qa.ask(session, talk, Actor(participant_id), display_name="Anna", body=body,
                         client_id=f"question-{uuid.uuid4().hex}", anonymous=False, max_length=300)
    return question


def sign_in_organiser(client) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/sign-in", data={"email": "karin@kommun.se", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303


@pytest.fixture
def organiser(session):
    account = create_organiser(session, email="karin@kommun.se", name="Karin Kommunikatör", password=PASSWORD)
    session.commit()
    return account


# -- recording the history --------------------------------------------------------------------

def test_viewer_sample_sums_processes_and_keeps_the_minutes_highest_count(session, make_event, make_talk):
    talk = make_talk(make_event())
    minute = at(10, 15)

    watched(session, talk, minute + timedelta(seconds=5), a=3, b=4)
    watched(session, talk, minute + timedelta(seconds=30), a=2, b=1)  # fewer later in the minute
    watched(session, talk, minute + timedelta(seconds=65), a=1)        # the next minute

    samples = session.execute(select(ViewerSample.minute, ViewerSample.viewers, ViewerSample.event_id)
                              .order_by(ViewerSample.minute)).all()
    assert samples == [(minute, 7, talk.event_id), (minute + timedelta(minutes=1), 1, talk.event_id)]


def test_viewer_sample_ignores_talks_without_viewers_and_stale_processes(session, make_event, make_talk):
    talk = make_talk(make_event())
    presence.record(session, "gone", {talk.id: 9}, at(10, 0))

    activity.record_viewers(session, [talk.id], at(10, 1))
    activity.record_viewers(session, [], at(10, 1))

    assert session.scalars(select(ViewerSample)).all() == []


def test_participation_is_recorded_once_per_talk_and_participant(session, make_event, make_talk):
    event = make_event()
    first, second = make_talk(event), make_talk(event)

    activity.record_participation(session, first, "anna", at(9, 0))
    activity.record_participation(session, first, "anna", at(9, 30))  # a reload
    activity.record_participation(session, second, "anna", at(11, 0))
    session.flush()

    rows = session.execute(select(Participation.talk_id, Participation.first_seen_at)
                           .order_by(Participation.first_seen_at)).all()
    assert rows == [(first.id, at(9, 0)), (second.id, at(11, 0))]


# -- the figures ------------------------------------------------------------------------------

def test_event_report_counts_per_talk_and_sums_parallel_talks_for_the_peak(session, make_event, make_talk):
    event = make_event()
    morning = make_talk(event, title="Skapa arenor!", starts_at=at(9), ends_at=at(10))
    parallel = make_talk(event, title="Twitter dygnet runt", starts_at=at(9), ends_at=at(10))
    watched(session, morning, at(9, 10), a=30, b=20)   # 50
    watched(session, parallel, at(9, 10), a=25)        # 25 in the same minute: 75 at once
    watched(session, morning, at(9, 20), a=60)         # the talk's own peak, alone: 60
    for participant in ("anna", "bo", "cia"):
        activity.record_participation(session, morning, participant, at(9, 1))
    activity.record_participation(session, parallel, "anna", at(9, 2))  # counted once for the event
    say(session, morning, "anna")
    hidden = say(session, morning, "bo", "Reklam här")
    moderation.hide(session, hidden, morning, ORGANISER, "reklam")
    say(session, parallel, "anna", "Bra!")
    answered = ask(session, morning, "cia")
    ask(session, morning, "anna", "Och sedan?")
    qa.set_state(session, answered, morning, ORGANISER, "answered")
    session.flush()

    report = activity.event_report(session, event)

    by_title = {row.title: row.figures for row in report.rows}
    assert by_title["Skapa arenor!"] == activity.Figures(peak_viewers=60, participants=3, messages=2,
                                                        questions=2, answered=1)
    assert by_title["Twitter dygnet runt"] == activity.Figures(25, 1, 1, 0, 0)
    assert report.totals == activity.Figures(peak_viewers=75, participants=3, messages=3, questions=2, answered=1)
    assert report.step == timedelta(minutes=1)
    assert [point.viewers for point in report.series if point.viewers] == [75, 60]
    assert len(report.series) == 11  # 09:10 to 09:20, the quiet minutes as zeros


def test_event_report_without_activity_has_zeros_and_no_series(session, make_event, make_talk):
    event = make_event()
    make_talk(event)

    report = activity.event_report(session, event)

    assert report.totals == activity.Figures()
    assert report.series == [] and report.starts_at is None


def test_event_report_of_a_whole_day_uses_five_minute_steps_that_keep_the_peak(session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, starts_at=at(8), ends_at=at(17))
    watched(session, talk, at(8, 0), a=5)
    watched(session, talk, at(12, 3), a=40)
    watched(session, talk, at(12, 4), a=10)
    watched(session, talk, at(16, 59), a=2)

    report = activity.event_report(session, event)

    assert report.step == timedelta(minutes=5)
    noon = next(point for point in report.series if point.starts_at == at(12, 0))
    assert noon.viewers == 40
    assert max(point.viewers for point in report.series) == report.totals.peak_viewers == 40


def test_month_report_counts_what_happened_in_the_month_in_stockholm(session, make_event, make_talk):
    november = make_event(title="Novemberdagen", slug="november", starts_on=at(9).date())
    talk = make_talk(november, starts_at=at(9), ends_at=at(10))
    other = make_event(title="Andra dagen", slug="andra", starts_on=at(9).date())
    other_talk = make_talk(other, starts_at=at(9), ends_at=at(10))
    watched(session, talk, at(9, 5), a=10)
    watched(session, other_talk, at(9, 5), a=5)
    watched(session, other_talk, at(9, 6), a=12)
    activity.record_participation(session, talk, "anna", at(9, 0))
    activity.record_participation(session, other_talk, "anna", at(9, 0))
    activity.record_participation(session, other_talk, "bo", at(9, 0))
    say(session, talk, "anna")
    # 00:30 on 1 December in Stockholm is still 30 November in UTC: December's, not November's.
    december = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    activity.record_participation(session, talk, "sen", december)
    late = say(session, talk, "sen", "God natt")
    late.created_at = december
    session.flush()

    report = activity.month_report(session, 2026, 11, "Europe/Stockholm")

    assert [(row.title, row.figures) for row in report.rows] == [
        ("Novemberdagen", activity.Figures(10, 1, 1, 0, 0)),
        ("Andra dagen", activity.Figures(12, 2, 0, 0, 0)),
    ]
    assert report.totals == activity.Figures(peak_viewers=15, participants=2, messages=1, questions=0, answered=0)
    assert len(report.series) == 30
    assert report.series[at(9).day - 1].viewers == 15
    assert activity.month_report(session, 2026, 12, "Europe/Stockholm").totals.participants == 1


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "november", "26-11", "2026-1", "2026-11-01"])
def test_a_month_that_is_not_a_month_is_refused(app, value):
    with pytest.raises(ValidationError) as refused:
        activity.parse_month(value, at(9).date())

    assert refused.value.code == "invalid_month"


def test_no_month_means_this_month(app):
    assert activity.parse_month("", at(9).date()) == (2026, 11)
    assert activity.parse_month(" 2025-02 ", at(9).date()) == (2025, 2)
