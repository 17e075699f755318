"""/recordings/: a talk's files reach the public only once the recording is published on a
published event (live HLS while the stream is on); organisers see everything, a speaker
their own talk's; and stored names cannot be guessed from ids."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from server.models import EventStatus, LiveStream, Recording, Role, StreamState
from server.services.recordings import edits as recording_edits
from server.services.recordings.files import unguessable_name
from server.services.roles import Actor

ORGANISER = Actor(participant_id="p-organiser", role=Role.organiser, staff_name="Karin Kommunikatör")
TOKEN = r"[A-Za-z0-9_-]{22}"


@pytest.fixture
def store(app):
    """Writes a file under the recordings folder, as the services would have."""
    root = app.extensions["arena.settings"].recordings_path

    def _store(relative: str, data: bytes = b"\x00\x00\x00\x18ftypmp42") -> str:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return relative

    return _store


@pytest.fixture
def talk(make_event, make_talk, session):
    event = make_event(slug="sociala-medier")
    talk = make_talk(event, slug="skapa-arenor", title="Skapa arenor!")
    session.commit()
    return talk


def add_recording(session, store, talk, *, published: bool) -> Recording:
    folder = f"{talk.event.slug}/{talk.slug}"
    recording = Recording(talk=talk, origin="upload", file_type="video/mp4",
                          file_path=store(f"{folder}/{unguessable_name('recording', '.mp4')}"),
                          captions_path=store(f"{folder}/{unguessable_name('captions', '.vtt')}",
                                              b"WEBVTT\n\n00:00.000 --> 00:01.000\nHej\n"),
                          thumbnail_path=store(f"{folder}/{unguessable_name('thumbnail', '.jpg')}",
                                               b"\xff\xd8\xff"),
                          published_at=datetime.now(UTC) if published else None)
    session.add(recording)
    session.commit()
    return recording


def files_of(recording: Recording) -> list[str]:
    return [f"/recordings/{name}" for name in (recording.file_path, recording.captions_path, recording.thumbnail_path)]


def add_stream(session, store, talk, *, ended_ago: timedelta | None) -> LiveStream:
    now = datetime.now(UTC)
    stream = LiveStream(talk_id=talk.id, active_talk_id=None if ended_ago else talk.id,
                        state=StreamState.ended if ended_ago else StreamState.live, video_codec="h264",
                        ended_at=now - ended_ago if ended_ago else None)
    session.add(stream)
    session.flush()
    stream.directory = f"{talk.event.slug}/{talk.slug}/live/{stream.id}"
    stream.archive_directory = f"{talk.event.slug}/{talk.slug}/archive/{stream.id}-0123456789abcdef01234567"
    store(f"{stream.directory}/index.m3u8", b"#EXTM3U\n")
    store(f"{stream.directory}/segment-000001.ts", b"G" * 188)
    stream.archive_path = store(f"{stream.archive_directory}/recording.mp4")
    session.commit()
    return stream


def test_an_unpublished_recording_is_not_found_by_the_public(client, session, store, talk):
    recording = add_recording(session, store, talk, published=False)

    answers = [client.get(url).status_code for url in files_of(recording)]

    assert answers == [404, 404, 404]


def test_an_organiser_fetches_an_unpublished_recording_and_no_shared_cache_keeps_it(organiser_client, session,
                                                                                     store, talk):
    recording = add_recording(session, store, talk, published=False)

    responses = [organiser_client.get(url) for url in files_of(recording)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert all(response.headers["Cache-Control"] == "private, no-cache" for response in responses)


def test_a_published_recording_is_served_to_everyone(client, session, store, talk):
    recording = add_recording(session, store, talk, published=True)

    responses = [client.get(url) for url in files_of(recording)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert responses[0].headers["Cache-Control"] == "public, max-age=3600"


def test_a_published_recording_of_a_draft_event_is_not_found_by_the_public(client, organiser_client, session,
                                                                           store, talk):
    talk.event.status = EventStatus.draft
    recording = add_recording(session, store, talk, published=True)

    assert client.get(files_of(recording)[0]).status_code == 404
    assert organiser_client.get(files_of(recording)[0]).status_code == 200


def test_unpublishing_a_recording_takes_its_file_away_again(client, session, store, talk):
    recording = add_recording(session, store, talk, published=True)
    assert client.get(files_of(recording)[0]).status_code == 200

    recording_edits.set_published(session, talk, False, actor=ORGANISER)
    session.commit()

    assert client.get(files_of(recording)[0]).status_code == 404


def test_the_speaker_of_the_talk_sees_its_unpublished_recording_and_no_other(role_client, make_talk, session,
                                                                            store, talk):
    other = make_talk(talk.event, slug="twitter-dygnet-runt")
    session.commit()
    own, others = add_recording(session, store, talk, published=False), add_recording(session, store, other,
                                                                                      published=False)
    speaker = role_client("speaker", event=talk.event, talk=talk, name="Mattias Jansson")

    assert speaker.get(files_of(own)[0]).status_code == 200
    assert speaker.get(files_of(others)[0]).status_code == 404


def test_a_replaced_recording_file_is_no_longer_public(client, session, store, talk):
    recording = add_recording(session, store, talk, published=True)
    old = files_of(recording)[0]

    recording.file_path = store(f"sociala-medier/skapa-arenor/{unguessable_name('recording', '.mp4')}")
    session.commit()

    assert client.get(old).status_code == 404
    assert client.get(files_of(recording)[0]).status_code == 200


def test_a_dotted_path_cannot_reach_an_unpublished_file(client, session, store, talk):
    recording = add_recording(session, store, talk, published=False)
    folder, name = recording.file_path.rsplit("/", 1)

    assert client.get(f"/recordings/{folder}/./{name}").status_code == 404
    assert client.get(f"/recordings/{folder}//{name}").status_code == 404


def test_live_hls_of_a_published_event_is_public_while_live(client, session, store, talk):
    stream = add_stream(session, store, talk, ended_ago=None)

    playlist = client.get(f"/recordings/{stream.directory}/index.m3u8")
    segment = client.get(f"/recordings/{stream.directory}/segment-000001.ts")
    archive = client.get(f"/recordings/{stream.archive_path}")

    assert (playlist.status_code, playlist.headers["Cache-Control"]) == (200, "no-cache")
    assert (segment.status_code, segment.headers["Cache-Control"]) == (200, "public, max-age=86400, immutable")
    assert archive.status_code == 404  # the recording is the organiser's to publish


def test_live_hls_plays_to_its_end_and_then_is_gone_for_the_public(client, organiser_client, session, store,
                                                                   make_talk, talk):
    just_ended = add_stream(session, store, talk, ended_ago=timedelta(seconds=20))
    long_ago = add_stream(session, store, make_talk(talk.event, slug="twitter"), ended_ago=timedelta(hours=2))

    assert client.get(f"/recordings/{just_ended.directory}/segment-000001.ts").status_code == 200
    assert client.get(f"/recordings/{long_ago.directory}/segment-000001.ts").status_code == 404
    assert organiser_client.get(f"/recordings/{long_ago.directory}/segment-000001.ts").status_code == 200


def test_live_hls_of_a_draft_event_is_not_public(client, session, store, talk):
    talk.event.status = EventStatus.draft
    stream = add_stream(session, store, talk, ended_ago=None)

    assert client.get(f"/recordings/{stream.directory}/index.m3u8").status_code == 404


def test_slides_and_photos_follow_their_event(client, organiser_client, session, store, make_event, make_talk,
                                              make_speaker):
    draft = make_event(slug="utkast", status=EventStatus.draft)
    published = make_event(slug="publicerad")
    hidden_talk, shown_talk = make_talk(draft, slug="a"), make_talk(published, slug="b")
    hidden_talk.slides_file = store("_uploads/slides/utkastets-bilder-abcdefghijklmnop.pdf", b"%PDF-1.4")
    shown_talk.slides_file = store("_uploads/slides/publicerade-bilder-abcdefghijklm.pdf", b"%PDF-1.4")
    hidden_speaker = make_speaker(draft)
    hidden_speaker.photo_path = store("_uploads/photos/utkastets-foto-abcdefghijklmnopq.jpg", b"\xff\xd8\xff")
    session.commit()

    assert client.get(f"/recordings/{shown_talk.slides_file}").status_code == 200
    assert client.get(f"/recordings/{hidden_talk.slides_file}").status_code == 404
    assert client.get(f"/recordings/{hidden_speaker.photo_path}").status_code == 404
    assert organiser_client.get(f"/recordings/{hidden_speaker.photo_path}").status_code == 200


def test_a_file_nothing_refers_to_is_for_organisers_only(client, organiser_client, store):
    name = store("sociala-medier/skapa-arenor/recording-1.mp4")  # an old name, left on disk

    assert client.get(f"/recordings/{name}").status_code == 404
    assert organiser_client.get(f"/recordings/{name}").status_code == 200


def test_a_web_server_in_front_can_ask_the_same_question(client, organiser_client, session, store, talk):
    recording = add_recording(session, store, talk, published=False)

    assert client.get(f"/media-access{files_of(recording)[0]}").status_code == 403
    assert organiser_client.get(f"/media-access{files_of(recording)[0]}").status_code == 204


def test_stored_names_are_random_and_not_derived_from_ids(session, talk, app):
    settings = app.extensions["arena.settings"]
    srt = b"1\n00:00:00,000 --> 00:00:01,000\nHej\n"
    add_recording(session, lambda relative, data=b"": relative, talk, published=False)

    first = recording_edits.save_captions(session, talk, srt, language="sv", settings=settings, actor=ORGANISER)
    first_name = first.captions_path
    second = recording_edits.save_captions(session, talk, srt, language="sv", settings=settings, actor=ORGANISER)

    assert re.fullmatch(rf"sociala-medier/skapa-arenor/captions-{TOKEN}\.vtt", first_name)
    assert second.captions_path != first_name
    assert len({unguessable_name("recording", ".mp4") for _ in range(1000)}) == 1000
