"""The live panel follows the room's log (docs/realtime.md, "The room's log"): every message
exactly once and in order, whatever pushes are lost and however often the connection drops,
and "Show earlier messages" reads a long room back to its first message by keyboard alone.

These tests run on a server of their own: one of its talks is filled with 2,000 messages before
anyone opens it, and the flood limit is raised so that one writer can write quickly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from server.config import PROJECT_ROOT
from tests.browser.conftest import talk_path
from tests.browser.test_live_panel import SOCKET_URL, assert_no_axe_violations, focused, open_talk, tab_to
from tests.conftest import LiveServer, start_live_server

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms: generous, reached only when something is wrong
CHAT_TALK = talk_path("skapa-arenor")
QUIET_TALK = talk_path("twitter-dygnet-runt")  # only the test below writes here
BIG_TALK = talk_path("berika-undervisningen-med-sociala-medier")
BIG_TALK_SLUG = "berika-undervisningen-med-sociala-medier"
BIG_ROOM = 2_000
HISTORY_SIZE = 50  # [chat] history_size: the messages a join shows

# Fills a talk through the chat service, so every message gets its entry in the room's log
# (server/services/room_log.py), as if it had been written in the room.
FILL = """
import sys
from sqlalchemy import select
from server import create_app
from server.config import load_settings
from server.db import db
from server.models import Talk
from server.services import chat

slug, count = sys.argv[1], int(sys.argv[2])
app = create_app(load_settings())
with app.app_context():
    talk = db.session.scalar(select(Talk).where(Talk.slug == slug))
    for n in range(1, count + 1):
        chat.post_message(db.session, talk, participant_id=f"arkiv-{n % 7}", display_name=f"Arkiv {n % 7}",
                          body=f"Arkivmeddelande {n} av {count}", client_id=f"arkiv{n:08d}", max_length=500)
    db.session.commit()
"""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server (open_context in tests/browser/conftest.py uses it)."""
    server = start_live_server(tmp_path_factory.mktemp("live-log"),
                               extra_env={"ARENA_CHAT__FLOOD_MESSAGES": "10000"})
    try:
        # Before anyone opens the talk, so the server reads it from the database when they do.
        result = subprocess.run([sys.executable, "-c", FILL, BIG_TALK_SLUG, str(BIG_ROOM)], cwd=PROJECT_ROOT,
                                env=server.env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        yield server
    finally:
        server.stop()


def token() -> str:
    return uuid.uuid4().hex[:8]


def bodies(page: Any, tag: str) -> list[str]:
    """The message texts carrying tag, in the order the list shows them."""
    return [text for text in page.locator("[data-messages] > li [data-body]").all_text_contents() if tag in text]


def write_many(page: Any, tag: str, count: int, every_ms: int = 150) -> None:
    """Writes `count` numbered messages through the form, one every `every_ms`, while the
    test goes on."""
    page.evaluate(
        """([tag, count, every]) => {
            const form = document.querySelector('[data-message-form]');
            const input = form.querySelector('textarea');
            let n = 0;
            const timer = setInterval(() => {
                n += 1;
                input.value = `Nummer ${n} ${tag}`;
                form.requestSubmit();
                if (n >= count) { clearInterval(timer); }
            }, every);
        }""",
        [tag, count, every_ms],
    )


# -- every message once, in order ------------------------------------------------------------------

def test_every_message_arrives_once_and_in_order_though_pushes_are_lost_and_the_connection_drops(open_context):
    tag = token()
    count = 60
    expected = [f"Nummer {n} {tag}" for n in range(1, count + 1)]
    connections: list[dict[str, Any]] = []
    asked: list[str] = []

    def lossy(ws: Any) -> None:
        # Between the reader's page and the server: while `lose` is on, every other push of a
        # message with the tag never reaches the page (as when Redis drops a publish).
        server = ws.connect_to_server()
        connection = {"ws": ws, "lose": False, "lost": 0}
        connections.append(connection)

        def to_page(frame: str | bytes) -> None:
            if connection["lose"] and isinstance(frame, str) and frame.startswith('42/live,["message"') \
                    and tag in frame:
                connection["lost"] += 1
                if connection["lost"] % 2:
                    return
            ws.send(frame)

        def to_server(frame: str | bytes) -> None:
            if isinstance(frame, str) and '"history"' in frame:
                asked.append(frame)
            server.send(frame)

        server.on_message(to_page)
        ws.on_message(to_server)

    reader_context = open_context()
    reader_context.route_web_socket(SOCKET_URL, lossy)
    reader = open_talk(reader_context)
    writer = open_talk(open_context(), name="Skribent")
    shown = reader.locator("[data-messages] > li", has_text=tag)

    write_many(writer, tag, count)
    expect(shown.nth(9)).to_be_attached(timeout=WAIT)
    connections[-1]["lose"] = True  # pushes go missing: the gaps are asked for with history
    expect(shown.nth(24)).to_be_attached(timeout=WAIT)
    connections[-1]["ws"].close()  # and the connection drops: the client joins again with last_seq
    expect(shown.nth(34)).to_be_attached(timeout=WAIT)
    connections[-1]["lose"] = True  # on the new connection too, up to the very last message
    expect(message_count(writer, tag)).to_have_count(count, timeout=WAIT)

    expect(shown).to_have_count(count, timeout=WAIT)
    assert bodies(reader, tag) == expected
    assert bodies(writer, tag) == expected
    assert len(connections) >= 2 and connections[0]["lost"] > 0, connections
    assert asked, "no history was asked for"
    # Nothing more arrives later: still exactly once.
    expect(reader.locator("[data-live-viewers]")).to_be_visible()
    assert bodies(reader, tag) == expected


def message_count(page: Any, tag: str) -> Any:
    return page.locator("[data-messages] > li", has_text=tag)


# -- "Show earlier messages" -------------------------------------------------------------------------

EARLIER_LOADED = re.compile(r"^(\d+) tidigare meddelanden? har lästs in\.")


def first_message_top(page: Any) -> float:
    return page.evaluate(
        """() => {
            const scroller = document.querySelector('[data-messages-scroll]');
            const first = document.querySelector('[data-messages] > li');
            return first.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
        }"""
    )


def test_show_earlier_messages_reaches_the_first_of_2000_by_keyboard_alone(open_context):
    page = open_talk(open_context(bypass_csp=True), BIG_TALK)
    items = page.locator("[data-messages] > li")
    expect(items).to_have_count(HISTORY_SIZE, timeout=WAIT)
    expect(items.last).to_contain_text(f"Arkivmeddelande {BIG_ROOM} av {BIG_ROOM}")
    earlier = page.locator("[data-earlier]")
    status = page.locator("[data-live-status]")
    assert status.get_attribute("role") == "status"
    expect(earlier).to_be_visible()
    expect(earlier).to_have_text("Visa tidigare meddelanden")
    assert_no_axe_violations(page, "talk page with Show earlier messages")

    page.locator("body").focus()
    tab_to(page, "[data-earlier]")
    shown = HISTORY_SIZE
    presses = 0
    while shown < BIG_ROOM:
        first_id = items.first.get_attribute("data-id")
        top = first_message_top(page)
        page.keyboard.press("Enter" if presses % 2 == 0 else "Space")
        presses += 1
        added = min(100, BIG_ROOM - shown)
        shown += added
        expect(items).to_have_count(shown, timeout=WAIT)
        expect(status).to_have_text(EARLIER_LOADED, timeout=WAIT)
        assert EARLIER_LOADED.match(status.text_content()).group(1) == str(added), status.text_content()
        # The message that was first stays where the reader had it.
        old_first = page.locator(f'[data-messages] > li[data-id="{first_id}"]')
        position = old_first.evaluate(
            """(item) => item.getBoundingClientRect().top
                         - document.querySelector('[data-messages-scroll]').getBoundingClientRect().top""")
        assert abs(position - top) <= 2, (position, top)
        if shown < BIG_ROOM:
            assert focused(page, "[data-earlier]"), "the focus left the button"
        assert presses <= 25

    # The beginning: the button is gone, the focus is on the list, and every message is there once.
    expect(earlier).to_be_hidden()
    expect(status).to_contain_text("Här börjar chatten.")
    expect(page.locator("[data-beginning]")).to_be_visible()
    assert focused(page, "[data-messages-scroll]")
    expect(items.first).to_contain_text(f"Arkivmeddelande 1 av {BIG_ROOM}")
    texts = page.locator("[data-messages] > li [data-body]").all_text_contents()
    assert texts == [f"Arkivmeddelande {n} av {BIG_ROOM}" for n in range(1, BIG_ROOM + 1)]
    assert_no_axe_violations(page, "talk page scrolled back to the beginning")


def test_a_room_whose_messages_all_fit_has_no_earlier_button(open_context):
    tag = token()
    writer = open_talk(open_context(), QUIET_TALK, name="Anna")
    writer.fill("#live-message-input", f"Bara jag {tag}")
    writer.press("#live-message-input", "Enter")
    reader = open_talk(open_context(), QUIET_TALK)
    expect(message_count(reader, tag)).to_have_count(1, timeout=WAIT)
    expect(reader.locator("[data-earlier]")).to_be_hidden()


# -- a paused chat -------------------------------------------------------------------------------------

EMIT = re.compile(r"^42/live,(\d+)\[")
CLIENT_ID = re.compile(r'"client_id":"([A-Za-z0-9_-]+)"')
PAUSED = "Chatten har pausats en stund. Försöker igen …"


def test_a_paused_write_waits_calmly_and_is_sent_again_with_the_same_client_id(open_context):
    tag = token()
    sent: list[str] = []

    def pause_twice(ws: Any) -> None:
        # The first two sends are answered "paused" (as while Redis is away), the third goes through.
        server = ws.connect_to_server()

        def from_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and '"send_message"' in frame and tag in frame:
                sent.append(frame)
                if len(sent) <= 2:
                    ack_id = EMIT.match(frame).group(1)
                    ws.send(f"43/live,{ack_id}" + json.dumps(
                        [{"ok": False, "error": "paused", "message": PAUSED}], ensure_ascii=False))
                    return
            server.send(frame)

        ws.on_message(from_page)

    context = open_context(bypass_csp=True)
    context.route_web_socket(SOCKET_URL, pause_twice)
    anna = open_talk(context, CHAT_TALK, name="Anna")
    helen = open_talk(open_context(), CHAT_TALK)
    body = f"Skickas när chatten är tillbaka {tag}"
    outbox = anna.locator("[data-message-form] [data-outbox-status]")

    anna.fill("#live-message-input", body)
    anna.press("#live-message-input", "Enter")
    expect(outbox).to_have_text(PAUSED, timeout=WAIT)
    assert outbox.get_attribute("role") == "status"
    expect(anna.locator("[data-message-form] [data-form-error]")).to_be_empty()
    assert_no_axe_violations(anna, "talk page while the chat is paused")

    expect(message_count(helen, tag)).to_have_count(1, timeout=WAIT)
    expect(message_count(anna, tag)).to_have_count(1, timeout=WAIT)
    expect(outbox).to_be_empty()
    ids = [CLIENT_ID.search(frame).group(1) for frame in sent]
    assert len(ids) == 3 and len(set(ids)) == 1, sent
    expect(anna.locator("#live-message-input")).to_have_value("")
