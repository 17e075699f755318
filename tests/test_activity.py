"""The activity report: the history the live room writes (who opened a talk, the
most viewers per minute), the figures per talk, event and month, the CSV for Excel, and the
admin pages that only organisers may open."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import socketio
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import make_engine, utcnow
from server.models import Participation, Role, ViewerSample
from server.services import activity, chat, moderation, presence, qa
from server.services.accounts import create_organiser
from server.services.errors import ValidationError
from server.services.roles import Actor, grant_role, sign_in_token
from tests.conftest import at, postgres_schema, start_live_server
from tests.waiting import eventually

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
    december = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
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


# -- the pages and the CSV --------------------------------------------------------------------

@pytest.fixture
def reported_event(session, make_event, make_talk):
    """An event with a talk that had watchers, participants, messages and questions."""
    event = make_event(title="Sociala medier i offentlig sektor", slug="sociala-medier")
    talk = make_talk(event, title="=Skapa arenor!", starts_at=at(9), ends_at=at(10))
    watched(session, talk, at(9, 10), a=1234)
    activity.record_participation(session, talk, "anna", at(9, 1))
    say(session, talk, "anna", "Välkomna, åäö!")
    ask(session, talk, "anna")
    session.commit()
    return event


def test_organiser_sees_the_event_report_with_chart_and_numbers_as_text(app, organiser, reported_event):
    client = app.test_client()
    sign_in_organiser(client)

    response = client.get("/admin/events/sociala-medier/activity", headers={"Accept-Language": "en"})

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<svg role="img" aria-labelledby="activity-chart-title activity-chart-desc"', page)
    assert '<title id="activity-chart-title">Activity: Sociala medier i offentlig sektor</title>' in page
    assert "At most 1,234 viewers at once, at 09:10" in page   # the chart's <desc>, in the event's zone
    assert "<td>1,234</td>" in page                              # and the same number in the tables
    assert "including messages a moderator has hidden" in page
    assert response.headers["Cache-Control"] == "no-store"


def test_event_report_is_swedish_by_default(app, organiser, reported_event):
    client = app.test_client()
    sign_in_organiser(client)

    page = client.get("/admin/events/sociala-medier/activity").get_data(as_text=True)

    assert "Tittare samtidigt" in page
    assert "<td>1\xa0234</td>" in page


def test_event_report_names_each_talks_day_as_well_as_its_time(app, organiser, reported_event):
    client = app.test_client()
    sign_in_organiser(client)

    page = client.get("/admin/events/sociala-medier/activity").get_data(as_text=True)

    # A two-day event's 09:00 is one of two mornings: the report says which.
    assert re.search(r'<span class="activity-when"><time datetime="[^"]+">2026-11-24 09:00</time></span>', page)


def test_event_csv_has_a_bom_semicolons_a_row_per_talk_and_the_totals(app, organiser, reported_event):
    client = app.test_client()
    sign_in_organiser(client)

    response = client.get("/admin/events/sociala-medier/activity.csv", headers={"Accept-Language": "en"})

    body = response.get_data()
    lines = body.decode("utf-8").splitlines()
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="activity-sociala-medier.csv"' in response.headers["Content-Disposition"]
    assert body.startswith("\ufeff".encode("utf-8"))
    assert lines == [
        "\ufeffTalk;Starts;Peak viewers at once;Participants;Messages;Questions;Answered questions",
        "'=Skapa arenor!;2026-11-24 09:00;1234;1;1;1;0",  # a title is never run by Excel as a formula
        "The whole event;;1234;1;1;1;0",
    ]


def test_month_report_and_its_csv_list_the_event(app, organiser, reported_event):
    client = app.test_client()
    sign_in_organiser(client)

    page = client.get("/admin/activity?month=2026-11", headers={"Accept-Language": "en"}).get_data(as_text=True)
    csv_lines = client.get("/admin/activity.csv?month=2026-11",
                           headers={"Accept-Language": "en"}).get_data(as_text=True).splitlines()

    assert "Activity in November 2026" in page
    assert 'href="/admin/events/sociala-medier/activity">Sociala medier i offentlig sektor</a>' in page
    assert 'value="2026-11"' in page
    assert csv_lines[1:] == ["Sociala medier i offentlig sektor;2026-11-24;1234;1;1;1;0",
                             "The whole month;;1234;1;1;1;0"]


def test_a_month_like_2026_13_is_refused_with_the_form_and_a_message(app, organiser):
    client = app.test_client()
    sign_in_organiser(client)

    swedish = client.get("/admin/activity?month=2026-13")
    english_csv = client.get("/admin/activity.csv?month=2026-13", headers={"Accept-Language": "en"})

    assert swedish.status_code == 400
    assert "Ange månaden som år och månad, till exempel 2026-11." in swedish.get_data(as_text=True)
    assert 'aria-invalid="true"' in swedish.get_data(as_text=True)
    assert english_csv.status_code == 400
    assert "Choose a month as year and month, for example 2026-11." in english_csv.get_data(as_text=True)


def test_an_unknown_event_gets_a_not_found_page(app, organiser):
    client = app.test_client()
    sign_in_organiser(client)

    response = client.get("/admin/events/finns-inte/activity.csv", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert "There is no event at this address." in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/events/sociala-medier/activity", "/admin/events/sociala-medier/activity.csv",
                                  "/admin/activity", "/admin/activity.csv?month=2026-11"])
def test_anonymous_visitor_is_sent_to_sign_in(app, reported_event, path):
    response = app.test_client().get(path)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("role", [Role.moderator, Role.speaker])
@pytest.mark.parametrize("path", ["/admin/events/sociala-medier/activity", "/admin/activity.csv?month=2026-11"])
def test_moderators_and_speakers_may_not_see_the_report(app, session, reported_event, role, path):
    scope = {"event": reported_event} if role is Role.moderator else {"talk": reported_event.talks[0]}
    grant = grant_role(session, role=role, name="Moa", now=utcnow(), **scope)
    session.commit()
    client = app.test_client()
    assert client.get(f"/staff/sign-in/{sign_in_token(app.config['SECRET_KEY'], grant)}").status_code == 303

    response = client.get(path, headers={"Accept-Language": "en"})

    assert response.status_code == 403
    assert "1234" not in response.get_data(as_text=True)


# -- against a running server -----------------------------------------------------------------

def _participant(server, page_url: str) -> tuple[socketio.Client, int]:
    """A browser: the talk page sets its cookie, then its Socket.IO client joins the talk."""
    http = requests.Session()
    page = http.get(page_url, timeout=10)
    talk_id = int(re.search(r'data-talk-id="(\d+)"', page.text).group(1))
    client = socketio.Client(reconnection=False)
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in http.cookies)
    client.connect(server.url, namespaces=["/live"], transports=["websocket"], headers={"Cookie": cookies},
                   wait_timeout=10)
    return client, talk_id


def test_live_room_records_who_joined_and_how_many_watched(tmp_path):
    server = start_live_server(tmp_path)
    engine = make_engine(server.env["ARENA_DATABASE__URL"])
    page_url = f"{server.url}/events/sociala-medier-i-offentlig-sektor/skapa-arenor"
    clients = []
    try:
        anna, talk_id = _participant(server, page_url)
        bo, _ = _participant(server, page_url)
        without_cookie = socketio.Client(reconnection=False)
        without_cookie.connect(server.url, namespaces=["/live"], transports=["websocket"], wait_timeout=10)
        clients = [anna, bo, without_cookie]
        acks = [client.call("join", {"talk_id": talk_id}, namespace="/live", timeout=10) for client in clients]
        again = anna.call("join", {"talk_id": talk_id}, namespace="/live", timeout=10)  # a rejoin

        assert [ack["ok"] for ack in acks + [again]] == [True] * 4

        def recorded() -> None:  # the ticker writes about once a second
            with Session(engine) as session:
                sample = session.scalar(select(func.max(ViewerSample.viewers)).where(ViewerSample.talk_id == talk_id))
                participations = session.scalars(select(Participation).where(Participation.talk_id == talk_id)).all()
            assert sample == 3  # everyone watching counts, with or without a cookie
            assert len(participations) == 2  # a participant once, however often they join; no cookie, no id
            assert all(row.event_id == participations[0].event_id for row in participations)

        eventually(recorded)
    finally:
        for client in clients:
            client.disconnect()
        engine.dispose()
        server.stop()


def test_two_processes_on_postgresql_record_the_sum_of_their_viewers(tmp_path):
    with postgres_schema("arena_activity") as database_url:
        shared = {"ARENA_DATABASE__URL": database_url, "ARENA_SERVER__SECRET_KEY": f"activity-{uuid.uuid4().hex}"}
        servers, clients = [], []
        try:
            for n in range(2):
                (tmp_path / str(n)).mkdir()
                servers.append(start_live_server(tmp_path / str(n), extra_env=shared, prepare=n == 0))
            engine = make_engine(database_url)
            page = "/events/sociala-medier-i-offentlig-sektor/skapa-arenor"
            for server in (servers[0], servers[0], servers[1]):  # two viewers on one process, one on the other
                client, talk_id = _participant(server, server.url + page)
                clients.append(client)
                assert client.call("join", {"talk_id": talk_id}, namespace="/live", timeout=10)["ok"] is True

            def recorded() -> None:  # each process's ticker writes about once a second
                with Session(engine) as session:
                    sample = session.scalar(select(func.max(ViewerSample.viewers))
                                            .where(ViewerSample.talk_id == talk_id))
                    participants = session.scalar(select(func.count()).select_from(Participation)
                                                  .where(Participation.talk_id == talk_id))
                assert sample == 3
                assert participants == 3

            eventually(recorded)
            engine.dispose()

            assert not [line for server in servers for line in server.log().splitlines() if "failed" in line]
        finally:
            for client in clients:
                client.disconnect()
            for server in servers:
                server.stop()
