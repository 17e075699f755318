"""Every filter and global the templates use, registered in one place (`init_app`).

Each is a formatter: a value in, text for the page out, in the page's language where words or
numbers are involved. Pages and blueprints do not register their own, so a template's helper is
found here, whichever page uses it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask
from flask_babel import format_decimal
from markupsafe import Markup

from server.i18n import local_date, local_datetime, local_time
from server.models import AuditEntry
from server.services.audit_actions import action_words
from server.services.recordings.edits import CAPTION_LANGUAGES
from server.services.text import render_markdown


def markdown(source: str, top_level: int = 3) -> Markup:
    """`{{ text | markdown(2) }}`: the text's headings start at h2 (the page's own heading above it +1)."""
    return render_markdown(source, top_level)


def link_host(url: str) -> str:
    """Where a link leads, shown beside it: "slideshare.net"."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def moment(seconds: float) -> str:
    """12 m 30 s -> "12m30s": the fragment of a deep link (#t=12m30s)."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs}s"


def clock(seconds: float | None) -> str:
    """A length or a chapter's start: 1:02:03 or 12:30."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def whole_number(value: int) -> str:
    """1234 as the visitor's language writes it (1 234 in Swedish)."""
    return format_decimal(value)


def audit_action(entry: AuditEntry) -> str:
    """What an audit entry says was done, in the page's language; a code without words yet is
    shown as it is."""
    words = action_words(entry.action, entry.target_type)
    return str(words) if words is not None else entry.action


def caption_language_name(code: str) -> str:
    return CAPTION_LANGUAGES.get(code, code)


def share_links(url: str, title: str) -> dict[str, str]:
    """Plain links to each network's share page: no third-party script, nothing loads
    until the visitor follows one."""
    u, t = quote(url, safe=""), quote(title, safe="")
    return {
        "email": f"mailto:?subject={t}&body={u}",
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={u}",
        "x": f"https://x.com/intent/post?url={u}&text={t}",
        "linkedin": f"https://www.linkedin.com/sharing/share-offsite/?url={u}",
    }


FILTERS: dict[str, Any] = {
    "markdown": markdown,
    "link_host": link_host,
    "moment": moment,
    "clock": clock,
    "whole_number": whole_number,
    "audit_action": audit_action,
}
# Globals, not context: imported macros see globals but not the template's context.
GLOBALS: dict[str, Any] = {
    "local_date": local_date,
    "local_time": local_time,
    "local_datetime": local_datetime,
    "caption_language_name": caption_language_name,
    "share_links": share_links,
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(GLOBALS)
