"""A speaker's links as organisers type them: "Text | https://…", a bare address, or the text
and then the address; anything else is refused with a message that says what a line should be."""

import pytest

from server.services.errors import ValidationError
from server.services.programme import parse_links
from tests.test_admin import SV, page, post_form

pytestmark = pytest.mark.both_databases


def test_links_bare_address_line_is_labelled_with_its_host():
    links = parse_links("https://www.katrineholm.se/kommunchef\nSlides | https://www.slideshare.net/kommunchef")

    assert links == [{"label": "www.katrineholm.se", "url": "https://www.katrineholm.se/kommunchef"},
                     {"label": "Slides", "url": "https://www.slideshare.net/kommunchef"}]


def test_links_text_then_address_without_a_bar_is_taken_as_meant():
    links = parse_links("Helens blogg https://helalf.se/helen/")

    assert links == [{"label": "Helens blogg", "url": "https://helalf.se/helen/"}]


def test_links_line_without_bar_or_address_is_refused_with_the_expected_form(organiser_client, make_event, session):
    event = make_event()
    session.commit()

    response = post_form(organiser_client, f"/admin/events/{event.slug}/speakers/new", {
        "name": "Anna", "role": "", "bio": "", "links": "Webb | https://kommun.se\nMin webbplats www.vrg.se"},
        headers=SV)

    assert response.status_code == 400
    assert "Rad 2: skriv en länk som ”Text | https://…”" in page(response)
    with pytest.raises(ValidationError) as refused:
        parse_links("LinkedIn")
    assert "Text | https://" in str(refused.value.message)
