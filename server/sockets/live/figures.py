"""What this process's live rooms did lately, kept cheaply for /metrics (server/metrics.py reads
it at scrape time): entries written per kind (in the last minute, and since start) and how long
committed entries took to go out to the room (the coalescing wait plus the emit).

Plain numbers only, no locks: one green thread writes at a time under eventlet and gevent;
under threading a figure may be off by one, never wrong for long.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 60
# Upper bounds of the push delay histogram, in seconds (push_interval_ms is 50 by default).
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class EntryCounts:
    """Entries this process committed, by kind ("message", "question"): in the last minute,
    from one-second buckets, and since the process started."""

    totals: dict[str, int] = field(default_factory=dict)
    _seconds: deque = field(default_factory=deque)  # (whole second, {kind: count})

    def add(self, kind: str, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        self.totals[kind] = self.totals.get(kind, 0) + 1
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append((second, {}))
            self._drop_before(second - WINDOW_SECONDS)
        counts = self._seconds[-1][1]
        counts[kind] = counts.get(kind, 0) + 1

    def last_minute(self, now: float | None = None) -> dict[str, int]:
        since = int(time.monotonic() if now is None else now) - WINDOW_SECONDS
        summed: dict[str, int] = {kind: 0 for kind in self.totals}
        for second, counts in list(self._seconds):
            if second > since:
                for kind, count in counts.items():
                    summed[kind] += count
        return summed

    def _drop_before(self, second: int) -> None:
        while self._seconds and self._seconds[0][0] <= second:
            self._seconds.popleft()


@dataclass
class PushDelays:
    """From an entry's commit to its frame handed to the room (this process), as a histogram."""

    buckets: tuple[float, ...] = DELAY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))  # the last is +Inf
    total: int = 0
    seconds: float = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.seconds += seconds
        for index, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[index] += 1
                return
        self.counts[-1] += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """[("0.005", n), ..., ("+Inf", total)], as Prometheus' histogram buckets count."""
        running, result = 0, []
        for bound, count in zip([*map(str, self.buckets), "+Inf"], self.counts, strict=True):
            running += count
            result.append((bound, running))
        return result
