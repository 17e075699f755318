"""/metrics in Prometheus' text format: Arena's figures, read from live state at scrape time.

One registry per app (never prometheus_client's global one) with collectors that look at what
the process already holds: the Socket.IO server's rooms, the live room's state
(server/sockets/live), the studio's streams (server/sockets/studio.py), and two small queries
(SELECT 1, import jobs by state). Nothing is counted twice and no figure can drift from the
state it describes. docs/operations.md lists every metric.

A scrape is cheap and never raises: each part runs on its own; a part that fails is left out
and says so in arena_metrics_collector_up{collector=...} 0 (the database and Redis parts in
their own *_up gauges too), and is logged at most once a minute.

Per-process figures carry no process label: Prometheus scrapes each process at its own port
and adds `instance`; sum() over instances gives the deployment. The database's figures
(import jobs, arena_database_up) are the same in every process: use max(), not sum().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select, text

from server.db import db
from server.models import ImportJob, JobState

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAILURE_LOG_SECONDS = 60.0
INGEST_RATE_WINDOW_SECONDS = 10.0  # as the studio's own rate checks (server/sockets/studio.py)


def registry_for(app: Flask) -> CollectorRegistry:
    """The app's registry, made on first use."""
    registry = app.extensions.get("arena.metrics")
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ArenaCollector(app))
        registry.register(ProcessCollector(registry=None))  # CPU, memory, open files of this process
        app.extensions["arena.metrics"] = registry
    return registry


def scrape(app: Flask) -> bytes:
    return generate_latest(registry_for(app))


class ArenaCollector:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._logged_at: dict[str, float] = {}

    def describe(self) -> Iterable[Metric]:
        return []  # collect() reads live state: nothing to run at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("arena_metrics_collector_up",
                               "1 if this part of the scrape worked, 0 if it failed (its figures are left out)",
                               labels=["collector"])
        parts: list[tuple[str, Callable[[], list[Metric]]]] = [
            ("sockets", self._sockets), ("live", self._live), ("streams", self._streams),
            ("database", self._database), ("imports", self._imports), ("redis", self._redis),
        ]
        yield self._process()
        for name, part in parts:
            try:
                metrics = part()
            except Exception as error:  # noqa: BLE001 - a scrape never fails for one part
                self._log_failure(name, error)
                up.add_metric([name], 0)
                if name in ("database", "redis"):
                    yield _gauge(f"arena_{name}_up", f"1 if the {name} answered this scrape, else 0", 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up

    def _log_failure(self, name: str, error: Exception) -> None:
        now = time.monotonic()
        if now - self._logged_at.get(name, float("-inf")) >= FAILURE_LOG_SECONDS:
            self._logged_at[name] = now
            log.warning("metrics: the %s figures could not be read", name, exc_info=error)

    # -- the parts --------------------------------------------------------------------------
    def _process(self) -> Metric:
        live = self.app.extensions.get("arena.live")
        info = GaugeMetricFamily("arena_process_info", "This process: its id in the live rooms' presence "
                                 "records and the audit, and its async mode", labels=["process_id", "async_mode"])
        info.add_metric([getattr(live, "process_id", ""), self.app.extensions["arena.settings"].server.async_mode], 1)
        return info

    def _sockets(self) -> list[Metric]:
        server = self.app.extensions["socketio"].server
        rooms = server.manager.rooms
        connections = GaugeMetricFamily("arena_socketio_connections",
                                        "Socket.IO connections to this process, by namespace", labels=["namespace"])
        namespaces = set(server.namespace_handlers) | set(rooms)
        for namespace in sorted(namespaces):
            connections.add_metric([namespace], len(rooms.get(namespace, {}).get(None, ())))
        return [connections]

    def _live(self) -> list[Metric]:
        live = self.app.extensions["arena.live"]
        viewers = live.state.viewers_by_talk()
        rooms = _gauge("arena_live_rooms", "Talks with at least one live-room connection to this process",
                       len(viewers))
        per_room = GaugeMetricFamily("arena_live_room_connections",
                                     "Live-room connections to this process, by talk", labels=["talk_id"])
        for talk_id, count in sorted(viewers.items()):
            per_room.add_metric([str(talk_id)], count)
        per_minute = GaugeMetricFamily("arena_live_entries_per_minute",
                                       "Chat messages and questions this process committed in the last 60 seconds",
                                       labels=["kind"])
        totals = CounterMetricFamily("arena_live_entries",
                                     "Chat messages and questions this process committed since it started",
                                     labels=["kind"])
        last_minute = live.entry_counts.last_minute()
        for kind in ("message", "question"):
            per_minute.add_metric([kind], last_minute.get(kind, 0))
            totals.add_metric([kind], live.entry_counts.totals.get(kind, 0))
        waiting = _gauge("arena_fanout_oldest_wait_seconds",
                         "How long the oldest committed room-log entry has waited to go out (0: none waits)",
                         live.pushes.oldest_wait())
        delays = live.push_delays
        histogram = HistogramMetricFamily(
            "arena_fanout_delay_seconds",
            "From a room-log entry's commit to its frame handed to the room (or the message queue)",
            buckets=delays.cumulative(), sum_value=delays.seconds)
        return [rooms, per_room, per_minute, totals, waiting, histogram]

    def _streams(self) -> list[Metric]:
        studio = self.app.extensions["arena.studio"]
        now = time.monotonic()
        browser = list(studio.publishers.values())
        rtmp = list(studio.rtmp.values())
        streams = GaugeMetricFamily("arena_live_streams", "Live streams this process runs, by source",
                                    labels=["source"])
        streams.add_metric(["browser"], len(browser))
        streams.add_metric(["rtmp"], len(rtmp))
        bitrate = GaugeMetricFamily("arena_ingest_bits_per_second",
                                    "Video arriving at this process's live streams, by source (10-second average)",
                                    labels=["source"])
        bitrate.add_metric(["browser"], sum(_pieces_rate(p.recent, now) for p in browser))
        bitrate.add_metric(["rtmp"], sum(_counter_rate(p.rates) for p in rtmp))
        return [streams, bitrate]

    def _database(self) -> list[Metric]:
        started = time.perf_counter()
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        answered = time.perf_counter() - started
        return [_gauge("arena_database_up", "1 if the database answered this scrape, else 0", 1),
                _gauge("arena_database_ping_seconds", "How long connecting and SELECT 1 took in this scrape",
                       answered)]

    def _imports(self) -> list[Metric]:
        with db.engine.connect() as connection:
            rows = connection.execute(select(ImportJob.state, func.count()).group_by(ImportJob.state)).all()
        jobs = GaugeMetricFamily("arena_recording_import_jobs", "Recording import jobs in the database, by state",
                                 labels=["state"])
        counted = {(state.value if isinstance(state, JobState) else str(state)): count for state, count in rows}
        for state in JobState:
            jobs.add_metric([state.value], counted.get(state.value, 0))
        return [jobs]

    def _redis(self) -> list[Metric]:
        settings = self.app.extensions["arena.settings"]
        configured = _gauge("arena_redis_configured", "1 if chat.message_queue names a Redis, else 0",
                            1 if settings.chat.message_queue else 0)
        if not settings.chat.message_queue:
            return [configured]
        reachable = getattr(self.app.extensions["socketio"].server.manager, "reachable", None)
        up = 1 if reachable is not None and reachable() else 0
        return [configured, _gauge("arena_redis_up", "1 if the message queue (Redis) answered this scrape, else 0",
                                   up)]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _pieces_rate(recent: Any, now: float) -> float:
    """bit/s from (time, bytes) of the pieces that arrived in the window."""
    sent = sum(size for at, size in list(recent) if at > now - INGEST_RATE_WINDOW_SECONDS)
    return sent * 8 / INGEST_RATE_WINDOW_SECONDS


def _counter_rate(rates: Any) -> float:
    """bit/s from (time, bytes so far) samples of nginx-rtmp's counter (0 until two are seen)."""
    samples = list(rates)
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return 0.0
    (first_at, first), (last_at, last) = samples[0], samples[-1]
    return max(0, last - first) * 8 / (last_at - first_at)
