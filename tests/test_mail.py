"""E-mail through a real SMTP server in the test process (tests/mail_server.py): the transport
(STARTTLS, implicit TLS, a local relay; every failure in words), and the admin's sending of
sign-in and password links in the recipient's language, by organisers only, audited without
the link; a send that fails leaves the link to copy."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from server.config import load_settings
from server.db import utcnow
from server.models import AuditEntry, Organiser, Role, RoleGrant
from server.services import mail
from server.services.roles import grant_role
from tests.conftest import EVERY_KIND_OF_PERSON, at, form_token, free_port, run_cli
from tests.mail_server import (  # noqa: F401  the module's app sends mail
    PASSWORD,
    USER,
    app_fixture,
    mail_config_fixture,
    relay_fixture,
    silent_server,
    smtp_server,
)

# aiosmtpd knows only STARTTLS as TLS, so it warns of AUTH on its implicit-TLS server.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
EN = {"Accept-Language": "en"}
LINK = re.compile(r"(http://arena\.test/\S+)")


def settings_for(**mail_section):
    return load_settings(config_file=None, environ={}, overrides={"mail": mail_section})


def a_message(to="olle@norrbotten.se", subject="Prov", text="Hej!\n"):
    return mail.Mail(to=to, subject=subject, text=text, language="sv")


def refusal(app, settings, message=None, language="en") -> mail.MailNotSent:
    with pytest.raises(mail.MailNotSent) as caught:
        mail.send(settings, message or a_message())
    with force_locale(language):
        caught.value.words = str(caught.value.message)
    return caught.value


# -- the transport --------------------------------------------------------------------------

@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_message_goes_over_starttls_or_implicit_tls_with_a_login(app, tmp_path, monkeypatch, security):
    with smtp_server(tmp_path, security) as server:
        server.trust(monkeypatch)
        message_id = mail.send(settings_for(**server.settings()), a_message(subject="Åäö – prov", text="Hej Olle!\n"))
        [received] = server.wait_for(1)

    assert received.recipients == ["olle@norrbotten.se"]
    assert received.message["Subject"] == "Åäö – prov" and received.text == "Hej Olle!\n"
    assert received.message["From"] == "Arena <arena@norrbotten.se>"
    assert received.message["Message-ID"] == message_id
    assert server.logins == [USER]


def test_a_message_goes_to_a_local_relay_without_encryption_when_configured(app, tmp_path):
    with smtp_server(tmp_path, "none") as server:
        mail.send(settings_for(**server.settings()), a_message())
        [received] = server.wait_for(1)

    assert received.recipients == ["olle@norrbotten.se"] and server.logins == []


def test_a_header_cannot_be_added_through_a_subject(app, tmp_path):
    with smtp_server(tmp_path, "none") as server:
        mail.send(settings_for(**server.settings()), a_message(subject="Hej\r\nBcc: spion@example.com"))
        [received] = server.wait_for(1)

    assert received.recipients == ["olle@norrbotten.se"] and received.message["Bcc"] is None


def test_an_untrusted_certificate_is_refused_in_words(app, tmp_path):
    with smtp_server(tmp_path, "tls") as server:  # its certificate is not trusted: no SSL_CERT_FILE
        error = refusal(app, settings_for(**server.settings()))

        assert server.messages() == []
    assert error.code == "mail_certificate"
    assert error.words == "The mail server's certificate could not be verified, so nothing was sent."


def test_a_server_without_starttls_gets_nothing_unencrypted(app, tmp_path, monkeypatch):
    with smtp_server(tmp_path, "starttls", auth=False, offer_starttls=False) as server:
        server.trust(monkeypatch)
        error = refusal(app, settings_for(**server.settings()))

        assert server.messages() == []
    assert error.code == "mail_no_starttls"
    assert "does not offer an encrypted connection (STARTTLS), so nothing was sent." in error.words


def test_a_wrong_password_is_refused_in_words_and_never_logged(app, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path, "starttls") as server:
        server.trust(monkeypatch)
        error = refusal(app, settings_for(**server.settings(password="fel-lösenord-åäö")), language="sv")

        assert server.messages() == []
    assert error.code == "mail_auth_refused"
    assert error.words == "E-postservern godtog inte användarnamnet eller lösenordet i serverns e-postinställningar."
    assert "fel-lösenord-åäö" not in caplog.text and PASSWORD not in caplog.text
    assert "mail_auth_refused" in caplog.text  # the operator reads what went wrong


def test_a_server_that_is_down_or_silent_is_said_in_words(app):
    down = refusal(app, settings_for(host="127.0.0.1", port=free_port(), security="none",
                                     from_address="arena@norrbotten.se"))
    with silent_server() as port:
        silent = refusal(app, settings_for(host="127.0.0.1", port=port, security="none",
                                           from_address="arena@norrbotten.se", timeout_seconds=1))

    assert down.code == "mail_unreachable" and "could not be reached" in down.words
    assert silent.code == "mail_timeout" and "did not answer within 1 seconds" in silent.words


def test_without_a_host_mail_is_off_and_nothing_is_tried(app):
    settings = settings_for()

    assert mail.mail_enabled(settings) is False
    with pytest.raises(mail.MailNotConfigured):
        mail.send(settings, a_message())


# -- the admin ------------------------------------------------------------------------------

@pytest.fixture
def day(session, make_event, make_talk):
    event = make_event(slug="dagen", title="Sociala medier i offentlig sektor")
    talk = make_talk(event, slug="skapa-arenor", title="Skapa arenor!", starts_at=at(10), ends_at=at(11))
    session.commit()
    return event, talk


def people_page(client) -> str:
    return client.get("/admin/events/dagen/people", headers=EN).get_data(as_text=True)


def make_link(client, role="moderator", name="Maja Moderator", talk=None):
    path = "/admin/events/dagen/people/" + ("moderators" if role == "moderator" else "speakers")
    prefix = role if role == "moderator" else "invite"
    data = {"csrf_token": form_token(client, "/admin/events/dagen/people"), f"{prefix}-name": name,
            f"{prefix}-valid_days": "7"}
    if talk is not None:
        data["invite-talk"] = str(talk.id)
    response = client.post(path, data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    grant_id = int(response.headers["Location"].rsplit("grant-", 1)[1])
    return grant_id


def send_link(client, grant_id, to="maja@kommun.se", language="en"):
    return client.post(f"/admin/events/dagen/people/{grant_id}/mail", headers=EN, data={
        "csrf_token": form_token(client, "/admin/events/dagen/people"), f"mail-{grant_id}-to": to,
        f"mail-{grant_id}-language": language})


def test_a_moderator_link_is_sent_in_english_and_signs_in(app, session, relay, organiser_client, day):
    grant_id = make_link(organiser_client)
    shown = re.search(rf'id="link-{grant_id}" type="text" readonly value="([^"]+)"', people_page(organiser_client))

    sent = send_link(organiser_client, grant_id, to=" Maja@Kommun.se ", language="en")
    [received] = relay.wait_for(1)
    link = LINK.search(received.text).group(1)
    signed_in = app.test_client().get(urlsplit(link).path)

    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"#grant-{grant_id}")
    assert received.recipients == ["maja@kommun.se"]
    assert received.message["Subject"] == "You are invited to moderate “Sociala medier i offentlig sektor”"
    assert received.message["Content-Language"] == "en"
    assert received.message["Auto-Submitted"] == "no"  # a person chose to send it: replies are welcome
    assert received.message["Reply-To"] == "karin@norrbotten.se"
    assert "Hello Maja Moderator," in received.text and "Karin Kommunikatör invites you to moderate" in received.text
    assert link == shown.group(1)
    assert signed_in.status_code == 303
    page = organiser_client.get(sent.headers["Location"], headers=EN).get_data(as_text=True)
    assert "The sign-in link of Maja Moderator was sent to maja@kommun.se." in page


def test_a_speaker_link_is_sent_in_swedish(app, relay, organiser_client, day):
    _, talk = day
    grant_id = make_link(organiser_client, role="speaker", name="Mattias Jansson", talk=talk)

    send_link(organiser_client, grant_id, to="mattias@katrineholm.se", language="sv")
    [received] = relay.wait_for(1)

    assert received.message["Subject"] == "Du är inbjuden att tala i ”Skapa arenor!”"
    assert received.message["Content-Language"] == "sv"
    assert "Hej Mattias Jansson!" in received.text and "Din personliga inloggningslänk:" in received.text
    assert "Passet börjar tisdag 24 november 2026, 10:00 (Europe/Stockholm)." in received.text


def test_a_send_is_audited_without_the_link(app, session, relay, organiser_client, day):
    grant_id = make_link(organiser_client)

    send_link(organiser_client, grant_id, language="sv")
    [received] = relay.wait_for(1)

    token = LINK.search(received.text).group(1).rsplit("/", 1)[1]
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "grant.mail")).all()
    assert [(entry.actor, entry.target_id, entry.after) for entry in entries] == [
        ("Karin Kommunikatör", str(grant_id), {"to": "maja@kommun.se", "language": "sv"})]
    everything = session.scalars(select(AuditEntry)).all()
    assert all(token not in str((entry.before, entry.after, entry.reason)) for entry in everything)
    audit_page = organiser_client.get("/admin/events/dagen/audit", headers=EN).get_data(as_text=True)
    assert "Sent a sign-in link by e-mail" in audit_page


def test_only_organisers_can_send_a_link(app, session, relay, every_kind_of_person, make_event, make_talk, day):
    event, talk = day
    other_talk = make_talk(event, slug="andra")
    other_event = make_event(slug="annan")
    session.commit()
    browsers = every_kind_of_person(talk, other_talk, other_event)
    grant = grant_role(session, role=Role.moderator, name="Maja Moderator", event=event, now=utcnow())
    session.commit()
    answers = {}

    for kind in EVERY_KIND_OF_PERSON:
        client = browsers[kind]
        response = client.post(f"/admin/events/dagen/people/{grant.id}/mail", data={
            "csrf_token": form_token(client, "/sign-in"), f"mail-{grant.id}-to": f"{kind}@kommun.se",
            f"mail-{grant.id}-language": "sv"})
        answers[kind] = response.status_code

    assert answers == {"anonymous": 303, "participant": 303, "speaker_here": 403, "speaker_elsewhere": 403,
                       "moderator_here": 403, "moderator_elsewhere": 403, "organiser": 303}
    assert [message.recipients for message in relay.wait_for(1)] == [["organiser@kommun.se"]]
    assert session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "grant.mail")).all() == [
        "Karin Kommunikatör"]


def test_a_wrong_address_is_refused_beside_the_field(app, relay, organiser_client, day):
    grant_id = make_link(organiser_client)

    response = send_link(organiser_client, grant_id, to="inte en adress")

    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Give a valid e-mail address." in page
    assert re.search(rf'id="mail-{grant_id}-to"[^>]*aria-describedby="mail-{grant_id}-to-error"', page) or \
        re.search(rf'aria-describedby="mail-{grant_id}-to-error"[^>]*id="mail-{grant_id}-to"', page)
    assert relay.messages() == []


def test_a_withdrawn_link_is_not_sent(app, session, relay, organiser_client, day):
    grant_id = make_link(organiser_client)
    organiser_client.post(f"/admin/events/dagen/people/{grant_id}/revoke",
                          data={"csrf_token": form_token(organiser_client, "/admin/events/dagen/people")})

    response = send_link(organiser_client, grant_id)

    page = organiser_client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "no longer works, so it was not sent" in page
    assert relay.messages() == []


@pytest.mark.parametrize("mail_config", [{"host": "127.0.0.1", "port": free_port(), "security": "none",
                                          "from_address": "arena@norrbotten.se", "timeout_seconds": 5}])
def test_a_mail_server_that_is_down_leaves_the_link_to_copy_and_no_record(app, session, organiser_client, day):
    grant_id = make_link(organiser_client)

    response = send_link(organiser_client, grant_id)

    page = organiser_client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert response.status_code == 303
    assert "The sign-in link of Maja Moderator was not sent: The mail server 127.0.0.1:" in page
    assert "could not be reached. The link still works: copy it below and send it yourself." in page
    assert f'id="link-{grant_id}"' in page
    assert session.get(RoleGrant, grant_id).revoked_at is None
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "grant.mail")).all() == []


@pytest.mark.parametrize("mail_config", [{}])
def test_without_mail_the_people_and_organisers_pages_are_as_before(app, organiser_client, day):
    grant_id = make_link(organiser_client)

    people = people_page(organiser_client)
    organisers = organiser_client.get("/admin/organisers", headers=EN).get_data(as_text=True)
    refused = send_link(organiser_client, grant_id)

    assert f'id="link-{grant_id}"' in people and "Send the link by e-mail" not in people
    assert "E-mail a password link" not in organisers and "Send them the link by e-mail" not in organisers
    assert refused.status_code == 303
    assert "E-mail is not set up on this server." in organiser_client.get(refused.headers["Location"],
                                                                           headers=EN).get_data(as_text=True)


def test_an_organiser_password_link_is_mailed_to_the_account(app, session, relay, organiser_client):
    karin = session.scalars(select(Organiser).where(Organiser.email == "karin@norrbotten.se")).one()

    response = organiser_client.post(f"/admin/organisers/{karin.id}/password-mail", headers=EN, data={
        "csrf_token": form_token(organiser_client, "/admin/organisers"), "language": "en"})
    [received] = relay.wait_for(1)
    link = urlsplit(LINK.search(received.text).group(1)).path
    page = organiser_client.get("/admin/organisers", headers=EN).get_data(as_text=True)

    assert response.status_code == 303
    assert received.recipients == ["karin@norrbotten.se"]
    assert received.message["Subject"] == "Choose your password for Arena"
    assert link.startswith("/set-password/") and app.test_client().get(link).status_code == 200
    assert "A password link was sent to Karin Kommunikatör at karin@norrbotten.se." in page
    assert 'id="new-password-link"' not in page  # sent: not shown a second time
    assert session.scalars(select(AuditEntry.after).where(AuditEntry.action == "organiser.mail")).all() == [
        {"to": "karin@norrbotten.se", "language": "en"}]


def test_a_new_organiser_gets_the_link_by_mail_in_their_language(app, session, relay, organiser_client):
    response = organiser_client.post("/admin/organisers", headers=EN, data={
        "csrf_token": form_token(organiser_client, "/admin/organisers"), "name": "Olle Organisatör",
        "email": "olle@norrbotten.se", "send_link": "y", "language": "sv"})
    [received] = relay.wait_for(1)

    assert response.status_code == 303
    assert received.recipients == ["olle@norrbotten.se"]
    assert received.message["Subject"] == "Välj ditt lösenord för Arena"
    assert "Hej Olle Organisatör!" in received.text


@pytest.mark.parametrize("mail_config", [{"host": "127.0.0.1", "port": free_port(), "security": "none",
                                          "from_address": "arena@norrbotten.se", "timeout_seconds": 5}])
def test_a_new_organiser_whose_mail_fails_still_gets_the_link_to_copy(app, session, organiser_client):
    organiser_client.post("/admin/organisers", headers=EN, data={
        "csrf_token": form_token(organiser_client, "/admin/organisers"), "name": "Olle Organisatör",
        "email": "olle@norrbotten.se", "send_link": "y", "language": "sv"})

    page = organiser_client.get("/admin/organisers", headers=EN).get_data(as_text=True)

    assert "The password link of Olle Organisatör was not sent:" in page
    assert 'id="new-password-link"' in page
    assert session.scalars(select(Organiser.name).where(Organiser.email == "olle@norrbotten.se")).all() == [
        "Olle Organisatör"]
    assert session.scalars(select(AuditEntry.action)).all() == ["organiser.create"]



def test_an_operator_checks_mail_from_the_command_line(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ARENA_")}
    env.update({"ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "instance"),
                "ARENA_DATABASE__URL": f"sqlite:///{tmp_path / 'arena.db'}",
                "ARENA_MEDIA__RECORDINGS_DIR": str(tmp_path / "recordings")})
    with smtp_server(tmp_path, "none") as server:
        sent = run_cli(env | {"ARENA_MAIL__HOST": "127.0.0.1", "ARENA_MAIL__PORT": str(server.port),
                              "ARENA_MAIL__SECURITY": "none", "ARENA_MAIL__FROM_ADDRESS": "arena@norrbotten.se"},
                       "send-test-mail", "drift@norrbotten.se", "--language", "en")
        [received] = server.wait_for(1)
    down = run_cli(env | {"ARENA_MAIL__HOST": "127.0.0.1", "ARENA_MAIL__PORT": str(free_port()),
                          "ARENA_MAIL__SECURITY": "none", "ARENA_MAIL__FROM_ADDRESS": "arena@norrbotten.se"},
                   "send-test-mail", "drift@norrbotten.se")
    off = run_cli(env, "send-test-mail", "drift@norrbotten.se")

    assert sent.returncode == 0 and "Sent to drift@norrbotten.se" in sent.stdout
    assert received.recipients == ["drift@norrbotten.se"] and "E-mail works" in received.text
    assert down.returncode == 1 and "Not sent:" in down.stderr and "127.0.0.1" in down.stderr
    assert off.returncode == 1 and "[mail] has no host" in off.stderr


def test_a_link_is_sent_as_soon_as_it_is_made_when_an_address_is_given(app, session, relay, organiser_client, day):
    _, talk = day
    response = organiser_client.post("/admin/events/dagen/people/speakers", headers=EN, data={
        "csrf_token": form_token(organiser_client, "/admin/events/dagen/people"), "invite-name": "Anna Karlsson",
        "invite-talk": str(talk.id), "invite-valid_days": "14", "invite-to": "anna@vrg.se", "invite-language": "en"})
    [received] = relay.wait_for(1)

    page = organiser_client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert received.recipients == ["anna@vrg.se"]
    assert received.message["Subject"] == "You are invited to speak in “Skapa arenor!”"
    assert "A sign-in link was made for Anna Karlsson." in page
    assert "The sign-in link of Anna Karlsson was sent to anna@vrg.se." in page
    assert session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == ["grant.speaker", "grant.mail"]


def test_a_new_link_with_a_wrong_address_is_not_made(app, session, relay, organiser_client, day):
    response = organiser_client.post("/admin/events/dagen/people/moderators", headers=EN, data={
        "csrf_token": form_token(organiser_client, "/admin/events/dagen/people"), "moderator-name": "Maja",
        "moderator-valid_days": "7", "moderator-to": "maja at kommun", "moderator-language": "sv"})

    assert response.status_code == 400 and "Give a valid e-mail address." in response.get_data(as_text=True)
    assert session.scalars(select(RoleGrant)).all() == []
    assert relay.messages() == []


def mail_form_fields(client, page: str, action: str, **fields) -> dict:
    """The e-mail form posting to `action` on `page`, as a browser sends it (both its tokens)."""
    html = client.get(page, headers=EN).get_data(as_text=True)
    body = re.search(rf'<form\b[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S).group(1)
    return {"csrf_token": form_token(client, page),
            "form_token": re.search(r'name="form_token"[^>]*value="([^"]+)"', body).group(1), **fields}


def test_a_link_form_sent_twice_sends_one_message(app, session, relay, organiser_client, day):
    grant_id = make_link(organiser_client)
    action = f"/admin/events/dagen/people/{grant_id}/mail"
    form = mail_form_fields(organiser_client, "/admin/events/dagen/people", action,
                            **{f"mail-{grant_id}-to": "maja@kommun.se", f"mail-{grant_id}-language": "en"})

    first = organiser_client.post(action, headers=EN, data=form)
    again = organiser_client.post(action, headers=EN, data=form)  # a reload of the POST, a double click
    page = organiser_client.get(again.headers["Location"], headers=EN).get_data(as_text=True)

    assert len(relay.messages()) == 1  # both answered: sending is done before the answer
    assert first.status_code == again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert "The sign-in link of Maja Moderator was sent to maja@kommun.se." in page
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "grant.mail")).all()) == 1


def test_a_password_link_form_sent_twice_sends_one_message(app, session, relay, organiser_client):
    karin = session.scalars(select(Organiser).where(Organiser.email == "karin@norrbotten.se")).one()
    action = f"/admin/organisers/{karin.id}/password-mail"
    form = mail_form_fields(organiser_client, "/admin/organisers", action, language="en")

    organiser_client.post(action, headers=EN, data=form)
    again = organiser_client.post(action, headers=EN, data=form)
    page = organiser_client.get(again.headers["Location"], headers=EN).get_data(as_text=True)

    assert len(relay.messages()) == 1
    assert "A password link was sent to Karin Kommunikatör at karin@norrbotten.se." in page
    assert 'id="new-password-link"' not in page  # the repeat does not show the link either


@pytest.mark.parametrize("mail_config", [{"host": "127.0.0.1", "port": free_port(), "security": "none",
                                          "from_address": "arena@norrbotten.se", "timeout_seconds": 5}])
def test_a_link_form_not_sent_is_tried_again_when_sent_again(app, session, organiser_client, day):
    grant_id = make_link(organiser_client)
    action = f"/admin/events/dagen/people/{grant_id}/mail"
    form = mail_form_fields(organiser_client, "/admin/events/dagen/people", action,
                            **{f"mail-{grant_id}-to": "maja@kommun.se", f"mail-{grant_id}-language": "en"})

    pages = []
    for _attempt in range(2):
        response = organiser_client.post(action, headers=EN, data=form)
        pages.append(organiser_client.get(response.headers["Location"], headers=EN).get_data(as_text=True))

    assert all("The sign-in link of Maja Moderator was not sent: The mail server 127.0.0.1:" in page
               for page in pages)  # the second was tried too, not answered as a repeat
