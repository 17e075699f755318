"""The demo event: a day modelled on Kommunförbundet Norrbotten's day about social media in
the public sector (../shared/CONTEXT.md), with its three talks and speakers. The texts are
our own words. `python -m server load-demo` loads it; `make run` does so on an empty database.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Event, EventStatus
from server.services.events import create_event, create_speaker, create_talk

DEMO_SLUG = "sociala-medier-i-offentlig-sektor"
DEMO_ZONE = "Europe/Stockholm"

EVENT_TEXT = """\
En dag för dig som kommunicerar för en kommun, en region eller ett kommunalförbund.
Hur använder vi sociala medier så att fler invånare blir delaktiga, utan att tumma på
offentlighetsprincipen eller på tillgängligheten?

Tre talare delar med sig av vad de har provat, vad som fungerade och vad de hellre hade
gjort annorlunda. Alla pass sänds live och går att se i efterhand. Ställ gärna frågor i
chatten, både på plats och på distans.
"""

TALKS = [
    {
        "slug": "skapa-arenor",
        "title": "Skapa arenor!",
        "start": time(9, 30),
        "end": time(10, 15),
        "text": """\
Varför ska en kommunchef sända sina föreläsningar live? Mattias Jansson gör det varje gång,
med gratisverktyg och en vanlig bärbar dator. Han berättar hur en kommun kan skapa egna
mötesplatser på nätet, där invånare och medarbetare faktiskt samtalar, och vad det krävs
av ledningen för att våga släppa kontrollen.
""",
        "stream_url": "https://www.youtube.com/watch?v=M7lc1UVf-VE",
        "slides_url": "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor",
        "speaker": {
            "name": "Mattias Jansson",
            "role": "Kommunchef, Katrineholms kommun",
            "bio": "Kommunchef som strömmar sina egna föreläsningar och bloggar om ledarskap "
                   "i en öppen förvaltning.",
            "links": [{"label": "Bildspel på Slideshare",
                       "url": "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor"}],
        },
    },
    {
        "slug": "twitter-dygnet-runt",
        "title": "Twitter dygnet runt",
        "start": time(10, 30),
        "end": time(11, 15),
        "text": """\
Kundtjänst slutar inte klockan fem. Helen Alfvegren har svarat kunder i sociala medier
dygnet runt och berättar om rutinerna bakom: vem svarar, hur snabbt, med vilken ton, och
hur man hanterar en storm av frågor när något har gått fel.
""",
        "stream_url": "",
        "slides_url": "",
        "speaker": {
            "name": "Helen Alfvegren",
            "role": "Webbredaktör på ett telekomföretag",
            "bio": "Arbetar med webb och sociala medier och har byggt upp en kundtjänst som "
                   "finns där kunderna redan är.",
            "links": [{"label": "helalf.se", "url": "https://helalf.se/helen/"}],
        },
    },
    {
        "slug": "berika-undervisningen-med-sociala-medier",
        "title": "Berika undervisningen med sociala medier",
        "start": time(13, 0),
        "end": time(13, 45),
        "text": """\
Hur ser matematik- och NO-lektioner ut när eleverna bloggar, delar och kommenterar?
Anna Karlsson visar exempel från sitt klassrum, berättar om vad eleverna lärde sig på
vägen och om hur skolan hanterade frågor om integritet och källkritik.
""",
        "stream_url": "",
        "slides_url": "",
        "speaker": {
            "name": "Anna Karlsson",
            "role": "Lärare i matematik och NO, Viktor Rydbergs samskola, Djursholm",
            "bio": "Utsågs till årets mest innovativa lärare 2010 för sitt arbete med sociala "
                   "medier i undervisningen.",
            "links": [{"label": "Viktor Rydbergs gymnasium", "url": "https://vrg.se"}],
        },
    },
]


def load_demo(session: Session, *, day: date) -> Event:
    """Add the demo event on `day` (published) and return it. Raises if its slug is taken."""
    zone = ZoneInfo(DEMO_ZONE)
    event = create_event(
        session,
        slug=DEMO_SLUG,
        title="Sociala medier i offentlig sektor – effektiv kommunikation för den kluriga",
        organiser="Kommunförbundet Norrbotten",
        venue="Kulturens hus, Luleå",
        starts_on=day,
        time_zone=DEMO_ZONE,
        invitation_text=EVENT_TEXT,
        status=EventStatus.published,
    )
    for spec in TALKS:
        speaker = create_speaker(session, event, **spec["speaker"])
        create_talk(
            session,
            event,
            slug=spec["slug"],
            title=spec["title"],
            starts_at=datetime.combine(day, spec["start"], zone),
            ends_at=datetime.combine(day, spec["end"], zone),
            speakers=[speaker],
            invitation_text=spec["text"],
            stream_url=spec["stream_url"],
            slides_url=spec["slides_url"],
        )
    return event


def database_is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Event)) == 0
