"""E-mail over SMTP, as `[mail]` configures it (server/config.py MailSettings).

Without `mail.host` nothing is ever sent and every link is copied by hand, as before:
`mail_enabled(settings)` tells the faces which to offer.

A message is rendered in the recipient's language (not the sender's page language) from
templates/mail/<name>.txt, with Flask-Babel's force_locale, so `compose` needs an app
context. `send` speaks SMTP with smtplib: STARTTLS (587) or implicit TLS (465) with the
system's certificate store (SSL_CERT_FILE names another, e.g. a municipality's own CA),
or plain SMTP to a relay on the same machine. It never sends unencrypted when STARTTLS was
asked for and the server does not offer it.

Every failure is a MailNotSent whose message says, in the user's language, what went wrong
(not reachable, timed out, refused the login, refused the address...). Faces send after
their database commit: what was made (a sign-in link, an account) stays, and can still be
copied by hand. The password, the message body and its links are never logged.
"""

from __future__ import annotations

import base64
import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from flask import render_template
from flask_babel import force_locale
from sqlalchemy.orm import Session

from server.config import Settings
from server.i18n import FORMAT_LOCALES, _l
from server.services import audit
from server.services.errors import ServiceError
from server.services.roles import Actor

log = logging.getLogger("arena.mail")

# The languages a recipient can be written to in; the first is the default.
LANGUAGES = ("sv", "en")
_WHITESPACE = re.compile(r"\s+")


class MailNotConfigured(ServiceError):
    code = "mail_not_configured"
    http_status = 409


class MailNotSent(ServiceError):
    code = "mail_not_sent"
    http_status = 502


@dataclass(frozen=True)
class Mail:
    """One message to one recipient, rendered and ready to send."""

    to: str
    subject: str
    text: str
    language: str = "sv"
    html: str | None = None
    # RFC 3834: "auto-generated" for what the system sends by itself (a reset link), so
    # out-of-office replies are not sent back; "no" for what a person chose to send.
    auto_submitted: bool = True
    reply_to: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def mail_enabled(settings: Settings) -> bool:
    return bool(settings.mail.host)


def recipient_language(value: Any, default: str = LANGUAGES[0]) -> str:
    return value if isinstance(value, str) and value in LANGUAGES else default


def _one_line(value: Any) -> str:
    # A header is one line: a name or title with a line break must not add a header.
    return _WHITESPACE.sub(" ", str(value)).strip()


def compose(template: str, *, to: str, language: str, subject: Any, auto_submitted: bool = True,
            reply_to: str = "", **context: Any) -> Mail:
    """The message templates/mail/<template>.txt (and .html, when there is one) rendered in
    `language`; `subject` is a lazy string, evaluated in that language too."""
    language = recipient_language(language)
    with force_locale(FORMAT_LOCALES.get(language, language)):
        text = render_template(f"mail/{template}.txt", language=language, **context)
        rendered_subject = _one_line(subject)
    return Mail(to=to, subject=rendered_subject, text=text.strip() + "\n", language=language,
                auto_submitted=auto_submitted, reply_to=reply_to)


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    """The MIME message: UTF-8 plain text (and an HTML alternative when given), with
    Message-ID, Date, Content-Language and Auto-Submitted."""
    sender = settings.mail.from_address
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = sender
    message["To"] = Address(addr_spec=mail.to)
    if mail.reply_to:
        message["Reply-To"] = Address(addr_spec=mail.reply_to)
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # Our own domain, not the machine's host name (make_msgid's default).
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated" if mail.auto_submitted else "no"
    if mail.auto_submitted:
        message["X-Auto-Response-Suppress"] = "All"  # Exchange's own word for the same
    for name, value in mail.headers.items():
        message[name] = _one_line(value)
    message.set_content(mail.text, subtype="plain", charset="utf-8")
    if mail.html:
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
    message["Content-Language"] = mail.language  # after the content, which replaces every Content-* header
    return message


def _tls_context() -> ssl.SSLContext:
    # The system's store, or SSL_CERT_FILE's: read at each send, so a renewed CA needs no restart.
    return ssl.create_default_context()


def send(settings: Settings, mail: Mail) -> str:
    """Send one message; its Message-ID, or MailNotConfigured / MailNotSent (in words)."""
    config = settings.mail
    if not mail_enabled(settings):
        raise MailNotConfigured(_l("E-mail is not set up on this server. Copy the link and send it yourself."))
    try:
        message = build_message(settings, mail)
    except (ValueError, TypeError, IndexError):
        raise MailNotSent(_l("The address %(address)s cannot be written to.", address=mail.to),
                          code="mail_bad_address") from None
    where = f"{config.host}:{config.port}"
    stage = "connect"
    try:
        if config.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds,
                                                    context=_tls_context())
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with client:
            if config.security == "starttls":
                stage = "starttls"
                client.starttls(context=_tls_context())
            if config.user:
                stage = "login"
                _login(client, config.user, config.password)
            stage = "send"
            client.send_message(message)
    except Exception as error:  # noqa: BLE001 - every failure becomes words, none a traceback
        reason = _reason(error, stage, config.host, config.port, config.timeout_seconds, mail.to)
        # The kind of failure only: never the password, the body or its link.
        log.warning("mail not sent via %s to a recipient at %s: %s (%s)", where, mail.to.rpartition("@")[2],
                    reason.code, type(error).__name__)
        raise reason from None
    log.info("mail sent via %s to a recipient at %s, %s", where, mail.to.rpartition("@")[2], message["Message-ID"])
    return str(message["Message-ID"])


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's login encodes as ASCII, and a password with å, ä or ö is common here: such
    a login goes as UTF-8 (RFC 4616 PLAIN, else LOGIN) by hand."""
    try:
        user.encode("ascii"), password.encode("ascii")
    except UnicodeEncodeError:
        pass
    else:
        client.login(user, password)
        return
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    mechanisms = client.esmtp_features["auth"].upper().split()
    if "PLAIN" in mechanisms:
        code, reply = client.docmd("AUTH", "PLAIN " + _b64(b"\0" + user.encode() + b"\0" + password.encode()))
    elif "LOGIN" in mechanisms:
        code, reply = client.docmd("AUTH", "LOGIN " + _b64(user.encode()))
        if code == 334:
            code, reply = client.docmd(_b64(password.encode()))
    else:
        raise smtplib.SMTPException("no AUTH mechanism for a UTF-8 password")
    if code not in (235, 503):  # 503: already authenticated
        raise smtplib.SMTPAuthenticationError(code, reply)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _reason(error: BaseException, stage: str, host: str, port: int, timeout: int, to: str) -> MailNotSent:
    server = f"{host}:{port}"
    if stage == "login" and isinstance(error, smtplib.SMTPNotSupportedError):
        return MailNotSent(_l("The mail server %(server)s does not accept a login, but the server's mail settings "
                              "name a user.", server=server), code="mail_auth_unsupported")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return MailNotSent(_l("The mail server refused the user name or password in the server's mail settings."),
                           code="mail_auth_refused")
    if isinstance(error, smtplib.SMTPNotSupportedError) and stage == "starttls":
        return MailNotSent(_l("The mail server %(server)s does not offer an encrypted connection (STARTTLS), so "
                              "nothing was sent.", server=server), code="mail_no_starttls")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return MailNotSent(_l("The mail server refused the address %(address)s.", address=to),
                           code="mail_recipient_refused")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return MailNotSent(_l("The mail server refused the sender address in the server's mail settings."),
                           code="mail_sender_refused")
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, (socket.timeout,
                                                                                          TimeoutError)):
        error = error.__context__  # smtplib says a server that never answered "closed the connection"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return MailNotSent(_l("The mail server %(server)s closed the connection before the message was sent.",
                              server=server), code="mail_disconnected")
    if isinstance(error, smtplib.SMTPResponseException):
        return MailNotSent(_l("The mail server refused the message (its answer: %(code)d).", code=error.smtp_code),
                           code="mail_refused")
    if isinstance(error, ssl.SSLCertVerificationError):
        return MailNotSent(_l("The mail server's certificate could not be verified, so nothing was sent."),
                           code="mail_certificate")
    if isinstance(error, ssl.SSLError):
        return MailNotSent(_l("An encrypted connection to the mail server %(server)s could not be made.",
                              server=server), code="mail_tls_failed")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return MailNotSent(_l("The mail server %(server)s did not answer within %(seconds)d seconds.",
                              server=server, seconds=timeout), code="mail_timeout")
    if isinstance(error, OSError):
        return MailNotSent(_l("The mail server %(server)s could not be reached.", server=server),
                           code="mail_unreachable")
    if isinstance(error, smtplib.SMTPException):
        return MailNotSent(_l("The mail server %(server)s did not accept the message.", server=server),
                           code="mail_failed")
    return MailNotSent(_l("The message could not be sent."), code="mail_failed")


def send_audited(session: Session, settings: Settings, mail: Mail, actor: Actor | None, action: str,
                 target: Any = None, **where: Any) -> str:
    """Send, then record that it was sent (`action`, e.g. "grant.mail"): to whom and in which
    language, never the message or its link. Nothing is recorded when sending fails. The
    caller commits."""
    message_id = send(settings, mail)
    audit.record(session, actor, action, target, after={"to": mail.to, "language": mail.language}, **where)
    return message_id
