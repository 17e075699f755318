"""The sign-in throttle: failures count per account *and* client network, so nobody can lock
an organiser out from elsewhere; and one network trying many accounts is stopped. The
figures live in the database, so every server process agrees."""

import re
import subprocess
import sys
import textwrap

import pytest

from server.config import PROJECT_ROOT
from server.services.accounts import MAX_FAILURES, MAX_FAILURES_PER_NETWORK, create_organiser, throttle_key

PASSWORD = "kluriga-lösenordet-2026"
KARIN = "karin@norrbotten.se"
OFFICE = "192.0.2.10"       # the organiser's own network
STRANGER = "198.51.100.66"  # someone typing her address wrongly, or guessing


@pytest.fixture
def karin(session):
    create_organiser(session, email=KARIN, name="Karin Kommunikatör", password=PASSWORD)
    session.commit()


def browser(app, address: str, **headers):
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": address})
    client.environ_base.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
    return client


def sign_in(client, email: str, password: str, language: str = "en"):
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token},
                       headers={"Accept-Language": language})


def test_failures_from_another_address_do_not_lock_the_organiser_out(app, karin):
    stranger, office = browser(app, STRANGER), browser(app, OFFICE)
    for _ in range(MAX_FAILURES):
        sign_in(stranger, KARIN, "fel lösenord här")

    stranger_again = sign_in(stranger, KARIN, PASSWORD)
    karin_at_the_office = sign_in(office, KARIN, PASSWORD)

    assert stranger_again.status_code == 429
    assert "Too many failed sign-ins" in stranger_again.get_data(as_text=True)
    assert karin_at_the_office.status_code == 303


def test_one_address_trying_many_accounts_is_throttled(app, karin):
    stranger, office = browser(app, STRANGER), browser(app, OFFICE)
    for number in range(MAX_FAILURES_PER_NETWORK):  # never five on one account: only the network limit applies
        assert sign_in(stranger, f"gissning{number}@norrbotten.se", "fel lösenord här").status_code == 401

    even_the_right_password = sign_in(stranger, KARIN, PASSWORD)
    swedish = sign_in(stranger, "ny@norrbotten.se", "fel lösenord här", language="sv")
    karin_at_the_office = sign_in(office, KARIN, PASSWORD)

    assert even_the_right_password.status_code == 429
    assert "Too many failed sign-ins from your network" in even_the_right_password.get_data(as_text=True)
    assert "För många misslyckade inloggningar från ditt nätverk" in swedish.get_data(as_text=True)
    assert karin_at_the_office.status_code == 303


def test_addresses_in_one_ipv6_network_share_the_limit(app, karin):
    for host in range(MAX_FAILURES):
        sign_in(browser(app, f"2001:db8:1:2::{host + 1:x}"), KARIN, "fel lösenord här")

    same_network = sign_in(browser(app, "2001:db8:1:2:ffff::1"), KARIN, PASSWORD)
    other_network = sign_in(browser(app, "2001:db8:1:3::1"), KARIN, PASSWORD)

    assert same_network.status_code == 429
    assert other_network.status_code == 303


def test_a_forwarded_address_is_ignored_without_a_trusted_proxy(app, karin):
    for number in range(MAX_FAILURES):  # a new made-up address every time
        sign_in(browser(app, STRANGER, **{"X-Forwarded-For": f"203.0.113.{number}"}), KARIN, "fel lösenord här")

    still_counted = sign_in(browser(app, STRANGER, **{"X-Forwarded-For": "203.0.113.99"}), KARIN, PASSWORD)

    assert still_counted.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(make_settings, database_url, session):
    from server import create_app

    app = create_app(make_settings(database={"url": database_url}, server={"trusted_proxies": 1}))
    app.config["TESTING"] = True
    try:
        with app.app_context():
            create_organiser(session, email=KARIN, name="Karin Kommunikatör", password=PASSWORD)
            session.commit()
            nginx = "127.0.0.1"  # every visitor arrives from the proxy
            for _ in range(MAX_FAILURES):
                sign_in(browser(app, nginx, **{"X-Forwarded-For": STRANGER}), KARIN, "fel lösenord här")

            stranger = sign_in(browser(app, nginx, **{"X-Forwarded-For": STRANGER}), KARIN, PASSWORD)
            karin_at_the_office = sign_in(browser(app, nginx, **{"X-Forwarded-For": OFFICE}), KARIN, PASSWORD)
    finally:
        app.extensions["arena.live"].stop()
        app.extensions["arena.studio"].stop()

    assert stranger.status_code == 429
    assert karin_at_the_office.status_code == 303


def test_failures_counted_by_another_process_throttle_this_one(app, karin, database_url):
    other_process = textwrap.dedent(f"""
        from datetime import datetime, timezone
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session
        from server.services.accounts import authenticate
        from server.services.errors import ServiceError

        engine = create_engine({database_url!r})
        with Session(engine) as session:
            for _ in range({MAX_FAILURES}):
                try:
                    authenticate(session, {KARIN!r}, "fel lösenord här", now=datetime.now(timezone.utc),
                                 remote_addr={STRANGER!r})
                except ServiceError:
                    session.commit()
        engine.dispose()
    """)
    ran = subprocess.run([sys.executable, "-c", other_process], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr

    here = sign_in(browser(app, STRANGER), KARIN, PASSWORD)
    from_the_office = sign_in(browser(app, OFFICE), KARIN, PASSWORD)

    assert here.status_code == 429
    assert from_the_office.status_code == 303


@pytest.mark.parametrize(("remote_addr", "key"), [
    ("192.0.2.10", "192.0.2.10"),
    ("::ffff:192.0.2.10", "192.0.2.10"),
    ("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"),
    ("", ""),
])
def test_the_throttle_key_is_the_address_written_out(remote_addr, key):
    assert throttle_key(remote_addr) == key
