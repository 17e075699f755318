"""Who is told when a live stream goes on air and when it ends: simulcast today.

The studio (server/sockets/studio.py) runs browser and RTMP streams alike and calls `on_air`
once the first segment exists and `ended` when the stream is over, from a background task
with an app context. Listeners are registered at start-up on
`app.extensions["arena.stream_listeners"]`. A listener must return quickly (start its own
work in the background) and its failure never disturbs the stream, its HLS or its recording.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class StreamListener(Protocol):
    def on_air(self, stream_id: int, talk_id: int, source_url: str) -> None:
        """`source_url`: what to read the stream's source from, without re-encoding: the
        RTMP URL of the stream inside nginx (RTMP streams), or the path of the source
        rendition's HLS playlist (browser streams)."""

    def ended(self, stream_id: int) -> None:
        ...


class StreamListeners:
    def __init__(self) -> None:
        self._listeners: list[StreamListener] = []

    def register(self, listener: StreamListener) -> None:
        self._listeners.append(listener)

    def on_air(self, stream_id: int, talk_id: int, source_url: str) -> None:
        for listener in self._listeners:
            try:
                listener.on_air(stream_id, talk_id, source_url)
            except Exception:
                log.exception("a stream listener failed on stream %s going on air", stream_id)

    def ended(self, stream_id: int) -> None:
        for listener in self._listeners:
            try:
                listener.ended(stream_id)
            except Exception:
                log.exception("a stream listener failed on stream %s ending", stream_id)
