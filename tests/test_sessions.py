"""The session cookie is verified once per value and its contents kept: a cookie altered by one
character is still refused, and every request gets a copy of its own."""

from flask import session

from server.web.sessions import VerifiedCookieSessionInterface


def test_session_cookie_altered_after_a_verified_one_is_refused(app):
    @app.get("/_test/remember")
    def remember():
        session["participant_id"] = "p-anna"
        return "ok"

    @app.get("/_test/who")
    def who():
        return session.get("participant_id", "nobody")

    client = app.test_client()
    client.get("/_test/remember")
    cookie = client.get_cookie("session").value
    assert client.get("/_test/who").text == "p-anna"  # verified, now kept

    payload, _, signature = cookie.rpartition(".")
    # The signature's first character carries whole bits (its last one may carry padding only).
    forged = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie("session", forged)

    assert isinstance(app.session_interface, VerifiedCookieSessionInterface)
    assert client.get("/_test/who").text == "nobody"


def test_session_each_request_changes_its_own_copy(app):
    @app.get("/_test/set")
    def set_name():
        session["display_name"] = "Anna"
        return "ok"

    @app.get("/_test/mutate")
    def mutate():
        seen = session.get("display_name", "")
        session.modified = False
        session["display_name"] = "Mallory"  # changes this request's copy only
        session.modified = False            # and is never sent back
        return seen

    client = app.test_client()
    client.get("/_test/set")

    assert client.get("/_test/mutate").text == "Anna"
    assert client.get("/_test/mutate").text == "Anna"
