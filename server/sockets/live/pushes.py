"""Entries of the room log on their way to a talk's clients, coalesced when they come fast.

Sending one frame to each of thousands of connections costs the same for one entry as for a
few, so when entries of one talk come closer together than `chat.push_interval_ms`, the
later ones wait for the next tick and go out together as one `batch` frame. The first entry
after a quiet moment goes out at once: a quiet room pays no delay, a busy one pays at most one
interval and saves a frame per connection for every entry that shares one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

Rendered = tuple[str, dict[str, Any]]


@dataclass
class Push:
    public: Rendered
    staff: Rendered
    skip_sid: str | None  # the writer, who has the entry in its ack
    committed_at: float = field(default_factory=time.monotonic)  # made just after the commit (/metrics)


@dataclass
class Pushes:
    interval: float  # seconds; 0: every entry goes out at once, alone
    waiting: dict[int, list[Push]] = field(default_factory=dict)
    sent_at: dict[int, float] = field(default_factory=dict)

    def now_or_later(self, talk_id: int, push: Push) -> bool:
        """True: send this one now; False: it waits for the next tick (take)."""
        if self.interval <= 0:
            return True
        now = time.monotonic()
        if not self.waiting.get(talk_id) and now - self.sent_at.get(talk_id, float("-inf")) >= self.interval:
            self.sent_at[talk_id] = now
            return True
        self.waiting.setdefault(talk_id, []).append(push)
        return False

    def oldest_wait(self) -> float:
        """Seconds the longest-waiting entry has waited for its tick (0: none waits)."""
        oldest = min((pushes[0].committed_at for pushes in list(self.waiting.values()) if pushes), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def take(self) -> dict[int, list[Push]]:
        taken, self.waiting = self.waiting, {}
        now = time.monotonic()
        for talk_id in taken:
            self.sent_at[talk_id] = now
        return taken
