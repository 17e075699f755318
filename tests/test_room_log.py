"""The room's log: each talk's entries are numbered 1, 2, 3, ... without a gap, in the
transaction that stores them, on SQLite and PostgreSQL (docs/realtime.md, "The room's log")."""

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from server.db import db
from server.models import Role, RoomEvent, Talk
from server.services import chat, moderation, qa, room_log
from server.services.roles import Actor

pytestmark = pytest.mark.both_databases

MODERATOR = Actor(participant_id="p-moa", role=Role.organiser, staff_name="Moa")


@pytest.fixture
def talk(make_event, make_talk, session):
    talk = make_talk(make_event())
    session.commit()
    return talk


def say(session, talk, body, client_id, participant="p-anna"):
    message, _ = chat.post_message(session, talk, participant_id=participant, display_name="Anna",
                                   body=body, client_id=client_id, max_length=500)
    session.commit()
    return message


def numbers(session, talk):
    return list(session.scalars(select(RoomEvent.seq).where(RoomEvent.talk_id == talk.id).order_by(RoomEvent.seq)))


def test_room_log_numbers_every_change_in_order(session, talk):
    first = say(session, talk, "Hej!", "client-0001")
    question, _ = qa.ask(session, talk, MODERATOR, display_name="Moa", body="Hörs det?", client_id="q-000001",
                         anonymous=False, max_length=300)
    session.commit()
    moderation.hide(session, first, talk, MODERATOR, "Spam")
    moderation.set_room(session, talk, MODERATOR, {"slow_mode_seconds": 10})
    session.commit()

    entries, more = room_log.entries(session, talk.id, after=0)

    assert [(e.seq, e.kind) for e in entries] == [(1, "message"), (2, "question"), (3, "message_hidden"),
                                                 (4, "rules")]
    assert first.seq == 1 and entries[3].data["slow_mode_seconds"] == 10 and more is False
    assert room_log.heads(session, [talk.id]) == {talk.id: 4}


def test_room_log_rules_set_to_what_they_are_take_no_number_and_no_audit_entry(session, talk):
    from server.models import AuditEntry

    moderation.set_room(session, talk, MODERATOR, {"slow_mode_seconds": 10})
    session.commit()
    moderation.set_room(session, talk, MODERATOR, {"slow_mode_seconds": 10})
    session.commit()

    assert numbers(session, talk) == [1]
    assert session.scalars(select(AuditEntry.action)).all() == ["talk.room_rules"]


def test_room_log_a_question_marked_answered_twice_is_logged_once(session, talk):
    from server.models import AuditEntry

    question, _ = qa.ask(session, talk, MODERATOR, display_name="Moa", body="Hörs det?", client_id="q-000001",
                         anonymous=False, max_length=300)
    session.commit()
    for _ in range(2):
        qa.set_state(session, question, talk, MODERATOR, "answered")
        session.commit()

    assert numbers(session, talk) == [1, 2]
    assert session.scalars(select(AuditEntry.action)).all() == ["question.state"]


def test_room_log_a_retried_message_takes_no_second_number(session, talk):
    say(session, talk, "Hej!", "client-0001")
    say(session, talk, "Hej!", "client-0001")

    assert numbers(session, talk) == [1]


def test_room_log_a_rolled_back_write_gives_its_number_back(session, talk):
    chat.post_message(session, talk, participant_id="p", display_name="P", body="ångrat", client_id="undo-0001",
                      max_length=500)
    session.rollback()
    room_log.pending(session)
    say(session, talk, "sparat", "kept-0001")

    assert numbers(session, talk) == [1]


def test_room_log_talks_count_separately(session, talk, make_talk):
    other = make_talk(talk.event, slug="annan", title="Annan")
    session.commit()
    say(session, talk, "a", "client-0001")
    say(session, other, "b", "client-0002")
    say(session, talk, "c", "client-0003")

    assert numbers(session, talk) == [1, 2] and numbers(session, other) == [1]


def test_room_log_pages_backwards_and_says_when_more_remain(session, talk):
    for n in range(25):
        say(session, talk, f"m{n}", f"client-{n:04d}")

    page, more = room_log.entries(session, talk.id, after=10, before=21, limit=5)

    assert [e.seq for e in page] == [11, 12, 13, 14, 15] and more is True


def test_room_log_concurrent_writers_leave_no_gap(app, talk):
    """Eight threads write at once on their own sessions: the numbers are 1..N, each once."""
    errors = []

    def write(writer):
        with app.app_context():
            session = db.session_factory()
            try:
                for n in range(10):
                    for attempt in range(20):
                        try:
                            chat.post_message(session, session.get(Talk, talk.id), participant_id=f"p-{writer}",
                                              display_name="P", body=f"{writer}/{n}",
                                              client_id=f"writer{writer}-{n:04d}", max_length=500)
                            session.commit()
                            break
                        except OperationalError as error:  # SQLite: "database is locked" under contention
                            session.rollback()
                            if attempt == 19:
                                errors.append(error)
                    room_log.pending(session)
            finally:
                session.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with app.app_context():
        assert numbers(db.session, talk) == list(range(1, 81))
