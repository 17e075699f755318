"""The live room of a talk: chat, questions, votes, moderation and presence (namespace /live).

Each handler validates its payload, finds who is acting (checked here, in the handler: Flask's
before_request does not run for socket events) and calls a service; `acked`
(server/sockets/base.py) commits once and then sends the room log's new entries and whatever
the handler queued. Joining reads a per-process view of the talk (state.py), not the database.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict, deque
from datetime import datetime
from typing import Any

from flask import g, request, session
from flask_socketio import join_room, leave_room

from server.db import db, utcnow
from server.i18n import _
from server.models import ChatMessage, Event, EventStatus, Question, QuestionState, RoomEvent, Talk
from server.services import chat, moderation, qa, room_log
from server.services.accounts import session_organiser_id
from server.services.roles import Actor, actor_for
from server.sockets import protocol as p
from server.sockets.base import ArenaNamespace, HandlerError, acked, after_commit, fields
from server.sockets.live.figures import EntryCounts, PushDelays
from server.sockets.live.payloads import (
    ban_payload,
    history_item,
    message_payload,
    question_payload,
    render_entry,
    stream_payload,
)
from server.sockets.live.pushes import Push, Pushes
from server.sockets.live.state import Connection, RoomState, TalkView
from server.sockets.live.tickers import LiveTickers

VOTES_PER_WINDOW = 30      # votes are cheap but not free: a looser flood limit of their own
HISTORY_PER_WINDOW = 200   # history asks per connection and flood window: gaps and scroll-back are cheap
REJOIN_EVENTS = 500        # entries a reconnecting client gets in its join ack at the most
HISTORY_DEFAULT = 100

log = logging.getLogger(__name__)


class LiveNamespace(LiveTickers, ArenaNamespace):
    def __init__(self, namespace: str = p.LIVE_NAMESPACE) -> None:
        super().__init__(namespace)
        self.state = RoomState()
        self.history_asks: dict[str, deque] = defaultdict(deque)
        self.pushes = Pushes(0.0)  # the interval comes from the settings with the first connection
        self.entry_counts = EntryCounts()  # read by /metrics (server/metrics.py)
        self.push_delays = PushDelays()

    # -- connection ---------------------------------------------------------------------
    def on_connect(self, auth: Any = None) -> bool:
        try:
            self.start_tickers()
            if request.sid in self.state.connections:
                return True  # counted once, whatever a client sends
            participant_id = session.get("participant_id")
            read_only = not isinstance(participant_id, str)
            if read_only:
                participant_id = secrets.token_urlsafe(16)  # for this connection only
            grant_id = session.get("grant_id")
            if isinstance(grant_id, int) and actor_for(db.session, participant_id, grant_id, utcnow()).role is None:
                grant_id = None  # withdrawn or expired: connect as a participant
            organiser_id = session_organiser_id(db.session, session)  # None once its password changed
            if isinstance(organiser_id, int) and actor_for(db.session, participant_id, None, utcnow(),
                                                           organiser_id=organiser_id).role is None:
                organiser_id = None  # a closed account connects as a participant
            self.state.add(request.sid, Connection(
                participant_id, grant_id if isinstance(grant_id, int) else None, read_only=read_only,
                organiser_id=organiser_id if isinstance(organiser_id, int) else None))
            join_room(p.participant_room(participant_id))
            return True
        except Exception:
            log.exception("connect failed")
            return False
        finally:
            db.session.remove()

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget(request.sid)

    def forget(self, sid: str) -> None:
        self.state.remove(sid)
        self.history_asks.pop(sid, None)

    def holders(self) -> list[tuple[str, tuple[int | None, int | None, str | None]]]:
        return [(sid, (c.grant_id, c.organiser_id, c.participant_id))
                for sid, c in list(self.state.connections.items())]

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

    def _throttle(self, log_of: dict[str, deque], key: str, limit: int, window: float, *,
                  reading: bool = False) -> None:
        now = time.monotonic()
        recent = log_of[key]
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= limit:
            wait = int(recent[0] + window - now) + 1
            if reading:
                raise HandlerError(p.E_FLOODING, _("Too many requests. Wait %(seconds)d seconds and try again.",
                                                   seconds=wait))
            raise HandlerError(p.E_FLOODING, _("You are writing too fast. Wait %(seconds)d seconds and try again.",
                                               seconds=wait))
        recent.append(now)

    def _throttle_writes(self, actor: Actor) -> None:
        chat_settings = self.settings().chat
        self._throttle(self.state.recent_writes, actor.participant_id, chat_settings.flood_messages,
                       chat_settings.flood_window_seconds)

    # -- joining ------------------------------------------------------------------------
    def _view(self, talk_id: int) -> TalkView | None:
        """The talk as participants see it on joining: from memory while fresh, else read once."""
        view = self.state.view(talk_id)
        if view is not None:
            return view
        talk = db.session.get(Talk, talk_id)
        if talk is None:
            return None
        head = talk.room_seq  # first: everything below is read up to this number
        history_size = self.settings().chat.history_size
        messages = chat.latest_messages(db.session, talk.id, history_size, up_to_seq=head)
        questions = qa.public_questions(db.session, talk.id)
        view = TalkView(
            talk_id=talk.id, event_id=talk.event_id, published=talk.event.status is EventStatus.published,
            rules=moderation.room_rules(talk), head=head,
            messages=[message_payload(m, staff=False) for m in messages],
            questions=[question_payload(q, staff=False) for q in questions],
            question_ids=[q.id for q in questions],
            awaiting=bool(qa.waiting_questions(db.session, talk.id)),
            banned=moderation.banned_participants(db.session, talk),
            stream=stream_payload(db.session, talk), live=talk.is_live(utcnow()))
        self.state.saw_head(talk.id, head)
        self.state.views[talk.id] = view
        return view

    @acked
    def on_join(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"talk_id": int}, {"last_seq": (int, type(None))})
        connection = self._connection()
        actor = self._actor(connection)
        view = self._view(f["talk_id"])
        talk = None
        staff = False
        if view is not None and actor.role is not None:
            talk = db.session.get(Talk, view.talk_id)
            staff = actor.can_moderate(talk)
        if view is None or (not view.published and not staff):
            raise HandlerError("talk_not_found", _("There is no talk at this address."))
        if connection.talk_id is not None and connection.talk_id != view.talk_id:
            leave_room(p.talk_room(connection.talk_id))
            leave_room(p.staff_room(connection.talk_id))
        if connection.talk_id != view.talk_id:
            self.state.move(connection, view.talk_id)
        connection.staff = staff
        join_room(p.staff_room(view.talk_id) if staff else p.talk_room(view.talk_id))
        if not connection.read_only:  # an id without a cookie lasts one connection: it would count people twice
            self.state.note_participation(view.talk_id, view.event_id, connection.participant_id)

        me = actor.participant_id
        answer: dict[str, Any] = {"talk_id": view.talk_id, "rules": view.rules, "stream": view.stream,
                                  "live": view.live}
        if staff:
            answer.update(self._staff_snapshot(talk, actor))
        else:
            answer.update(seq=view.head, messages=view.messages, questions=view.questions)
            if view.awaiting and not connection.read_only:
                mine = qa.waiting_questions(db.session, view.talk_id, me)
                answer["questions"] = view.questions + [question_payload(q, staff=False, mine=True) for q in mine]
        if f.get("last_seq") is not None:
            # A reconnect: what came after the last number the client holds, not a snapshot.
            entries, more = room_log.entries(db.session, view.talk_id, after=max(0, f["last_seq"]),
                                             limit=REJOIN_EVENTS)
            answer.pop("messages", None)
            answer.update(events=[history_item(e, staff=staff) for e in entries], more=more,
                          seq=max([answer.get("seq", 0)] + [e.seq for e in entries]))
        banned = not staff and me in view.banned
        asks = view.question_ids and not connection.read_only
        voted = qa.has_voted(db.session, view.question_ids, me) if asks else set()
        viewers = self.state.last_presence.get(view.talk_id, (0, 0))[0]
        answer.update(
            me={"name": session.get("display_name"), "role": actor.role_in(talk) if talk is not None else "",
                "moderator": staff, "host": actor.can_host_questions(talk) if talk is not None else False,
                "banned": banned,
                "banned_message": _("A moderator has stopped you from writing here.") if banned else None},
            my_votes=sorted(voted),
            viewers=max(viewers, self.state.viewers_in.get(view.talk_id, 0)))
        return answer

    def _staff_snapshot(self, talk: Talk, actor: Actor) -> dict[str, Any]:
        """Moderators see hidden and waiting items too: read for them, not from the view."""
        head = talk.room_seq  # loaded in this handler: the committed number now
        messages = chat.latest_messages(db.session, talk.id, self.settings().chat.history_size, up_to_seq=head,
                                        include_hidden=True)
        questions = qa.questions_for(db.session, talk, actor)
        me = actor.participant_id
        return {"seq": head,
                "messages": [message_payload(m, staff=True, mine=m.participant_id == me) for m in messages],
                "questions": [question_payload(q, staff=True, mine=q.participant_id == me) for q in questions],
                "bans": [ban_payload(b) for b in moderation.active_bans(db.session, talk.event_id, talk.id)]}

    @acked
    def on_history(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"talk_id": int, "after": int}, {"before": (int, type(None)), "limit": int})
        connection = self._connection()
        if connection.talk_id != f["talk_id"]:
            raise HandlerError(p.E_NOT_JOINED, _("Reload the page to join the talk."))
        after, before, limit = f["after"], f.get("before"), f.get("limit", HISTORY_DEFAULT)
        if after < 0 or (before is not None and before <= after) or not 1 <= limit <= room_log.HISTORY_LIMIT:
            raise HandlerError(p.E_HISTORY_RANGE, _("The request was not understood."))
        self._throttle(self.history_asks, request.sid, HISTORY_PER_WINDOW, self.settings().chat.flood_window_seconds,
                       reading=True)
        entries, more = room_log.entries(db.session, f["talk_id"], after=after, before=before, limit=limit)
        head = room_log.heads(db.session, [f["talk_id"]]).get(f["talk_id"], 0)
        self.state.saw_head(f["talk_id"], head)
        return {"talk_id": f["talk_id"], "events": [history_item(e, staff=connection.staff) for e in entries],
                "head": head, "more": more}

    @acked
    def on_set_name(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"name": str})
        self._connection()
        name = chat.clean_display_name(f["name"])
        session["display_name"] = name
        return {"name": name}

    # -- chat ---------------------------------------------------------------------------
    @acked(writes_room=True)
    def on_send_message(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"body": str, "client_id": str})
        connection, talk, actor = self._writer()
        name = self._display_name()
        if not talk.chat_open and not actor.can_moderate(talk):
            raise HandlerError(p.E_CHAT_CLOSED, _("The chat is closed."))
        if not actor.can_moderate(talk):
            wait = moderation.slow_mode_wait(db.session, talk, actor.participant_id, utcnow())
            if wait:
                raise HandlerError(p.E_SLOW_MODE, _("Slow mode is on. You can write again in %(seconds)d seconds.",
                                                    seconds=wait))
        message, created = chat.post_message(
            db.session, talk, participant_id=actor.participant_id, display_name=name, body=f["body"],
            client_id=f["client_id"], max_length=self.settings().chat.message_max_length,
            author_role=actor.role_in(talk))
        if created:  # a retry of a stored message is no new writing (refused: rolled back, nothing kept)
            self._throttle_writes(actor)
        g.arena_author_has_ack = True  # the writer gets its entry in this ack, not as a push
        return {"message": message_payload(message, staff=connection.staff, mine=True, client_id=True),
                "seq": message.seq, "duplicate": not created}

    @acked
    def on_report(self, data: Any) -> dict[str, Any]:
        f = fields(data, {}, {"message_id": int, "question_id": int, "reason": str})
        connection = self._connection()
        self._require_cookie(connection)
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        self._throttle_writes(actor)
        report, created = moderation.report(db.session, talk, actor.participant_id, message_id=f.get("message_id"),
                                            question_id=f.get("question_id"), reason=f.get("reason"))
        if created:
            payload = {"id": report.id, "talk_id": talk.id, "message_id": report.message_id,
                       "question_id": report.question_id, "reason": report.reason}
            after_commit(lambda: self.socketio.emit(p.REPORTED, payload, to=p.staff_room(talk.id),
                                                    namespace=self.namespace))
        return {"reported": True}

    # -- questions ----------------------------------------------------------------------
    @acked(writes_room=True)
    def on_ask_question(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"body": str, "client_id": str}, {"anonymous": bool})
        connection, talk, actor = self._writer()
        name = self._display_name()
        if not talk.questions_open and not actor.can_moderate(talk):
            raise HandlerError(p.E_QUESTIONS_CLOSED, _("Questions are closed."))
        question, created = qa.ask(db.session, talk, actor, display_name=name, body=f["body"],
                                   client_id=f["client_id"], anonymous=f.get("anonymous", False),
                                   max_length=self.settings().chat.question_max_length)
        if created:  # a retry of a stored question is no new writing
            self._throttle_writes(actor)
        g.arena_author_has_ack = True  # the asker gets its entry in this ack, not as a push
        return {"question": question_payload(question, staff=connection.staff, mine=True, client_id=True),
                "seq": room_log.seq_of_question(db.session, question), "duplicate": not created}

    @acked
    def on_vote(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"question_id": int, "up": bool})
        _, talk, actor = self._writer()
        self._throttle(self.state.recent_votes, actor.participant_id, VOTES_PER_WINDOW,
                       self.settings().chat.flood_window_seconds)
        question = qa.get_question(db.session, talk.id, f["question_id"])
        if question.state is QuestionState.awaiting_approval and question.participant_id != actor.participant_id:
            raise HandlerError("question_not_found", _("That question does not exist."))
        count = qa.vote(db.session, question, actor.participant_id, f["up"])
        # Not broadcast one by one: the vote ticker sends counts in batches.
        after_commit(lambda: self.state.pending_votes[talk.id].add(question.id))
        return {"question_id": question.id, "voted": f["up"], "votes": count}

    @acked(writes_room=True)
    def on_set_question_state(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"question_id": int, "state": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        question = qa.get_question(db.session, talk.id, f["question_id"])
        qa.set_state(db.session, question, talk, actor, f["state"])
        return {"question": question_payload(question, staff=connection.staff)}

    # -- moderation ---------------------------------------------------------------------
    def _item(self, talk: Talk, kind: Any, item_id: Any) -> ChatMessage | Question:
        if kind == "message":
            return chat.get_message(db.session, talk.id, item_id)
        if kind == "question":
            return qa.get_question(db.session, talk.id, item_id)
        raise HandlerError(p.E_INVALID_PAYLOAD, _("The request was not understood."))

    def _hide_or_restore(self, data: Any, *, hide: bool) -> dict[str, Any]:
        f = fields(data, {"kind": str, "id": int}, {"reason": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        item = self._item(talk, f["kind"], f["id"])
        (moderation.hide if hide else moderation.restore)(db.session, item, talk, self._actor(connection),
                                                           f.get("reason"))
        return {"id": item.id}

    @acked(writes_room=True)
    def on_hide(self, data: Any) -> dict[str, Any]:
        return self._hide_or_restore(data, hide=True)

    @acked(writes_room=True)
    def on_restore(self, data: Any) -> dict[str, Any]:
        return self._hide_or_restore(data, hide=False)

    @acked
    def on_ban(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"participant_id": str, "whole_event": bool}, {"reason": str})
        connection = self._connection()
        talk = self._joined_talk(connection)
        actor = self._actor(connection)
        ban = moderation.ban(db.session, talk, actor, f["participant_id"], whole_event=f["whole_event"],
                             reason=f.get("reason"))
        # Enforced at once: writes are refused from now on (checked in each handler), and the
        # participant's open connections are told and closed, here and, within a second, on
        # every other process (the presence ticker reads new bans).
        banned = (ban.participant_id, ban.event_id, ban.talk_id)
        after_commit(lambda: self.close_banned(*banned))
        after_commit(lambda: self.send_bans(banned[1], banned[2]))
        return {"ban_id": ban.id, "ban": ban_payload(ban)}

    @acked
    def on_lift_ban(self, data: Any) -> dict[str, Any]:
        f = fields(data, {"ban_id": int})
        connection = self._connection()
        talk = self._joined_talk(connection)
        ban = moderation.lift_ban(db.session, talk, self._actor(connection), f["ban_id"])
        lifted = (ban.participant_id, ban.event_id, ban.talk_id)
        after_commit(lambda: self.ban_lifted(*lifted))
        return {"ban_id": ban.id}

    @acked(writes_room=True)
    def on_set_rules(self, data: Any) -> dict[str, Any]:
        f = fields(data, {}, {"chat_open": bool, "questions_open": bool, "questions_premoderated": bool,
                              "slow_mode_seconds": int})
        connection = self._connection()
        talk = self._joined_talk(connection)
        rules = moderation.set_room(db.session, talk, self._actor(connection), f)
        return {"rules": rules}

    # -- sending ------------------------------------------------------------------------
    def publish_room_events(self, entries: list[RoomEvent]) -> None:
        """Committed entries to each talk's participants and moderators, each rendered for
        them. Every process's clients get them through the message queue; a push lost on the
        way is found by the clients' gap check (docs/realtime.md)."""
        skip_sid = request.sid if g.get("arena_author_has_ack") else None
        for entry in entries:
            self.state.saw_head(entry.talk_id, entry.seq)
            if entry.kind in (room_log.MESSAGE, room_log.QUESTION):
                self.entry_counts.add(entry.kind)
            push = Push(render_entry(entry, staff=False), render_entry(entry, staff=True), skip_sid)
            if self.pushes.now_or_later(entry.talk_id, push):
                self.send_push(entry.talk_id, push)

    def send_push(self, talk_id: int, push: Push) -> None:
        for room, (event, data) in ((p.talk_room(talk_id), push.public), (p.staff_room(talk_id), push.staff)):
            self.socketio.emit(event, data, to=room, namespace=self.namespace, skip_sid=push.skip_sid)
        self.push_delays.observe(time.monotonic() - push.committed_at)

    def send_pushes(self, talk_id: int, pushes: list[Push]) -> None:
        """Entries that waited, in one frame per room (the writer gets its own again and drops it
        as a number it holds)."""
        if len(pushes) == 1:
            self.send_push(talk_id, pushes[0])
            return
        for room, side in ((p.talk_room(talk_id), "public"), (p.staff_room(talk_id), "staff")):
            events = [{"event": getattr(push, side)[0], "data": getattr(push, side)[1]} for push in pushes]
            self.socketio.emit(p.BATCH, {"talk_id": talk_id, "events": events}, to=room, namespace=self.namespace)
        now = time.monotonic()
        for push in pushes:
            self.push_delays.observe(now - push.committed_at)

    def forget_views_of_event(self, event_id: int) -> None:
        for talk_id, view in list(self.state.views.items()):
            if view.event_id == event_id:
                self.state.views.pop(talk_id, None)

    def send_bans(self, event_id: int, talk_id: int | None) -> None:
        """The bans in force, to the moderators of each talk a ban or its lifting concerns."""
        event = db.session.get(Event, event_id) if talk_id is None else None
        talk_ids = [talk_id] if talk_id is not None else [talk.id for talk in event.talks] if event else []
        for each in talk_ids:
            payload = {"talk_id": each,
                       "bans": [ban_payload(b) for b in moderation.active_bans(db.session, event_id, each)]}
            self.socketio.emit(p.BANS, payload, to=p.staff_room(each), namespace=self.namespace)

    def ban_lifted(self, participant_id: str, event_id: int, talk_id: int | None) -> None:
        """After a lift is committed (here, or in the admin): the views forget the ban, the
        moderators' lists follow, and the participant's open pages join again: the join says
        whether another ban still stops them (one for the whole event, say)."""
        self.forget_views_of_event(event_id)
        self.send_bans(event_id, talk_id)
        self.socketio.emit(p.UNBANNED, {"event_id": event_id, "talk_id": talk_id},
                           to=p.participant_room(participant_id), namespace=self.namespace)

    def close_banned(self, participant_id: str, event_id: int, talk_id: int | None,
                     banned_at: datetime | None = None) -> None:
        self.forget_views_of_event(event_id)
        for sid, connection in list(self.state.connections.items()):
            if connection.participant_id != participant_id or connection.talk_id is None:
                continue
            if banned_at is not None and connection.connected_at > banned_at:
                continue  # came after the ban: may read, cannot write
            talk = db.session.get(Talk, connection.talk_id)
            if talk is None or talk.event_id != event_id or (talk_id is not None and talk.id != talk_id):
                continue
            self.socketio.emit(p.BANNED, {"message": _("A moderator has stopped you from writing here.")},
                               to=sid, namespace=self.namespace)
            self.disconnect_sid(sid)
            self.forget(sid)
