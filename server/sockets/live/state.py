"""What one process holds in memory for its live rooms: its connections, flood windows, the
votes waiting to go out, viewer counts, and a view of each talk that makes joining cheap.

The database is the truth; this is a cache of it fed by the same events. A talk's view is
reloaded when the room log moves (this process committed an entry, or the presence ticker read
a newer head from the database) or when it is older than VIEW_MAX_AGE, so thousands of joins in
a storm cost one load, not a query each.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.db import utcnow

VIEW_MAX_AGE = 1.0  # seconds: the stream and vote counts in a join may be this old (pushes follow)
PARTICIPATIONS_REMEMBERED = 100_000  # (talk, participant) pairs known to be recorded, per process


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
    # A ban or a closed account ends the connections open when it happened; a later one is
    # let in to read (and refused when it writes).
    connected_at: datetime = field(default_factory=utcnow)


@dataclass
class TalkView:
    """A talk as participants see it on joining, read once and shared by every join."""

    talk_id: int
    event_id: int
    published: bool
    rules: dict[str, Any]
    head: int                       # the room log's number this view reflects
    messages: list[dict[str, Any]]  # the latest messages, public payloads, oldest first
    questions: list[dict[str, Any]] # public questions
    question_ids: list[int]
    awaiting: bool                  # some question waits for approval (the asker sees their own)
    banned: frozenset[str]          # participants banned in this talk (or its whole event)
    stream: dict[str, Any] | None
    live: bool = False              # Talk.is_live when read: the page's LIVE badge (pushes follow)
    loaded_at: float = field(default_factory=time.monotonic)

    def fresh(self, known_head: int) -> bool:
        return self.head >= known_head and time.monotonic() - self.loaded_at < VIEW_MAX_AGE


@dataclass
class RoomState:
    """What one process knows of its own connections; the database knows the rest."""

    connections: dict[str, Connection] = field(default_factory=dict)
    recent_writes: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    recent_votes: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    pending_votes: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    # Sent to this process's clients last: talk -> (viewers, head).
    last_presence: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Each talk's live status as last sent to this process's clients.
    last_live: dict[int, bool] = field(default_factory=dict)
    # Kept as connections join and leave: counting on every join made a reconnect storm of
    # thousands quadratic.
    viewers_in: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # The highest number of each talk's log this process knows to be committed.
    heads: dict[int, int] = field(default_factory=dict)
    views: dict[int, TalkView] = field(default_factory=dict)
    # Participations for the activity report, written in one batch by the presence ticker.
    unrecorded: dict[tuple[int, str], int] = field(default_factory=dict)  # (talk, participant) -> event
    recorded: set[tuple[int, str]] = field(default_factory=set)

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

    def saw_head(self, talk_id: int, head: int) -> None:
        if head > self.heads.get(talk_id, 0):
            self.heads[talk_id] = head

    def view(self, talk_id: int) -> TalkView | None:
        view = self.views.get(talk_id)
        return view if view is not None and view.fresh(self.heads.get(talk_id, 0)) else None

    def note_participation(self, talk_id: int, event_id: int, participant_id: str) -> None:
        key = (talk_id, participant_id)
        if key not in self.recorded:
            self.unrecorded[key] = event_id

    def take_participations(self) -> dict[tuple[int, str], int]:
        taken, self.unrecorded = self.unrecorded, {}
        return taken

    def participations_recorded(self, keys: list[tuple[int, str]]) -> None:
        if len(self.recorded) + len(keys) > PARTICIPATIONS_REMEMBERED:
            self.recorded.clear()
        self.recorded.update(keys)
