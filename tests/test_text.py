"""Organisers' Markdown as the public reads it: headings and tables on the page (in the page's
outline, sanitised, accessible), and as readable plain text in iCalendar, the podcast feed and
the meta descriptions (no markup, no pipes)."""

import re
from html import unescape
from xml.etree import ElementTree as ET

import pytest
from icalendar import Calendar

from server.models import Recording
from server.services.text import plain_summary, plain_text, render_markdown
from tests.conftest import at

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"

INVITATION = """# Om passet

Kommunchefen om **arenor** för samtal, se [kommunens sida](https://www.katrineholm.se/kommunchef).

## Program

| Tid | Pass |
|:--|--:|
| 09:00 | Skapa *arenor* |
| 10:00 | Twitter dygnet runt |

- Sänds live
- Frågor i chatten
"""


@pytest.fixture
def talk(session, make_event, make_talk):
    event = make_event(slug="sociala-medier", title="Sociala medier i offentlig sektor", invitation_text=INVITATION)
    talk = make_talk(event, title="Skapa arenor!", slug="skapa-arenor", starts_at=at(9), invitation_text=INVITATION)
    session.commit()
    return talk


def test_markdown_headings_start_below_the_heading_the_page_puts_them_under():
    html = render_markdown("# Om passet\n\ntext\n\n## Program\n\n### Förmiddag")

    assert "<h3>Om passet</h3>" in html and "<h4>Program</h4>" in html and "<h5>Förmiddag</h5>" in html
    assert "<h3>Bara en</h3>" in render_markdown("### Bara en")
    assert "<h2>Om dagen</h2>" in render_markdown("# Om dagen", top_level=2)


def test_markdown_table_has_column_headers_in_a_region_that_scrolls():
    html = render_markdown(INVITATION)

    assert re.search(r'<div class="table-scroll" role="region" tabindex="0" aria-label="[^"]*Tid, Pass">\s*<table>',
                     html)
    assert '<th class="align-left" scope="col">Tid</th>' in html
    assert '<td class="align-right">Skapa <em>arenor</em></td>' in html
    assert "|" not in html and "style=" not in html


def test_markdown_table_cells_are_sanitised_like_any_text():
    html = render_markdown('| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |\n'
                           '| <div onclick="x()">d</div> | <th scope="row">t</th> |')

    assert "<script" not in html and 'href="javascript' not in html
    assert "<div onclick" not in html and '<th scope="row">' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as the text it is


def test_plain_text_reads_headings_lists_tables_and_links_without_markup():
    text = plain_text(INVITATION)

    assert text.splitlines()[:2] == ["Om passet", "Kommunchefen om arenor för samtal, se kommunens sida "
                                                  "(https://www.katrineholm.se/kommunchef)."]
    assert "Program\nTid; Pass\n09:00; Skapa arenor\n10:00; Twitter dygnet runt" in text
    assert "- Sänds live\n- Frågor i chatten" in text
    assert not re.search(r"[|#*\[\]]", text)
    summary = plain_summary(INVITATION)
    assert summary.startswith("Om passet. Kommunchefen om arenor")
    assert "Program. Tid; Pass. 09:00; Skapa arenor." in summary
    assert "\n" not in summary and "|" not in summary and "#" not in summary


def test_talk_page_shows_the_heading_and_the_table(client, talk):
    html = client.get("/events/sociala-medier/skapa-arenor").get_data(as_text=True)

    about = html[html.index('id="about-heading"'):]
    assert "<h3>Om passet</h3>" in about and "<h4>Program</h4>" in about
    assert '<th class="align-left" scope="col">Tid</th>' in about and "| Tid |" not in html
    description = re.search(r'<meta property="og:description" content="([^"]*)"', html).group(1)
    assert unescape(description).startswith("Om passet. Kommunchefen om arenor")
    assert "|" not in description and "#" not in description


def test_event_page_puts_the_events_headings_under_its_title(client, talk):
    html = client.get("/events/sociala-medier/").get_data(as_text=True)

    assert "<h2>Om passet</h2>" in html  # the event's own text, under the page's h1
    card_level = int(re.search(r'<h(\d) id="talk-\d+-title"', html).group(1))
    assert f"<h{card_level + 1}>Om passet</h{card_level + 1}>" in html  # a talk's text, under its card's title


def test_ics_description_is_readable_plain_text(client, talk):
    calendar = Calendar.from_ical(client.get("/events/sociala-medier.ics").data)

    description = str(calendar.walk("VEVENT")[0]["DESCRIPTION"])
    assert "Om passet\nKommunchefen om arenor" in description
    assert "Tid; Pass\n09:00; Skapa arenor" in description and "- Sänds live" in description
    assert "kommunens sida (https://www.katrineholm.se/kommunchef)" in description
    assert not re.search(r"[|#*]", description)


def test_podcast_description_is_readable_plain_text(client, talk):
    feed = ET.fromstring(client.get("/events/sociala-medier/podcast.xml").data)

    description = feed.find("channel/description").text
    assert "Program\nTid; Pass\n09:00; Skapa arenor" in description
    assert not re.search(r"[|#*]", description)


# -- text pasted from a web page --------------------------------------------------------------

PASTED = ("Välkommen&nbsp;till <strong>Arena</strong>&nbsp;&ndash; dagen om sociala&nbsp;medier.<br>"
          "Anmälan&nbsp;senast 1&nbsp;december.")
READ = "Välkommen\xa0till Arena\xa0– dagen om sociala\xa0medier. Anmälan\xa0senast 1\xa0december."


@pytest.fixture
def pasted(session, make_event, make_talk):
    event = make_event(slug="pasted", title="Sociala medier", invitation_text=PASTED)
    talk = make_talk(event, title="Skapa arenor!", slug="skapa-arenor", starts_at=at(9), invitation_text=PASTED)
    session.add(Recording(talk=talk, source_url="https://vimeo.com/76979871", published_at=at(12)))
    session.commit()
    return talk


def test_ics_description_of_pasted_html_has_its_characters_not_entities(client, pasted):
    calendar = Calendar.from_ical(client.get("/events/pasted.ics").data)

    description = str(calendar.walk("VEVENT")[0]["DESCRIPTION"])
    assert description.startswith(READ)
    assert "&" not in description and "<" not in description


def test_podcast_descriptions_of_pasted_html_have_their_characters_not_entities(client, pasted):
    channel = ET.fromstring(client.get("/events/pasted/podcast.xml").data).find("channel")

    item = channel.find("item")
    assert channel.findtext("description") == READ
    assert channel.findtext(f"{ITUNES}summary") == READ
    assert item.findtext("description").endswith(READ) and item.findtext(f"{ITUNES}summary").endswith(READ)
    for text in (channel.findtext("description"), item.findtext("description")):
        assert "&" not in text and "<" not in text


@pytest.mark.parametrize("url", ["/events/pasted/", "/events/pasted/skapa-arenor"])
def test_page_share_description_of_pasted_html_reads_as_words(client, pasted, url):
    html = client.get(url).get_data(as_text=True)

    description = unescape(re.search(r'<meta property="og:description" content="([^"]*)"', html).group(1))
    assert description == "Välkommen till Arena – dagen om sociala medier. Anmälan senast 1 december."


def test_plain_text_never_holds_a_tag_even_from_escaped_markup():
    # A podcast app renders an RSS description as HTML, so no way of writing a tag may survive.
    sources = ["&lt;script&gt;alert(1)&lt;/script&gt; kvar", "&amp;lt;img src=x onerror=alert(1)&amp;gt; kvar",
               "<<b>script>alert(1)</script> kvar", "`<img src=x onerror=alert(1)>` kvar",
               "<!-- dolt --> kvar", "<img src=x onerror=alert(1) kvar"]

    for source in sources:
        for text in (plain_text(source), plain_summary(source)):
            assert not re.search(r"<[A-Za-z/!?]", text), (source, text)
            assert "kvar" in text


def test_plain_text_keeps_a_less_than_sign_that_is_no_tag():
    assert plain_text("Om 5 < 7 och &lt;3") == "Om 5 < 7 och <3"
    assert plain_text("Räksmörgås &amp; kaffe, &quot;gratis&quot;") == 'Räksmörgås & kaffe, "gratis"'
