"""The live room of a talk: chat, questions, votes, moderation and presence (namespace /live).

Each handler: validate the payload, find who is acting (checked here, in the handler: Flask's
before_request does not run for socket events), call a service, commit, then emit. Every
handler answers with an ack and never lets an exception reach the client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta
from functools import wraps
from typing import Any, Callable, Iterator

from flask import current_app, request, session
from flask_babel import refresh
from flask_socketio import Namespace, join_room, leave_room
from sqlalchemy import select

from server.db import db, utcnow
from server.i18n import _
from server.models import ChatMessage, EventStatus, Question, QuestionState, Talk
from server.services import activity, chat, moderation, presence, qa
from server.services.accounts import disabled_since
from server.services.errors import ServiceError, ValidationError
from server.services.roles import Actor, actor_for, revoked_since
from server.sockets import protocol as p
from server.sockets.ordering import OrderedRedisManager

log = logging.getLogger(__name__)
VOTE_FLUSH_SECONDS = 0.25  # vote counts go out at most 4 times a second per talk
PRESENCE_SECONDS = 1.0     # viewer counts at most once a second
VOTES_PER_WINDOW = 30      # votes are cheap but not free: a looser flood limit of their own
PRESENCE_GRACE = timedelta(seconds=2)  # overlap between checks for new bans and revocations
PARTICIPATIONS_REMEMBERED = 100_000  # (talk, participant) pairs known to be recorded, per process


class HandlerError(Exception):
    """An ack-worthy refusal raised inside a handler."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass
class Connection:
    participant_id: str
    grant_id: int | None
    talk_id: int | None = None
    staff: bool = False
    # No session cookie: the id lasts only as long as this connection, so writing would let
    # anyone vote again or dodge a ban by reconnecting. Such a connection may only read.
    read_only: bool = False
    organiser_id: int | None = None


@dataclass
class RoomState:
    """What one process knows of its own connections; the database knows the rest."""

    connections: dict[str, Connection] = field(default_factory=dict)
    recent_writes: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    recent_votes: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    pending_votes: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    last_presence: dict[int, int] = field(default_factory=dict)
    # Kept as connections join and leave: counting on every join made a reconnect storm of
    # thousands quadratic.
    viewers_in: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, sid: str, connection: Connection) -> None:
        self.connections[sid] = connection

    def move(self, connection: Connection, talk_id: int) -> None:
        if connection.talk_id is not None:
            self.viewers_in[connection.talk_id] -= 1
        connection.talk_id = talk_id
        self.viewers_in[talk_id] += 1

    def remove(self, sid: str) -> None:
        connection = self.connections.pop(sid, None)
        if connection is not None and connection.talk_id is not None:
            self.viewers_in[connection.talk_id] -= 1
            if self.viewers_in[connection.talk_id] <= 0:
                del self.viewers_in[connection.talk_id]

    def viewers_by_talk(self) -> dict[int, int]:
        return {talk_id: count for talk_id, count in self.viewers_in.items() if count > 0}


def _fields(data: Any, required: dict[str, type | tuple], optional: dict[str, type | tuple] | None = None
            ) -> dict[str, Any]:
    """The payload as a dict of known fields with the right types; anything else is refused."""
    optional = optional or {}
    if not isinstance(data, dict):
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
    unknown = set(data) - set(required) - set(optional)
    missing = set(required) - set(data)
    if unknown or missing:
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
    for name, value in data.items():
        expected = required.get(name) or optional[name]
        # bool is an int in Python: a vote's "up" must not count as a question id.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in _as_tuple(expected)):
            raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
        # Ids are 32-bit in PostgreSQL: a larger number is no id of ours.
        if isinstance(value, int) and not isinstance(value, bool) and not -2**31 <= value < 2**31:
            raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))
        # A lone surrogate (half an emoji cut by a client) cannot be stored as UTF-8.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood.")) from None
    return data


def _as_tuple(expected: type | tuple) -> tuple:
    return expected if isinstance(expected, tuple) else (expected,)


def acked(handler: Callable) -> Callable:
    """Turn every outcome into an ack; roll back whatever a failed handler began."""

    @wraps(handler)
    def wrapper(self: LiveNamespace, *args: Any) -> dict[str, Any]:
        refresh()  # choose the user's language for this event
        data = args[0] if args else None
        try:
            result = handler(self, data)
            return {"ok": True, **(result or {})}
        except HandlerError as error:
            db.session.rollback()
            return {"ok": False, "error": error.code, "message": error.message}
        except ServiceError as error:
            db.session.rollback()
            return error.as_dict()
        except Exception:
            db.session.rollback()
            log.exception("socket handler %s failed", handler.__name__)
            return {"ok": False, "error": p.E_INTERNAL,
                    "message": _("Something went wrong on our side. Please try again in a moment.")}
        finally:
            db.session.remove()

    return wrapper


class LiveNamespace(Namespace):
    def __init__(self, namespace: str = p.LIVE_NAMESPACE) -> None:
        super().__init__(namespace)
        self.state = RoomState()
        self.process_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tickers_started = False
        self._stopped = False
        self._app = None
        # Rejoins (reloads, reconnect storms) skip the database: the row is already there.
        self._participations_recorded: set[tuple[int, str]] = set()

    def stop(self) -> None:
        """End the background tickers (tests, shutdown)."""
        self._stopped = True

    # -- connection ---------------------------------------------------------------------
    def on_connect(self, auth: Any = None) -> bool:
        try:
            self._start_tickers()
            participant_id = session.get("participant_id")
            read_only = not isinstance(participant_id, str)
            if read_only:
                participant_id = secrets.token_urlsafe(16)  # for this connection only
            grant_id = session.get("grant_id")
            if isinstance(grant_id, int) and actor_for(db.session, participant_id, grant_id, utcnow()).role is None:
                grant_id = None  # withdrawn or expired: connect as a participant
            organiser_id = session.get("organiser_id")
            self.state.add(request.sid, Connection(
                participant_id, grant_id if isinstance(grant_id, int) else None, read_only=read_only,
                organiser_id=organiser_id if isinstance(organiser_id, int) else None))
            db.session.remove()
            join_room(p.participant_room(participant_id))
            return True
        except Exception:
            log.exception("connect failed")
            return False

    def on_disconnect(self, reason: Any = None) -> None:
        self.state.remove(request.sid)

    # -- who is acting ------------------------------------------------------------------
    def _connection(self) -> Connection:
        connection = self.state.connections.get(request.sid)
        if connection is None:
            raise HandlerError(p.E_NOT_JOINED, _("Reload the page to join the talk."))
        return connection

    def _actor(self, connection: Connection) -> Actor:
        return actor_for(db.session, connection.participant_id, connection.grant_id, utcnow(),
                         organiser_id=connection.organiser_id)

    def _joined_talk(self, connection: Connection) -> Talk:
        if connection.talk_id is None:
            raise HandlerError(p.E_NOT_JOINED, _("Reload the page to join the talk."))
        talk = db.session.get(Talk, connection.talk_id)
        if talk is None:
            raise HandlerError(p.E_NOT_JOINED, _("Reload the page to join the talk."))
        return talk

    def _require_cookie(self, connection: Connection) -> None:
        if connection.read_only:
            raise HandlerError(p.E_COOKIES_REQUIRED,
                               _("To take part, allow this site's cookie and reload the page."))

    def _writer(self) -> tuple[Connection, Talk, Actor]:
        """Who writes (a message, a question, a vote): a cookie, a joined talk, no ban."""
        connection = self._connection()
        self._require_cookie(connection)
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        self._check_not_banned(talk, actor)
        return connection, talk, actor

    def _display_name(self) -> str:
        name = session.get("display_name")
        if not name:
            raise HandlerError(p.E_NAME_REQUIRED, _("Choose a name to show in the chat first."))
        return name

    def _check_not_banned(self, talk: Talk, actor: Actor) -> None:
        if not actor.can_moderate(talk) and moderation.active_ban(db.session, talk, actor.participant_id):
            raise HandlerError(p.E_BANNED, _("A moderator has stopped you from writing here."))

    def _throttle(self, log_of: dict[str, deque], participant_id: str, limit: int, window: float) -> None:
        now = time.monotonic()
        recent = log_of[participant_id]
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= limit:
            wait = int(recent[0] + window - now) + 1
            raise HandlerError(p.E_FLOODING, _("You are writing too fast. Wait %(seconds)d seconds and try again.",
                                               seconds=wait))
        recent.append(now)

    def _settings(self):
        return current_app.extensions["arena.settings"]

    # -- joining ------------------------------------------------------------------------
    @acked
    def on_join(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"talk_id": int}, {"last_message_id": (int, type(None))})
        connection = self._connection()
        talk = db.session.get(Talk, fields["talk_id"])
        actor = self._actor(connection)
        if talk is None or (talk.event.status is not EventStatus.published and not actor.can_moderate(talk)):
            raise HandlerError("talk_not_found", _("There is no talk at this address."))
        if connection.talk_id is not None and connection.talk_id != talk.id:
            leave_room(p.talk_room(connection.talk_id))
            leave_room(p.staff_room(connection.talk_id))
        if connection.talk_id != talk.id:
            self.state.move(connection, talk.id)
        connection.staff = actor.can_moderate(talk)
        join_room(p.staff_room(talk.id) if connection.staff else p.talk_room(talk.id))
        self._record_participation(connection, talk)

        settings = self._settings()
        last_id = fields.get("last_message_id")
        if last_id is None:
            messages = chat.latest_messages(db.session, talk.id, settings.chat.history_size,
                                            include_hidden=connection.staff)
        else:
            messages = chat.messages_after(db.session, talk.id, last_id, 1000, include_hidden=connection.staff)
        questions = qa.questions_for(db.session, talk, actor)
        counts = presence.viewer_counts(db.session, [talk.id], utcnow())
        me = actor.participant_id
        banned = not connection.staff and moderation.active_ban(db.session, talk, me) is not None
        return {
            "talk_id": talk.id,
            "me": {"name": session.get("display_name"), "role": actor.role_in(talk),
                   "moderator": connection.staff, "host": actor.can_host_questions(talk),
                   "banned": banned,
                   "banned_message": _("A moderator has stopped you from writing here.") if banned else None},
            "rules": moderation.room_rules(talk),
            "messages": [message_payload(m, staff=connection.staff, mine=m.participant_id == me) for m in messages],
            "hidden_message_ids": [] if last_id is None or connection.staff
            else chat.hidden_message_ids(db.session, talk.id),
            "questions": [question_payload(q, staff=connection.staff, mine=q.participant_id == me)
                          for q in questions],
            "my_votes": sorted(qa.has_voted(db.session, [q.id for q in questions], actor.participant_id)),
            "viewers": max(counts.get(talk.id, 0), self.state.viewers_in.get(talk.id, 0)),
            # The studio's stream, so a page that reconnects catches up (docs/golive.md).
            "stream": golive_view(db.session, talk),
        }

    def _record_participation(self, connection: Connection, talk: Talk) -> None:
        """For the activity report; a failure here is logged and never fails the join."""
        key = (talk.id, connection.participant_id)
        if connection.read_only or key in self._participations_recorded:
            return  # an id without a cookie lasts one connection: it would count people twice
        try:
            activity.record_participation(db.session, talk, connection.participant_id, utcnow())
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("recording a participation failed")
            return
        if len(self._participations_recorded) >= PARTICIPATIONS_REMEMBERED:
            self._participations_recorded.clear()
        self._participations_recorded.add(key)

    @acked
    def on_set_name(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"name": str})
        self._connection()
        name = chat.clean_display_name(fields["name"])
        session["display_name"] = name
        return {"name": name}

    # -- chat ---------------------------------------------------------------------------
    @acked
    def on_send_message(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"body": str, "client_id": str})
        connection, talk, actor = self._writer()
        name = self._display_name()
        if not talk.chat_open and not actor.can_moderate(talk):
            raise HandlerError(p.E_CHAT_CLOSED, _("The chat is closed."))
        if not actor.can_moderate(talk):
            wait = moderation.slow_mode_wait(db.session, talk, actor.participant_id, utcnow())
            if wait:
                raise HandlerError(p.E_SLOW_MODE, _("Slow mode is on. You can write again in %(seconds)d seconds.",
                                                    seconds=wait))
        settings = self._settings().chat
        self._throttle(self.state.recent_writes, actor.participant_id, settings.flood_messages,
                       settings.flood_window_seconds)
        with self._in_order(talk.id) as emit_in_order:
            message, created = chat.post_message(
                db.session, talk, participant_id=actor.participant_id, display_name=name, body=fields["body"],
                client_id=fields["client_id"], max_length=settings.message_max_length,
                author_role=actor.role_in(talk),
            )
            db.session.commit()  # persist, then broadcast: a reload shows what was sent
            if created:
                # The sender gets it in the ack (with its client id), everyone else now.
                emit_in_order(p.MESSAGE, message_payload(message, staff=False), p.talk_room(talk.id), request.sid)
                emit_in_order(p.MESSAGE, message_payload(message, staff=True), p.staff_room(talk.id), request.sid)
        return {"message": message_payload(message, staff=connection.staff, mine=True, client_id=True),
                "duplicate": not created}

    @acked
    def on_report(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {}, {"message_id": int, "question_id": int, "reason": str})
        connection = self._connection()
        self._require_cookie(connection)
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        self._throttle(self.state.recent_writes, actor.participant_id, self._settings().chat.flood_messages,
                       self._settings().chat.flood_window_seconds)
        report, created = moderation.report(db.session, talk, actor.participant_id,
                                            message_id=fields.get("message_id"),
                                            question_id=fields.get("question_id"), reason=fields.get("reason"))
        db.session.commit()
        if created:
            self.socketio.emit(p.REPORTED, {"id": report.id, "talk_id": talk.id, "message_id": report.message_id,
                                            "question_id": report.question_id, "reason": report.reason},
                               to=p.staff_room(talk.id), namespace=self.namespace)
        return {"reported": True}

    # -- questions ----------------------------------------------------------------------
    @acked
    def on_ask_question(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"body": str, "client_id": str}, {"anonymous": bool})
        connection, talk, actor = self._writer()
        name = self._display_name()
        if not talk.questions_open and not actor.can_moderate(talk):
            raise HandlerError(p.E_QUESTIONS_CLOSED, _("Questions are closed."))
        settings = self._settings().chat
        self._throttle(self.state.recent_writes, actor.participant_id, settings.flood_messages,
                       settings.flood_window_seconds)
        question, created = qa.ask(db.session, talk, actor, display_name=name, body=fields["body"],
                                   client_id=fields["client_id"], anonymous=fields.get("anonymous", False),
                                   max_length=settings.question_max_length)
        db.session.commit()
        if created:
            self._emit_question(talk.id, question, skip_sid=request.sid)
        return {"question": question_payload(question, staff=connection.staff, mine=True, client_id=True),
                "duplicate": not created}

    @acked
    def on_vote(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"question_id": int, "up": bool})
        connection, talk, actor = self._writer()
        self._throttle(self.state.recent_votes, actor.participant_id, VOTES_PER_WINDOW,
                       self._settings().chat.flood_window_seconds)
        question = qa.get_question(db.session, talk.id, fields["question_id"])
        if question.state is QuestionState.awaiting_approval and question.participant_id != actor.participant_id:
            raise HandlerError("question_not_found", _("That question does not exist."))
        count = qa.vote(db.session, question, actor.participant_id, fields["up"])
        db.session.commit()
        # Not broadcast one by one: the vote ticker sends counts in batches.
        self.state.pending_votes[talk.id].add(question.id)
        return {"question_id": question.id, "voted": fields["up"], "votes": count}

    @acked
    def on_set_question_state(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"question_id": int, "state": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        question = qa.get_question(db.session, talk.id, fields["question_id"])
        changed = qa.set_state(db.session, question, talk, actor, fields["state"])
        db.session.commit()
        for item in changed:
            self._emit_question(talk.id, item)
        return {"question": question_payload(question, staff=connection.staff)}

    # -- moderation ---------------------------------------------------------------------
    def _item(self, talk: Talk, kind: Any, item_id: Any) -> ChatMessage | Question:
        if kind == "message":
            return chat.get_message(db.session, talk.id, item_id)
        if kind == "question":
            return qa.get_question(db.session, talk.id, item_id)
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))

    def _hide_or_restore(self, data: Any, *, hide: bool) -> dict[str, Any]:
        fields = _fields(data, {"kind": str, "id": int}, {"reason": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        item = self._item(talk, fields["kind"], fields["id"])
        (moderation.hide if hide else moderation.restore)(db.session, item, talk, self._actor(connection),
                                                           fields.get("reason"))
        db.session.commit()
        if isinstance(item, Question):
            self._emit_question(talk.id, item)  # hidden: participants get only its id
        elif hide:
            self._broadcast(talk.id, p.MESSAGE_HIDDEN, {"id": item.id}, message_payload(item, staff=True))
        else:
            self._broadcast(talk.id, p.MESSAGE_RESTORED, message_payload(item, staff=False),
                            message_payload(item, staff=True))
        return {"id": item.id}

    @acked
    def on_hide(self, data: Any) -> dict[str, Any]:
        return self._hide_or_restore(data, hide=True)

    @acked
    def on_restore(self, data: Any) -> dict[str, Any]:
        return self._hide_or_restore(data, hide=False)

    @acked
    def on_ban(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"participant_id": str, "whole_event": bool}, {"reason": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        ban = moderation.ban(db.session, talk, actor, fields["participant_id"], whole_event=fields["whole_event"],
                             reason=fields.get("reason"))
        db.session.commit()
        # Enforced at once: writes are refused from now on (checked in each handler), and the
        # participant's open connections are told and closed, here and, within a second, on
        # every other process (the presence ticker reads new bans).
        self._close_banned(ban.participant_id, ban.event_id, ban.talk_id)
        return {"ban_id": ban.id}

    @acked
    def on_lift_ban(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"ban_id": int})
        connection = self._connection()
        talk = self._joined_talk(connection)
        ban = moderation.lift_ban(db.session, talk, self._actor(connection), fields["ban_id"])
        db.session.commit()
        return {"ban_id": ban.id}

    @acked
    def on_set_rules(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {}, {"chat_open": bool, "questions_open": bool, "questions_premoderated": bool,
                                    "slow_mode_seconds": int})
        connection = self._connection()
        talk = self._joined_talk(connection)
        rules = moderation.set_room(db.session, talk, self._actor(connection), fields)
        db.session.commit()
        self._broadcast(talk.id, p.RULES, rules, rules)
        return {"rules": rules}

    # -- emitting -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _in_order(self, talk_id: int) -> Iterator[Callable[[str, Any, str, str], None]]:
        """Chat messages reach every client in id order, on every process (server/sockets/ordering.py)."""
        manager = self.socketio.server.manager
        if isinstance(manager, OrderedRedisManager):
            with manager.talk_lock(talk_id):
                yield lambda event, data, room, skip_sid: manager.emit_in_order(
                    event, data, namespace=self.namespace, room=room, skip_sid=skip_sid)
        else:
            # One process: storing and emitting never yield between them, so order holds.
            yield lambda event, data, room, skip_sid: self.socketio.emit(
                event, data, to=room, namespace=self.namespace, skip_sid=skip_sid)

    def _broadcast(self, talk_id: int, event: str, public: Any, staff: Any) -> None:
        self.socketio.emit(event, public, to=p.talk_room(talk_id), namespace=self.namespace)
        self.socketio.emit(event, staff, to=p.staff_room(talk_id), namespace=self.namespace)

    def _emit_question(self, talk_id: int, question: Question, skip_sid: str | None = None) -> None:
        if question.state is QuestionState.awaiting_approval:
            # Only moderators, and the asker (on their ack), see a question that waits.
            self.socketio.emit(p.QUESTION, question_payload(question, staff=True), to=p.staff_room(talk_id),
                               namespace=self.namespace, skip_sid=skip_sid)
            return
        public = {"id": question.id} if question.state is QuestionState.hidden else question_payload(question, staff=False)
        event = p.QUESTION_HIDDEN if question.state is QuestionState.hidden else p.QUESTION
        self.socketio.emit(event, public, to=p.talk_room(talk_id), namespace=self.namespace, skip_sid=skip_sid)
        self.socketio.emit(p.QUESTION, question_payload(question, staff=True), to=p.staff_room(talk_id),
                           namespace=self.namespace, skip_sid=skip_sid)

    def _close_banned(self, participant_id: str, event_id: int, talk_id: int | None) -> None:
        for sid, connection in list(self.state.connections.items()):
            if connection.participant_id != participant_id or connection.talk_id is None:
                continue
            talk = db.session.get(Talk, connection.talk_id)
            if talk is None or talk.event_id != event_id or (talk_id is not None and talk.id != talk_id):
                continue
            self.socketio.emit(p.BANNED, {"message": _("A moderator has stopped you from writing here.")},
                               to=sid, namespace=self.namespace)
            self.socketio.server.disconnect(sid, namespace=self.namespace)
            self.state.remove(sid)

    def close_grant_connections(self, grant_id: int | None, participant_id: str | None,
                                organiser_id: int | None = None) -> None:
        """Close the connections of one browser that signed out of a role (this process)."""
        for sid, connection in list(self.state.connections.items()):
            signed_out = (grant_id is not None and connection.grant_id == grant_id) or (
                organiser_id is not None and connection.organiser_id == organiser_id)
            if signed_out and connection.participant_id == participant_id:
                self.socketio.server.disconnect(sid, namespace=self.namespace)
                self.state.remove(sid)

    # -- background tickers -------------------------------------------------------------
    def _start_tickers(self) -> None:
        if self._tickers_started:
            return
        self._tickers_started = True
        self._app = current_app._get_current_object()
        self.socketio.start_background_task(self._vote_ticker)
        self.socketio.start_background_task(self._presence_ticker)

    def _vote_ticker(self) -> None:
        while not self._stopped:
            self.socketio.sleep(VOTE_FLUSH_SECONDS)
            if self._stopped:
                return
            if not self.state.pending_votes:
                continue
            pending, self.state.pending_votes = self.state.pending_votes, defaultdict(set)
            try:
                with self._app.app_context():
                    for talk_id, question_ids in pending.items():
                        rows = db.session.execute(select(Question.id, Question.vote_count)
                                                  .where(Question.id.in_(question_ids)))
                        counts = {str(qid): votes for qid, votes in rows}
                        payload = {"talk_id": talk_id, "counts": counts}
                        self._broadcast(talk_id, p.VOTES, payload, payload)
                    db.session.remove()
            except Exception:
                log.exception("vote ticker failed")

    def _presence_ticker(self) -> None:
        checked_since = utcnow()
        while not self._stopped:
            self.socketio.sleep(PRESENCE_SECONDS)
            if self._stopped:
                return
            try:
                with self._app.app_context():
                    now = utcnow()
                    local = self.state.viewers_by_talk()
                    presence.record(db.session, self.process_id, local, now)
                    # The history for the activity report: one statement, whatever the number of talks.
                    activity.record_viewers(db.session, local, now)
                    db.session.commit()
                    totals = presence.viewer_counts(db.session, list(local), now)
                    for talk_id, viewers in totals.items():
                        if self.state.last_presence.get(talk_id) != viewers:
                            self.state.last_presence[talk_id] = viewers
                            payload = {"talk_id": talk_id, "viewers": viewers}
                            # Every process sends its own clients the same total: no queue.
                            self._emit_local(p.PRESENCE, payload, p.talk_room(talk_id))
                            self._emit_local(p.PRESENCE, payload, p.staff_room(talk_id))
                    for ban in moderation.bans_since(db.session, checked_since - PRESENCE_GRACE):
                        self._close_banned(ban.participant_id, ban.event_id, ban.talk_id)
                    revoked = set(revoked_since(db.session, checked_since - PRESENCE_GRACE))
                    closed = set(disabled_since(db.session, checked_since - PRESENCE_GRACE))
                    for sid, connection in list(self.state.connections.items()):
                        if connection.grant_id in revoked or connection.organiser_id in closed:
                            self.socketio.server.disconnect(sid, namespace=self.namespace)
                            self.state.remove(sid)
                    checked_since = now
                    db.session.remove()
            except Exception:
                log.exception("presence ticker failed")

    def _emit_local(self, event: str, payload: Any, room: str) -> None:
        self.socketio.server.emit(event, payload, to=room, namespace=self.namespace, ignore_queue=True)


# -- payloads ---------------------------------------------------------------------------

def golive_view(db_session, talk: Talk) -> dict[str, Any] | None:
    from server.services import golive

    stream = golive.latest_stream(db_session, talk)
    return golive.view_of(stream).as_dict() if stream is not None else None


def message_payload(message: ChatMessage, *, staff: bool, mine: bool | None = None,
                    client_id: bool = False) -> dict[str, Any]:
    """A message as one kind of recipient sees it. `mine` and `client_id` go only to the
    author (join and ack): a client id in broadcasts would let others pose as their messages."""
    payload = {"id": message.id, "talk_id": message.talk_id, "name": message.display_name,
               "role": message.author_role, "body": message.body,
               "created_at": message.created_at.isoformat()}
    if mine:
        payload["mine"] = True
    if client_id:
        payload["client_id"] = message.client_id
    if staff:
        payload.update(participant_id=message.participant_id, hidden=message.is_hidden,
                       hidden_by=message.hidden_by, hidden_reason=message.hidden_reason)
    return payload


def question_payload(question: Question, *, staff: bool, mine: bool | None = None,
                     client_id: bool = False) -> dict[str, Any]:
    payload = {"id": question.id, "talk_id": question.talk_id, "body": question.body,
               "name": None if question.anonymous and not (staff or mine) else question.display_name,
               "anonymous": question.anonymous, "state": question.state.value, "votes": question.vote_count,
               "created_at": question.created_at.isoformat(),
               "answered_at": question.answered_at.isoformat() if question.answered_at else None}
    if mine:
        payload["mine"] = True
    if client_id:
        payload["client_id"] = question.client_id
    if staff:
        payload.update(participant_id=question.participant_id, hidden_by=question.hidden_by,
                       hidden_reason=question.hidden_reason)
    return payload


__all__ = ["LiveNamespace", "ValidationError", "message_payload", "question_payload"]
