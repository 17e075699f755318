"""Organisers add colleagues from the admin: the colleague chooses their own password through
a link that works once and expires; an account can be closed (ending its open pages) and
opened again, but nobody locks themselves or the last organiser out."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from server.extensions import socketio
from server.models import AuditEntry, Organiser
from server.services.accounts import PASSWORD_LINK_SALT
from server.sockets import protocol as p
from tests.conftest import form_token
from tests.waiting import wait_until

EN = {"Accept-Language": "en"}
NEW_PASSWORD = "tre-orelaterade-ord-2026"


def add_colleague(client, name="Olle Organisatör", email="olle@norrbotten.se"):
    response = client.post("/admin/organisers", headers=EN, data={
        "csrf_token": form_token(client, "/admin/organisers"), "name": name, "email": email})
    page = client.get("/admin/organisers", headers=EN).get_data(as_text=True)
    link = re.search(r'id="new-password-link" type="text" readonly value="http://arena.test([^"]+)"', page)
    return response, link.group(1) if link else None


def choose(client, link, password=NEW_PASSWORD, repeat=None):
    return client.post(link, headers=EN, data={"csrf_token": form_token(client, link), "password": password,
                                               "repeat": password if repeat is None else repeat})


def sign_in(client, email, password):
    return client.post("/sign-in", data={"email": email, "password": password,
                                          "csrf_token": form_token(client, "/sign-in")})


def test_colleague_chooses_a_password_through_the_link_and_signs_in(organiser_client, app, session):
    response, link = add_colleague(organiser_client)
    assert response.status_code == 303 and link.startswith("/set-password/")
    colleague = app.test_client()

    assert sign_in(colleague, "olle@norrbotten.se", "").status_code == 400  # no password works yet
    chosen = choose(colleague, link)
    signed_in = sign_in(colleague, "olle@norrbotten.se", NEW_PASSWORD)

    assert chosen.status_code == 303
    assert signed_in.status_code == 303
    assert colleague.get("/admin/", headers=EN).status_code == 200
    account = session.scalars(select(Organiser).where(Organiser.email == "olle@norrbotten.se")).one()
    assert NEW_PASSWORD not in account.password_hash
    assert session.scalars(select(AuditEntry.action)).all() == ["organiser.create", "password.set"]


def test_a_password_link_works_only_once(organiser_client, app):
    _, link = add_colleague(organiser_client)
    colleague = app.test_client()
    choose(colleague, link)

    again = app.test_client().get(link, headers=EN)

    assert again.status_code == 403
    assert "This link has already been used." in again.get_data(as_text=True)


def test_an_expired_or_forged_password_link_is_refused(organiser_client, app, session):
    add_colleague(organiser_client)
    account = session.scalars(select(Organiser).where(Organiser.email == "olle@norrbotten.se")).one()

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 24 * 3600

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=PASSWORD_LINK_SALT, signer=EightDaysAgo).dumps(
        {"organiser": account.id, "hash": "whatever"})
    forged = URLSafeTimedSerializer("not-our-key", salt=PASSWORD_LINK_SALT).dumps({"organiser": account.id})

    expired = app.test_client().get(f"/set-password/{old}", headers=EN)
    bad = app.test_client().get(f"/set-password/{forged}", headers={"Accept-Language": "sv"})

    assert expired.status_code == 403 and "This link has expired." in expired.get_data(as_text=True)
    assert bad.status_code == 403 and "Länken är inte giltig." in bad.get_data(as_text=True)


@pytest.mark.parametrize(("password", "repeat", "message"), [
    ("kort", "kort", "The password must be at least 12 characters."),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords are not the same."),
])
def test_a_weak_or_mistyped_password_is_refused_and_the_link_still_works(organiser_client, app, password, repeat,
                                                                        message):
    _, link = add_colleague(organiser_client)
    colleague = app.test_client()

    refused = choose(colleague, link, password, repeat)

    assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert choose(colleague, link).status_code == 303


def test_adding_an_account_twice_is_refused(organiser_client, session):
    add_colleague(organiser_client)

    response, link = add_colleague(organiser_client, name="Olle igen")

    assert response.status_code == 400 and link is None
    assert "There is already an account with this e-mail address." in response.get_data(as_text=True)
    assert session.scalars(select(Organiser.name).where(Organiser.email == "olle@norrbotten.se")).all() == [
        "Olle Organisatör"]


def test_closing_an_account_signs_it_out_everywhere_and_reopening_lets_it_in(organiser_client, app, session,
                                                                            demo_event):
    _, link = add_colleague(organiser_client)
    colleague = app.test_client()
    choose(colleague, link)
    sign_in(colleague, "olle@norrbotten.se", NEW_PASSWORD)
    talk = demo_event.talks[0]
    colleague.get(f"/events/{demo_event.slug}/{talk.slug}")
    live = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=colleague)
    live.emit(p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)
    account = session.scalars(select(Organiser).where(Organiser.email == "olle@norrbotten.se")).one()

    organiser_client.post(f"/admin/organisers/{account.id}/close",
                          data={"csrf_token": form_token(organiser_client, "/admin/organisers")})

    assert colleague.get("/admin/").status_code == 303  # back to the sign-in page
    assert sign_in(colleague, "olle@norrbotten.se", NEW_PASSWORD).status_code == 401
    # the live room's ticker closes the connection (about a second after, on a quiet machine)
    wait_until(lambda: not live.is_connected(p.LIVE_NAMESPACE), message="the closed account's socket stayed open")

    organiser_client.post(f"/admin/organisers/{account.id}/reopen",
                          data={"csrf_token": form_token(organiser_client, "/admin/organisers")})
    assert sign_in(colleague, "olle@norrbotten.se", NEW_PASSWORD).status_code == 303


def test_nobody_closes_their_own_account(organiser_client, session):
    me = session.scalars(select(Organiser)).one()

    response = organiser_client.post(f"/admin/organisers/{me.id}/close", headers=EN,
                                     data={"csrf_token": form_token(organiser_client, "/admin/organisers")})

    assert "You cannot close your own account." in organiser_client.get(response.headers["Location"],
                                                                        headers=EN).get_data(as_text=True)
    session.expire_all()
    assert session.get(Organiser, me.id).disabled_at is None


def test_changes_to_accounts_are_listed_in_words_of_the_page_language(organiser_client):
    add_colleague(organiser_client)

    page = organiser_client.get("/admin/organisers", headers={"Accept-Language": "sv"}).get_data(as_text=True)

    log = page[page.index("Ändringar av konton"):] if "Ändringar av konton" in page else page
    assert "Lade till ett arrangörskonto olle@norrbotten.se" in " ".join(re.sub(r"<[^>]+>", "", log).split())
    assert "organiser.create" not in page
