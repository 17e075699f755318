"""Going live against a real server process (eventlet, real ffmpeg), with python-socketio
clients holding the cookies a browser would: the role is checked on the wire, a second
publisher is refused, a speaker who does not come back ends the stream with the recording
kept, and a crash of ffmpeg or of the whole server keeps what was recorded, playable.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.media import hls
from server.models import LiveStream
from server.sockets import protocol as p
from tests.conftest import start_live_server
from tests.golive_media import pieces, probe, recorder_output
from tests.live.conftest import SLUG, Arena, Browser
from tests.waiting import wait_until

H264 = "video/x-matroska;codecs=avc1,opus"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> bytes:
    return recorder_output(tmp_path_factory.mktemp("media") / "input.mkv", seconds=6).read_bytes()


@pytest.fixture(scope="module")
def arena(tmp_path_factory) -> Iterator[Arena]:
    """A server with the default window (30 s) for a speaker who drops to come back: the
    tests that go on after a pause (a command-line call, a reconnection) are not racing it."""
    server = start_live_server(tmp_path_factory.mktemp("golive-server"))
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


@pytest.fixture(scope="module")
def hasty_arena(tmp_path_factory) -> Iterator[Arena]:
    """A speaker who drops, or goes silent, has 3 s here to come back: for the tests that
    wait for the window to run out."""
    server = start_live_server(tmp_path_factory.mktemp("golive-hasty"),
                               extra_env={"ARENA_GOLIVE__RECONNECT_SECONDS": "3"})
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


def source_playlist(arena: Arena, row: LiveStream) -> Path:
    """The source rendition's playlist: the one a recording's end mark is checked on."""
    return hls.source_playlist(recordings_dir(arena) / row.directory, row.playlist_name == hls.MASTER)


class Speaker:
    """A browser on the studio page: the cookies of its sign-in link and a /studio socket."""

    def __init__(self, arena: Arena, talk_slug: str, *, sign_in: str | None = None,
                 http: requests.Session | None = None) -> None:
        self.arena = arena
        self.http = http or requests.Session()
        if sign_in:
            assert self.http.get(sign_in, timeout=10).status_code == 200
        self.http.get(arena.page(talk_slug), timeout=10)
        self.talk_id = arena.talk_id(talk_slug)
        self.states: list[dict[str, Any]] = []
        self.sio = socketio.Client(reconnection=False, request_timeout=10)
        self.sio.on(p.STREAM_STATE, self._state, namespace=p.STUDIO_NAMESPACE)
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self.sio.connect(arena.url, namespaces=[p.STUDIO_NAMESPACE], transports=["websocket"],
                         headers={"Cookie": cookies}, wait_timeout=10)
        self.stream_id: int | None = None
        self.next_seq = 0

    def _state(self, data: dict[str, Any]) -> None:
        self.states.append(data)

    def call(self, event: str, data: Any) -> dict[str, Any]:
        return self.sio.call(event, data, namespace=p.STUDIO_NAMESPACE, timeout=10)

    def start(self) -> dict[str, Any]:
        ack = self.call(p.START, {"talk_id": self.talk_id, "mime_type": H264})
        if ack["ok"]:
            self.stream_id = ack["stream_id"]
        return ack

    def send(self, data: bytes, pace: float = 0.0) -> None:
        for piece in pieces(data):
            ack = self.call(p.CHUNK, {"stream_id": self.stream_id, "seq": self.next_seq, "data": piece})
            assert ack["ok"], ack
            self.next_seq = ack["next_seq"]
            time.sleep(pace)

    def wait_for_state(self, state: str, seconds: float = 60) -> dict[str, Any]:
        return wait_until(lambda: next((s for s in self.states if s["state"] == state), None), timeout=seconds,
                          message=lambda: f"the studio was never told {state!r}; it was told {self.states}")

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def new_talk(arena: Arena) -> str:
    return arena.new_talk()[1]


def speaker_of(arena: Arena, slug: str, **kwargs: Any) -> Speaker:
    grant = arena.grant("speaker", "Mattias Jansson", event=SLUG, talk=slug)
    return Speaker(arena, slug, sign_in=grant.link, **kwargs)


def stream_row(arena: Arena, stream_id: int) -> LiveStream:
    with Session(arena.engine, expire_on_commit=False) as session:
        return session.get(LiveStream, stream_id)


def wait_for_row(arena: Arena, stream_id: int, predicate, seconds: float = 60) -> LiveStream:
    def there() -> LiveStream | None:
        row = stream_row(arena, stream_id)
        return row if predicate(row) else None

    return wait_until(there, timeout=seconds, interval=0.25,
                      message=lambda: f"stream {stream_id}'s row never got there: {vars(stream_row(arena, stream_id))}")


def recordings_dir(arena: Arena) -> Path:
    return Path(arena.server.env["ARENA_MEDIA__RECORDINGS_DIR"])


def test_publishing_without_the_role_is_refused_on_the_wire(arena):
    slug = new_talk(arena)
    participant = Speaker(arena, slug)  # the talk page's cookie, no role
    moderator = arena.grant("moderator", "Moa", event=SLUG)
    moderating = Speaker(arena, slug, sign_in=moderator.link)

    refused = [participant.start(), moderating.start()]

    assert [ack["error"] for ack in refused] == ["forbidden", "forbidden"]
    with Session(arena.engine) as session:
        assert session.scalars(select(LiveStream).where(LiveStream.talk_id == participant.talk_id)).all() == []
    participant.close()
    moderating.close()


def test_a_withdrawn_link_stops_the_pieces(arena, media):
    slug = new_talk(arena)
    grant = arena.grant("speaker", "Mattias Jansson", event=SLUG, talk=slug)
    speaker = Speaker(arena, slug, sign_in=grant.link)
    speaker.start()
    speaker.send(media[:30_000])

    arena.revoke(grant.id)  # a command-line call: seconds on a busy machine
    ack = speaker.call(p.CHUNK, {"stream_id": speaker.stream_id, "seq": speaker.next_seq, "data": media[30_000:60_000]})

    # Refused by the role check on the piece itself, or, when the studio's ticker (once a
    # second) has already ended the stream, because it no longer runs.
    assert ack["ok"] is False and ack["error"] in {p.E_FORBIDDEN, p.E_NOT_PUBLISHING}, ack
    told = speaker.wait_for_state("ended")  # and the stream ends, its recording kept
    assert told["reason"] == "role_withdrawn"
    speaker.close()


def test_a_second_publisher_is_refused_on_the_wire(arena, media):
    slug = new_talk(arena)
    first = speaker_of(arena, slug)
    organiser = arena.grant("organiser", "Olga")
    second = Speaker(arena, slug, sign_in=organiser.link)
    assert first.start()["ok"]

    ack = second.start()

    assert ack["ok"] is False and ack["error"] == p.E_ALREADY_LIVE and ack["message"]
    first.send(media)
    first.call(p.END, {"stream_id": first.stream_id})
    first.wait_for_state("ended")
    first.close()
    second.close()


def test_a_speaker_who_does_not_come_back_ends_the_stream_and_keeps_the_recording(hasty_arena, media):
    arena = hasty_arena
    slug = new_talk(arena)
    viewer = Browser(arena, page=arena.page(slug)).connect()
    viewer.sio.call(p.JOIN, {"talk_id": arena.talk_id(slug)}, namespace=p.LIVE_NAMESPACE, timeout=10)
    speaker = speaker_of(arena, slug)
    speaker.start()
    speaker.send(media, pace=0.05)
    stream_id = speaker.stream_id

    speaker.close()  # and never returns
    row = wait_for_row(arena, stream_id, lambda r: r.archive_path is not None)

    assert row.end_reason == "connection_lost"
    # The row is written before the viewers are told: wait for the news.
    def told_the_end() -> list[str] | None:
        states = [v["state"] for v in viewer.events(p.LIVE_STATE)]
        return states if states[-1:] == ["ended"] else None

    states = wait_until(told_the_end, message=lambda: f"the viewer was told {viewer.events(p.LIVE_STATE)}")
    assert "reconnecting" in states
    assert float(probe(recordings_dir(arena) / row.archive_path)["format"]["duration"]) == pytest.approx(6, abs=0.5)
    viewer.disconnect()


def test_a_speaker_who_comes_back_continues_the_same_stream(arena, media):
    slug = new_talk(arena)
    speaker = speaker_of(arena, slug)
    speaker.start()
    half = len(media) // 2
    speaker.send(media[:half])
    speaker.close()

    again = Speaker(arena, slug, http=speaker.http)  # the same browser, a new connection
    resumed = again.call(p.RESUME, {"stream_id": speaker.stream_id})
    again.stream_id, again.next_seq = speaker.stream_id, resumed["next_seq"]
    again.send(media[again.next_seq * 30_000:])
    again.call(p.END, {"stream_id": again.stream_id})
    final = again.wait_for_state("ended")

    assert resumed["ok"] and resumed["next_seq"] == speaker.next_seq
    row = stream_row(arena, speaker.stream_id)
    assert final["reason"] == "ended" and row.end_reason == "ended"
    assert float(probe(recordings_dir(arena) / row.archive_path)["format"]["duration"]) == pytest.approx(6, abs=0.5)
    again.close()


def test_another_browser_cannot_take_over_a_dropped_stream(arena, media):
    slug = new_talk(arena)
    speaker = speaker_of(arena, slug)
    speaker.start()
    speaker.send(media[:30_000])
    speaker.close()
    organiser = arena.grant("organiser", "Olga")
    other = Speaker(arena, slug, sign_in=organiser.link)

    ack = other.call(p.RESUME, {"stream_id": speaker.stream_id})

    assert ack["ok"] is False and ack["error"] == p.E_ALREADY_LIVE
    other.close()


def _children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and comm == name:
            found.append(int(entry.name))
    return found


def test_an_ffmpeg_crash_keeps_the_recording_and_tells_the_speaker(arena, media):
    slug = new_talk(arena)
    speaker = speaker_of(arena, slug)
    speaker.start()
    speaker.send(media, pace=0.05)
    speaker.wait_for_state("live")
    row = stream_row(arena, speaker.stream_id)
    ffmpegs = _children_named(arena.server.process.pid, "ffmpeg")
    assert ffmpegs

    for pid in ffmpegs:
        os.kill(pid, signal.SIGKILL)
    told = speaker.wait_for_state("ended")

    assert told["reason"] == "ffmpeg_failed" and told["recording"] is True
    assert "#EXT-X-ENDLIST" in source_playlist(arena, row).read_text()
    final = stream_row(arena, speaker.stream_id)
    assert float(probe(recordings_dir(arena) / final.archive_path)["format"]["duration"]) > 3
    speaker.close()


def test_a_server_crash_keeps_the_recording_and_the_next_process_closes_it(tmp_path, media):
    first = start_live_server(tmp_path)
    arena = Arena(first)
    slug = new_talk(arena)
    speaker = speaker_of(arena, slug)
    speaker.start()
    speaker.send(media, pace=0.05)
    speaker.wait_for_state("live")
    stream_id = speaker.stream_id

    first.process.kill()  # no goodbye: ffmpeg sees its input end and closes the playlist itself
    first.process.wait()
    second = start_live_server(tmp_path, prepare=False)
    try:
        row = wait_for_row(arena, stream_id, lambda r: r.archive_path is not None, seconds=90)
    finally:
        second.stop()
        arena.close()

    assert row.end_reason == "server_stopped" and row.active_talk_id is None
    playlist = source_playlist(arena, row).read_text()
    assert "#EXT-X-ENDLIST" in playlist
    assert float(probe(recordings_dir(arena) / row.archive_path)["format"]["duration"]) == pytest.approx(6, abs=0.5)


def test_a_connected_but_silent_studio_ends_the_stream(hasty_arena, media):
    arena = hasty_arena
    slug = new_talk(arena)
    speaker = speaker_of(arena, slug)
    speaker.start()
    speaker.send(media[:60_000])  # then the browser's recorder stops, the socket stays open

    told = speaker.wait_for_state("ended")

    assert told["reason"] == "connection_lost"
    assert speaker.sio.connected
    speaker.close()
