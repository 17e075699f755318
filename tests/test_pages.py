"""The public pages, as a participant who opens a shared link sees them."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest

from server.models import EventStatus, Recording
from tests.conftest import at

EVENT_URL = "/events/sociala-medier-i-offentlig-sektor/"
TALK_URL = EVENT_URL + "skapa-arenor"


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_home_lists_the_published_event(client, demo_event):
    response = client.get("/")

    assert response.status_code == 200
    assert demo_event.title in text_of(response)


def test_home_without_events_says_so(client):
    response = client.get("/", headers={"Accept-Language": "en"})

    assert "No events are announced yet." in text_of(response)


def test_home_hides_draft_events(client, make_event, session):
    make_event(title="Hemligt utkast", status=EventStatus.draft)
    session.commit()

    assert "Hemligt utkast" not in text_of(client.get("/"))


def test_event_page_shows_programme_with_speakers_and_slides(client, demo_event):
    body = text_of(client.get(EVENT_URL))

    for title in ("Skapa arenor!", "Twitter dygnet runt", "Berika undervisningen med sociala medier"):
        assert title in body
    for name in ("Mattias Jansson", "Helen Alfvegren", "Anna Karlsson"):
        assert name in body
    assert "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor" in body
    assert 'href="/events/sociala-medier-i-offentlig-sektor.ics"' in body


def test_event_page_shows_times_in_the_event_time_zone(client, demo_event):
    body = text_of(client.get(EVENT_URL, headers={"Accept-Language": "sv"}))

    # 09:30 Stockholm (08:30 UTC) as the programme says it.
    assert re.search(r">09:30</time>", body)
    assert "Europe/Stockholm" in body


def test_event_page_marks_the_live_talk(client, session, make_event, make_talk, monkeypatch):
    event = make_event()
    make_talk(event, title="Pågår", starts_at=at(10), ends_at=at(11),
              stream_url="https://www.youtube.com/watch?v=M7lc1UVf-VE")
    make_talk(event, title="Senare", starts_at=at(13), ends_at=at(14),
              stream_url="https://www.youtube.com/watch?v=M7lc1UVf-VE")
    session.commit()
    monkeypatch.setattr("server.web.public.utcnow", lambda: at(10, 30))

    body = text_of(client.get(f"/events/{event.slug}/", headers={"Accept-Language": "en"}))

    live_cards = re.findall(r'<article class="talk-card is-live".*?</article>', body, re.S)
    assert len(live_cards) == 1
    assert "Pågår" in live_cards[0] and ">Live</strong>" in live_cards[0]


def test_talk_page_shows_invitation_speaker_bio_links_and_slides(client, demo_event):
    body = text_of(client.get(TALK_URL))

    assert "<h1 id=\"talk-title\">Skapa arenor!</h1>" in body
    assert "kommunchef sända sina föreläsningar live" in body
    assert "Kommunchef, Katrineholms kommun" in body
    assert "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor" in body


def test_talk_page_puts_youtube_behind_a_facade_without_loading_it(client, demo_event):
    body = text_of(client.get(TALK_URL, headers={"Accept-Language": "en"}))

    assert 'data-player-url="https://www.youtube-nocookie.com/embed/M7lc1UVf-VE"' in body
    assert "Play the video from YouTube" in body
    # Nothing that the browser would fetch by itself points at a third party.
    assert not re.search(r'<(iframe|script|img|link)[^>]+(src|href)="https?://(?!arena\.test)', body)


def test_talk_page_shows_a_published_recording(client, session, demo_event):
    talk = demo_event.talks[1]
    talk.recording = Recording(source_url="https://vimeo.com/76979871",
                               published_at=datetime(2026, 11, 25, tzinfo=UTC))
    session.commit()

    body = text_of(client.get(EVENT_URL + talk.slug))

    assert 'id="recording"' in body
    assert "https://player.vimeo.com/video/76979871" in body


def test_share_links_are_plain_links_with_the_page_address(client, demo_event):
    body = text_of(client.get(TALK_URL))
    encoded = "http%3A%2F%2Farena.test%2Fevents%2Fsociala-medier-i-offentlig-sektor%2Fskapa-arenor"

    assert f"https://www.facebook.com/sharer/sharer.php?u={encoded}" in body
    assert f"https://www.linkedin.com/sharing/share-offsite/?url={encoded}" in body
    assert f"https://x.com/intent/post?url={encoded}" in body
    assert f"mailto:?subject=Skapa%20arenor%21&body={encoded}" in body


def test_event_and_talk_pages_carry_open_graph_and_twitter_meta(client, demo_event):
    for url, title in ((EVENT_URL, demo_event.title), (TALK_URL, "Skapa arenor!")):
        body = text_of(client.get(url))

        assert re.search(r'<meta property="og:title" content="[^"]*' + re.escape(title), body)
        assert f'<meta property="og:url" content="http://arena.test{url}">' in body
        assert re.search(r'<meta property="og:description" content="\S[^"]+">', body)
        assert '<meta name="twitter:card" content="summary">' in body


def test_unknown_event_is_a_404_page_in_the_users_language(client):
    swedish = client.get("/events/finns-inte/", headers={"Accept-Language": "sv"})
    english = client.get("/events/finns-inte/", headers={"Accept-Language": "en"})

    assert swedish.status_code == english.status_code == 404
    assert '<html lang="sv">' in text_of(swedish)
    assert "There is no event at this address." in text_of(english)


def test_unknown_talk_is_a_404(client, demo_event):
    assert client.get(EVENT_URL + "finns-inte").status_code == 404


def test_language_follows_the_browser_and_defaults_to_swedish(client, demo_event):
    assert '<html lang="en">' in text_of(client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert '<html lang="sv">' in text_of(client.get("/", headers={"Accept-Language": "de"}))
    assert '<html lang="sv">' in text_of(client.get("/"))


def test_language_choice_is_remembered_and_returns_to_the_page(client, demo_event):
    response = client.get(f"/language/en?next={TALK_URL}")

    assert response.status_code == 303
    assert response.headers["Location"] == TALK_URL
    assert '<html lang="en">' in text_of(client.get(TALK_URL, headers={"Accept-Language": "sv"}))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/language/en", query_string={"next": target})

    assert response.headers["Location"] == "/"


def test_unknown_language_is_a_404(client):
    assert client.get("/language/de").status_code == 404


def test_pages_forbid_inline_and_third_party_scripts(client, demo_event):
    policy = client.get(TALK_URL).headers["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "frame-ancestors 'self'" in policy


def test_organiser_text_cannot_inject_script(client, session, make_event, make_talk):
    event = make_event(invitation_text='<script>alert(1)</script> [x](javascript:alert(2))')
    make_talk(event, title='<img src=x onerror=alert(3)>', invitation_text="<b onclick='x'>hej</b>")
    session.commit()

    body = client.get(f"/events/{event.slug}/").get_data(as_text=True)

    assert "<script>alert(1)" not in body
    assert "href=\"javascript:" not in body
    assert "<img src=x" not in body
    assert not re.search(r"<[a-z][^>]*\son[a-z]+=", body)  # no element carries an event handler


def test_favicon_is_served_at_its_usual_address_and_linked_from_every_page(client, demo_event):
    icon = client.get("/favicon.ico")
    home = client.get("/").get_data(as_text=True)

    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # the ICO file header
    links = re.findall(r'<link rel="icon" href="([^"]+)"', home)
    assert "/favicon.ico" in links
    svg = next(link for link in links if link.endswith(".svg"))
    assert client.get(svg).status_code == 200


# -- a programme of more than one day ---------------------------------------------------------

def two_day_event(session, make_event, make_talk, *, organiser="Kommunförbundet Norrbotten", recordings=False):
    """Saturday 28 and Sunday 29 November 2026: 09:30 and 13:00, then 09:00 and 10:30."""
    from datetime import date

    saturday, sunday = date(2026, 11, 28), date(2026, 11, 29)
    event = make_event(title="Två dagar om sociala medier", slug="tva-dagar", starts_on=saturday, ends_on=sunday,
                       organiser=organiser)
    slots = [("Lördag förmiddag", at(9, 30, day=saturday)), ("Lördag eftermiddag", at(13, 0, day=saturday)),
             ("Söndag morgon", at(9, 0, day=sunday)), ("Söndag förmiddag", at(10, 30, day=sunday))]
    for title, starts in slots:
        talk = make_talk(event, title=title, starts_at=starts)
        if recordings:
            session.add(Recording(talk=talk, source_url="https://vimeo.com/76979871",
                                  published_at=datetime(2026, 12, 1, tzinfo=UTC)))
    session.commit()
    return event


def headings_with_titles(body: str, heading: str, title_tag: str) -> list[tuple[str, list[str]]]:
    """[(day heading, [talk titles under it]), ...] in page order."""
    days = []
    pattern = (rf'<{heading}[^>]*class="programme-day-heading"[^>]*>(.*?)</{heading}>'
               rf'|<{title_tag}[^>]*class="talk-title"[^>]*>(.*?)</{title_tag}>')
    for match in re.finditer(pattern, body, re.S):
        if match.group(1) is not None:
            days.append((re.sub(r"<[^>]+>", "", match.group(1)).strip(), []))
        elif days:
            days[-1][1].append(re.sub(r"<[^>]+>", "", match.group(2)).strip())
    return days


def test_event_page_groups_a_two_day_programme_under_day_headings(client, session, make_event, make_talk):
    event = two_day_event(session, make_event, make_talk)

    body = text_of(client.get(f"/events/{event.slug}/", headers={"Accept-Language": "sv"}))

    assert headings_with_titles(body, "h3", "h4") == [
        ("lördag 28 november 2026", ["Lördag förmiddag", "Lördag eftermiddag"]),
        ("söndag 29 november 2026", ["Söndag morgon", "Söndag förmiddag"]),
    ]


def test_event_page_names_the_days_in_english_too(client, session, make_event, make_talk):
    event = two_day_event(session, make_event, make_talk)

    body = text_of(client.get(f"/events/{event.slug}/", headers={"Accept-Language": "en"}))

    assert [day for day, _ in headings_with_titles(body, "h3", "h4")] == ["Saturday, 28 November 2026",
                                                                          "Sunday, 29 November 2026"]


def test_recordings_page_groups_by_day_and_shows_both_dates_without_an_organiser(client, session, make_event,
                                                                                 make_talk):
    event = two_day_event(session, make_event, make_talk, organiser="", recordings=True)

    body = text_of(client.get(f"/events/{event.slug}/recordings", headers={"Accept-Language": "sv"}))

    start = body.index('<header class="event-header">')
    header = body[start:body.index("</header>", start)]
    assert "lördag 28 november 2026" in header and "söndag 29 november 2026" in header
    assert headings_with_titles(body, "h2", "h3") == [
        ("lördag 28 november 2026", ["Lördag förmiddag", "Lördag eftermiddag"]),
        ("söndag 29 november 2026", ["Söndag morgon", "Söndag förmiddag"]),
    ]


def test_admin_programme_list_groups_by_day(organiser_client, session, make_event, make_talk):
    event = two_day_event(session, make_event, make_talk)

    body = text_of(organiser_client.get(f"/admin/events/{event.slug}", headers={"Accept-Language": "sv"}))

    programme = body[body.index('id="programme"'):body.index('id="speakers"')]
    days = re.findall(r"<h3[^>]*>(.*?)</h3>", programme, re.S)
    assert [re.sub(r"<[^>]+>", "", day).strip() for day in days] == ["lördag 28 november 2026",
                                                                     "söndag 29 november 2026"]
    assert programme.index("Lördag eftermiddag") < programme.index("söndag 29 november") < programme.index(
        "Söndag morgon")
