"""The live room's background jobs, each small and on its own clock:

- votes: changed vote counts go out at most 4 times a second per talk;
- presence: this process's viewer counts and first visits are written in one go, and each talk's
  count and log head are sent to this process's clients when either changed (a client that
  sees a head above what it holds fetches the rest: nothing lost in the queue stays lost), and
  each talk's live status when it changed;
- closing: connections of people banned, of withdrawn role links and of closed accounts end
  within about a second, on every process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from server.db import db, utcnow
from server.models import Question
from server.services import activity, golive, moderation, presence, room_log
from server.services.accounts import disabled_since
from server.services.roles import revoked_since
from server.sockets import protocol as p

VOTE_FLUSH_SECONDS = 0.25  # vote counts go out at most 4 times a second per talk
PRESENCE_SECONDS = 1.0     # viewer counts and heads at most once a second
CLOSING_SECONDS = 1.0
PRESENCE_GRACE = timedelta(seconds=2)  # overlap between checks for new bans and revocations


class LiveTickers:
    """Mixed into LiveNamespace (namespace.py), whose state and sending these jobs use."""

    def tickers(self) -> list[Callable[[], None]]:
        self._checked_since = utcnow()
        jobs = [self.every(VOTE_FLUSH_SECONDS, self.send_votes, "vote"),
                self.every(PRESENCE_SECONDS, self.send_presence, "presence"),
                self.every(CLOSING_SECONDS, self.close_withdrawn, "closing")]
        interval = self.settings().chat.push_interval_ms / 1000
        if interval > 0:
            self.pushes.interval = interval
            jobs.append(self.every(interval, self.send_waiting_pushes, "pushes"))
        return jobs

    def send_waiting_pushes(self) -> None:
        for talk_id, pushes in self.pushes.take().items():
            self.send_pushes(talk_id, pushes)

    def send_votes(self) -> None:
        if not self.state.pending_votes:
            return
        pending, self.state.pending_votes = self.state.pending_votes, defaultdict(set)
        for talk_id, question_ids in pending.items():
            rows = db.session.execute(select(Question.id, Question.vote_count).where(Question.id.in_(question_ids)))
            payload = {"talk_id": talk_id, "counts": {str(qid): votes for qid, votes in rows}}
            self.socketio.emit(p.VOTES, payload, to=p.talk_room(talk_id), namespace=self.namespace)
            self.socketio.emit(p.VOTES, payload, to=p.staff_room(talk_id), namespace=self.namespace)

    def send_presence(self) -> None:
        now = utcnow()
        local = self.state.viewers_by_talk()
        seen = self.state.take_participations()
        try:
            presence.record(db.session, self.process_id, local, now)
            # The history for the activity report: one statement, whatever the number of talks.
            activity.record_viewers(db.session, local, now)
            activity.record_participations(db.session, seen, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            for (talk_id, participant_id), event_id in seen.items():  # again next second
                self.state.note_participation(talk_id, event_id, participant_id)
            raise
        self.state.participations_recorded(list(seen))
        totals = presence.viewer_counts(db.session, list(local), now)
        heads = room_log.heads(db.session, list(local))
        for talk_id, viewers in totals.items():
            head = heads.get(talk_id, 0)
            self.state.saw_head(talk_id, head)
            if self.state.last_presence.get(talk_id) != (viewers, head):
                self.state.last_presence[talk_id] = (viewers, head)
                payload = {"talk_id": talk_id, "viewers": viewers, "seq": head}
                # Every process sends its own clients the same figures: no queue.
                self.emit_local(p.PRESENCE, payload, p.talk_room(talk_id))
                self.emit_local(p.PRESENCE, payload, p.staff_room(talk_id))
        self.send_live_status(list(local), now)

    def send_live_status(self, talk_ids: list[int], now) -> None:
        """A talk page's LIVE badge follows the talk without a reload: whoever changed it (an
        organiser's "Ended" in the admin, the studio, the programme's clock), every process
        reads it each second and tells its own clients when it changed."""
        for talk_id, live in golive.live_now(db.session, talk_ids, now).items():
            if self.state.last_live.get(talk_id) != live:
                self.state.last_live[talk_id] = live
                payload = {"talk_id": talk_id, "live": live}
                self.emit_local(p.TALK_LIVE, payload, p.talk_room(talk_id))
                self.emit_local(p.TALK_LIVE, payload, p.staff_room(talk_id))

    def close_withdrawn(self) -> None:
        now = utcnow()
        since = self._checked_since - PRESENCE_GRACE
        for ban in moderation.bans_since(db.session, since):
            self.close_banned(ban.participant_id, ban.event_id, ban.talk_id, ban.created_at)
        # A connection made after the withdrawal carries no role (on_connect checks): not closed.
        revoked = set(revoked_since(db.session, since))
        closed = set(disabled_since(db.session, since))
        for sid, connection in list(self.state.connections.items()):
            if connection.grant_id in revoked or connection.organiser_id in closed:
                self.disconnect_sid(sid)
                self.forget(sid)
        self._checked_since = now
