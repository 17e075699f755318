"""An RTMP stream's life against a real server: real ffmpeg publishes a test pattern
with a tone to the nginx-rtmp that `python -m server serve` started, with a key made by the
stream-key service. The talk goes LIVE and the API says so; an encoder that stops and does
not come back ends the stream with a recording of what it sent; one that comes back
within the wait continues the same stream; a second publisher (RTMP, or the browser studio)
is refused; a revoked key, a picture too large, too high a bitrate, a publisher that sends
nothing or garbage end cleanly and never leave the talk LIVE; a non-H.264 picture is
transcoded and plays.

One server for the module, with a short wait (golive.reconnect_seconds) and small caps, so
the tests stay short: streams of a few seconds at 320x240.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.media import hls, rtmp_ingest
from server.models import AuditEntry, LiveStream, Role, Talk
from server.services import golive, stream_keys
from server.services.recordings import edits as recording_edits
from server.services.roles import Actor
from server.sockets import protocol as p
from tests.conftest import start_live_server
from tests.golive_media import FFMPEG, probe
from tests.live.conftest import SLUG, Arena
from tests.test_golive_server import recordings_dir, speaker_of
from tests.waiting import wait_until

RECONNECT_SECONDS = 5
ORGANISER = Actor(participant_id="test-organiser", role=Role.organiser, staff_name="Karin Kommunikatör")


@pytest.fixture(scope="module")
def arena(tmp_path_factory) -> Iterator[Arena]:
    server = start_live_server(tmp_path_factory.mktemp("rtmp-stream"), extra_env={
        "ARENA_GOLIVE__RECONNECT_SECONDS": str(RECONNECT_SECONDS),
        "ARENA_INGEST__NO_DATA_SECONDS": "3",
        "ARENA_INGEST__MAX_WIDTH": "640",
        "ARENA_INGEST__MAX_HEIGHT": "360",
        "ARENA_INGEST__MAX_KBPS": "3000",
    })
    arena = Arena(server)
    wait_until(lambda: rtmp_listening(arena), timeout=60, message=lambda: f"nginx-rtmp never listened: {server.log()}")
    yield arena
    arena.close()
    server.stop()


def rtmp_port(arena: Arena) -> int:
    return int(arena.server.env["ARENA_INGEST__RTMP_PORT"])


def rtmp_listening(arena: Arena) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", rtmp_port(arena)), timeout=1):
            return True
    except OSError:
        return False


def new_key(arena: Arena, talk_id: int) -> str:
    with Session(arena.engine, expire_on_commit=False) as session:
        key = stream_keys.make(session, session.get(Talk, talk_id), ORGANISER, utcnow())
        session.commit()
        return key


def revoke_key(arena: Arena, talk_id: int) -> None:
    with Session(arena.engine) as session:
        stream_keys.revoke(session, session.get(Talk, talk_id), ORGANISER, utcnow())
        session.commit()


class Encoder:
    """An encoder in the venue: ffmpeg sending a test pattern and a tone over RTMP, in real time."""

    def __init__(self, arena: Arena, key: str, *, size: str = "320x240", rate: int = 25,
                 video: list[str] | None = None, audio: bool = True, picture: bool = True,
                 seconds: float | None = None, log_dir: Path | None = None, port: int | None = None) -> None:
        inputs, maps = [], []
        if picture:
            inputs += ["-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
            maps += ["-map", "0:v"]
        if audio:
            inputs += ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
            maps += ["-map", f"{1 if picture else 0}:a"]
        codecs = []
        if picture:
            codecs += video or ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                                "-pix_fmt", "yuv420p", "-g", str(rate), "-b:v", "600k"]
        if audio:
            codecs += ["-c:a", "aac", "-b:a", "96k"]
        self.url = f"rtmp://127.0.0.1:{port or rtmp_port(arena)}/live/{key}"
        self.log = (log_dir or Path(arena.server.log_path).parent) / f"encoder-{time.monotonic_ns()}.log"
        self.progress = self.log.with_suffix(".progress")  # what ffmpeg says it has sent
        self.process = subprocess.Popen(
            [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "warning", "-progress", str(self.progress),
             *inputs, *maps, *codecs,
             *(["-t", str(seconds)] if seconds else []), "-f", "flv", self.url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        self.started = time.monotonic()
        self.stopped: float | None = None

    def stop(self) -> float:
        """Stop sending (as OBS's Stop Streaming): how long it sent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stopped = self.stopped or time.monotonic()
        return self.stopped - self.started

    def sent_seconds(self) -> float:
        """How much of the stream the encoder sent, by its own count (ffmpeg's out_time_us)."""
        times = [int(line.split("=", 1)[1]) for line in self.progress.read_text().splitlines()
                 if line.startswith("out_time_us=") and line.split("=", 1)[1].strip().isdigit()]
        return max(times, default=0) / 1e6

    def refused(self) -> bool:
        """The encoder ended by itself (nginx refused or dropped it)."""
        return self.process.poll() is not None


@pytest.fixture
def encoders() -> Iterator[list[Encoder]]:
    running: list[Encoder] = []
    yield running
    for encoder in running:
        encoder.stop()


def streams_of(arena: Arena, talk_id: int) -> list[LiveStream]:
    with Session(arena.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)
                                    .order_by(LiveStream.id)))


def only_stream(arena: Arena, talk_id: int) -> LiveStream | None:
    streams = streams_of(arena, talk_id)
    return streams[-1] if streams else None


def api_talk(arena: Arena, talk_id: int) -> dict:
    """The talk as GET /api/events/<slug> gives it."""
    with Session(arena.engine) as session:
        slug = session.get(Talk, talk_id).slug
    data = requests.get(f"{arena.url}/api/events/{SLUG}", timeout=10).json()
    found = []

    def walk(value) -> None:
        if isinstance(value, dict):
            if value.get("slug") == slug and "live" in value:
                found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found[0]


def wait_live(arena: Arena, talk_id: int, seconds: float = 60) -> LiveStream:
    """Until the API reports the talk LIVE (its first segment exists), its stream then."""
    wait_until(lambda: api_talk(arena, talk_id)["live"], timeout=seconds, interval=0.25,
               message=lambda: f"the talk never went live: {streams_of(arena, talk_id)} {arena.server.log()[-3000:]}")
    return only_stream(arena, talk_id)


def wait_ended(arena: Arena, talk_id: int, seconds: float = 90) -> LiveStream:
    def ended() -> LiveStream | None:
        stream = only_stream(arena, talk_id)
        return stream if stream is not None and stream.ended_at is not None and stream.active_talk_id is None \
            else None

    return wait_until(ended, timeout=seconds, interval=0.25,
                      message=lambda: f"the stream never ended: {vars(only_stream(arena, talk_id) or object())} "
                                      f"{arena.server.log()[-3000:]}")


def recording_of(arena: Arena, stream: LiveStream) -> dict:
    assert stream.archive_path, f"no recording for stream {stream.id} ({stream.end_reason})"
    info = probe(recordings_dir(arena) / stream.archive_path)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    return {"duration": float(info["format"]["duration"]), **kinds}


def source_playlist(arena: Arena, stream: LiveStream) -> Path:
    return hls.source_playlist(recordings_dir(arena) / stream.directory, stream.playlist_name == hls.MASTER)


def wait_on_air(arena: Arena, stream: LiveStream, seconds: float) -> None:
    """Until Arena's source playlist lists `seconds` of the stream: on air for a while, by what
    was written rather than by the clock (a busy machine writes late, never wrongly)."""
    def written() -> bool:
        path = source_playlist(arena, stream)
        text = path.read_text() if path.exists() else ""
        return sum(float(line[8:].split(",")[0]) for line in text.splitlines()
                   if line.startswith("#EXTINF:")) >= seconds

    wait_until(written, timeout=90, message=f"the stream never had {seconds} s on air")


def playlist_plays(arena: Arena, stream: LiveStream) -> bool:
    """Viewers get the master playlist and its source rendition's segments, which decode as
    H.264 with AAC sound."""
    base = f"{arena.url}/recordings/{stream.directory}/"
    source = source_playlist(arena, stream)
    master = requests.get(base + stream.playlist_name, timeout=10)
    media = requests.get(base + source.name, timeout=10)
    if master.status_code != 200 or source.name not in master.text or media.status_code != 200:
        return False
    segment = next((line for line in media.text.splitlines() if line and not line.startswith("#")), None)
    if segment is None or requests.get(base + segment, timeout=10).status_code != 200:
        return False
    streams = {s["codec_type"]: s["codec_name"] for s in probe(source)["streams"]}
    return streams.get("video") == "h264" and streams.get("audio") == "aac"


def audit_actions(arena: Arena, talk_id: int) -> list[AuditEntry]:
    with Session(arena.engine) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.talk_id == talk_id)
                                    .order_by(AuditEntry.id)))



# -- a hand-made RTMP client: what no real encoder sends --------------------------------------

def _amf_string(text: str) -> bytes:
    data = text.encode()
    return b"\x02" + struct.pack(">H", len(data)) + data


def _amf_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def _amf_object(fields: dict[str, str]) -> bytes:
    body = b"".join(struct.pack(">H", len(k)) + k.encode() + _amf_string(v) for k, v in fields.items())
    return b"\x03" + body + b"\x00\x00\x09"


def _chunk(csid: int, message_type: int, stream_id: int, payload: bytes) -> bytes:
    """One message in one chunk (the chunk size is raised first)."""
    return (bytes([csid]) + (0).to_bytes(3, "big") + len(payload).to_bytes(3, "big") + bytes([message_type])
            + struct.pack("<I", stream_id) + payload)


def rtmp_handshake(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    c1 = bytes(8) + os.urandom(1528)
    connection.sendall(b"\x03" + c1)
    received = b""
    while len(received) < 1 + 1536 * 2:
        data = connection.recv(8192)
        assert data, "nginx closed the connection during the handshake"
        received += data
    connection.sendall(received[1:1537])  # C2 echoes S1
    return connection


def rtmp_publish_silently(port: int, key: str) -> socket.socket:
    """Connect and publish with the key, then send no audio or video at all."""
    connection = rtmp_handshake(port)
    tc_url = f"rtmp://127.0.0.1:{port}/live"
    connection.sendall(
        _chunk(2, 1, 0, struct.pack(">I", 4096))
        + _chunk(3, 20, 0, _amf_string("connect") + _amf_number(1) + _amf_object(
            {"app": "live", "type": "nonprivate", "flashVer": "FMLE/3.0", "tcUrl": tc_url}))
        + _chunk(3, 20, 0, _amf_string("createStream") + _amf_number(2) + b"\x05")
        + _chunk(8, 20, 1, _amf_string("publish") + _amf_number(0) + b"\x05" + _amf_string(key)
                 + _amf_string("live")))
    return connection


class GarblingProxy:
    """Between an encoder and nginx: passes RTMP through until `garble()`, then sends noise."""

    def __init__(self, port: int) -> None:
        self.upstream_port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.garbling = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def garble(self) -> None:
        self.garbling.set()

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, garble: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if garble and self.garbling.is_set():
                    data = os.urandom(len(data))
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


# -- the stream's life -----------------------------------------------------------------------

def test_rtmp_stream_goes_live_and_ends_with_a_recording_as_long_as_it_was_live(arena, encoders):
    talk_id, slug = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id))
    encoders.append(encoder)

    stream = wait_live(arena, talk_id)
    assert stream.source == "rtmp" and stream.playlist_name == "master.m3u8"
    assert wait_until(lambda: playlist_plays(arena, stream), timeout=30)
    page = requests.get(arena.page(slug), timeout=10).text
    assert stream.directory in page  # the talk page plays Arena's own stream
    wait_on_air(arena, stream, 3)  # a few seconds on air
    encoder.stop()
    sent = encoder.sent_seconds()

    reconnecting = wait_until(lambda: (s := only_stream(arena, talk_id)) and s.state.value == "reconnecting" and s,
                              timeout=30, message="the stream never waited for the encoder")
    assert api_talk(arena, talk_id)["live"]  # viewers see a stall during the wait, not an end
    ended = wait_ended(arena, talk_id)

    assert reconnecting.id == ended.id and ended.end_reason == "connection_lost"
    assert not api_talk(arena, talk_id)["live"]
    recording = recording_of(arena, ended)
    assert recording["video"] == "h264" and recording["audio"] == "aac"
    # All it sent, but for the moment before Arena's ffmpeg reads from nginx (nginx's metadata first).
    assert sent - 4 <= recording["duration"] <= sent + 0.5
    with Session(arena.engine) as session:
        talk = session.get(Talk, talk_id)
        offered = golive.finished_live_recordings(session, talk)
        assert [s.id for s in offered] == [ended.id]  # the admin's recording page offers it
        used = recording_edits.use_live_recording(session, talk, ended.id, actor=ORGANISER)
        assert used.file_path == ended.archive_path and used.file_type == "video/mp4"
        session.rollback()
    actions = [entry.action for entry in audit_actions(arena, talk_id)]
    assert "ingest.publish" in actions and "ingest.end" in actions


def test_rtmp_encoder_that_comes_back_within_the_wait_continues_the_same_stream(arena, encoders):
    talk_id, _ = arena.new_talk()
    key = new_key(arena, talk_id)
    first = Encoder(arena, key)
    encoders.append(first)
    stream = wait_live(arena, talk_id)
    first.stop()
    wait_until(lambda: only_stream(arena, talk_id).state.value == "reconnecting", timeout=30)

    second = Encoder(arena, key)
    encoders.append(second)
    wait_until(lambda: only_stream(arena, talk_id).state.value == "live", timeout=30,
               message=lambda: f"the stream did not continue: {vars(only_stream(arena, talk_id))}")
    time.sleep(RECONNECT_SECONDS + 1)  # longer than the wait: the stream must still be on
    assert only_stream(arena, talk_id).state.value == "live" and api_talk(arena, talk_id)["live"]
    second.stop()
    ended = wait_ended(arena, talk_id)

    assert [s.id for s in streams_of(arena, talk_id)] == [stream.id]
    assert ended.rtmp_name == stream.rtmp_name
    playlist = source_playlist(arena, ended).read_text()
    assert "#EXT-X-DISCONTINUITY" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    recording = recording_of(arena, ended)
    assert recording["duration"] >= RECONNECT_SECONDS  # both parts, joined


def test_rtmp_second_publisher_and_the_browser_studio_are_refused_and_the_first_goes_on(arena, encoders):
    talk_id, slug = arena.new_talk()
    key = new_key(arena, talk_id)
    encoders.append(Encoder(arena, key))
    stream = wait_live(arena, talk_id)

    intruder = Encoder(arena, key)
    encoders.append(intruder)
    wait_until(intruder.refused, timeout=30, message="a second publisher on the same talk was let in")
    speaker = speaker_of(arena, slug)
    try:
        ack = speaker.start()  # Go live in the browser studio while the encoder sends
    finally:
        speaker.close()

    assert not ack["ok"] and ack["error"] == "already_live"

    assert [s.id for s in streams_of(arena, talk_id)] == [stream.id]
    assert only_stream(arena, talk_id).state.value == "live"
    refusals = [e.after for e in audit_actions(arena, talk_id) if e.action == "ingest.refused"]
    assert any((after or {}).get("code") == "already_live" for after in refusals)


def test_rtmp_publish_against_a_browser_go_live_is_refused(arena, encoders):
    talk_id, slug = arena.new_talk()
    speaker = speaker_of(arena, slug)
    try:
        assert speaker.start()["ok"]
        encoder = Encoder(arena, new_key(arena, talk_id))
        encoders.append(encoder)
        wait_until(encoder.refused, timeout=30, message="an encoder was let in while the browser is live")
        assert [s.source for s in streams_of(arena, talk_id)] == ["browser"]
    finally:
        if speaker.stream_id is not None:
            speaker.call(p.END, {"stream_id": speaker.stream_id})
        speaker.close()


def test_rtmp_key_revoked_mid_stream_ends_it_with_a_playable_recording(arena, encoders):
    talk_id, _ = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id))
    encoders.append(encoder)
    wait_on_air(arena, wait_live(arena, talk_id), 3)

    revoke_key(arena, talk_id)  # as another process does (the admin, the command line)
    wait_until(encoder.refused, timeout=30, message="the encoder was not dropped")
    ended = wait_ended(arena, talk_id)

    assert ended.end_reason == "key_revoked" and not api_talk(arena, talk_id)["live"]
    assert recording_of(arena, ended)["duration"] > 1
    ends = [e.after for e in audit_actions(arena, talk_id) if e.action == "ingest.end"]
    assert ends and ends[-1]["reason"] == "key_revoked"


def test_rtmp_end_in_the_studio_drops_the_encoder_and_ends_now_for_the_talks_speaker_only(arena, encoders):
    talk_id, slug = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id))
    encoders.append(encoder)
    stream = wait_live(arena, talk_id)
    stranger = speaker_of(arena, arena.new_talk()[1])  # another talk's speaker
    try:
        assert stranger.call("watch", {"talk_id": talk_id})["error"] == "forbidden"
        assert stranger.call(p.END, {"stream_id": stream.id})["error"] == "forbidden"
    finally:
        stranger.close()
    assert only_stream(arena, talk_id).state.value == "live"
    speaker = speaker_of(arena, slug)
    try:
        studio = speaker.http.get(f"{arena.page(slug)}/studio", timeout=10).text
        assert f'data-stream-id="{stream.id}"' in studio  # the page shows the encoder's stream and its End
        watched = speaker.call("watch", {"talk_id": talk_id})
        assert watched["ok"] and watched["stream"]["stream_id"] == stream.id
        assert watched["stream"]["state"] == "live"
        ack = speaker.call(p.END, {"stream_id": stream.id})
        assert ack["ok"] and ack["state"] == "ending"
        told = speaker.wait_for_state("ended")
    finally:
        speaker.close()

    wait_until(encoder.refused, timeout=30, message="the encoder was not dropped")
    ended = wait_ended(arena, talk_id)
    assert ended.end_reason == "ended" and ended.archive_path
    assert told["reason"] == "ended" and told["recording"] is True
    stop = [e for e in audit_actions(arena, talk_id) if e.action == "ingest.stop"]
    assert stop and stop[0].actor == "Mattias Jansson"


# -- bad input ---------------------------------------------------------------------------------

def test_rtmp_picture_above_the_caps_is_refused_and_the_talk_never_goes_live(arena, encoders):
    talk_id, _ = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id), size="960x540")
    encoders.append(encoder)

    ended = wait_ended(arena, talk_id)
    assert ended.end_reason == "too_large" and (ended.video_width, ended.video_height) == (960, 540)
    wait_until(encoder.refused, timeout=30, message="the encoder was not dropped")
    assert not api_talk(arena, talk_id)["live"]


def test_rtmp_sound_only_is_refused_as_an_unsupported_codec(arena, encoders):
    talk_id, _ = arena.new_talk()
    encoders.append(Encoder(arena, new_key(arena, talk_id), picture=False))

    ended = wait_ended(arena, talk_id)
    assert ended.end_reason == "unsupported_codec"
    assert not api_talk(arena, talk_id)["live"]


def test_rtmp_connection_that_completes_nothing_takes_no_talk(arena, encoders):
    talk_id, _ = arena.new_talk()
    with socket.create_connection(("127.0.0.1", rtmp_port(arena)), timeout=10) as idle:
        idle.sendall(b"\x03")  # the handshake's first byte, then nothing
        # Something that must not happen can only be watched for a while: a slower machine
        # makes this check see less, never fail wrongly.
        time.sleep(2)
        assert streams_of(arena, talk_id) == []
    encoders.append(Encoder(arena, new_key(arena, talk_id)))
    # nginx and the talk are free for a real encoder
    assert wait_until(lambda: only_stream(arena, talk_id), timeout=30).source == "rtmp"


def test_rtmp_publisher_that_sends_nothing_is_dropped_and_the_talk_freed(arena):
    talk_id, _ = arena.new_talk()
    key = new_key(arena, talk_id)

    with rtmp_publish_silently(rtmp_port(arena), key):
        wait_until(lambda: streams_of(arena, talk_id), timeout=30, message="the publish never reached Arena")
        ended = wait_ended(arena, talk_id, seconds=60)

    assert ended.end_reason == "no_data" and ended.archive_path is None
    assert not api_talk(arena, talk_id)["live"]


def test_rtmp_garbage_after_the_handshake_ends_the_stream_with_its_recording(arena, encoders):
    talk_id, _ = arena.new_talk()
    proxy = GarblingProxy(rtmp_port(arena))
    try:
        encoder = Encoder(arena, new_key(arena, talk_id), port=proxy.port)
        encoders.append(encoder)
        wait_on_air(arena, wait_live(arena, talk_id), 2)
        proxy.garble()  # the same connection goes on with noise in place of RTMP
        ended = wait_ended(arena, talk_id)
    finally:
        proxy.close()

    assert ended.end_reason in ("connection_lost", "no_data") and not api_talk(arena, talk_id)["live"]
    assert recording_of(arena, ended)["duration"] > 1
    assert arena.healthy() and rtmp_listening(arena)


def test_rtmp_bitrate_above_the_cap_ends_the_stream_with_its_recording(arena, encoders):
    talk_id, _ = arena.new_talk()
    # Lossless noise: far above the 3000 kbit/s cap.
    noisy = ["-vf", "noise=alls=100:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
             "-pix_fmt", "yuv420p", "-g", "25"]
    encoder = Encoder(arena, new_key(arena, talk_id), video=noisy)
    encoders.append(encoder)

    ended = wait_ended(arena, talk_id, seconds=120)
    assert ended.end_reason == "bitrate_too_high"
    wait_until(encoder.refused, timeout=30, message="the encoder was not dropped")


def test_rtmp_flash_video_is_transcoded_to_h264_and_plays(arena, encoders):
    talk_id, _ = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id), video=["-c:v", "flv1", "-b:v", "500k", "-g", "25"])
    encoders.append(encoder)

    stream = wait_live(arena, talk_id)
    assert wait_until(lambda: playlist_plays(arena, stream), timeout=30)
    wait_on_air(arena, stream, 2)
    encoder.stop()
    ended = wait_ended(arena, talk_id)
    recording = recording_of(arena, ended)
    assert recording["video"] == "h264" and recording["duration"] > 1


def test_rtmp_stream_ends_with_its_recording_when_nginx_dies(arena, encoders):
    talk_id, _ = arena.new_talk()
    encoder = Encoder(arena, new_key(arena, talk_id))
    encoders.append(encoder)
    wait_on_air(arena, wait_live(arena, talk_id), 2)
    pid_file = Path(arena.server.env["ARENA_SERVER__INSTANCE_PATH"]) / "ingest" / "nginx.pid"
    nginx_pid = int(pid_file.read_text().strip())

    os.kill(nginx_pid, signal.SIGKILL)  # Arena's own nginx, started by this module's server
    ended = wait_ended(arena, talk_id)

    assert ended.end_reason == "connection_lost" and not api_talk(arena, talk_id)["live"]
    assert recording_of(arena, ended)["duration"] > 1
    wait_until(lambda: rtmp_listening(arena), timeout=60, message="nginx was not started again")


# -- the recording from several parts (server/media/rtmp_ingest.py, no server) ----------------

def encoder_part(path: Path, *, seconds: float, size: str = "320x240", video: str = "libx264") -> Path:
    """What one publish session leaves: the input copied into Matroska."""
    codec = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"] if video == "libx264" else ["-c:v", video]
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds), *codec,
                    "-c:a", "aac", "-f", "matroska", str(path)], check=True, timeout=120)
    return path


def test_rtmp_recording_joins_every_part_in_order(tmp_path):
    encoder_part(rtmp_ingest.part_path(tmp_path, 1), seconds=2)
    encoder_part(rtmp_ingest.part_path(tmp_path, 2), seconds=3)
    (tmp_path / "source-10.mkv").write_bytes(b"")  # a session that sent nothing is left out

    archive = rtmp_ingest.make_recording(FFMPEG, tmp_path, copy_video=True)

    assert archive.path == tmp_path / "recording.mp4" and 4.5 <= archive.duration_seconds <= 5.5
    info = probe(archive.path)
    assert {s["codec_type"]: s["codec_name"] for s in info["streams"]} == {"video": "h264", "audio": "aac"}
    assert rtmp_ingest.parts(tmp_path) == [tmp_path / "source-10.mkv"]  # the joined parts are gone


def test_rtmp_recording_of_an_h264_encoder_that_changed_its_picture_is_encoded_once(tmp_path):
    encoder_part(rtmp_ingest.part_path(tmp_path, 1), seconds=2)
    encoder_part(rtmp_ingest.part_path(tmp_path, 2), seconds=2, size="480x270")

    archive = rtmp_ingest.make_recording(FFMPEG, tmp_path, copy_video=True)  # both parts H.264

    assert archive.path is not None and archive.duration_seconds >= 3.5
    assert probe(archive.path)["streams"][0]["codec_name"] == "h264"
    frames = subprocess.run([shutil.which("ffprobe") or "ffprobe", "-v", "error", "-select_streams", "v:0",
                             "-show_entries", "frame=width,height", "-of", "csv=p=0", str(archive.path)],
                            capture_output=True, text=True, timeout=120)
    sizes = {line.strip(",") for line in frames.stdout.split()}
    assert frames.returncode == 0 and not frames.stderr.strip()  # every frame of both parts decodes
    assert len(frames.stdout.split()) >= 90 and len(sizes) == 1  # one picture size, both parts' frames


def test_rtmp_recording_of_flash_video_parts_is_encoded_to_h264(tmp_path):
    encoder_part(rtmp_ingest.part_path(tmp_path, 1), seconds=2, video="flv1")
    encoder_part(rtmp_ingest.part_path(tmp_path, 2), seconds=2, size="480x270", video="flv1")

    archive = rtmp_ingest.make_recording(FFMPEG, tmp_path, copy_video=False)

    assert archive.path is not None and archive.duration_seconds >= 3.5
    assert probe(archive.path)["streams"][0]["codec_name"] == "h264"


def test_rtmp_codecs_nginx_names_are_copied_transcoded_or_refused():
    assert rtmp_ingest.video_decision("H264") == "copy"
    assert rtmp_ingest.video_decision("Sorenson-H263") == "transcode"
    assert rtmp_ingest.video_decision("On2-VP6") == "transcode"
    assert rtmp_ingest.video_decision("Jpeg") == "refuse"
    assert rtmp_ingest.video_decision("") == "refuse"
    assert rtmp_ingest.video_decision(None) == "refuse"


def test_rtmp_orphan_claim_never_takes_a_stream_its_own_process_runs(arena):
    talk_id, _ = arena.new_talk()
    now = utcnow()
    with Session(arena.engine) as session:  # one transaction, rolled back: the server never sees it
        stream = LiveStream(talk_id=talk_id, active_talk_id=talk_id, source="rtmp", publisher_name="RTMP",
                            publisher_participant_id="", video_codec="h264", process_id="this-process",
                            heartbeat_at=now - timedelta(minutes=5), started_at=now - timedelta(minutes=5),
                            directory="x", archive_directory="y")
        session.add(stream)
        session.flush()

        mine = golive.claim_orphans(session, "this-process", now, now - timedelta(seconds=20),
                                    exclude={stream.id})
        others = golive.claim_orphans(session, "another-process", now, now - timedelta(seconds=20))
        session.rollback()

    assert stream.id not in [s.id for s in mine]  # a late heartbeat of its own is no crash
    assert stream.id in [s.id for s in others]


def test_rtmp_recording_that_cannot_be_joined_keeps_every_part_and_names_no_recording(tmp_path):
    first = encoder_part(rtmp_ingest.part_path(tmp_path, 1), seconds=1)
    second = encoder_part(rtmp_ingest.part_path(tmp_path, 2), seconds=1)
    (tmp_path / "recording.mp4").mkdir()  # ffmpeg cannot write the recording, copied or encoded

    archive = rtmp_ingest.make_recording(FFMPEG, tmp_path, copy_video=True)

    assert archive.path is None and archive.duration_seconds is None  # never a private part as the recording
    assert rtmp_ingest.parts(tmp_path) == [first, second]  # nothing deleted


def test_rtmp_part_ffmpeg_ends_when_arena_is_killed(tmp_path):
    listener = socket.socket()  # an "nginx" that accepts and never answers: ffmpeg waits on it
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid_file = tmp_path / "ffmpeg.pid"
    arena = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from server.media.rtmp_ingest import RtmpPart\n"
        f"part = RtmpPart({FFMPEG!r}, 'rtmp://127.0.0.1:{port}/live/x', Path({str(tmp_path / 'hls')!r}), "
        f"Path({str(tmp_path / 'work')!r}), 1, copy_video=True, ladder=False, segment_seconds=2, "
        "preset='veryfast', append=False)\n"
        f"part.start(); Path({str(pid_file)!r}).write_text(str(part.process.pid)); time.sleep(600)")],
        cwd=Path(__file__).resolve().parent.parent)
    try:
        wait_until(pid_file.exists, timeout=30, message="the part never started")
        ffmpeg_pid = int(pid_file.read_text())
        assert Path(f"/proc/{ffmpeg_pid}").exists()

        arena.kill()  # SIGKILL: no handler of Arena's runs
        arena.wait(timeout=10)

        wait_until(lambda: not Path(f"/proc/{ffmpeg_pid}").exists()
                   or "Z" in Path(f"/proc/{ffmpeg_pid}/stat").read_text().split()[2],
                   timeout=30, message="ffmpeg outlived Arena")
    finally:
        arena.kill()
        listener.close()


def test_rtmp_ending_stream_is_not_live_and_frees_the_talk_before_its_recording_is_made(arena, tmp_path):
    talk_id, _ = arena.new_talk()
    with Session(arena.engine) as session:  # one transaction, rolled back: the server never sees it
        talk = session.get(Talk, talk_id)
        old = golive.start_rtmp_stream(session, talk, stream_key_id=None, client_id="1", address="127.0.0.1",
                                       now=utcnow(), process_id="p", recordings_path=tmp_path, min_free_bytes=0,
                                       playlist_name="master.m3u8")
        golive.mark_on_air(old)

        golive.begin_ending(old)  # End pressed: the recording is still to be made
        assert not talk.is_live(utcnow())  # pages and the API say so at once
        golive.release_talk(old)  # its ffmpeg has stopped
        new = golive.start_stream(session, talk, ORGANISER, codec="h264", now=utcnow(), process_id="p",
                                  recordings_path=tmp_path, min_free_bytes=0)  # a browser's Go live is let in
        golive.mark_on_air(new)
        golive.finish_stream(session, old, reason="ended", now=utcnow(), archive_path=None, duration_seconds=None)

        assert talk.is_live(utcnow())  # the old stream's late end leaves the new one LIVE
        assert golive.active_stream(session, talk_id).id == new.id and not golive.is_latest(session, old)
        session.rollback()
