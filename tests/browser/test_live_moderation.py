"""Moderation in Debian's chromium: a moderator bans and lifts a ban from the live panel, the
talk page drops "LIVE" when an organiser ends the talk (no reload), the characters-left counter
on the chat box, vote buttons disabled while questions are closed, moderators' count of
questions waiting for approval, and axe-core with all of it on screen.

The live server and its demo event are shared by every browser test: each test writes with a
unique token and puts back every room setting it changed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import translate
from tests.browser.test_admin import sign_in
from tests.browser.test_live_panel import (
    CHAT_TALK,
    MODERATED_TALK,
    QUESTION_TALK,
    ask,
    assert_no_axe_violations,
    message,
    open_as_moderator,
    open_talk,
    question,
    say,
    show_tab,
    token,
)

pytestmark = pytest.mark.browser


def sv(msgid: str, **values: Any) -> str:
    return translate("sv", msgid) % values if values else translate("sv", msgid)


def test_a_moderator_bans_and_lifts_a_ban_from_the_live_panel(open_context, live_server):
    tag = token()
    name = f"Troll {tag}"
    troll_context = open_context()
    troll = open_talk(troll_context, MODERATED_TALK, name=name)
    say(troll, f"Olämpligt {tag}")
    moderator = open_as_moderator(open_context, live_server, MODERATED_TALK, bypass_csp=True)
    item = message(moderator, tag)

    item.locator('[data-action="ban"]').click()
    item.locator("form").get_by_role("button", name=sv("Ban")).click()
    expect(troll.locator("[data-live-banned]")).not_to_be_empty()
    troll.reload()  # a banned participant who comes back may read, not write
    expect(troll.locator("[data-live-banned]")).not_to_be_empty()
    expect(troll.locator("#live-message-input")).to_be_disabled()
    moderator.click("[data-moderator-tools] summary")
    listed = moderator.locator("[data-bans] > li", has_text=name)
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(sv("In this talk"))

    # Banning again says so and adds nothing.
    item.locator('[data-action="ban"]').click()
    item.locator("form").get_by_role("button", name=sv("Ban")).click()
    expect(item.locator("form [data-form-error]")).to_have_text(
        sv("%(name)s is already stopped from writing here.", name=name))
    expect(listed).to_have_count(1)
    item.locator("form [data-cancel]").click()
    assert_no_axe_violations(moderator, "talk page, moderator, the list of bans")

    lift = moderator.get_by_role("button", name=sv("Lift the ban: %(name)s", name=name))
    lift.focus()
    lift.press("Enter")

    expect(listed).to_have_count(0)
    expect(moderator.locator("[data-live-status]")).to_have_text(sv("%(name)s can write here again.", name=name))
    # The participant's open page may write again, without a reload, and is told so.
    expect(troll.locator("[data-live-banned]")).to_be_empty()
    expect(troll.locator("#live-message-input")).to_be_enabled()
    expect(troll.locator("[data-live-status]")).to_have_text(sv("A moderator has let you write here again."))
    say(troll, f"Förlåt {tag}")


def _set_live_status(admin: Any, path: str, value: str) -> None:
    admin.goto(path)
    admin.get_by_label(sv("Live status")).select_option(value)
    admin.get_by_role("button", name=sv("Save"), exact=True).click()
    expect(admin.get_by_label(sv("Live status"))).to_have_value(value)


def test_the_talk_page_drops_live_when_the_organiser_ends_the_talk(open_context, live_server):
    admin = sign_in(open_context, live_server)
    edit = "/admin/events/sociala-medier-i-offentlig-sektor/talks/skapa-arenor"
    _set_live_status(admin, edit, "live")
    try:
        viewer = open_talk(open_context(bypass_csp=True), CHAT_TALK)
        badge = viewer.locator("[data-live-badge]")
        expect(badge).to_be_visible()

        _set_live_status(admin, edit, "ended")

        expect(badge).to_be_hidden()
        status = viewer.locator("[data-talk-live-status]")
        expect(status).to_have_text(sv("The live broadcast has ended."))
        expect(status).to_have_attribute("role", "status")
        assert_no_axe_violations(viewer, "talk page after the talk ended")
        _set_live_status(admin, edit, "live")
        expect(badge).to_be_visible()
        expect(status).to_have_text(sv("The talk is live now."))
    finally:
        _set_live_status(admin, edit, "scheduled")


def test_the_chat_box_counts_down_the_characters_left_and_refuses_too_many(open_context):
    page = open_talk(open_context(bypass_csp=True), CHAT_TALK, name=f"Räknare {token()}")
    box, counter = page.locator("#live-message-input"), page.locator("[data-message-form] [data-counter]")
    announcer = page.locator("[data-message-form] [data-counter-announcer]")

    box.fill("a" * 400)
    expect(counter).to_have_text("100 tecken kvar")
    expect(announcer).to_be_empty()  # plenty left: nothing said on each key
    box.fill("a" * 490)
    expect(counter).to_have_text("10 tecken kvar")
    expect(announcer).to_have_text(counter.text_content())
    box.fill("a" * 500)
    expect(counter).to_have_text(sv("You have reached the limit of %(max)s characters.", max="500"))
    expect(announcer).to_have_text(counter.text_content())
    box.fill("a" * 512)
    expect(counter).to_have_text("12 tecken för mycket")
    expect(box).to_have_attribute("aria-invalid", "true")
    assert_no_axe_violations(page, "chat box over the limit")

    box.press("Enter")

    expect(page.locator("[data-message-form] [data-form-error]")).to_contain_text("500")
    expect(box).to_have_value("a" * 512)  # nothing cut, nothing lost
    expect(message(page, "a" * 512)).to_have_count(0)


def test_vote_buttons_are_disabled_while_questions_are_closed(open_context, live_server):
    tag = token()
    asker = open_talk(open_context(), QUESTION_TALK, name="Anna")
    ask(asker, f"Röstar vi? {tag}")
    voter = open_talk(open_context(bypass_csp=True), QUESTION_TALK, name="Helen")
    show_tab(voter, "questions")
    vote = question(voter, tag).locator("[data-vote]")
    expect(vote).to_be_enabled()
    moderator = open_as_moderator(open_context, live_server, QUESTION_TALK)
    moderator.click("[data-moderator-tools] summary")
    toggle = moderator.locator('[data-rule-toggle="questions_open"]')

    toggle.click()
    try:
        expect(vote).to_be_disabled()
        expect(voter.locator("[data-questions-notice]")).to_contain_text(
            sv("Voting has stopped while the questions are closed."))
        assert_no_axe_violations(voter, "questions closed, votes disabled")
    finally:
        expect(toggle).to_have_text(sv("Open questions"))
        toggle.click()
    expect(vote).to_be_enabled()
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "true")


def test_moderators_see_how_many_questions_wait_for_approval(open_context, live_server):
    tag = token()
    moderator = open_as_moderator(open_context, live_server, CHAT_TALK, bypass_csp=True)
    moderator.click("[data-moderator-tools] summary")
    moderator.check("[data-rule-premoderate]")
    try:
        asker = open_talk(open_context(), CHAT_TALK, name="Anna")
        ask(asker, f"Väntar jag? {tag}")
        count = moderator.locator("[data-awaiting-count]")
        expect(count).to_be_visible()
        expect(count).to_have_text(re.compile(r"^\d+ (fråga väntar|frågor väntar) på godkännande$"))
        expect(moderator.locator("[data-awaiting-announcer]")).to_have_text(count.text_content())
        assert_no_axe_violations(moderator, "moderator, questions waiting for approval")
        waiting = int(count.text_content().split()[0])
        show_tab(moderator, "questions")
        moderator.locator("[data-awaiting-list] > li", has_text=tag).locator('[data-action="approve"]').click()
        if waiting == 1:
            expect(count).to_be_hidden()
        else:
            expect(count).to_have_text(re.compile(rf"^{waiting - 1} "))
    finally:
        moderator.uncheck("[data-rule-premoderate]")
        expect(moderator.locator("[data-rule-premoderate]")).not_to_be_checked()


def test_the_studio_says_once_that_the_camera_was_not_allowed(open_context, live_server):
    # The session's chromium has no fake camera and no one to answer the permission prompt:
    # the browser refuses the camera and microphone, as when a speaker presses "Block".
    studio = sign_in(open_context, live_server)
    studio.goto(CHAT_TALK + "/studio")
    denied = sv("The browser did not allow the camera or microphone. "
                "Allow them in the address bar, then reload the page.")

    expect(studio.locator("[data-studio-error]")).to_have_text(denied)
    expect(studio.locator("[data-studio-status]")).not_to_have_text(sv("Starting the camera and microphone…"))
    assert denied not in studio.locator("[data-studio-status]").text_content()
    assert studio.get_by_text(denied).count() == 1
