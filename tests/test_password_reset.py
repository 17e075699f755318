"""Forgot my password, through a real SMTP server in the test process (tests/mail_server.py):
the link arrives in the visitor's language, works once and for an hour, and the page answers
the same whether or not the address has an account. Without [mail] the page says whom to ask."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import AuditEntry, Organiser, PasswordResetRequest
from server.services.accounts import (
    PASSWORD_LINK_SALT,
    _fingerprint,
    create_organiser,
    disabled_since,
    set_disabled,
    set_password,
)
from server.services.password_reset import (
    MAX_PER_ADDRESS,
    MAX_PER_NETWORK,
    RESET_SALT,
    TooManyResetRequests,
    request_reset,
)
from tests.conftest import ORGANISER_PASSWORD, form_token, free_port
from tests.mail_server import app_fixture, mail_config_fixture, relay_fixture  # noqa: F401  the module's app sends mail
from tests.waiting import wait_until

EN = {"Accept-Language": "en"}
SV = {"Accept-Language": "sv"}
EMAIL = "karin@norrbotten.se"
NEW_PASSWORD = "tre-orelaterade-ord-2026"
LINK = re.compile(r"http://arena\.test(/reset-password/\S+)")


@pytest.fixture
def karin(session) -> Organiser:
    organiser = create_organiser(session, email=EMAIL, name="Karin Kommunikatör", password=ORGANISER_PASSWORD)
    session.commit()
    return organiser


def ask(client, email, headers=EN):
    return client.post("/forgot-password", headers=headers,
                       data={"csrf_token": form_token(client, "/forgot-password"), "email": email})


def link_in(received) -> str:
    return LINK.search(received.text).group(1)


def choose(client, link, password=NEW_PASSWORD, repeat=None):
    return client.post(link, headers=EN, data={"csrf_token": form_token(client, link), "password": password,
                                               "repeat": password if repeat is None else repeat})


def sign_in(client, email, password):
    return client.post("/sign-in", data={"email": email, "password": password,
                                          "csrf_token": form_token(client, "/sign-in")})


@pytest.mark.both_databases
def test_forgot_password_mails_a_link_that_sets_a_new_password(app, session, relay, karin):
    client = app.test_client()

    asked = ask(client, "  Karin@Norrbotten.se ")
    [received] = relay.wait_for(1)
    link = link_in(received)
    form = client.get(link, headers=EN)
    chosen = choose(client, link)

    assert asked.status_code == 303 and asked.headers["Location"] == "/sign-in"
    assert received.recipients == [EMAIL] and received.message["To"] == EMAIL
    assert received.message["Subject"] == "Choose a new password for Arena"
    assert received.message["Content-Language"] == "en"
    assert received.message["Auto-Submitted"] == "auto-generated"
    assert received.message["Message-ID"].endswith("@norrbotten.se>")
    assert received.message["Date"]
    assert received.message.get_content_type() == "text/plain"
    assert received.message.get_content_charset() == "utf-8"
    assert "Hello Karin Kommunikatör," in received.text and "60 minutes" in received.text
    assert form.status_code == 200 and "Choose a new password" in form.get_data(as_text=True)
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/sign-in"
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 303
    assert sign_in(app.test_client(), EMAIL, ORGANISER_PASSWORD).status_code == 401
    assert relay.logins == [relay.user]  # it signed in to the relay, after STARTTLS (the relay demands it)


def test_the_mail_is_in_swedish_for_a_swedish_page(app, relay, karin):
    ask(app.test_client(), EMAIL, headers=SV)

    [received] = relay.wait_for(1)

    assert received.message["Subject"] == "Välj ett nytt lösenord för Arena"
    assert received.message["Content-Language"] == "sv"
    assert "Hej Karin Kommunikatör!" in received.text and "60 minuter" in received.text


def test_the_reset_is_audited_without_the_link(app, session, relay, karin):
    client = app.test_client()
    ask(client, EMAIL)
    link = link_in(relay.wait_for(1)[0])

    choose(client, link)

    entries = session.scalars(select(AuditEntry)).all()
    assert [(entry.action, entry.actor, entry.actor_role, entry.target_id) for entry in entries] == [
        ("password.reset", "Karin Kommunikatör", "organiser", str(karin.id))]
    token = link.rsplit("/", 1)[1]
    assert all(token not in str(value) for entry in entries for value in (entry.before, entry.after, entry.reason))


def test_a_reset_link_works_only_once(app, relay, karin):
    client = app.test_client()
    ask(client, EMAIL)
    link = link_in(relay.wait_for(1)[0])
    choose(client, link)

    again = app.test_client().get(link, headers=EN)
    other = app.test_client()
    posted_again = other.post(link, headers=EN, data={"csrf_token": form_token(other, "/sign-in"),
                                                      "password": "ett-annat-lösenord-2026",
                                                      "repeat": "ett-annat-lösenord-2026"})

    assert again.status_code == 403
    assert "This link has already been used" in again.get_data(as_text=True)
    assert posted_again.status_code == 403
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 303


def test_a_reset_link_stops_working_when_the_password_is_changed_otherwise(app, session, relay, karin):
    ask(app.test_client(), EMAIL)
    link = link_in(relay.wait_for(1)[0])
    set_password(session, EMAIL, "från-kommandoraden-2026")
    session.commit()

    refused = app.test_client().get(link, headers=SV)

    assert refused.status_code == 403
    assert "Länken har redan använts" in refused.get_data(as_text=True)


def test_an_expired_forged_or_invitation_link_is_refused_in_words(app, karin):
    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 3600

    claims = {"organiser": karin.id, "hash": _fingerprint(karin)}
    expired = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=RESET_SALT, signer=TwoHoursAgo).dumps(claims)
    forged = URLSafeTimedSerializer("not-our-key", salt=RESET_SALT).dumps(claims)
    invitation = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=PASSWORD_LINK_SALT).dumps(claims)
    client = app.test_client()

    answers = {name: client.get(f"/reset-password/{token}", headers=EN)
               for name, token in (("expired", expired), ("forged", forged), ("invitation", invitation))}

    assert answers["expired"].status_code == 403
    assert "This link has expired: it works for one hour." in answers["expired"].get_data(as_text=True)
    for name in ("forged", "invitation"):
        assert answers[name].status_code == 403
        assert "This link is not valid." in answers[name].get_data(as_text=True)
    assert 'href="/forgot-password"' in answers["expired"].get_data(as_text=True)  # ask for a new one


def _answer(client, email):
    response = ask(client, email)
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    status_region = re.search(r'<div role="status">(.*?)</div>', page, re.DOTALL).group(1)
    return response.status_code, response.headers["Location"], status_region.replace(email, "ADDRESS")


def test_known_unknown_and_closed_addresses_get_the_same_answer(app, session, relay, karin):
    closed = create_organiser(session, email="stangd@norrbotten.se", name="Stängd", password=ORGANISER_PASSWORD)
    session.commit()
    set_disabled(session, closed, disabled=True, by=None, now=closed.created_at)
    session.commit()

    unknown = _answer(app.test_client(), "ingen@norrbotten.se")
    closed_answer = _answer(app.test_client(), "stangd@norrbotten.se")
    known = _answer(app.test_client(), EMAIL)
    received = relay.wait_for(1)

    assert unknown == known == closed_answer
    assert "a link to choose a new password is on its way" in known[2]
    assert [message.recipients for message in received] == [[EMAIL]]


@pytest.mark.both_databases
def test_an_address_gets_a_few_links_an_hour_then_is_refused_in_words(app, relay, karin):
    client = app.test_client()
    for _ in range(MAX_PER_ADDRESS):
        assert ask(client, EMAIL).status_code == 303

    refused = ask(app.test_client(), EMAIL)
    unknown_refused = [ask(client, "ingen@norrbotten.se").status_code for _ in range(MAX_PER_ADDRESS + 1)]

    assert refused.status_code == 429
    assert "Too many password links were asked for this address." in refused.get_data(as_text=True)
    assert unknown_refused == [303] * MAX_PER_ADDRESS + [429]  # an unknown address is counted alike
    assert len(relay.wait_for(MAX_PER_ADDRESS)) == MAX_PER_ADDRESS


@pytest.mark.both_databases
def test_one_network_cannot_ask_for_many_addresses(app, relay, karin):
    here = app.test_client()
    for n in range(MAX_PER_NETWORK):
        assert ask(here, f"person{n}@norrbotten.se").status_code == 303

    refused = ask(here, EMAIL)
    other_network = app.test_client()
    other_network.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    elsewhere = ask(other_network, EMAIL)

    assert refused.status_code == 429
    assert "from your network" in refused.get_data(as_text=True)
    assert elsewhere.status_code == 303
    assert [message.recipients for message in relay.wait_for(1)] == [[EMAIL]]


def test_something_that_is_no_address_is_refused_beside_the_field(app, relay):
    response = ask(app.test_client(), "inte en adress")

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Give a valid e-mail address." in page
    assert re.search(r'<input[^>]*aria-describedby="email-error"[^>]*aria-invalid="true"', page)


@pytest.mark.parametrize(("password", "repeat", "message"), [
    ("kort", "kort", "The password must be at least 12 characters."),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords are not the same."),
])
def test_a_weak_or_mistyped_new_password_is_refused_and_the_link_still_works(app, relay, karin, password, repeat,
                                                                            message):
    client = app.test_client()
    ask(client, EMAIL)
    link = link_in(relay.wait_for(1)[0])

    refused = choose(client, link, password, repeat)

    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and message in page
    assert 'aria-invalid="true"' in page and 'role="alert"' in page
    assert choose(client, link).status_code == 303


def test_the_reset_page_refuses_a_post_without_its_csrf_token(app, relay, karin):
    client = app.test_client()
    ask(client, EMAIL)
    link = link_in(relay.wait_for(1)[0])

    response = client.post(link, headers=EN, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD})

    assert response.status_code == 400
    assert sign_in(app.test_client(), EMAIL, ORGANISER_PASSWORD).status_code == 303


def test_the_sign_in_page_offers_forgot_my_password(app):
    page = app.test_client().get("/sign-in", headers=EN).get_data(as_text=True)

    assert '<a href="/forgot-password">Forgot your password?</a>' in page


@pytest.mark.parametrize("mail_config", [{}])
def test_without_mail_the_page_says_whom_to_ask_and_has_no_form(app, karin):
    client = app.test_client()

    page = client.get("/forgot-password", headers=EN)

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "E-mail is not set up on this server" in text and "Ask another organiser" in text
    assert 'method="post"' not in text.split("<main", 1)[1]


@pytest.mark.parametrize("mail_config", [{"host": "127.0.0.1", "port": free_port(), "security": "none",
                                          "from_address": "arena@norrbotten.se", "timeout_seconds": 5}])
def test_a_mail_server_that_is_down_changes_nothing_the_visitor_sees_and_is_logged(app, karin, caplog):
    caplog.set_level(logging.INFO, logger="arena.mail")

    answer = _answer(app.test_client(), EMAIL)

    assert answer[0] == 303 and "on its way" in answer[2]
    record = wait_until(lambda: next((r for r in caplog.records if r.name == "arena.mail"), None),
                        message="the failed send was never logged")
    assert record.levelno == logging.WARNING and "mail_unreachable" in record.getMessage()
    assert "/reset-password/" not in caplog.text


def test_the_reset_link_is_never_in_the_request_log(app, relay, karin, caplog):
    caplog.set_level(logging.INFO, logger="arena.request")
    client = app.test_client()
    ask(client, EMAIL)
    link = link_in(relay.wait_for(1)[0])

    client.get(link)
    choose(client, link)

    token = link.rsplit("/", 1)[1]
    assert "GET /reset-password/***" in caplog.text
    assert token not in caplog.text


def test_a_reset_signs_out_every_browser_signed_in_with_the_old_password(app, relay, karin):
    intruder, owner = app.test_client(), app.test_client()
    sign_in(intruder, EMAIL, ORGANISER_PASSWORD)
    sign_in(owner, EMAIL, ORGANISER_PASSWORD)
    admin_before = intruder.get("/admin/", headers=EN)

    ask(owner, EMAIL)
    [received] = relay.wait_for(1)
    choose(owner, link_in(received))
    intruder_after = intruder.get("/admin/", headers=EN)
    owner_after = owner.get("/admin/", headers=EN)
    signed_in_again = sign_in(owner, EMAIL, NEW_PASSWORD)

    assert admin_before.status_code == 200
    assert intruder_after.status_code == 303 and intruder_after.headers["Location"].startswith("/sign-in")
    assert owner_after.status_code == 303 and owner_after.headers["Location"].startswith("/sign-in")
    assert signed_in_again.status_code == 303 and owner.get("/admin/", headers=EN).status_code == 200


def test_a_reset_ends_the_accounts_live_connections(app, session, relay, karin):
    before = datetime.now(UTC) - timedelta(seconds=1)

    client = app.test_client()
    ask(client, EMAIL)
    [received] = relay.wait_for(1)
    choose(client, link_in(received))

    assert karin.id in disabled_since(session, before)  # the live room's ticker closes these


@pytest.mark.postgresql_only
def test_requests_at_the_same_moment_stay_within_the_limits(app, session, karin):
    engine = session.get_bind()
    tries = MAX_PER_ADDRESS + 5
    ready = threading.Barrier(tries)

    def ask_at_once(number: int) -> bool:
        with Session(engine) as own:
            own.execute(select(1))  # connected before the start, so that the requests overlap
            ready.wait()
            try:
                request_reset(own, EMAIL, now=datetime.now(UTC), remote_addr=f"10.0.{number}.1")
            except TooManyResetRequests:
                own.rollback()
                return False
            own.commit()
            return True

    with ThreadPoolExecutor(tries) as pool:
        answered = list(pool.map(ask_at_once, range(tries)))

    assert answered.count(True) == MAX_PER_ADDRESS
    assert session.scalar(select(func.count()).select_from(PasswordResetRequest)) == MAX_PER_ADDRESS
