"""Organiser accounts: created from the command line, signing in and out, throttling, CSRF,
and the role reaching the live room."""

import re

import pytest
from sqlalchemy import select

from server.extensions import socketio
from server.models import LoginAttempt
from server.services.accounts import create_organiser
from server.sockets import protocol as p
from tests.conftest import run_cli

PASSWORD = "kluriga-lösenordet-2026"


@pytest.fixture
def organiser(session):
    account = create_organiser(session, email="Kommunikator@Norrbotten.se", name="Karin Kommunikatör",
                               password=PASSWORD)
    session.commit()
    return account


def csrf_token(client, path="/sign-in") -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def sign_in(client, email, password, token=None):
    return client.post("/sign-in", data={"email": email, "password": password,
                                         "csrf_token": token or csrf_token(client)},
                       headers={"Accept-Language": "en"})


def test_password_is_stored_hashed(organiser):
    assert PASSWORD not in organiser.password_hash
    assert organiser.password_hash.startswith("scrypt:")
    assert organiser.email == "kommunikator@norrbotten.se"


def test_organiser_signs_in_and_is_shown_as_signed_in(app, organiser):
    client = app.test_client()

    response = sign_in(client, "kommunikator@norrbotten.se", PASSWORD)
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert response.status_code == 303
    assert "Signed in as Karin Kommunikatör" in home


def test_wrong_password_is_refused_with_a_message_and_recorded(app, organiser, session):
    client = app.test_client()

    response = sign_in(client, "kommunikator@norrbotten.se", "fel lösenord här")

    assert response.status_code == 401
    assert "The e-mail address or the password is wrong." in response.get_data(as_text=True)
    assert session.scalars(select(LoginAttempt.succeeded)).all() == [False]


def test_unknown_address_gets_the_same_message(app, organiser):
    response = sign_in(app.test_client(), "okand@example.se", PASSWORD)

    assert response.status_code == 401
    assert "The e-mail address or the password is wrong." in response.get_data(as_text=True)


def test_sign_in_is_throttled_after_five_failures(app, organiser):
    client = app.test_client()
    for _ in range(5):
        sign_in(client, "kommunikator@norrbotten.se", "fel lösenord här")

    locked = sign_in(client, "kommunikator@norrbotten.se", PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)


def test_sign_in_without_csrf_token_is_refused(app, organiser):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()

    response = client.post("/sign-in", data={"email": "kommunikator@norrbotten.se", "password": PASSWORD},
                           headers={"Accept-Language": "en"})

    assert response.status_code == 400
    assert "Signed in as" not in client.get("/").get_data(as_text=True)


def test_sign_out_without_csrf_token_is_refused(app, organiser):
    client = app.test_client()
    sign_in(client, "kommunikator@norrbotten.se", PASSWORD)

    response = client.post("/sign-out", headers={"Accept-Language": "en"})

    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)


def test_signed_in_organiser_moderates_in_the_live_room_and_sign_out_ends_it(app, organiser, demo_event):
    talk = demo_event.talks[0]
    client = app.test_client()
    sign_in(client, "kommunikator@norrbotten.se", PASSWORD)
    client.get(f"/events/{demo_event.slug}/{talk.slug}")
    live = socketio.test_client(app, namespace=p.LIVE_NAMESPACE, flask_test_client=client)

    joined = live.emit(p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)
    rules = live.emit(p.SET_RULES, {"chat_open": False}, namespace=p.LIVE_NAMESPACE, callback=True)
    signed_out = client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})

    assert joined["me"] == {**joined["me"], "moderator": True, "role": "organiser"}
    assert rules["ok"] is True
    assert signed_out.status_code == 303
    assert not live.is_connected(p.LIVE_NAMESPACE)


@pytest.mark.parametrize("email, password, code, message", [
    ("inte-en-adress", PASSWORD, "invalid_email", "Ange en giltig e-postadress."),
    ("ny@kommun.se", "kort", "weak_password", "Lösenordet måste ha minst 12 tecken."),
])
def test_create_organiser_refuses_bad_input_in_swedish_by_default(session, email, password, code, message):
    from server.services.errors import ValidationError

    with pytest.raises(ValidationError) as error:
        create_organiser(session, email=email, name="Ny", password=password)

    assert (error.value.code, str(error.value)) == (code, message)


def test_cli_creates_an_organiser_and_resets_the_password(tmp_path):
    import subprocess
    import sys

    from server.config import PROJECT_ROOT

    env = {"PATH": "/usr/bin:/bin", "ARENA_DATABASE__URL": f"sqlite:///{tmp_path / 'a.db'}",
           "ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "instance")}
    assert run_cli(env, "migrate").returncode == 0

    def cli(*args, stdin):
        return subprocess.run([sys.executable, "-m", "server", *args], cwd=PROJECT_ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    created = cli("create-organiser", "karin@kommun.se", "Karin", stdin=PASSWORD + "\n")
    again = cli("create-organiser", "karin@kommun.se", "Karin", stdin=PASSWORD + "\n")
    reset = cli("reset-password", "karin@kommun.se", stdin="ett-nytt-langt-losenord\n")
    weak = cli("reset-password", "karin@kommun.se", stdin="kort\n")

    assert created.returncode == 0 and "Created organiser Karin" in created.stdout
    assert again.returncode == 1 and "redan ett konto" in again.stderr
    assert reset.returncode == 0
    assert weak.returncode == 1 and "minst 12 tecken" in weak.stderr
    from sqlalchemy import create_engine

    engine = create_engine(env["ARENA_DATABASE__URL"])
    with engine.connect() as connection:
        logged = connection.exec_driver_sql("SELECT action, actor FROM audit_log ORDER BY id").all()
    engine.dispose()
    assert [action for action, _ in logged] == ["organiser.create", "organiser.reset_password"]
    assert all(actor.startswith("command line (") for _, actor in logged)


@pytest.mark.parametrize(("base_url", "secure"), [("https://arena.kommun.se", True), ("http://127.0.0.1:5000", False)])
def test_session_and_language_cookies_are_secure_over_https_and_never_readable_by_scripts(
        make_settings, database_url, base_url, secure):
    from server import create_app

    app = create_app(make_settings(database={"url": database_url}, server={"base_url": base_url}))
    client = app.test_client()

    cookies = (client.get("/sign-in").headers.getlist("Set-Cookie")  # the form's CSRF secret: session cookie
               + client.get("/language/en?next=/").headers.getlist("Set-Cookie"))

    assert {header.split("=", 1)[0] for header in cookies} == {app.config["SESSION_COOKIE_NAME"], "arena_lang"}
    for header in cookies:
        assert "HttpOnly" in header and "SameSite=Lax" in header
        assert ("Secure" in header) is secure
    app.extensions["arena.live"].stop()
