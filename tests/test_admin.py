"""The organisers' admin, as an organiser uses it: events, talks, speakers, programme order,
uploads, moderator and speaker links, the audit log and the public-records export. Every
refusal says why in the user's language and leaves nothing behind."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select

from server.models import AuditEntry, Event, EventStatus, RoleGrant, Speaker, Talk
from tests.conftest import at, form_token

SV = {"Accept-Language": "sv"}
EN = {"Accept-Language": "en"}


def post_form(client, path, data, *, form_path=None, headers=EN, files=None):
    """Post a form the way a browser does: with the CSRF token of the page it is on."""
    payload = {"csrf_token": form_token(client, form_path or path), **data}
    if files:
        payload.update(files)
    return client.post(path, data=payload, headers=headers, content_type="multipart/form-data" if files else None)


def page(response) -> str:
    return response.get_data(as_text=True)


def uploads(app) -> list[str]:
    root = app.extensions["arena.settings"].recordings_path / "_uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def image_bytes(kind: str, size=(320, 240), exif: bool = False) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 40))
    if exif:
        data = Image.Exif()
        data[0x010F] = "Camera maker that leaks"  # Make
        image.save(out, kind, exif=data)
    else:
        image.save(out, kind)
    return out.getvalue()


def pdf_bytes(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=960, height=540)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF = pdf_bytes()


# -- events -------------------------------------------------------------------------------

def test_organiser_creates_an_event_as_a_draft_and_publishes_it(organiser_client, session, make_talk):
    response = post_form(organiser_client, "/admin/events/new", {
        "title": "Sociala medier i offentlig sektor", "slug": "", "starts_on": "2026-11-24", "ends_on": "",
        "time_zone": "Europe/Stockholm", "organiser": "Kommunförbundet Norrbotten", "venue": "Luleå",
        "invitation_text": "Välkommen!"})
    assert response.status_code == 303
    event = session.scalars(select(Event)).one()
    assert (event.slug, event.status) == ("sociala-medier-i-offentlig-sektor", EventStatus.draft)
    assert organiser_client.get("/events/sociala-medier-i-offentlig-sektor/", headers=EN).status_code == 200
    anonymous = organiser_client.application.test_client()
    assert anonymous.get("/events/sociala-medier-i-offentlig-sektor/").status_code == 404

    make_talk(event, title="Skapa arenor!")
    session.commit()
    response = post_form(organiser_client, f"/admin/events/{event.slug}/status", {"status": "published"},
                         form_path=f"/admin/events/{event.slug}")
    anonymous = organiser_client.application.test_client()

    assert response.status_code == 303
    assert "Skapa arenor!" in page(anonymous.get(f"/events/{event.slug}/", headers=EN))
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["event.create", "event.publish"]


def test_publishing_an_event_without_talks_is_refused(organiser_client, make_event, session):
    event = make_event(status=EventStatus.draft)
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/status", {"status": "published"},
                         form_path=f"/admin/events/{event.slug}")
    shown = page(organiser_client.get(response.headers["Location"], headers=EN))

    assert "Add at least one talk before publishing the event." in shown
    session.expire_all()
    assert session.get(Event, event.id).status is EventStatus.draft


def test_unpublishing_hides_the_event_again(organiser_client, make_event, make_talk, session):
    event = make_event()
    make_talk(event)
    session.commit()

    post_form(organiser_client, f"/admin/events/{event.slug}/status", {"status": "draft"},
              form_path=f"/admin/events/{event.slug}")

    assert organiser_client.application.test_client().get(f"/events/{event.slug}/").status_code == 404


@pytest.mark.parametrize(("fields", "message"), [
    ({"title": ""}, "Fyll i det här fältet."),
    ({"ends_on": "2026-11-20"}, "Evenemanget kan inte sluta innan det har börjat."),
    ({"slug": "Stora Bokstäver"}, "Använd bara små bokstäver a-z (inte å, ä eller ö)"),
    ({"slug": "taken"}, "Ett annat evenemang har redan adressen ”taken”. ”taken-2026” är ledig"),
    ({"starts_on": "24/11/2026"}, None),
])
def test_event_form_refuses_bad_input_in_swedish_and_stores_nothing(organiser_client, make_event, session,
                                                                    fields, message):
    make_event(slug="taken")
    session.commit()
    data = {"title": "Ny dag", "slug": "ny-dag", "starts_on": "2026-11-24", "ends_on": "",
            "time_zone": "Europe/Stockholm", **fields}

    response = post_form(organiser_client, "/admin/events/new", data, headers=SV)

    assert response.status_code == 400
    assert 'aria-invalid="true"' in page(response)
    if message:
        assert message in page(response)
    assert session.scalar(select(func.count()).select_from(Event)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_moving_an_event_away_from_its_talks_is_refused(organiser_client, make_event, make_talk, session):
    event = make_event()
    make_talk(event, title="Skapa arenor!")
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}", {
        "title": event.title, "slug": event.slug, "starts_on": "2026-12-01", "ends_on": "",
        "time_zone": "Europe/Stockholm"})

    assert response.status_code == 400
    assert "Skapa arenor!" in page(response) and "outside the event&#39;s days" in page(response)


# -- talks --------------------------------------------------------------------------------

def talk_data(**overrides):
    data = {"title": "Skapa arenor!", "slug": "", "day": "2026-11-24", "starts": "10:00", "ends": "10:45",
            "invitation_text": "", "stream_url": "", "slides_url": ""}
    data.update(overrides)
    return data


def test_organiser_adds_a_talk_with_a_speaker_and_a_stream(organiser_client, make_event, make_speaker, session):
    event = make_event()
    speaker = make_speaker(event, name="Erik Kommunchef")
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", talk_data(
        speakers=str(speaker.id), stream_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        invitation_text="Hur **kommuner** skapar arenor."))
    talk = session.scalars(select(Talk)).one()
    edit_page = page(organiser_client.get(response.headers["Location"], headers=EN))

    assert response.status_code == 303
    assert talk.starts_at == at(10) and talk.ends_at == at(10, 45)
    assert [s.name for s in talk.speakers] == ["Erik Kommunchef"]
    assert "Recognised: YouTube." in edit_page
    public = page(organiser_client.get(f"/events/{event.slug}/{talk.slug}", headers=EN))
    assert "<strong>kommuner</strong>" in public and "Erik Kommunchef" in public


def test_talk_outside_its_events_day_is_refused_and_nothing_stored(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", talk_data(day="2026-11-25"),
                         headers=SV)

    assert response.status_code == 400
    assert "Passet måste äga rum under evenemanget." in page(response)
    assert session.scalar(select(func.count()).select_from(Talk)) == 0


def test_talk_that_ends_before_it_starts_is_refused(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", talk_data(starts="11:00",
                                                                                             ends="10:00"))

    assert response.status_code == 400
    assert "A talk must end after it starts." in page(response)


def test_unsupported_stream_address_is_refused_with_what_is_accepted(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new",
                         talk_data(stream_url="https://example.com/some-page"))

    assert response.status_code == 400
    assert "YouTube" in page(response) and 'id="stream_url-error"' in page(response)
    assert session.scalar(select(func.count()).select_from(Talk)) == 0


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://www.slideshare.net/kommunchef/skapa-arenor", True),
    ("https://speakerdeck.com/anna/sociala-medier", True),
    ("https://docs.google.com/presentation/d/abc/edit", True),
    ("https://www.kommun.se/files/bilder.pdf", True),
    ("https://example.com/slides", False),
    ("javascript:alert(1)", False),
])
def test_slide_addresses_are_checked(organiser_client, make_event, session, url, accepted):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", talk_data(slides_url=url))

    assert response.status_code == (303 if accepted else 400)
    assert session.scalar(select(func.count()).select_from(Talk)) == (1 if accepted else 0)


def test_invitation_text_preview_is_sanitised_and_not_saved(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event, invitation_text="Gammal text")
    session.commit()
    path = f"/admin/events/{event.slug}/talks/{talk.slug}"

    response = post_form(organiser_client, path, talk_data(
        title=talk.title, slug=talk.slug, preview="1",
        invitation_text="**Ny** text <script>alert('x')</script> [länk](javascript:alert(1))"))

    shown = page(response)
    assert response.status_code == 200
    assert "<strong>Ny</strong>" in shown
    assert "<script>alert" not in shown and 'href="javascript:' not in shown
    session.expire_all()
    assert session.get(Talk, talk.id).invitation_text == "Gammal text"


def test_editing_a_talk_is_logged_with_before_and_after(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event, title="Skapa arenor!", starts_at=at(10), ends_at=at(10, 45))
    session.commit()

    post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}",
              talk_data(title="Skapa arenor – igen", slug=talk.slug))
    audit_page = page(organiser_client.get(f"/admin/events/{event.slug}/audit", headers=EN))

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "talk.update")).one()
    assert entry.before == {"title": "Skapa arenor!"} and entry.after == {"title": "Skapa arenor – igen"}
    assert entry.actor == "Karin Kommunikatör" and entry.actor_role == "organiser"
    assert "Changed a talk" in audit_page and "Skapa arenor – igen" in audit_page


# -- daylight saving time -----------------------------------------------------------------

@pytest.mark.parametrize(("day", "zone", "starts", "ends"), [
    ("2026-03-29", "Europe/Stockholm", "02:15", "02:45"),  # was stored silently as 03:15-03:45
    ("2027-03-28", "Europe/Stockholm", "02:30", "03:15"),  # was a 500: ends "before" it starts
    ("2027-03-28", "Europe/Helsinki", "03:30", "04:30"),
])
def test_talk_in_the_hour_the_clocks_skip_is_refused_in_swedish(organiser_client, make_event, session, day, zone,
                                                                  starts, ends):
    event = make_event(starts_on=date.fromisoformat(day), time_zone=zone)
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new",
                         talk_data(day=day, starts=starts, ends=ends), headers=SV)

    assert response.status_code == 400
    assert "ställs klockan fram" in page(response) and f"{starts} finns inte" in page(response)
    assert 'id="starts-error"' in page(response)
    assert session.scalar(select(func.count()).select_from(Talk)) == 0


def test_talk_in_the_repeated_autumn_hour_asks_which_time_is_meant(organiser_client, make_event, session):
    event = make_event(starts_on=date(2026, 10, 25))
    session.commit()
    path = f"/admin/events/{event.slug}/talks/new"

    asked = post_form(organiser_client, path, talk_data(day="2026-10-25", starts="02:10", ends="02:50"), headers=SV)
    chosen = post_form(organiser_client, path, talk_data(day="2026-10-25", starts="02:10", ends="02:50",
                                                         starts_fold="later", ends_fold="later"), headers=SV)

    assert asked.status_code == 400
    assert "ställs klockan tillbaka" in page(asked) and "02:10 inträffar två gånger" in page(asked)
    assert "sommartid, UTC+02:00" in page(asked) and "vintertid, UTC+01:00" in page(asked)
    assert 'name="starts_fold"' in page(asked) and 'name="ends_fold"' in page(asked)
    assert chosen.status_code == 303
    talk = session.scalars(select(Talk)).one()
    assert talk.starts_at == datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert talk.ends_at == datetime(2026, 10, 25, 1, 50, tzinfo=UTC)


def test_talk_from_the_first_into_the_second_repeated_hour_is_compared_as_instants(organiser_client, make_event,
                                                                                   session):
    # 02:40 summer time to 02:10 winter time is 30 minutes, although 02:10 reads earlier.
    event = make_event(starts_on=date(2026, 10, 25))
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", talk_data(
        day="2026-10-25", starts="02:40", ends="02:10", starts_fold="earlier", ends_fold="later"))
    edit_page = page(organiser_client.get(response.headers["Location"], headers=SV))

    assert response.status_code == 303
    talk = session.scalars(select(Talk)).one()
    assert talk.ends_at - talk.starts_at == timedelta(minutes=30)
    assert re.search(r'value="earlier"[^>]*checked|checked[^>]*value="earlier"', edit_page)


# -- the audit log ------------------------------------------------------------------------

def test_saving_a_talk_unchanged_writes_nothing_to_the_audit_log(organiser_client, make_event, make_talk, session):
    event = make_event(starts_on=date(2026, 11, 29))
    talk = make_talk(event, title="Skapa arenor!", starts_at=at(10, 30, day=date(2026, 11, 29)),
                     ends_at=at(11, 15, day=date(2026, 11, 29)))
    session.commit()
    session.expire_all()  # as a real request finds it: read from the database, in UTC

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}", talk_data(
        title="Skapa arenor!", slug=talk.slug, day="2026-11-29", starts="10:30", ends="11:15"))

    assert response.status_code == 303
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "talk.update")).all() == []


def test_a_talks_new_time_is_logged_once_in_utc(organiser_client, make_event, make_talk, session):
    event = make_event(starts_on=date(2026, 11, 29))
    talk = make_talk(event, starts_at=at(9, 30, day=date(2026, 11, 29)), ends_at=at(10, 15, day=date(2026, 11, 29)))
    session.commit()
    session.expire_all()

    post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}", talk_data(
        title=talk.title, slug=talk.slug, day="2026-11-29", starts="10:30", ends="11:15"))
    archive = zipfile.ZipFile(io.BytesIO(organiser_client.get(f"/admin/events/{event.slug}/export.zip").data))

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "talk.update")).one()
    assert entry.before == {"starts_at": "2026-11-29T08:30:00+00:00", "ends_at": "2026-11-29T09:15:00+00:00"}
    assert entry.after == {"starts_at": "2026-11-29T09:30:00+00:00", "ends_at": "2026-11-29T10:15:00+00:00"}
    exported = [row for row in json.loads(archive.read("audit_log.json")) if row["action"] == "talk.update"]
    assert len(exported) == 1 and exported[0]["after"]["starts_at"] == "2026-11-29T09:30:00+00:00"


def audit_table_rows(body: str) -> list[list[str]]:
    """The audit table's body rows as the text of each cell, tags removed, spaces collapsed."""
    table = body[body.index("<tbody>"):body.index("</tbody>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)  # a cell may carry its column's data-label
        cells = [re.sub(r"<[^>]+>", "", re.sub(r"<br>|</dt>|</dd>", " ", cell)) for cell in cells]
        rows.append([" ".join(cell.split()) for cell in cells])
    return rows


def test_audit_page_in_swedish_says_what_was_done_to_what_in_words(organiser_client, make_event, make_talk,
                                                                    make_speaker, session):
    event = make_event(starts_on=date(2026, 11, 29))
    talk = make_talk(event, title="Skapa arenor!", starts_at=at(9, 30, day=date(2026, 11, 29)),
                     ends_at=at(10, 15, day=date(2026, 11, 29)))
    make_speaker(event, name="Mattias Jansson")
    session.commit()
    session.expire_all()
    post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}", talk_data(
        title="Skapa arenor!", slug=talk.slug, day="2026-11-29", starts="10:30", ends="11:15",
        invitation_text="Ny text"))

    body = page(organiser_client.get(f"/admin/events/{event.slug}/audit", headers=SV))

    when, who, what, before, after = audit_table_rows(body)[0]
    assert who == "Karin Kommunikatör (arrangör)"
    assert what == "Ändrade ett pass: Skapa arenor!"
    assert f'href="/admin/events/{event.slug}/talks/{talk.slug}"' in body
    assert before == "Börjar 2026-11-29 09:30 Slutar 2026-11-29 10:15 Inbjudningstext (inget)"
    assert after == "Börjar 2026-11-29 10:30 Slutar 2026-11-29 11:15 Inbjudningstext Ny text"
    assert "talk.update" not in body and "organiser)" not in body and "{" not in before + after


def test_audit_page_names_a_deleted_talk_without_a_link_and_recordings_in_words(organiser_client, make_event,
                                                                                 make_talk, session):
    from server.models import Recording, Role
    from server.services.recordings import edits as recording_edits
    from server.services.roles import Actor

    event = make_event()
    kept = make_talk(event, title="Twitter dygnet runt")
    mistake = make_talk(event, title="Fel pass")
    session.add(Recording(talk=kept, source_url="https://vimeo.com/76979871"))
    session.flush()
    actor = Actor(participant_id="test", role=Role.organiser, staff_name="Karin Kommunikatör")
    recording_edits.set_published(session, kept, True, actor=actor)
    session.commit()
    path = f"/admin/events/{event.slug}/talks/{mistake.slug}"
    organiser_client.post(path + "/delete", data={"csrf_token": form_token(organiser_client, path), "confirm": "yes"})

    rows = audit_table_rows(page(organiser_client.get(f"/admin/events/{event.slug}/audit", headers=SV)))

    assert rows[0][2] == "Tog bort ett pass: Fel pass"
    assert rows[1][2] == "Publicerade en inspelning: Inspelningen av ”Twitter dygnet runt”"
    assert rows[1][3:] == ["Publicerad på passets sida nej", "Publicerad på passets sida ja"]


def test_audit_page_shows_stream_keys_and_an_encoders_refusal_in_words(organiser_client, make_event, make_talk,
                                                                         session):
    from server.db import utcnow
    from server.models import Role
    from server.services import ingest, stream_keys
    from server.services.roles import Actor

    event = make_event()
    talk = make_talk(event, title="Sändning från scenen")
    actor = Actor(participant_id="test", role=Role.organiser, staff_name="Karin Kommunikatör")
    key = stream_keys.make(session, talk, actor, utcnow())
    session.flush()
    stored = stream_keys.active(session, talk.id)
    ingest.record_refusal(session, talk=talk, code="revoked_key", address="203.0.113.7", stream_key=stored)
    session.commit()

    body = page(organiser_client.get(f"/admin/events/{event.slug}/audit", headers=SV))
    rows = audit_table_rows(body)

    refused, made = rows[0], rows[1]
    assert refused[1] == "rtmp:203.0.113.7 (RTMP-kodare)"
    assert refused[2].endswith("Skäl: Strömnyckeln var återkallad eller ersatt av en ny")
    assert "Kodarens adress 203.0.113.7" in refused[4]
    assert made[2].endswith("Strömnyckeln för ”Sändning från scenen”")
    assert made[4] == f"Strömnyckel (fyra sista tecknen) {key[-4:]}"
    assert f'href="/admin/events/{event.slug}/talks/{talk.slug}/live-video"' in body
    assert key not in body and "revoked_key" not in body


# -- programme order ----------------------------------------------------------------------

def test_moving_a_talk_up_swaps_the_slots_and_keeps_lengths_and_the_break(organiser_client, make_event, make_talk,
                                                                         session):
    event = make_event()
    first = make_talk(event, title="Först", starts_at=at(9), ends_at=at(10))
    second = make_talk(event, title="Sedan", starts_at=at(10, 15), ends_at=at(10, 45))
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{second.slug}/move",
                         {"direction": "up"}, form_path=f"/admin/events/{event.slug}")

    session.expire_all()
    moved, other = session.get(Talk, second.id), session.get(Talk, first.id)
    assert (moved.starts_at, moved.ends_at) == (at(9), at(9, 30))
    assert (other.starts_at, other.ends_at) == (at(9, 45), at(10, 45))
    assert response.headers["Location"].endswith(f"#move-{second.slug}-up")
    listing = page(organiser_client.get(f"/admin/events/{event.slug}"))
    titles = re.findall(r'talks/(?!new")[a-z0-9-]+">([^<]+)</a>', listing)
    assert titles == ["Sedan", "Först"]


def test_moving_the_first_talk_up_is_refused_with_a_message(organiser_client, make_event, make_talk, session):
    event = make_event()
    first = make_talk(event, starts_at=at(9), ends_at=at(10))
    make_talk(event, starts_at=at(10), ends_at=at(11))
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{first.slug}/move",
                         {"direction": "up"}, form_path=f"/admin/events/{event.slug}")

    assert "This talk is already first." in page(organiser_client.get(response.headers["Location"], headers=EN))
    session.expire_all()
    assert session.get(Talk, first.id).starts_at == at(9)


def test_programme_order_buttons_are_real_buttons_named_after_the_talk(organiser_client, make_event, make_talk,
                                                                      session):
    event = make_event()
    make_talk(event, title="Först", starts_at=at(9), ends_at=at(10))
    make_talk(event, title="Sedan", starts_at=at(10), ends_at=at(11))
    session.commit()

    shown = page(organiser_client.get(f"/admin/events/{event.slug}", headers=EN))

    assert re.search(r'<button[^>]*disabled>\s*Move up<span class="visually-hidden">: Först', shown)
    assert re.search(r'<button[^>]*>\s*Move down<span class="visually-hidden">: Först', shown)


# -- speakers and photos ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_speaker_photo_is_stored_under_a_generated_name_without_metadata(organiser_client, make_event, session, app,
                                                                       kind):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/speakers/new", {
        "name": "Anna Karlsson", "role": "kommunchef", "bio": "", "links": "LinkedIn | https://www.linkedin.com/in/anna"},
        files={"photo": (io.BytesIO(image_bytes(kind, exif=True)), "../../../etc/anna.php")})

    assert response.status_code == 303
    speaker = session.scalars(select(Speaker)).one()
    assert re.fullmatch(r"_uploads/photos/[A-Za-z0-9_-]{24}\.(jpg|png|webp)", speaker.photo_path)
    assert speaker.links == [{"label": "LinkedIn", "url": "https://www.linkedin.com/in/anna"}]
    stored = app.extensions["arena.settings"].recordings_path / speaker.photo_path
    with Image.open(stored) as image:
        assert image.format == kind and not image.getexif()
    served = organiser_client.get(f"/recordings/{speaker.photo_path}")
    assert served.status_code == 200


@pytest.mark.parametrize(("content", "name", "message"), [
    (PDF, "photo.jpg", "The photo must be a JPEG, PNG or WebP image."),
    (b"<?php system($_GET['c']); ?>", "photo.png", "The photo must be a JPEG, PNG or WebP image."),
    (image_bytes("PNG")[:200], "cut.png", "The photo must be a JPEG, PNG or WebP image."),
    (image_bytes("GIF"), "anim.gif", "The photo must be a JPEG, PNG or WebP image."),
    (b"", "empty.jpg", "The file is empty."),
    (image_bytes("PNG") + b"\0" * (5 * 1024 * 1024), "huge.png", "The photo is larger than 5 MB."),
])
def test_bad_photo_is_refused_and_nothing_is_stored(organiser_client, make_event, session, app, content, name,
                                                    message):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/speakers/new",
                         {"name": "Anna Karlsson", "role": "", "bio": "", "links": ""},
                         files={"photo": (io.BytesIO(content), name)})

    assert response.status_code == 400
    assert message in page(response)
    assert session.scalar(select(func.count()).select_from(Speaker)) == 0
    assert uploads(app) == []


def test_refused_photo_keeps_the_speakers_other_changes_unsaved(organiser_client, make_event, make_speaker, session,
                                                                app):
    event = make_event()
    speaker = make_speaker(event, name="Anna Karlsson")
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/speakers/{speaker.id}",
                         {"name": "Anna K", "role": "", "bio": "", "links": ""},
                         files={"photo": (io.BytesIO(PDF), "anna.webp")}, headers=SV)

    assert response.status_code == 400
    assert "Fotot måste vara en JPEG-, PNG- eller WebP-bild." in page(response)
    session.expire_all()
    assert session.get(Speaker, speaker.id).name == "Anna Karlsson"
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_bad_speaker_link_is_refused_naming_its_line(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/speakers/new", {
        "name": "Anna", "role": "", "bio": "", "links": "Webb | https://kommun.se\nFarlig | javascript:alert(1)"})

    assert response.status_code == 400
    assert "Line 2: give a web address" in page(response)


# -- slides -------------------------------------------------------------------------------

def test_uploaded_pdf_slides_show_in_an_embedded_viewer(organiser_client, make_event, make_talk, session, app):
    event = make_event()
    talk = make_talk(event)
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}",
                         talk_data(title=talk.title, slug=talk.slug),
                         files={"slides_file": (io.BytesIO(PDF), "bilder.pdf")})

    assert response.status_code == 303
    session.expire_all()
    slides = session.get(Talk, talk.id).slides_file
    assert re.fullmatch(r"_uploads/slides/[A-Za-z0-9_-]{24}\.pdf", slides)
    public = page(organiser_client.get(f"/events/{event.slug}/{talk.slug}", headers=EN))
    assert f'src="/recordings/{slides}"' in public and "<iframe" in public
    served = organiser_client.get(f"/recordings/{slides}")
    assert served.mimetype == "application/pdf"


@pytest.mark.parametrize(("content", "message"), [
    (image_bytes("PNG"), "The slide deck must be a PDF file."),
    (b"%PDF-1.4\nthis is not really a pdf", "The slide deck must be a PDF file."),
    (PDF + b"\0" * (50 * 1024 * 1024), "The slide deck is larger than 50 MB."),
])
def test_bad_slides_are_refused_and_nothing_is_stored(organiser_client, make_event, make_talk, session, app, content,
                                                      message):
    event = make_event()
    talk = make_talk(event, title="Före")
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}",
                         talk_data(title="Efter", slug=talk.slug),
                         files={"slides_file": (io.BytesIO(content), "bilder.pdf")})

    assert response.status_code == 400
    assert message in page(response)
    session.expire_all()
    assert session.get(Talk, talk.id).title == "Före" and session.get(Talk, talk.id).slides_file is None
    assert uploads(app) == []


# -- moderators and speaker links ---------------------------------------------------------

def test_organiser_makes_a_moderator_link_that_signs_in_and_can_be_withdrawn(organiser_client, make_event, make_talk,
                                                                             session, app):
    event = make_event()
    make_talk(event)
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/people/moderators",
                         {"moderator-name": "Maja Moderator", "moderator-valid_days": "7"},
                         form_path=f"/admin/events/{event.slug}/people")
    people = page(organiser_client.get(f"/admin/events/{event.slug}/people", headers=EN))
    link = re.search(r'value="(http://arena.test/staff/sign-in/[^"]+)"', people).group(1)
    moderator = app.test_client()
    signed_in = moderator.get(link.removeprefix("http://arena.test"))
    grant = session.scalars(select(RoleGrant)).one()

    assert response.status_code == 303 and signed_in.status_code == 303
    assert "Signed in as Maja Moderator" in page(moderator.get("/", headers=EN))

    post_form(organiser_client, f"/admin/events/{event.slug}/people/{grant.id}/revoke", {},
              form_path=f"/admin/events/{event.slug}/people")
    again = app.test_client().get(link.removeprefix("http://arena.test"), headers=EN)

    assert again.status_code == 403 and "This sign-in link has been withdrawn." in page(again)
    assert "Signed in as" not in page(moderator.get("/", headers=EN))
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["grant.moderator", "grant.revoke"]


def test_speaker_invitation_is_tied_to_one_talk(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event, title="Skapa arenor!")
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/people/speakers",
                         {"invite-name": "Erik Kommunchef", "invite-talk": str(talk.id), "invite-valid_days": "14"},
                         form_path=f"/admin/events/{event.slug}/people")

    grant = session.scalars(select(RoleGrant)).one()
    assert response.status_code == 303
    assert (grant.role.value, grant.talk_id, grant.event_id) == ("speaker", talk.id, event.id)
    assert grant.expires_at - grant.created_at == timedelta(days=14)


def test_moderator_link_with_bad_days_is_refused(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/people/moderators",
                         {"moderator-name": "Maja", "moderator-valid_days": "400"},
                         form_path=f"/admin/events/{event.slug}/people")

    assert response.status_code == 400 and "From 1 to 366 days." in page(response)
    assert session.scalar(select(func.count()).select_from(RoleGrant)) == 0


# -- export -------------------------------------------------------------------------------

def test_export_downloads_from_the_admin_with_every_table(organiser_client, make_event, make_talk, session):
    event = make_event(title="Dag om sociala medier")
    make_talk(event, title="Skapa arenor!")
    session.commit()

    response = organiser_client.get(f"/admin/events/{event.slug}/export.zip")

    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename={event.slug}-export-' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    talks_csv = archive.read("talks.csv").decode("utf-8")
    assert talks_csv.startswith("\ufeff")
    rows = csv.DictReader(io.StringIO(talks_csv.lstrip("\ufeff")), delimiter=";")
    assert [row["title"] for row in rows] == ["Skapa arenor!"]
    assert "audit_log.json" in archive.namelist()
    assert session.scalars(select(AuditEntry.action)).all() == ["event.export"]


# -- deleting mistakes ----------------------------------------------------------------------

def test_a_talk_added_by_mistake_is_deleted_after_confirming(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event, title="Fel pass")
    session.commit()
    path = f"/admin/events/{event.slug}/talks/{talk.slug}"

    unconfirmed = post_form(organiser_client, f"{path}/delete", {}, form_path=path)
    assert session.scalar(select(func.count()).select_from(Talk)) == 1
    assert "Tick the box" in page(organiser_client.get(unconfirmed.headers["Location"], headers=EN))

    deleted = post_form(organiser_client, f"{path}/delete", {"confirm": "yes"}, form_path=path)

    assert deleted.status_code == 303
    assert session.scalar(select(func.count()).select_from(Talk)) == 0
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "talk.delete")).one()
    assert entry.before["title"] == "Fel pass"


def test_a_talk_with_chat_is_a_record_and_cannot_be_deleted(organiser_client, make_event, make_talk, session):
    from server.services import chat

    event = make_event()
    talk = make_talk(event, title="Sagt och gjort")
    chat.post_message(session, talk, participant_id="p-anna", display_name="Anna", body="Hej!", client_id="c-0001-hej",
                      max_length=500)
    session.commit()
    path = f"/admin/events/{event.slug}/talks/{talk.slug}"

    response = post_form(organiser_client, f"{path}/delete", {"confirm": "yes"}, form_path=path)

    assert "public records, so it cannot be deleted" in page(organiser_client.get(response.headers["Location"],
                                                                                  headers=EN))
    assert session.scalar(select(func.count()).select_from(Talk)) == 1


def test_deleting_a_speaker_keeps_their_talks(organiser_client, make_event, make_speaker, make_talk, session):
    event = make_event()
    speaker = make_speaker(event, name="Fel Person")
    talk = make_talk(event, speakers=[speaker])
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/{speaker.id}"

    post_form(organiser_client, f"{path}/delete", {"confirm": "yes"}, form_path=path)

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Speaker)) == 0
    assert session.get(Talk, talk.id).speakers == []


# -- live status by hand ------------------------------------------------------------------

def test_organiser_marks_a_youtube_talk_live_and_then_ended(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event, title="Sänds på YouTube", stream_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                     starts_at=at(10), ends_at=at(10, 45))  # on a coming day: not live by its times
    session.commit()
    api, path = f"/api/events/{event.slug}", f"/admin/events/{event.slug}/talks/{talk.slug}"
    assert organiser_client.get(api).json["talks"][0]["live"] is False

    statuses = []
    for state in ("live", "ended"):
        response = post_form(organiser_client, path, talk_data(title=talk.title, slug=talk.slug,
                                                               stream_url=talk.stream_url, live_state=state))
        assert response.status_code == 303
        statuses.append(organiser_client.get(api).json["talks"][0]["live"])

    assert statuses == [True, False]
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "talk.update").order_by(AuditEntry.id))
    assert [entry.after for entry in entries] == [{"live_state": "live"}, {"live_state": "ended"}]


def test_an_unknown_live_status_is_refused(organiser_client, make_event, make_talk, session):
    event = make_event()
    talk = make_talk(event)
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}",
                         talk_data(title=talk.title, slug=talk.slug, live_state="on-fire"))

    assert response.status_code == 400
    session.expire_all()
    assert session.get(Talk, talk.id).live_state.value == "scheduled"


def test_the_live_status_is_the_studios_while_a_speaker_is_live_there(organiser_client, make_event, make_talk,
                                                                      session):
    from server.models import LiveState, LiveStream

    event = make_event()
    talk = make_talk(event)
    talk.live_state = LiveState.live
    session.add(LiveStream(talk_id=talk.id, active_talk_id=talk.id, publisher_name="Erik Talare"))
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/talks/{talk.slug}",
                         talk_data(title=talk.title, slug=talk.slug, live_state="ended"))

    assert response.status_code == 400
    assert "The speaker is live from the studio now." in page(response)
    session.expire_all()
    assert session.get(Talk, talk.id).live_state is LiveState.live
