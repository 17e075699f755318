"""Languages: Swedish first, English second, every user-facing string through Flask-Babel.

The language is the one the visitor chose on the page (kept in a cookie), else the best
match from the browser's Accept-Language, else the configured default (Swedish).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, format_date, format_datetime, format_time, get_locale, refresh
from flask_babel import gettext as _  # noqa: F401  (re-exported for the faces)
from flask_babel import lazy_gettext as _l  # noqa: F401

from server.config import PROJECT_ROOT

LANGUAGE_COOKIE = "arena_lang"
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English"}
# English for a Swedish audience: British dates and a 24-hour clock ("24 Nov 2026, 09:30"),
# not American ones. Translations are still found under translations/en (gettext falls back
# from en_GB to en).
FORMAT_LOCALES = {"en": "en_GB"}
babel = Babel()


def select_locale() -> str:
    settings = current_app.extensions["arena.settings"]
    available = settings.languages.available
    if not has_request_context():  # the CLI, background jobs: the configured default
        return settings.languages.default
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen not in available:
        chosen = request.accept_languages.best_match(available) or settings.languages.default
    return FORMAT_LOCALES.get(chosen, chosen)


def current_language() -> str:
    """The language code of the page ("sv", "en"), without the formatting region."""
    locale = get_locale()
    return locale.language if locale is not None else current_app.extensions["arena.settings"].languages.default


def init_app(app: Flask) -> None:
    settings = app.extensions["arena.settings"]
    app.config["BABEL_DEFAULT_LOCALE"] = settings.languages.default
    app.config["BABEL_DEFAULT_TIMEZONE"] = settings.time.time_zone
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "translations")
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def _choose_locale_per_request() -> None:
        # Flask-Babel caches the locale on `g`, which outlives a request when an app context
        # was already pushed (CLI, tests, socket handlers): choose again for each request.
        refresh()

    @app.context_processor
    def _language_helpers() -> dict[str, object]:
        return {
            "current_language": current_language(),
            "language_names": {code: LANGUAGE_NAMES[code] for code in settings.languages.available},
        }


# Times are stored in UTC; an event's page shows them in the event's own zone, with the
# zone named, so a participant abroad is not misled.
def _in_zone(value: datetime, zone: str) -> datetime:
    return value.astimezone(ZoneInfo(zone))


def local_date(value, zone: str | None = None, format: str = "full") -> str:  # noqa: A002
    if isinstance(value, datetime) and zone:
        value = _in_zone(value, zone).date()
    return format_date(value, format=format)


def local_time(value: datetime, zone: str, format: str = "short") -> str:  # noqa: A002
    # format_time would convert to Babel's default zone again: hand it a naive local time.
    return format_time(_in_zone(value, zone).replace(tzinfo=None), format=format, rebase=False)


def local_datetime(value: datetime, zone: str, format: str = "medium") -> str:  # noqa: A002
    return format_datetime(_in_zone(value, zone).replace(tzinfo=None), format=format, rebase=False)
