"""The quality ladder (server/media/hls.py) with real ffmpeg: the master playlist
and its three renditions, a reconnect that continues the playlists, the ladder turned off; a
browser go-live through a real server that gives viewers a master playlist; the API's
playlist_url."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from server.media import hls
from server.models import LiveState, LiveStream, StreamState
from server.sockets import protocol as p
from tests.conftest import start_live_server
from tests.golive_media import FFMPEG, probe, recorder_output
from tests.live.conftest import SLUG, Arena
from tests.test_golive_server import speaker_of, stream_row, wait_for_row
from tests.waiting import wait_until


def run_ffmpeg(source: Path, directory: Path, **options) -> None:
    options = {"copy_video": True, "ladder": True, "segment_seconds": 1, "preset": "veryfast", **options}
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(source),
                             *hls.output_args(directory, **options)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def variants(master: str) -> dict[str, dict[str, str]]:
    """The master playlist's renditions by folder: their EXT-X-STREAM-INF attributes."""
    found = {}
    lines = master.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            found[lines[index + 1].removesuffix(".m3u8")] = {key: value.strip('"') for key, value in attributes.items()}
    return found


def segments(playlist: Path) -> list[str]:
    return [line for line in playlist.read_text().splitlines() if line and not line.startswith("#")]


def video_of(path: Path) -> dict | None:
    return next((s for s in probe(path)["streams"] if s["codec_type"] == "video"), None)


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    return recorder_output(tmp_path_factory.mktemp("input") / "720p.mkv", seconds=4, size="1280x720")


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, landscape) -> Path:
    directory = tmp_path_factory.mktemp("ladder") / "live"
    run_ffmpeg(landscape, directory)
    return directory


def test_ladder_master_playlist_lists_source_360p_and_audio_only(ladder):
    assert hls.ready(ladder, True)  # writes the master playlist players open

    listed = variants((ladder / hls.MASTER).read_text())

    assert list(listed) == ["source", "360p", "audio"]
    assert all({"BANDWIDTH", "CODECS"} <= set(attributes) for attributes in listed.values())
    assert listed["source"]["RESOLUTION"] == "1280x720"
    assert listed["source"]["CODECS"].startswith("avc1.") and "mp4a.40.2" in listed["source"]["CODECS"]
    assert listed["360p"]["RESOLUTION"] == "640x360"
    assert 500_000 <= int(listed["360p"]["BANDWIDTH"]) <= 800_000
    assert "RESOLUTION" not in listed["audio"] and listed["audio"]["CODECS"] == "mp4a.40.2"
    assert int(listed["audio"]["BANDWIDTH"]) <= 100_000
    # ffmpeg knows no bitrate of a copied stream (it would declare the audio's 105600): the
    # source's BANDWIDTH is its peak segment bitrate, measured when the first segment appeared.
    first = ladder / segments(ladder / "source.m3u8")[0]
    duration = float(re.search(r"#EXTINF:([0-9.]+)", (ladder / "source.m3u8").read_text()).group(1))
    assert int(listed["source"]["BANDWIDTH"]) >= int(first.stat().st_size * 8 / duration) > 200_000


def test_ladder_renditions_are_the_copied_source_a_360p_picture_and_sound_only(ladder, landscape):
    source, small, sound = (ladder / segments(ladder / f"{name}.m3u8")[1] for name in hls.RENDITIONS)

    original = video_of(landscape)
    copied = video_of(source)
    assert (copied["width"], copied["height"], copied["profile"]) == (1280, 720, original["profile"])
    assert (video_of(small)["width"], video_of(small)["height"]) == (640, 360)
    assert video_of(sound) is None
    assert [s["codec_name"] for s in probe(sound)["streams"]] == ["aac"]
    assert hls.source_playlist(ladder, True) == ladder / "source.m3u8"
    assert not [path for path in ladder.iterdir() if path.is_dir()]  # the folder the access rules know


def test_ladder_playlists_stay_open_until_arena_closes_them(ladder, tmp_path):
    folder = tmp_path / "live"
    folder.mkdir()
    for name in ("source", "360p", "audio"):
        (folder / f"{name}.m3u8").write_text((ladder / f"{name}.m3u8").read_text())
    (folder / hls.MASTER).write_text((ladder / hls.MASTER).read_text())
    assert all(hls.ENDLIST not in playlist.read_text() for playlist in hls.media_playlists(folder))

    hls.close_playlists(folder)
    hls.close_playlists(folder)  # twice is once

    assert [playlist.read_text().count(hls.ENDLIST) for playlist in hls.media_playlists(folder)] == [1, 1, 1]
    assert hls.ENDLIST not in (folder / hls.MASTER).read_text()  # a master playlist has no end


def test_ladder_append_after_a_reconnect_continues_each_playlist(tmp_path, landscape):
    directory = tmp_path / "live"
    run_ffmpeg(landscape, directory)
    before = {name: segments(directory / f"{name}.m3u8") for name in hls.RENDITIONS}

    run_ffmpeg(landscape, directory, append=True)

    for name in hls.RENDITIONS:
        playlist = directory / f"{name}.m3u8"
        after = segments(playlist)
        numbers = [int(re.search(r"(\d+)\.ts$", segment).group(1)) for segment in after]
        assert numbers == sorted(set(numbers)), f"{name}: a segment number used twice: {after}"
        assert max(numbers) > max(int(re.search(r"(\d+)\.ts$", s).group(1)) for s in before[name])
        assert "#EXT-X-DISCONTINUITY" in playlist.read_text()
        assert hls.ENDLIST not in playlist.read_text()


def test_ladder_keeps_a_portrait_picture_upright_with_its_short_side_360(tmp_path):
    portrait = recorder_output(tmp_path / "portrait.mkv", seconds=2, size="720x1280")
    directory = tmp_path / "live"

    run_ffmpeg(portrait, directory)

    small = video_of(directory / segments(directory / "360p.m3u8")[0])
    assert (small["width"], small["height"]) == (360, 640)


def test_ladder_encodes_vp8_once_to_h264_for_the_source(tmp_path):
    vp8 = recorder_output(tmp_path / "firefox.webm", codec="vp8", seconds=2, size="640x360")
    directory = tmp_path / "live"

    run_ffmpeg(vp8, directory, copy_video=False)

    assert hls.ready(directory, True)
    assert video_of(directory / segments(directory / "source.m3u8")[0])["codec_name"] == "h264"
    assert list(variants((directory / hls.MASTER).read_text())) == ["source", "360p", "audio"]


def test_ladder_off_gives_the_one_playlist(tmp_path, landscape):
    directory = tmp_path / "live"

    run_ffmpeg(landscape, directory, ladder=False)

    assert hls.playlist_name(False) == "index.m3u8" and hls.playlist_name(True) == "master.m3u8"
    assert hls.ready(directory, False)
    assert sorted(path.name for path in directory.iterdir() if path.is_dir()) == []
    assert not (directory / hls.MASTER).exists()
    assert hls.source_playlist(directory, False) == directory / "index.m3u8"
    assert video_of(directory / segments(directory / hls.SINGLE)[0])["width"] == 1280
    hls.close_playlists(directory)
    assert (directory / hls.SINGLE).read_text().rstrip().endswith(hls.ENDLIST)


def test_ladder_is_not_ready_before_the_source_lists_a_segment(tmp_path):
    assert not hls.ready(tmp_path, True)
    (tmp_path / "source.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
    assert not hls.ready(tmp_path, True)
    assert not (tmp_path / hls.MASTER).exists()


# -- a real server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def arena(tmp_path_factory) -> Iterator[Arena]:
    server = start_live_server(tmp_path_factory.mktemp("ladder-server"))
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


def api_talk(arena: Arena, slug: str) -> dict:
    talks = requests.get(f"{arena.url}/api/events/{SLUG}", timeout=10).json()["talks"]
    return next(talk for talk in talks if talk["slug"] == slug)


def test_ladder_browser_go_live_gives_viewers_a_master_playlist_and_the_api_names_it(arena, tmp_path):
    media = recorder_output(tmp_path / "input.mkv", seconds=6, size="1280x720").read_bytes()
    slug = arena.new_talk()[1]
    speaker = speaker_of(arena, slug)
    assert api_talk(arena, slug)["playlist_url"] is None
    assert speaker.start()["ok"]

    speaker.send(media, pace=0.02)
    speaker.wait_for_state("live")

    row = stream_row(arena, speaker.stream_id)
    assert row.playlist_name == "master.m3u8"
    playlist_url = wait_until(lambda: api_talk(arena, slug)["playlist_url"], timeout=30)
    assert playlist_url == f"{arena.url}/recordings/{row.playlist_path}"
    master = requests.get(playlist_url, timeout=10)
    assert master.status_code == 200
    assert list(variants(master.text)) == ["source", "360p", "audio"]
    for name in ("source", "360p", "audio"):
        rendition = requests.get(playlist_url.replace("master.m3u8", f"{name}.m3u8"), timeout=10)
        assert rendition.status_code == 200 and "#EXTINF" in rendition.text
        segment = next(line for line in rendition.text.splitlines() if line.endswith(".ts"))
        assert requests.get(playlist_url.replace("master.m3u8", segment), timeout=10).status_code == 200

    speaker.call(p.END, {"stream_id": speaker.stream_id})
    ended = wait_for_row(arena, speaker.stream_id, lambda r: r.archive_path is not None)
    speaker.close()
    assert api_talk(arena, slug)["playlist_url"] is None
    root = Path(arena.server.env["ARENA_MEDIA__RECORDINGS_DIR"]) / ended.directory
    assert all(playlist.read_text().rstrip().endswith(hls.ENDLIST) for playlist in hls.media_playlists(root))
    assert len(hls.media_playlists(root)) == 3


# -- the API, on the test client ----------------------------------------------------------

def test_api_playlist_url_only_while_live_from_our_own_ingest(client, demo_event, session):
    youtube, own = demo_event.talks[0], demo_event.talks[1]
    youtube.live_state = LiveState.live  # live, but only on its YouTube stream address
    own.live_state = LiveState.live
    stream = LiveStream(talk_id=own.id, active_talk_id=own.id, state=StreamState.reconnecting, source="rtmp",
                        directory="e/t/live/1-abc", archive_directory="e/t/archive/1-def", playlist_name="master.m3u8")
    session.add(stream)
    session.commit()

    live = client.get(f"/api/events/{demo_event.slug}").get_json()["talks"]

    assert live[0]["playlist_url"] is None and live[0]["stream_url"]
    assert live[1]["playlist_url"] == "http://arena.test/recordings/e/t/live/1-abc/master.m3u8"

    stream.state, stream.active_talk_id, own.live_state = StreamState.ended, None, LiveState.ended
    session.commit()
    ended = client.get(f"/api/events/{demo_event.slug}").get_json()["talks"]
    assert ended[1]["playlist_url"] is None


def test_api_and_page_no_player_while_our_stream_connects_in_the_slot_of_a_talk_with_a_stream_address(
        client, demo_event, session):
    # Live by the clock (a stream address, inside its slot), and an encoder connecting: the
    # stream's row is active, its first segment not yet written (the talk is not LIVE).
    from datetime import timedelta

    from server.db import utcnow

    talk = next(t for t in demo_event.talks if t.stream_url)
    talk.starts_at, talk.ends_at = utcnow() - timedelta(minutes=5), utcnow() + timedelta(minutes=25)
    stream = LiveStream(talk_id=talk.id, active_talk_id=talk.id, state=StreamState.live, source="rtmp",
                        directory="e/t/live/2-abc", archive_directory="e/t/archive/2-def", playlist_name="master.m3u8")
    session.add(stream)
    session.commit()
    page_path = f"/events/{demo_event.slug}/{talk.slug}"

    def api() -> dict:
        talks = client.get(f"/api/events/{demo_event.slug}").get_json()["talks"]
        return next(t for t in talks if t["slug"] == talk.slug)

    connecting, page = api(), client.get(page_path).get_data(as_text=True)

    assert connecting["live"] is True and connecting["stream_url"] == talk.stream_url
    assert connecting["playlist_url"] is None
    assert "data-hls-src" not in page and "master.m3u8" not in page
    assert 'data-state="connecting"' in page
    assert '<div class="stage-fallback" data-stage-fallback>' in page  # the third-party stream stays

    talk.live_state = LiveState.live  # golive.mark_on_air: the first segment exists
    session.commit()
    on_air, page = api(), client.get(page_path).get_data(as_text=True)

    assert on_air["playlist_url"] == "http://arena.test/recordings/e/t/live/2-abc/master.m3u8"
    assert 'data-hls-src="/recordings/e/t/live/2-abc/master.m3u8"' in page
    assert "<template data-stage-fallback>" in page


# -- the browser's ingest -------------------------------------------------------------------

def feed_all(tmp_path: Path, data: bytes) -> tuple[Path, list[str]]:
    from server.media.ingest import Ingest

    told: list[str] = []
    ingest = Ingest(FFMPEG, tmp_path / "live", tmp_path / "archive", "h264", 1, ladder=True, preset="veryfast",
                    on_ready=lambda: told.append("ready"), on_failed=told.append)
    ingest.start()
    for offset in range(0, len(data), 30_000):
        ingest.feed(data[offset:offset + 30_000])
    wait_until(lambda: ingest.check_ready() or ingest.failed, timeout=60)
    ingest.finish()
    ingest.wait()
    return tmp_path / "live", told


def test_ladder_of_a_browser_stream_with_sound_has_the_audio_rendition(tmp_path, landscape):
    directory, told = feed_all(tmp_path, landscape.read_bytes())

    assert told == ["ready"]
    assert list(variants((directory / hls.MASTER).read_text())) == ["source", "360p", "audio"]
    assert all(playlist.read_text().rstrip().endswith(hls.ENDLIST) for playlist in hls.media_playlists(directory))


def test_ladder_of_a_browser_stream_without_a_microphone_has_pictures_only(tmp_path):
    silent = tmp_path / "silent.mkv"
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=25",
                    "-t", "3", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "25",
                    "-f", "matroska", str(silent)], check=True, timeout=120)

    directory, told = feed_all(tmp_path, silent.read_bytes())

    assert told == ["ready"]  # not "ffmpeg stopped"
    assert list(variants((directory / hls.MASTER).read_text())) == ["source", "360p"]
    assert not (directory / "audio.m3u8").exists()


def run_rtmp_part(source: Path, tmp_path: Path, number: int, *, audio: bool) -> None:
    """One publish session of an RTMP stream (server/media/rtmp_ingest.py), from a file."""
    from server.media.rtmp_ingest import RtmpPart

    part = RtmpPart(FFMPEG, str(source), tmp_path / "live", tmp_path / "work", number, copy_video=True, ladder=True,
                    segment_seconds=1, preset="veryfast", append=number > 1, audio=audio)
    part.start()
    part.process.wait(timeout=120)
    assert part.returncode == 0, part.log_tail()


def test_ladder_reconnect_with_another_picture_and_no_sound_updates_the_master_and_keeps_the_audio(
        tmp_path, landscape):
    silent = tmp_path / "silent.mkv"
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
                    "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-f", "matroska", str(silent)],
                   check=True, timeout=120)
    directory = tmp_path / "live"
    run_rtmp_part(landscape, tmp_path, 1, audio=True)
    assert hls.ready(directory, True)
    assert variants((directory / hls.MASTER).read_text())["source"]["RESOLUTION"] == "1280x720"
    audio_before = segments(directory / "audio.m3u8")

    run_rtmp_part(silent, tmp_path, 2, audio=False)  # the encoder came back smaller, without sound
    assert hls.ready(directory, True)

    master = variants((directory / hls.MASTER).read_text())
    assert master["source"]["RESOLUTION"] == "640x360" and "audio" in master
    audio_after = segments(directory / "audio.m3u8")
    assert len(audio_after) > len(audio_before)  # an audio-only viewer goes on (in silence)
    assert "#EXT-X-DISCONTINUITY" in (directory / "audio.m3u8").read_text()
