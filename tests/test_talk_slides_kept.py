"""A PDF chosen on the talk form survives the form coming back (a preview of the text, a field
to correct): checked once, kept under a token only its organiser's form can use, saved with
the talk, removable, and gone when its time is up."""

import io
import json
import re

import pytest
from sqlalchemy import select

from server.models import AuditEntry, Talk
from tests.test_admin import EN, PDF, SV, page, post_form, talk_data, uploads

pytestmark = pytest.mark.both_databases


def kept_token(html: str) -> str:
    return re.search(r'name="kept_slides" value="([^"]+)"', html).group(1)


def kept_files(app) -> list[str]:
    return [name for name in uploads(app) if name.startswith(".kept/")]


@pytest.fixture
def talk(make_event, make_talk, session):
    event = make_event(slug="sociala-medier")
    talk = make_talk(event, title="Skapa arenor!", slug="skapa-arenor")
    session.commit()
    return talk


def form_path(talk) -> str:
    return f"/admin/events/{talk.event.slug}/talks/{talk.slug}"


def preview_with_pdf(client, talk, *, name="deck.pdf", data=PDF, headers=EN):
    return post_form(client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                        invitation_text="## Program", preview="1"),
                     files={"slides_file": (io.BytesIO(data), name)}, headers=headers)


def test_preview_keeps_the_chosen_pdf_and_saving_gives_the_talk_its_slides(organiser_client, session, talk, app):
    preview = preview_with_pdf(organiser_client, talk, headers=SV)
    html = page(preview)

    assert preview.status_code == 200 and "<h3>Program</h3>" in html  # the preview itself
    assert "Vald fil: deck.pdf" in html and "Använd inte den här filen" in html
    assert len(kept_files(app)) == 2  # the PDF and its note, not among the served uploads
    assert not any(name.startswith("slides/") for name in uploads(app))
    assert organiser_client.get(f"/recordings/_uploads/.kept/{kept_token(html)}.pdf").status_code == 404

    saved = post_form(organiser_client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                                   kept_slides=kept_token(html)))

    assert saved.status_code == 303
    session.expire_all()
    slides = session.get(Talk, talk.id).slides_file
    assert slides and re.fullmatch(r"_uploads/slides/[A-Za-z0-9_-]{24}\.pdf", slides)
    assert organiser_client.get(f"/recordings/{slides}").data == PDF
    assert kept_files(app) == []
    actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("talk.slides") == 1
    public = page(organiser_client.get(f"/events/{talk.event.slug}/{talk.slug}", headers=EN))
    assert "Download the slides (PDF)" in public


def test_preview_on_a_new_talk_keeps_the_pdf_until_the_talk_is_added(organiser_client, session, make_event, app):
    event = make_event(slug="sociala-medier")
    session.commit()
    path = f"/admin/events/{event.slug}/talks/new"
    preview = post_form(organiser_client, path, talk_data(preview="1"),
                        files={"slides_file": (io.BytesIO(PDF), "bilder.pdf")})

    added = post_form(organiser_client, path, talk_data(kept_slides=kept_token(page(preview))))

    assert added.status_code == 303
    session.expire_all()
    talk = session.scalars(select(Talk)).one()
    assert talk.slides_file and talk.slides_file.startswith("_uploads/slides/")
    assert kept_files(app) == []


def test_kept_pdf_can_be_let_go_before_saving(organiser_client, session, talk, app):
    token = kept_token(page(preview_with_pdf(organiser_client, talk)))

    saved = post_form(organiser_client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                                   kept_slides=token, remove_kept_slides="1"))

    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Talk, talk.id).slides_file is None
    assert kept_files(app) == []


def test_kept_pdf_is_only_for_the_form_it_was_chosen_on(organiser_client, session, talk, make_talk, app):
    other = make_talk(talk.event, title="Twitter dygnet runt", slug="twitter")
    session.commit()
    token = kept_token(page(preview_with_pdf(organiser_client, talk)))

    post_form(organiser_client, form_path(other), talk_data(title=other.title, slug=other.slug, kept_slides=token))

    session.expire_all()
    assert session.get(Talk, other.id).slides_file is None
    assert len(kept_files(app)) == 2  # still there for its own form


def test_kept_pdf_expires_and_is_cleaned_up(organiser_client, session, talk, app):
    token = kept_token(page(preview_with_pdf(organiser_client, talk)))
    note = app.extensions["arena.settings"].recordings_path / "_uploads" / ".kept" / f"{token}.json"
    note.write_text(json.dumps({**json.loads(note.read_text()), "expires": 0}))

    saved = post_form(organiser_client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                                   kept_slides=token))

    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Talk, talk.id).slides_file is None
    assert kept_files(app) == []


def test_refused_save_keeps_the_checked_pdf_for_the_corrected_one(organiser_client, session, talk, app):
    refused = post_form(organiser_client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                                     starts="11:00", ends="10:00"),
                        files={"slides_file": (io.BytesIO(PDF), "deck.pdf")})
    html = page(refused)

    assert refused.status_code == 400 and "Chosen file: deck.pdf" in html
    saved = post_form(organiser_client, form_path(talk), talk_data(title=talk.title, slug=talk.slug,
                                                                   kept_slides=kept_token(html)))
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Talk, talk.id).slides_file.startswith("_uploads/slides/")


def test_preview_with_a_file_that_is_not_a_pdf_says_so_beside_the_field(organiser_client, talk, app):
    preview = preview_with_pdf(organiser_client, talk, name="deck.pdf", data=b"not a pdf at all")
    html = page(preview)

    assert "The slide deck must be a PDF file." in html and 'name="kept_slides"' not in html
    assert uploads(app) == []
