"""A real SMTP server in the test process: aiosmtpd on a free port, with STARTTLS or implicit
TLS on a self-signed certificate made here by `cryptography`, and AUTH against one user name
and password. Tests read the messages it received, as a mailbox would show them.

Arena trusts the certificate through SSL_CERT_FILE (as an operator with their own CA would,
docs/mail.md): `trust(monkeypatch)`.

A test module whose app sends mail imports the fixtures `relay`, `mail_config` and `app`
(below); `mail_config` (the [mail] section) can be parametrized to {} for no e-mail, or to a
server that is down.
"""

from __future__ import annotations

import contextlib
import datetime
import email
import ipaddress
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.db import db
from tests.conftest import free_port, own_app
from tests.waiting import wait_until

USER = "arena@kommun.se"
PASSWORD = "relä-lösenord-2026"
HOST = "127.0.0.1"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Arena test relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    # Each server its own files: two in one test never trust each other's by accident.
    stem = f"relay-{uuid.uuid4().hex[:8]}"
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    """One message as delivered: the envelope's recipients and the parsed message."""

    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        # As a mailbox shows it: lines, not the wire's CRLF.
        return self.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


@dataclass
class SmtpServer:
    port: int
    security: str
    cert_file: Path | None
    user: str = ""
    password: str = ""
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settings(self, **overrides) -> dict:
        """The [mail] section that sends through this server."""
        values = {"host": HOST, "port": self.port, "security": self.security, "user": self.user,
                  "password": self.password, "from_address": "Arena <arena@norrbotten.se>", "timeout_seconds": 10}
        return values | overrides

    def trust(self, monkeypatch) -> None:
        assert self.cert_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(self.cert_file))

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int = 1) -> list[Received]:
        wait_until(lambda: len(self.messages()) >= count, timeout=30,
                   message=lambda: f"{len(self.messages())} of {count} messages arrived")
        return self.messages()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=DEFAULT_POLICY)
        with self.server.lock:
            self.server.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"


class _Authenticator:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def __call__(self, smtp, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.server.logins.append(login)
            if login == self.server.user and password == self.server.password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def smtp_server(folder: Path, security: str = "starttls", *, auth: bool = True,
                offer_starttls: bool = True) -> Iterator[SmtpServer]:
    """An SMTP server for as long as the block runs. security: "starttls" (STARTTLS required
    before AUTH and mail), "tls" (implicit TLS) or "none" (plain, no AUTH: a local relay)."""
    cert_file = key_file = None
    if security in ("starttls", "tls"):
        cert_file, key_file = make_certificate(folder)
    server = SmtpServer(port=free_port(), security=security, cert_file=cert_file,
                        user=USER if auth and security != "none" else "",
                        password=PASSWORD if auth and security != "none" else "")
    tls = None
    if cert_file is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert_file, key_file)
    options: dict = {"hostname": HOST, "port": server.port, "server_hostname": "localhost"}
    smtp_options: dict = {}
    if server.user:
        smtp_options.update(authenticator=_Authenticator(server), auth_required=True, auth_require_tls=True)
    if security == "starttls" and offer_starttls:
        smtp_options.update(tls_context=tls, require_starttls=True)
    elif security == "tls":
        options["ssl_context"] = tls
        smtp_options.update(auth_require_tls=False)  # the whole connection is TLS; aiosmtpd only knows STARTTLS
    else:
        smtp_options.update(auth_require_tls=False)
    controller = Controller(_Handler(server), **options, **smtp_options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a mail server that hangs."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()



# The fixtures of a module whose app sends mail: `relay`, `mail_config` and `app`, in that module
# only (its own fixtures take the place of the conftest's `app`). The module imports them by
# these functions' names, so that its tests' parameters do not redefine an imported name:
#     from tests.mail_server import app_fixture, mail_config_fixture, relay_fixture  # noqa: F401

def trusted_relay(tmp_path: Path, monkeypatch) -> Iterator[SmtpServer]:
    """A STARTTLS server that demands a login, its certificate trusted by Arena."""
    with smtp_server(tmp_path, "starttls") as server:
        server.trust(monkeypatch)
        yield server


def app_with_mail(make_settings, database_url: str, mail_config: dict) -> Iterator:
    """The conftest's app, with `mail_config` as its [mail] section ({}: no e-mail)."""
    with own_app(make_settings(database={"url": database_url}, mail=mail_config)) as app, app.app_context():
        yield app
        db.session.remove()


@pytest.fixture(name="relay")
def relay_fixture(tmp_path: Path, monkeypatch) -> Iterator[SmtpServer]:
    yield from trusted_relay(tmp_path, monkeypatch)


@pytest.fixture(name="mail_config")
def mail_config_fixture(relay: SmtpServer) -> dict:
    """The [mail] section; a test parametrizes it to send elsewhere ({}: no e-mail)."""
    return relay.settings()


@pytest.fixture(name="app")
def app_fixture(make_settings, database_url: str, mail_config: dict) -> Iterator:
    yield from app_with_mail(make_settings, database_url, mail_config)
