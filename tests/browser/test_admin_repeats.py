"""An organiser on a slow connection double-clicks: one speaker, one event, and the page the
first press leads to, never a false "address taken". With JavaScript the second press is
ignored; without it both requests reach the server, which answers the repeat with the first
one's page. A talk's old address leads to its new one."""

from __future__ import annotations

import http.client
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, translate
from tests.browser.test_admin import assert_no_axe_violations, sign_in

pytestmark = pytest.mark.browser
t = lambda msgid: translate("sv", msgid)  # noqa: E731
SLOW_MS = 1500
SECOND_PRESS_MS = 400


class SlowProxy:
    """The live server behind a slow connection: a proxy on another port that passes every
    request on at once, and holds the answer to a POST back for 1.5 s before the browser
    gets it. So the server has done the first press's work while the page still waits, as
    on a conference venue's wifi. Counts the POSTs that reached the server."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.posts: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _pass_on(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                connection.close()
                if self.command == "POST":
                    proxy.posts.append(self.path)
                    time.sleep(SLOW_MS / 1000)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in HOP_BY_HOP | {"content-length"}:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser gave up on this one (a second press started another)

            do_GET = do_POST = do_HEAD = _pass_on

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@pytest.fixture
def slow(live_server) -> Iterator[SlowProxy]:
    proxy = SlowProxy(live_server.url)
    yield proxy
    proxy.close()


def double_press(page: Any, button_name: str) -> None:
    """Two presses of the mouse on the button, 0.4 s apart. The mouse itself, not a locator's
    click, which would wait for the button to be enabled and the page to settle."""
    button = page.get_by_role("button", name=button_name)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(SECOND_PRESS_MS)
    page.mouse.click(x, y)


def test_double_click_on_add_the_speaker_on_a_slow_connection_adds_one(open_context, live_server, slow):
    name = f"Anna Dubbelklick {uuid.uuid4().hex[:6]}"
    signed_in = sign_in(open_context, live_server)
    page = open_context(base_url=slow.url, bypass_csp=True,
                        storage_state=signed_in.context.storage_state()).new_page()
    page.goto(f"/admin/events/{DEMO_SLUG}/speakers/new")
    page.get_by_label(t("Name"), exact=True).fill(name)

    double_press(page, t("Add the speaker"))

    expect(page.get_by_role("status")).to_contain_text(t("The speaker was added."))
    expect(page).to_have_url(re.compile(rf"/admin/events/{DEMO_SLUG}#speakers$"))
    expect(page.get_by_text(name, exact=True)).to_have_count(1)
    assert len(slow.posts) == 1  # the second press was ignored
    assert_no_axe_violations(page, "event page after a double click")


def test_double_click_on_create_the_event_on_a_slow_connection_creates_one(open_context, live_server, slow):
    title = f"Dubbelklicksdagen {uuid.uuid4().hex[:6]}"
    signed_in = sign_in(open_context, live_server)
    page = open_context(base_url=slow.url, bypass_csp=True,
                        storage_state=signed_in.context.storage_state()).new_page()
    page.goto("/admin/events/new")
    page.get_by_label(t("Title")).fill(title)
    page.get_by_label(t("First day")).fill("2026-12-03")
    assert_no_axe_violations(page, "new event")

    double_press(page, t("Create the event"))

    expect(page.get_by_role("status")).to_contain_text(t("The event was created as a draft. Add its talks and "
                                                         "speakers, then publish it."))
    expect(page.get_by_role("alert")).to_have_count(0)  # no "address taken"
    page.goto("/admin/")
    expect(page.get_by_role("link", name=title)).to_have_count(1)


def test_double_click_without_javascript_still_adds_one_speaker(open_context, live_server, slow):
    """Both presses reach the server: the one-time token makes the second land on the first's page."""
    name = f"Erik Utan Skript {uuid.uuid4().hex[:6]}"
    signed_in = sign_in(open_context, live_server)
    page = open_context(base_url=slow.url, java_script_enabled=False,
                        storage_state=signed_in.context.storage_state()).new_page()
    page.goto(f"/admin/events/{DEMO_SLUG}/speakers/new")
    page.get_by_label(t("Name"), exact=True).fill(name)

    double_press(page, t("Add the speaker"))

    expect(page.get_by_role("status")).to_contain_text(t("The speaker was added."))
    expect(page.get_by_text(name, exact=True)).to_have_count(1)
    assert len(slow.posts) == 2


def test_old_talk_address_leads_to_the_new_one(open_context, live_server):
    tag = uuid.uuid4().hex[:6]
    page = sign_in(open_context, live_server)
    page.goto("/admin/events/new")
    page.get_by_label(t("Title")).fill(f"Adressdagen {tag}")
    page.get_by_label(t("First day")).fill("2026-12-03")
    page.get_by_role("button", name=t("Create the event")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The event was created as a draft. Add its talks and "
                                                         "speakers, then publish it."))
    event_path = re.search(r"/admin/events/([^/#?]+)", page.url).group(1)
    page.get_by_role("link", name=t("Add a talk")).click()
    page.get_by_label(t("Title"), exact=True).fill("Skapa arenor")
    page.get_by_label(t("Starts")).fill("10:00")
    page.get_by_label(t("Ends")).fill("10:45")
    page.get_by_role("button", name=t("Add the talk")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The talk was added to the programme."))
    page.get_by_label(t("Address (slug)")).fill("skapa-arenor-tillsammans")
    page.get_by_role("button", name=t("Save")).click()
    expect(page.get_by_role("status")).to_contain_text(t("Saved."))
    page.goto(f"/admin/events/{event_path}")
    page.get_by_role("button", name=t("Publish")).click()
    expect(page.get_by_role("status")).to_contain_text(t("Published: the event is on the home page, in the feeds "
                                                         "and the API."))

    visitor = open_context(locale="sv-SE", bypass_csp=True).new_page()
    visitor.goto(f"/events/{event_path}/skapa-arenor")

    expect(visitor).to_have_url(re.compile(rf"/events/{event_path}/skapa-arenor-tillsammans$"))
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Skapa arenor")
    assert_no_axe_violations(visitor, "talk page reached by its old address")


def test_event_with_a_taken_address_gets_a_free_one_and_one_click_saves(open_context, live_server):
    title = f"Årsdagen {uuid.uuid4().hex[:6]}"
    page = sign_in(open_context, live_server)
    for first_day in ("2026-12-03", "2027-12-02"):
        page.goto("/admin/events/new")
        page.get_by_label(t("Title")).fill(title)
        page.get_by_label(t("First day")).fill(first_day)
        page.get_by_role("button", name=t("Create the event")).click()

    slug = page.get_by_label(t("Address (slug)"))
    expect(slug).to_have_value(re.compile(r"-2027$"))
    expect(slug).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text(re.compile("är ledig och ifylld nedan"))).to_be_visible()
    assert_no_axe_violations(page, "new event, its address taken")
    page.get_by_role("button", name=t("Create the event")).click()

    expect(page.get_by_role("status")).to_contain_text(t("The event was created as a draft. Add its talks and "
                                                         "speakers, then publish it."))
    expect(page).to_have_url(re.compile(r"-2027$"))
