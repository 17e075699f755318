"""Keep a recording import away from addresses inside our own network (SSRF).

PeerTube checks the address of the URL an organiser typed (isResolvingToUnicastOnly) and then
hands the URL to youtube-dl, which follows redirects, fetches manifests, thumbnails and
captions from other hosts, and resolves every name again: none of those are checked, and a
name can resolve to a public address for the check and to 127.0.0.1 for the download (DNS
rebinding). Here the guard is installed in the import worker process itself
(server/media/import_worker.py) and wraps `socket.getaddrinfo` and `socket.socket.connect`,
so EVERY connection that process makes, whoever asks for it (yt-dlp's extractors, its
downloaders, urllib, requests, websockets), is checked against the address it really goes
to. Standard library only: the worker imports it before yt-dlp.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


class GuardRefused(OSError):
    """A connection or a URL the import may not use. `code` names the reason
    (server/services/recordings/imports.py: JOB_MESSAGES has the words)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


# The last refusal in this process: yt-dlp wraps network errors in its own exceptions (and
# sometimes only keeps their text), so the worker asks here why a download really failed.
last_refusal: GuardRefused | None = None


def _refuse(code: str, detail: str) -> GuardRefused:
    global last_refusal
    last_refusal = GuardRefused(code, detail)
    return last_refusal


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified and other
    non-global addresses, also when wrapped in IPv6 (::ffff:127.0.0.1, 6to4, Teredo)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None and not is_public_address(str(inner)):
            return False
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


def _host_text(host: Any) -> str:
    if isinstance(host, bytes):
        host = host.decode("idna", errors="replace")
    return str(host or "").strip().lower().rstrip(".").strip("[]")


class Guard:
    """The checks, with the configured allow-list (host names or IP literals as written in
    a URL; matching is exact, so "intranet.kommun.se" does not allow "evil.intranet.kommun.se")."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self.allowed_hosts = frozenset(_host_text(h) for h in allowed_hosts if _host_text(h))
        # Addresses that an allowed host resolved to: only these private addresses may be
        # connected to, and only because a name on the allow-list led there.
        self.allowed_addresses: set[str] = set()
        self._real_getaddrinfo = socket.getaddrinfo

    def check_url(self, url: str) -> None:
        """Scheme and host of a URL an import is asked to fetch; the address check follows
        at connection time (getaddrinfo below)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise _refuse("bad_url", "the URL cannot be parsed") from None
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise _refuse("scheme_refused", f"scheme {parts.scheme!r} is not http or https")
        if not parts.hostname:
            raise _refuse("bad_url", "the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise _refuse("bad_url", "credentials in the URL")
        self.resolve(parts.hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80))

    def resolve(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        """getaddrinfo that refuses a host when ANY of its addresses is not public (a name
        with one public and one private address would let the private one be tried)."""
        name = _host_text(host)
        if not name:
            raise _refuse("private_address", "no host name (a connection to this machine)")
        try:
            infos = self._real_getaddrinfo(host, port, *args, **kwargs)
        except socket.gaierror as exc:
            raise _refuse("unresolvable", f"{name}: {exc}") from None
        addresses = {info[4][0] for info in infos}
        if name in self.allowed_hosts:
            self.allowed_addresses.update(a.split("%", 1)[0] for a in addresses)
            return infos
        refused = sorted(a for a in addresses if not is_public_address(a))
        if refused:
            raise _refuse("private_address", f"{name} resolves to {', '.join(refused)}")
        return infos

    def check_address(self, address: Any) -> None:
        if not isinstance(address, tuple) or not address:
            return  # AF_UNIX paths: not a network connection
        ip = _host_text(address[0])
        try:
            ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            # connect(("name", port)) resolves inside the C library, past our getaddrinfo:
            # resolve it here, checked, and let the caller connect to an address instead.
            raise _refuse("private_address", f"connection by name to {ip}") from None
        if ip.split("%", 1)[0] in self.allowed_addresses or is_public_address(ip):
            return
        raise _refuse("private_address", f"connection to {ip}")

    def install(self) -> None:
        """Wrap this process's name resolution and every socket's connect. Only the import
        worker calls this: it changes the process for good."""
        guard = self
        socket.getaddrinfo = guard.resolve  # type: ignore[assignment]
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex

        def connect(sock: socket.socket, address: Any) -> None:
            guard.check_address(address)
            return original_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard.check_address(address)
            return original_connect_ex(sock, address)

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
