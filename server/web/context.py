"""The request's context, read in one place: where a redirect may go, and who is asking from
which address.

`safe_redirect_target` is the only check of a redirect target that comes from the request
(`next=` on sign-in and on the language switch). `client_address` is the address the
sign-in throttle counts by; behind a proxy it is right only when `server.trusted_proxies`
says how many proxies are in front (server/web/__init__.py applies werkzeug's ProxyFix).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request

# Browsers drop tab, CR and LF anywhere in a URL (WHATWG URL, "remove all ASCII tab or
# newline"), so "/\t/evil.example" is followed as "//evil.example": remove them before
# checking, and never put them in a header.
_DROPPED_BY_BROWSERS = str.maketrans("", "", "\t\r\n")


def safe_redirect_target(target: object, default: str) -> str:
    """`target` if it is a path on this site, else `default`.

    Accepted: "/", "/events/dag/?x=1#t=1m". Refused: anything with a scheme or a host
    ("http://x", "javascript:...", "//x"), also once tab, CR and LF are removed and
    backslashes read as slashes as browsers do ("/\\x", "\\\\x", "/%09/x" decoded), and anything
    with another control character or that does not start with "/"."""
    if not isinstance(target, str):
        return default
    cleaned = target.translate(_DROPPED_BY_BROWSERS)
    if not cleaned or any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned):
        return default
    as_browsers_read_it = cleaned.replace("\\", "/")
    if not as_browsers_read_it.startswith("/") or as_browsers_read_it.startswith("//"):
        return default
    parts = urlsplit(as_browsers_read_it)
    if parts.scheme or parts.netloc:
        return default
    return as_browsers_read_it


def client_address() -> str:
    """The visitor's address: the socket's peer, or, behind `server.trusted_proxies`
    proxies, the one they name (ProxyFix has already put it in remote_addr)."""
    return (request.remote_addr or "")[:64]
