"""The live room of a talk, through Flask-SocketIO's test client sharing each browser's HTTP
cookies (so the participant id and role come from the signed session, as in a browser)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import db, utcnow
from server.extensions import socketio
from server.models import AuditEntry, ChatMessage, Question, QuestionVote, Role, RoomEvent
from server.services import chat
from server.services.roles import grant_role, sign_in_token
from server.sockets import protocol as p
from tests.waiting import wait_until

SLUG = "sociala-medier-i-offentlig-sektor"


class Browser:
    """One participant's browser: an HTTP client with cookies and a socket that shares them."""

    def __init__(self, app, talk, name: str | None = None, grant=None) -> None:
        self.http = app.test_client()
        if grant is not None:
            token = sign_in_token(app.config["SECRET_KEY"], grant)
            assert self.http.get(f"/staff/sign-in/{token}").status_code == 303
        self.http.get(f"/events/{talk.event.slug}/{talk.slug}")
        self.socket = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=self.http)
        self.talk = talk
        self.counter = 0
        self.joined = self.call(p.JOIN, {"talk_id": talk.id})
        if name:
            assert self.call(p.SET_NAME, {"name": name})["ok"]

    def call(self, event: str, data: Any) -> dict[str, Any]:
        return self.socket.emit(event, data, namespace=p.LIVE_NAMESPACE, callback=True)

    def say(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        self.counter += 1
        return self.call(p.SEND_MESSAGE, {"body": body, "client_id": client_id or f"msg-{id(self)}-{self.counter:04d}"})

    def ask(self, body: str, anonymous: bool = False) -> dict[str, Any]:
        self.counter += 1
        return self.call(p.ASK_QUESTION, {"body": body, "client_id": f"q-{id(self)}-{self.counter:04d}",
                                          "anonymous": anonymous})

    def received(self, event: str) -> list[Any]:
        # The test client gives a lone argument as itself, several as a list; a batch (entries
        # that came close together) counts as each of its events, as a page reads it.
        found = []
        for item in self.socket.get_received(p.LIVE_NAMESPACE):
            data = item["args"][0] if isinstance(item["args"], list) else item["args"]
            if item["name"] == p.BATCH:
                found += [entry["data"] for entry in data["events"] if entry["event"] == event]
            elif item["name"] == event:
                found.append(data)
        return found


@pytest.fixture
def talk(demo_event):
    return demo_event.talks[0]


@pytest.fixture
def browser(app, talk):
    def _open(name: str | None = "Anna", grant=None, on_talk=None) -> Browser:
        return Browser(app, on_talk or talk, name, grant)

    return _open


@pytest.fixture
def moderator_grant(session, talk):
    grant = grant_role(session, role=Role.moderator, name="Moa Moderator", now=utcnow(), event=talk.event)
    session.commit()
    return grant


def test_join_gives_history_rules_and_questions(browser):
    viewer = browser(name=None)

    assert viewer.joined["ok"] is True
    assert viewer.joined["messages"] == []
    assert viewer.joined["rules"]["chat_open"] is True
    assert viewer.joined["me"]["name"] is None


def test_message_is_broadcast_to_everyone_in_the_talk(browser):
    anna, helen = browser("Anna"), browser("Helen")
    helen.socket.get_received(p.LIVE_NAMESPACE)

    ack = anna.say("Hej från Luleå!")

    assert ack["ok"] is True
    delivered = helen.received(p.MESSAGE)
    assert [m["body"] for m in delivered] == ["Hej från Luleå!"]
    assert delivered[0]["name"] == "Anna"
    assert "participant_id" not in delivered[0]


def test_message_is_stored_before_it_is_broadcast(browser):
    anna = browser("Anna")

    anna.say("Sparas först")

    assert db.session.scalar(select(ChatMessage.body)) == "Sparas först"


def test_writing_needs_a_display_name(browser):
    anonymous = browser(name=None)

    ack = anonymous.say("Hej")

    assert ack["ok"] is False and ack["error"] == p.E_NAME_REQUIRED


def test_retry_with_the_same_client_id_is_stored_and_broadcast_once(browser):
    anna, helen = browser("Anna"), browser("Helen")
    helen.socket.get_received(p.LIVE_NAMESPACE)

    first = anna.say("En gång", client_id="retry-0001")
    second = anna.say("En gång", client_id="retry-0001")

    assert first["message"]["id"] == second["message"]["id"] and second["duplicate"] is True
    assert len(helen.received(p.MESSAGE)) == 1
    assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 1


def test_reconnecting_client_gets_exactly_what_it_missed(browser, app, talk):
    anna, helen = browser("Anna"), browser("Helen")
    seen = anna.say("före")["seq"]
    helen.socket.disconnect(namespace=p.LIVE_NAMESPACE)
    missed = [anna.say(f"medan du var borta {n}")["message"]["id"] for n in range(3)]

    helen.socket.connect(namespace=p.LIVE_NAMESPACE)
    rejoin = helen.call(p.JOIN, {"talk_id": talk.id, "last_seq": seen})

    assert [e["data"]["id"] for e in rejoin["events"] if e["event"] == p.MESSAGE] == missed
    assert [e["data"]["seq"] for e in rejoin["events"]] == [seen + 1, seen + 2, seen + 3]
    assert rejoin["seq"] == seen + 3 and rejoin["more"] is False


def test_new_viewer_gets_the_latest_fifty_messages(browser, session, talk):
    for n in range(70):
        chat.post_message(session, talk, participant_id="p", display_name="P", body=f"m{n}",
                          client_id=f"seed-{n:04d}", max_length=500)
    session.commit()

    history = browser(name=None).joined["messages"]

    assert [m["body"] for m in history] == [f"m{n}" for n in range(20, 70)]


@pytest.mark.parametrize("payload", [
    None, "text", [], {"body": "x"}, {"client_id": "abcdefgh"}, {"body": 5, "client_id": "abcdefgh"},
    {"body": "x", "client_id": "abcdefgh", "extra": 1}, {"body": "", "client_id": "abcdefgh"},
    {"body": "x" * 501, "client_id": "abcdefgh"}, {"body": "x", "client_id": "bad id"},
])
def test_bad_message_payload_is_refused_with_a_message_and_nothing_is_stored(browser, payload):
    anna = browser("Anna")

    ack = anna.call(p.SEND_MESSAGE, payload)

    assert ack["ok"] is False
    assert ack["error"] and ack["message"]
    assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0


def test_error_messages_follow_the_users_language(app, talk):
    english = app.test_client()
    english.get("/language/en")
    english.get(f"/events/{SLUG}/{talk.slug}")
    socket = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=english)
    socket.emit(p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)

    ack = socket.emit(p.SEND_MESSAGE, {"body": "hi", "client_id": "abcdefgh"}, namespace=p.LIVE_NAMESPACE,
                      callback=True)

    assert ack["message"] == "Choose a name to show in the chat first."


def test_flooding_is_throttled_with_a_clear_error(browser):
    anna = browser("Anna")

    acks = [anna.say(f"spam {n}") for n in range(6)]
    retry = anna.say("spam 0", client_id=acks[0]["message"]["client_id"])  # a retry is no new writing

    assert [a["ok"] for a in acks] == [True] * 5 + [False]
    assert acks[-1]["error"] == p.E_FLOODING
    assert retry["ok"] is True and retry["duplicate"] is True
    # The refused one left nothing behind: five messages, numbered 1-5 without a gap.
    assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 5
    assert sorted(db.session.scalars(select(RoomEvent.seq))) == [1, 2, 3, 4, 5]


def test_question_can_be_anonymous_to_participants_but_not_to_moderators(browser, moderator_grant):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    helen.socket.get_received(p.LIVE_NAMESPACE)
    moa.socket.get_received(p.LIVE_NAMESPACE)

    anna.ask("Hur hanterar ni troll?", anonymous=True)

    assert helen.received(p.QUESTION)[0]["name"] is None
    staff_view = moa.received(p.QUESTION)[0]
    assert staff_view["name"] == "Anna" and staff_view["participant_id"]


def test_one_vote_per_participant_and_the_room_gets_the_total(browser):
    anna, helen, ulla = browser("Anna"), browser("Helen"), browser("Ulla")
    question_id = anna.ask("Vilka verktyg använder du?")["question"]["id"]
    ulla.socket.get_received(p.LIVE_NAMESPACE)

    first = helen.call(p.VOTE, {"question_id": question_id, "up": True})
    again = helen.call(p.VOTE, {"question_id": question_id, "up": True})
    other = ulla.call(p.VOTE, {"question_id": question_id, "up": True})
    batches: list = []

    def total_arrived() -> bool:
        batches.extend(ulla.received(p.VOTES))
        return bool(batches) and batches[-1]["counts"].get(str(question_id)) == 2

    wait_until(total_arrived, message=lambda: f"vote batches: {batches}")
    assert (first["votes"], again["votes"], other["votes"]) == (1, 1, 2)
    assert db.session.scalar(select(func.count()).select_from(QuestionVote)) == 2


def test_withdrawing_a_vote_lowers_the_count(browser):
    anna, helen = browser("Anna"), browser("Helen")
    question_id = anna.ask("Fråga?")["question"]["id"]
    helen.call(p.VOTE, {"question_id": question_id, "up": True})

    ack = helen.call(p.VOTE, {"question_id": question_id, "up": False})

    assert ack["votes"] == 0


def test_participant_cannot_moderate(browser):
    anna, helen = browser("Anna"), browser("Helen")
    message_id = anna.say("hej")["message"]["id"]

    acks = [
        helen.call(p.HIDE, {"kind": "message", "id": message_id}),
        helen.call(p.BAN, {"participant_id": "someone", "whole_event": False}),
        helen.call(p.SET_RULES, {"chat_open": False}),
    ]

    assert [a["error"] for a in acks] == [p.E_FORBIDDEN] * 3


def test_moderator_hides_a_message_and_the_record_stays(browser, moderator_grant):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    message_id = anna.say("olämpligt")["message"]["id"]
    helen.socket.get_received(p.LIVE_NAMESPACE)

    ack = moa.call(p.HIDE, {"kind": "message", "id": message_id, "reason": "Personangrepp"})

    assert ack["ok"] is True
    assert [(h["id"], h["seq"]) for h in helen.received(p.MESSAGE_HIDDEN)] == [(message_id, 2)]
    stored = db.session.get(ChatMessage, message_id)
    assert (stored.body, stored.hidden_by, stored.hidden_reason) == ("olämpligt", "Moa Moderator", "Personangrepp")
    audit = db.session.scalars(select(AuditEntry)).one()
    assert (audit.action, audit.actor, audit.reason) == ("message.hide", "Moa Moderator", "Personangrepp")
    assert browser("Ny").joined["messages"] == []


def test_banned_participant_is_told_disconnected_and_refused(app, browser, moderator_grant, talk):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    anna.say("hej")
    participant_id = moa.received(p.MESSAGE)[0]["participant_id"]  # moderators see who wrote

    ack = moa.call(p.BAN, {"participant_id": participant_id, "whole_event": True, "reason": "Hot"})

    assert ack["ok"] is True
    assert not anna.socket.is_connected(p.LIVE_NAMESPACE)
    # What arrived before the server closed the connection (get_received needs a connection).
    assert [pkt["name"] for pkt in anna.socket.queue].count(p.BANNED) == 1
    anna.socket = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=anna.http)
    anna.call(p.JOIN, {"talk_id": talk.id})
    assert anna.say("igen")["error"] == p.E_BANNED


def test_slow_mode_lets_one_message_through_per_interval(browser, moderator_grant):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)

    moa.call(p.SET_RULES, {"slow_mode_seconds": 30})
    first, second = anna.say("ett"), anna.say("två")

    assert first["ok"] is True
    assert second["error"] == p.E_SLOW_MODE


def test_closed_chat_refuses_messages_and_reopens(browser, moderator_grant):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)

    moa.call(p.SET_RULES, {"chat_open": False})
    closed = anna.say("hallå?")
    moa.call(p.SET_RULES, {"chat_open": True})
    reopened = anna.say("nu då?")

    assert closed["error"] == p.E_CHAT_CLOSED
    assert reopened["ok"] is True
    assert anna.received(p.RULES)[0]["chat_open"] is False


def test_premoderated_question_waits_for_approval(browser, moderator_grant):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    moa.call(p.SET_RULES, {"questions_premoderated": True})
    helen.socket.get_received(p.LIVE_NAMESPACE)

    question = anna.ask("Väntar jag?")["question"]
    hidden_from_others = helen.received(p.QUESTION)
    moa.call(p.SET_QUESTION_STATE, {"question_id": question["id"], "state": "visible"})

    assert question["state"] == "awaiting_approval"
    assert hidden_from_others == []
    assert helen.received(p.QUESTION)[0]["state"] == "visible"


def test_answering_now_moves_the_previous_question_to_answered(browser, moderator_grant):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    first = anna.ask("Första?")["question"]["id"]
    second = anna.ask("Andra?")["question"]["id"]

    moa.call(p.SET_QUESTION_STATE, {"question_id": first, "state": "answering"})
    moa.call(p.SET_QUESTION_STATE, {"question_id": second, "state": "answering"})

    states = dict(db.session.execute(select(Question.id, Question.state)).all())
    assert (states[first].value, states[second].value) == ("answered", "answering")


def test_report_reaches_moderators(browser, moderator_grant):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    message_id = anna.say("tveksamt")["message"]["id"]
    moa.socket.get_received(p.LIVE_NAMESPACE)

    ack = helen.call(p.REPORT, {"message_id": message_id, "reason": "Reklam"})

    assert ack["ok"] is True
    assert moa.received(p.REPORTED)[0]["message_id"] == message_id


def test_moderator_of_another_event_cannot_moderate_this_one(app, browser, session, make_event, talk):
    other = make_event(title="Annan dag")
    grant = grant_role(session, role=Role.moderator, name="Fel Moderator", now=utcnow(), event=other)
    session.commit()
    anna = browser("Anna")
    stranger = browser("Fel", grant=grant)
    message_id = anna.say("hej")["message"]["id"]

    assert stranger.call(p.HIDE, {"kind": "message", "id": message_id})["error"] == p.E_FORBIDDEN


def test_signed_in_role_is_shown_beside_the_name(browser, moderator_grant):
    moa = browser("Moa", grant=moderator_grant)

    ack = moa.say("Välkomna!")

    assert ack["message"]["role"] == "moderator"


def test_sender_gets_its_message_in_the_ack_and_others_without_its_client_id(browser):
    anna, helen = browser("Anna"), browser("Helen")
    anna.socket.get_received(p.LIVE_NAMESPACE)
    helen.socket.get_received(p.LIVE_NAMESPACE)

    ack = anna.say("Mitt eget", client_id="mine-000001")

    assert ack["message"]["client_id"] == "mine-000001" and ack["message"]["mine"] is True
    assert anna.received(p.MESSAGE) == []  # not echoed back: the ack carried it
    assert "client_id" not in helen.received(p.MESSAGE)[0]


def test_rejoin_tells_the_client_which_messages_were_hidden_meanwhile(browser, moderator_grant, talk):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    said = anna.say("snart dolt")
    seen = said["seq"]

    moa.call(p.HIDE, {"kind": "message", "id": said["message"]["id"], "reason": "Spam"})
    rejoin = helen.call(p.JOIN, {"talk_id": talk.id, "last_seq": seen})

    assert rejoin["events"] == [{"event": p.MESSAGE_HIDDEN,
                                 "data": {"id": said["message"]["id"], "talk_id": talk.id, "seq": seen + 1}}]


def test_banned_participant_learns_it_on_join(app, browser, moderator_grant, talk):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    anna.say("hej")
    moa.call(p.BAN, {"participant_id": moa.received(p.MESSAGE)[0]["participant_id"], "whole_event": False})

    again = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=anna.http)
    joined = again.emit(p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)

    assert joined["me"]["banned"] is True and joined["me"]["banned_message"]


def test_speaker_does_not_see_hidden_or_waiting_questions(app, browser, session, moderator_grant, talk):
    speaker_grant = grant_role(session, role=Role.speaker, name="Mattias", now=utcnow(), talk=talk)
    session.commit()
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    hidden = anna.ask("dold fråga")["question"]["id"]
    moa.call(p.HIDE, {"kind": "question", "id": hidden})
    moa.call(p.SET_RULES, {"questions_premoderated": True})
    anna.ask("väntande fråga")

    speaker = browser("Mattias", grant=speaker_grant)

    assert speaker.joined["questions"] == []
    assert speaker.joined["me"]["host"] is True


# -- bans: lifted, never doubled ---------------------------------------------

def _participant_of(moderator: Browser) -> str:
    return moderator.received(p.MESSAGE)[0]["participant_id"]


def test_banning_someone_already_banned_says_so_and_adds_nothing(browser, moderator_grant):
    from server.models import Ban

    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    anna.say("hej")
    anna_id = _participant_of(moa)
    assert moa.call(p.BAN, {"participant_id": anna_id, "whole_event": True})["ok"] is True

    again = moa.call(p.BAN, {"participant_id": anna_id, "whole_event": False, "reason": "igen"})

    assert again["ok"] is False and again["error"] == p.E_ALREADY_BANNED
    assert again["message"] == "Anna är redan stoppad från att skriva här."  # Swedish first
    assert db.session.scalar(select(func.count()).select_from(Ban)) == 1
    bans = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "participant.ban")
    assert db.session.scalar(bans) == 1


@pytest.mark.both_databases
def test_two_moderators_banning_at_once_store_one_ban(app, talk, moderator_grant):
    """Two moderators press "Ban" together: the second one's check waits for the first's
    commit (the event's row is locked), so exactly one ban is stored."""
    import threading

    from server.models import Ban
    from server.services import moderation
    from server.services.errors import Conflict
    from server.services.roles import actor_for

    talk_id = talk.id
    outcomes: list[str] = []
    first_locked, second_started, release = threading.Event(), threading.Event(), threading.Event()

    def moderate(name: str, hold: bool) -> None:
        with app.app_context():
            own = db.session
            try:
                the_talk = own.get(type(talk), talk_id)
                actor = actor_for(own, f"moderator-{name}", moderator_grant.id, utcnow())
                if not hold:
                    second_started.set()
                moderation.ban(own, the_talk, actor, "troll-2", whole_event=False, reason="")
                if hold:
                    first_locked.set()
                    release.wait(10)
                own.commit()
                outcomes.append("banned")
            except Conflict:
                own.rollback()
                outcomes.append("already")
            finally:
                db.session.remove()

    first = threading.Thread(target=moderate, args=("a", True))
    first.start()
    assert first_locked.wait(10)
    second = threading.Thread(target=moderate, args=("b", False))
    second.start()
    assert second_started.wait(10)
    release.set()
    first.join(30)
    second.join(30)

    assert sorted(outcomes) == ["already", "banned"]
    assert db.session.scalar(select(func.count()).select_from(Ban)) == 1


def test_moderator_lists_bans_and_lifts_one_which_stays_on_record(app, browser, moderator_grant, talk):
    from server.models import Ban

    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    anna.say("hej")
    anna_id = _participant_of(moa)
    ban_id = moa.call(p.BAN, {"participant_id": anna_id, "whole_event": False, "reason": "Hot"})["ban_id"]
    assert [b["id"] for b in moa.received(p.BANS)[-1]["bans"]] == [ban_id]
    listed = browser("Mia", grant=moderator_grant).joined["bans"]
    assert [(b["name"], b["scope"], b["reason"]) for b in listed] == [("Anna", "talk", "Hot")]

    lifted = moa.call(p.LIFT_BAN, {"ban_id": ban_id})

    assert lifted["ok"] is True
    assert moa.received(p.BANS)[-1]["bans"] == []
    row = db.session.get(Ban, ban_id)
    assert (row.lifted_by, row.lifted_at is not None) == ("Moa Moderator", True)
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "participant.unban")).one()
    assert audit.actor == "Moa Moderator"
    again = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=anna.http)
    anna.socket = again
    assert anna.call(p.JOIN, {"talk_id": talk.id})["me"]["banned"] is False
    anna.call(p.SET_NAME, {"name": "Anna"})
    assert anna.say("tillbaka")["ok"] is True
    # Banning again after a lift is a new decision: a new row.
    assert moa.call(p.BAN, {"participant_id": anna_id, "whole_event": False})["ok"] is True


def test_lifting_a_ban_in_the_whole_event_is_logged_for_the_event_not_the_moderators_room(
        browser, moderator_grant, talk):
    anna = browser("Anna")
    moa = browser("Moa", grant=moderator_grant)
    anna.say("hej")
    ban_id = moa.call(p.BAN, {"participant_id": _participant_of(moa), "whole_event": True})["ban_id"]

    moa.call(p.LIFT_BAN, {"ban_id": ban_id})

    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "participant.unban")).one()
    assert (audit.event_id, audit.talk_id) == (talk.event_id, None)


# -- votes stop when questions close ----------------------------------------

def test_votes_are_refused_while_questions_are_closed_and_count_again_when_reopened(browser, moderator_grant):
    anna, helen = browser("Anna"), browser("Helen")
    moa = browser("Moa", grant=moderator_grant)
    question_id = anna.ask("Hur börjar man?")["question"]["id"]

    moa.call(p.SET_RULES, {"questions_open": False})
    refused = helen.call(p.VOTE, {"question_id": question_id, "up": True})
    moa.call(p.SET_RULES, {"questions_open": True})
    counted = helen.call(p.VOTE, {"question_id": question_id, "up": True})

    assert refused["ok"] is False and refused["error"] == p.E_VOTING_CLOSED
    assert refused["message"] == "Frågorna är stängda, så röstningen har stoppats."
    assert counted["ok"] is True and counted["votes"] == 1


def test_a_too_long_message_is_refused_with_a_translated_error(app, talk):
    anna = Browser(app, talk, None)
    anna.http.set_cookie("arena_lang", "sv")
    anna.socket = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=anna.http)
    anna.call(p.JOIN, {"talk_id": talk.id})
    anna.call(p.SET_NAME, {"name": "Anna"})

    ack = anna.say("a" * 501)

    assert ack["ok"] is False and ack["error"] == "too_long" and ack["field"] == "body"
    assert "500" in ack["message"] and "tecken" in ack["message"]
    assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0
    asked = anna.ask("?" * 301)
    assert asked["error"] == "too_long" and "300" in asked["message"] and "tecken" in asked["message"]


# -- the talk's live status reaches an open page ------------------------------

def test_an_open_talk_page_hears_when_the_organiser_ends_the_talk(browser, talk, session):
    from server.models import LiveState
    from server.services import programme
    from server.services.roles import Actor

    talk.live_state = LiveState.live
    session.commit()
    viewer = browser("Anna")
    assert viewer.joined["live"] is True
    wait_until(lambda: viewer.received(p.TALK_LIVE) or True)

    organiser = Actor(participant_id="org", role=Role.organiser, staff_name="Karin")
    talk = session.get(type(talk), talk.id)  # the socket handlers ended the session it was loaded in
    programme.update_talk(session, organiser, talk, title=talk.title, slug=talk.slug, starts_at=talk.starts_at,
                          ends_at=talk.ends_at, invitation_text=talk.invitation_text, stream_url=talk.stream_url,
                          slides_url=talk.slides_url, speakers=talk.speakers, live_state="ended")
    session.commit()

    seen = []
    wait_until(lambda: seen.extend(viewer.received(p.TALK_LIVE)) or {"talk_id": talk.id, "live": False} in seen,
               message=lambda: f"talk_live pushes: {seen}")


def test_a_ban_of_someone_who_only_asked_questions_carries_their_name(browser, moderator_grant):
    anna = browser("Anna Asker")
    moa = browser("Moa", grant=moderator_grant)
    anna.ask("Får jag fråga?")
    asker = moa.received(p.QUESTION)[-1]["participant_id"]

    ack = moa.call(p.BAN, {"participant_id": asker, "whole_event": False})

    assert ack["ban"]["name"] == "Anna Asker"
