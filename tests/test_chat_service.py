"""Chat, as stored: every message persisted with an increasing id, retries stored once,
history and catch-up without gap or duplicate. On SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select

from server.models import ChatMessage
from server.services import chat, room_log
from server.services.errors import ValidationError

pytestmark = pytest.mark.both_databases


@pytest.fixture
def talk(make_event, make_talk, session):
    talk = make_talk(make_event())
    session.commit()
    return talk


def say(session, talk, body, client_id, participant="p-anna"):
    message, created = chat.post_message(session, talk, participant_id=participant, display_name="Anna",
                                         body=body, client_id=client_id, max_length=500)
    session.commit()
    return message, created


def test_chat_message_is_stored_with_an_increasing_id(session, talk):
    first, _ = say(session, talk, "Hej!", "client-0001")
    second, _ = say(session, talk, "Hörs ljudet?", "client-0002")

    assert second.id > first.id
    assert [m.body for m in chat.latest_messages(session, talk.id, 50)] == ["Hej!", "Hörs ljudet?"]


def test_chat_retry_with_the_same_client_id_is_stored_once(session, talk):
    first, created_first = say(session, talk, "Hej!", "client-0001")
    retry, created_retry = say(session, talk, "Hej!", "client-0001")

    assert (created_first, created_retry) == (True, False)
    assert retry.id == first.id
    assert session.scalar(select(func.count()).select_from(ChatMessage)) == 1


def test_chat_same_client_id_from_another_participant_is_a_new_message(session, talk):
    say(session, talk, "Hej!", "client-0001", participant="p-anna")
    _, created = say(session, talk, "Hej!", "client-0001", participant="p-helen")

    assert created


def test_chat_new_viewer_gets_the_latest_messages_oldest_first(session, talk):
    for n in range(60):
        say(session, talk, f"meddelande {n}", f"client-{n:04d}")

    history = chat.latest_messages(session, talk.id, 50)

    assert [m.body for m in history] == [f"meddelande {n}" for n in range(10, 60)]


def test_chat_catch_up_returns_exactly_what_was_missed(session, talk):
    seen = [say(session, talk, f"före {n}", f"before-{n:04d}")[0] for n in range(3)]
    missed = [say(session, talk, f"efter {n}", f"after-{n:04d}")[0] for n in range(4)]

    caught_up, more = room_log.entries(session, talk.id, after=seen[-1].seq)

    assert [e.message_id for e in caught_up] == [m.id for m in missed] and more is False


def test_chat_hidden_message_stays_in_the_record_but_not_in_history(session, talk):
    from server.db import utcnow

    message, _ = say(session, talk, "olämpligt", "client-0001")
    message.hidden_at, message.hidden_by, message.hidden_reason = utcnow(), "moderator@kommun.se", "Kränkande"
    session.commit()

    assert chat.latest_messages(session, talk.id, 50) == []
    assert chat.latest_messages(session, talk.id, 50, include_hidden=True)[0].hidden_reason == "Kränkande"


@pytest.mark.parametrize("body, code", [("", "empty"), ("   \n ", "empty"), (None, "empty"), (42, "empty"),
                                        ("x" * 501, "too_long")])
def test_chat_bad_message_is_refused_and_nothing_is_stored(session, talk, body, code):
    with pytest.raises(ValidationError) as error:
        say(session, talk, body, "client-0001")

    assert error.value.code == code
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ChatMessage)) == 0


@pytest.mark.parametrize("client_id", ["", "short", "has space in it", "x" * 65, None, 7])
def test_chat_malformed_client_id_is_refused(session, talk, client_id):
    with pytest.raises(ValidationError) as error:
        say(session, talk, "Hej", client_id)

    assert error.value.code == "invalid_client_id"


@pytest.mark.parametrize("raw, clean", [("  Anna  ", "Anna"), ("Anna\u202eKarlsson", "AnnaKarlsson"),
                                        ("Anna\n\nK", "Anna K"), ("Å" * 40, "Å" * 40)])
def test_display_name_is_trimmed_and_cleaned(raw, clean):
    assert chat.clean_display_name(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "\u200b", None, "x" * 41])
def test_display_name_outside_1_to_40_characters_is_refused(raw):
    with pytest.raises(ValidationError):
        chat.clean_display_name(raw)
