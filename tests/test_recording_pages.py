"""A published recording, as the public sees it: the talk page (our own player with captions,
chapters and deep links, or the facade), the event's recordings page, the podcast feed, the
iCalendar feed and the JSON API. Recordings are made through the services with a real
ffmpeg clip: uploads are checked by ffprobe, captions converted from SRT."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from server.models import AuditEntry, Recording, Role
from server.services.errors import Conflict, ValidationError
from server.services.golive import finished_live_recordings
from server.services.recordings import edits as recording_edits
from server.services.recordings import imports as recording_imports
from server.services.roles import Actor
from server.web import templating
from tests.conftest import at
from tests.recording_media import make_clip

ORGANISER = Actor(participant_id="p-organiser", role=Role.organiser, staff_name="Karin Kommunikatör")
pytestmark = pytest.mark.both_databases
SRT = ("1\r\n00:00:00,000 --> 00:00:02,000\r\n<font color=\"red\">Hej och välkommen</font>\r\n\r\n"
       "2\r\n00:00:02,000 --> 00:00:04,000\r\nNu tar vi frågor\r\n")
ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=4)


@pytest.fixture
def settings(app):
    return app.extensions["arena.settings"]


@pytest.fixture
def day(make_event, make_talk, make_speaker, session):
    event = make_event(slug="sociala-medier", title="Sociala medier i offentlig sektor")
    first = make_talk(event, title="Skapa arenor!", slug="skapa-arenor", starts_at=at(9),
                      invitation_text="Kommunchefen om **arenor** för samtal.",
                      slides_url="https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor")
    second = make_talk(event, title="Twitter dygnet runt", slug="twitter-dygnet-runt", starts_at=at(10),
                       invitation_text="Om att vara på Twitter hela dygnet.")
    third = make_talk(event, title="Berika undervisningen", slug="berika", starts_at=at(11))
    session.commit()
    return event, first, second, third


def publish_upload(session, talk, clip, settings, *, captions: bytes | None = SRT.encode()) -> Recording:
    with open(clip, "rb") as fh:
        recording = recording_edits.save_uploaded_video(session, talk, fh, settings=settings, actor=ORGANISER)
    if captions:
        recording_edits.save_captions(session, talk, captions, language="sv", settings=settings, actor=ORGANISER)
    recording_edits.set_published(session, talk, True, actor=ORGANISER)
    session.commit()
    return recording


# -- uploads and captions -----------------------------------------------------------------

def test_uploaded_mp4_is_checked_and_kept_under_a_name_the_server_makes(session, day, clip, settings):
    _, talk, _, _ = day

    recording = publish_upload(session, talk, clip, settings, captions=None)

    assert re.fullmatch(r"sociala-medier/skapa-arenor/recording-[A-Za-z0-9_-]{22}\.mp4", recording.file_path)
    assert recording.file_path.endswith(".mp4")
    assert recording.file_type == "video/mp4" and recording.duration_seconds == 4
    assert [c["title"] for c in recording.chapters] == ["Inledning", "Frågor från publiken"]
    assert (settings.recordings_path / recording.file_path).read_bytes() == clip.read_bytes()


def test_upload_that_is_not_a_video_is_refused_and_leaves_no_file(session, day, settings):
    _, talk, _, _ = day

    with pytest.raises(ValidationError) as refused:
        recording_edits.save_uploaded_video(session, talk, io.BytesIO(b"<html>not a video</html>" * 100),
                                       settings=settings, actor=ORGANISER)

    assert refused.value.code == "not_video"
    assert not any(p.is_file() for p in settings.recordings_path.rglob("*"))


def test_upload_over_the_size_cap_is_refused_while_it_arrives(session, day, make_settings):
    _, talk, _, _ = day
    small = make_settings(media={"upload_max_megabytes": 1})

    with pytest.raises(ValidationError) as refused:
        recording_edits.save_uploaded_video(session, talk, io.BytesIO(b"\0" * (2 * 1024 * 1024)), settings=small,
                                       actor=ORGANISER)

    assert refused.value.code == "too_large"
    assert not any(p.is_file() for p in small.recordings_path.rglob("*"))


def test_srt_captions_are_converted_to_webvtt(session, day, clip, settings):
    _, talk, _, _ = day

    recording = publish_upload(session, talk, clip, settings)

    vtt = (settings.recordings_path / recording.captions_path).read_text(encoding="utf-8")
    assert vtt == ("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHej och välkommen\n\n"
                   "00:00:02.000 --> 00:00:04.000\nNu tar vi frågor\n")
    assert recording.captions_path.endswith(".vtt")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_utf16_captions_from_notepad_are_converted_to_webvtt(session, day, clip, settings, encoding, kind):
    _, talk, _, _ = day
    publish_upload(session, talk, clip, settings, captions=None)
    text = SRT if kind == "srt" else "WEBVTT\r\n\r\n" + SRT.replace('<font color="red">', "").replace("</font>", "")
    bom = "\ufeff"  # Notepad's "Unicode" (UTF-16 LE) and "Unicode big endian" both start with it
    data = (bom + text).encode(encoding)

    recording = recording_edits.save_captions(session, talk, data, language="sv", settings=settings, actor=ORGANISER)

    vtt = (settings.recordings_path / recording.captions_path).read_text(encoding="utf-8")
    assert "00:00:00.000 --> 00:00:02.000\nHej och välkommen" in vtt
    assert "00:00:02.000 --> 00:00:04.000\nNu tar vi frågor" in vtt


def test_captions_file_without_cues_is_refused(session, day, clip, settings):
    _, talk, _, _ = day
    publish_upload(session, talk, clip, settings, captions=None)

    with pytest.raises(ValidationError) as refused:
        recording_edits.save_captions(session, talk, b"just some words\n", language="sv", settings=settings,
                                      actor=ORGANISER)

    assert refused.value.code == "not_captions"


def test_captions_before_any_video_are_refused(session, day, settings):
    _, talk, _, _ = day

    with pytest.raises(Conflict) as refused:
        recording_edits.save_captions(session, talk, SRT.encode(), language="sv", settings=settings, actor=ORGANISER)

    assert refused.value.code == "no_recording"


def test_publishing_is_audited_with_before_and_after(session, day, clip, settings):
    _, talk, _, _ = day

    publish_upload(session, talk, clip, settings)

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "recording.publish")).one()
    assert (entry.actor, entry.before["published"], entry.after["published"]) == ("Karin Kommunikatör", False, True)


# -- the talk page ------------------------------------------------------------------------

def test_talk_page_plays_our_copy_with_captions_and_chapters(client, session, day, clip, settings):
    _, talk, _, _ = day
    recording = publish_upload(session, talk, clip, settings)

    html = client.get("/events/sociala-medier/skapa-arenor", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert f'src="/recordings/{recording.file_path}"' in html
    track = f'<track kind="captions" src="/recordings/{recording.captions_path}" srclang="sv" label="Svenska" default>'
    assert track in html
    assert '<a href="#t=0s" data-seconds="0"><span class="chapter-time">0:00</span> Inledning</a>' in html
    assert '<a href="#t=2s" data-seconds="2"><span class="chapter-time">0:02</span> Frågor från publiken</a>' in html
    assert "Kommunchefen om <strong>arenor</strong> för samtal." in html
    assert "slideshare.net/kommunchef/sociala-medier-skapa-arenor" in html
    assert "js/recording.js" in html


def test_unpublished_recording_is_not_shown(client, session, day, clip, settings):
    _, talk, _, _ = day
    recording = publish_upload(session, talk, clip, settings)
    recording_edits.set_published(session, talk, False, actor=ORGANISER)
    session.commit()

    html = client.get("/events/sociala-medier/skapa-arenor").get_data(as_text=True)

    assert recording.file_path not in html


def test_recording_from_youtube_stays_behind_the_facade(client, session, day):
    _, talk, _, _ = day
    session.add(Recording(talk=talk, source_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ", duration_seconds=754,
                          chapters=[{"start": 750.0, "title": "Frågor"}]))
    session.flush()
    recording_edits.set_published(session, talk, True, actor=ORGANISER)
    session.commit()

    html = client.get("/events/sociala-medier/skapa-arenor", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert 'data-player-url="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"' in html
    assert "<iframe" not in html
    assert '<a href="#t=12m30s" data-seconds="750">' in html


def test_work_in_progress_files_are_never_served(client, settings):
    partial = settings.recordings_path / "sociala-medier" / "skapa-arenor" / ".import-7" / "media.mp4"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a video")

    assert client.get("/recordings/sociala-medier/skapa-arenor/.import-7/media.mp4").status_code == 404


# -- the recordings page, the feeds and the API -------------------------------------------

def test_recordings_page_lists_published_clips_in_programme_order(client, session, day, clip, settings):
    event, first, second, third = day
    publish_upload(session, second, clip, settings)
    publish_upload(session, first, clip, settings)
    with open(clip, "rb") as fh:
        recording_edits.save_uploaded_video(session, third, fh, settings=settings, actor=ORGANISER)  # not published
    session.commit()

    html = client.get("/events/sociala-medier/recordings", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert html.index("Skapa arenor!") < html.index("Twitter dygnet runt")
    assert "Berika undervisningen" not in html
    assert "Om att vara på Twitter hela dygnet." in html
    assert "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor" in html
    assert 'href="/events/sociala-medier/podcast.xml"' in html
    event_page = client.get("/events/sociala-medier/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'href="/events/sociala-medier/recordings"' in event_page


def test_podcast_feed_is_valid_rss_with_enclosures_and_itunes_tags(client, session, day, clip, settings):
    _, first, second, _ = day
    recording = publish_upload(session, first, clip, settings)
    session.add(Recording(talk=second, source_url="https://vimeo.com/76979871", published_at=recording.published_at))
    session.commit()

    response = client.get("/events/sociala-medier/podcast.xml")
    channel = ET.fromstring(response.data).find("channel")

    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert channel.findtext("title") == "Sociala medier i offentlig sektor"
    assert channel.findtext(f"{ITUNES}author") == "Kommunförbundet Norrbotten"
    assert channel.find(f"{ITUNES}category").get("text") == "Government"
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Skapa arenor!", "Twitter dygnet runt"]
    enclosure = items[0].find("enclosure")
    assert enclosure.get("url") == f"http://arena.test/recordings/{recording.file_path}"
    assert (enclosure.get("length"), enclosure.get("type")) == (str(clip.stat().st_size), "video/mp4")
    assert items[0].findtext(f"{ITUNES}duration") == "4"
    assert items[1].find("enclosure") is None  # a Vimeo video: a link, never a hot-linked file
    assert items[1].findtext("link") == "http://arena.test/events/sociala-medier/twitter-dygnet-runt#recording"


def test_icalendar_feed_attaches_the_recording(client, session, day, clip, settings):
    _, talk, _, _ = day
    recording = publish_upload(session, talk, clip, settings)

    body = client.get("/events/sociala-medier.ics").get_data(as_text=True).replace("\r\n ", "")

    assert f"ATTACH;FMTTYPE=video/mp4:http://arena.test/recordings/{recording.file_path}" in body
    assert "http://arena.test/events/sociala-medier/skapa-arenor#recording" in body


def test_api_describes_the_published_recording(client, session, day, clip, settings):
    _, talk, _, _ = day
    recording = publish_upload(session, talk, clip, settings)

    talks = client.get("/api/events/sociala-medier").get_json()["talks"]

    assert talks[0]["recording"] == {
        "url": "http://arena.test/events/sociala-medier/skapa-arenor#recording",
        "source_url": None,
        "file_url": f"http://arena.test/recordings/{recording.file_path}",
        "file_type": "video/mp4",
        "captions_url": f"http://arena.test/recordings/{recording.captions_path}",
        "captions_language": "sv",
        "thumbnail_url": None,
        "duration_seconds": 4,
        "chapters": [{"start_seconds": 0.0, "title": "Inledning"},
                     {"start_seconds": 2.0, "title": "Frågor från publiken"}],
        "published_at": recording.published_at.isoformat(),
    }
    assert talks[1]["recording"] is None


def test_moment_and_clock_read_like_deep_links():
    assert templating.moment(750) == "12m30s"
    assert templating.moment(3725) == "1h2m5s"
    assert templating.clock(750) == "12:30"
    assert templating.clock(timedelta(hours=1, seconds=5).total_seconds()) == "1:00:05"


# -- other sources: the go-live archive; a job whose server died ---------------------------

def test_recording_of_a_live_broadcast_becomes_the_talks_recording(client, session, day, clip, settings):
    from server.models import LiveStream, StreamState

    _, talk, _, _ = day
    archive = settings.recordings_path / "sociala-medier" / "skapa-arenor" / "live" / "1" / "recording.mp4"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(clip.read_bytes())
    stream = LiveStream(talk_id=talk.id, state=StreamState.ended, directory="sociala-medier/skapa-arenor/live/1",
                        archive_path="sociala-medier/skapa-arenor/live/1/recording.mp4", duration_seconds=4.0)
    session.add(stream)
    session.commit()
    assert [s.id for s in finished_live_recordings(session, talk)] == [stream.id]

    recording = recording_edits.use_live_recording(session, talk, stream.id, actor=ORGANISER)
    recording_edits.set_published(session, talk, True, actor=ORGANISER)
    session.commit()

    assert (recording.origin, recording.file_path, recording.duration_seconds) == ("golive", stream.archive_path, 4)
    html = client.get("/events/sociala-medier/skapa-arenor").get_data(as_text=True)
    assert f'src="/recordings/{stream.archive_path}"' in html


def test_import_whose_server_stopped_is_marked_interrupted_and_cleaned(session, day, settings):
    from server.models import ImportJob, JobState

    _, talk, _, _ = day
    job = ImportJob(talk_id=talk.id, source_url="https://vimeo.com/76979871", state=JobState.running,
                    process_id=f"{__import__('os').uname().nodename}:999999999")
    session.add(job)
    session.commit()
    work = settings.recordings_path / "sociala-medier" / "skapa-arenor" / f".import-{job.id}"
    work.mkdir(parents=True)
    (work / "media.mp4.part").write_bytes(b"half")

    assert recording_imports.recover_interrupted(session, settings.recordings_path) == 1

    assert (job.state, job.error_code) == (JobState.failed, "interrupted")
    assert not work.exists()
