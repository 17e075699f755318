"""Browser fixtures: Debian's chromium driven by Playwright's sync API, never a downloaded browser.

One browser per session; each test gets fresh contexts from `open_context`. Every context
routes all requests: those to the live server (127.0.0.1) go through, anything else is
recorded in `context.outside_requests` and aborted, so nothing leaves the machine.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from babel.support import NullTranslations, Translations
from playwright import sync_api

from server.config import PROJECT_ROOT

# How long expect(...) and every action wait before failing. Generous, because they end as
# soon as the page gets there: a short deadline only makes a busy machine fail the suite.
WAIT_MS = 30_000
sync_api.expect.set_options(timeout=WAIT_MS)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1"}
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
TRANSLATIONS = PROJECT_ROOT / "translations"
LOCALES = {"sv": "sv-SE", "en": "en-GB"}

DEMO_SLUG = "sociala-medier-i-offentlig-sektor"
EVENT_PATH = f"/events/{DEMO_SLUG}/"
TALK_WITH_STREAM = "skapa-arenor"


def talk_path(talk_slug: str = TALK_WITH_STREAM) -> str:
    return f"/events/{DEMO_SLUG}/{talk_slug}"


@dataclass
class OutsideRequests:
    """Requests a page tried to send off the machine (all aborted)."""

    urls: list[str] = field(default_factory=list)

    def to_host(self, host: str) -> list[str]:
        return [url for url in self.urls if urlsplit(url).hostname == host]


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


@functools.cache
def _catalogue(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language])


def translate(language: str, msgid: str) -> str:
    """What a visitor reads for `msgid` in `language`, from the compiled catalogue the server
    uses (English msgids stand for themselves; a missing translation falls back to them)."""
    return msgid if language == "en" else _catalogue(language).gettext(msgid)


@pytest.fixture(scope="session")
def compiled_translations() -> None:
    """The .mo files are build output (`make translations`): compile them when missing or
    older than their .po, before the live server starts."""
    stale = [po for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")
             if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    if stale:
        pybabel = Path(sys.executable).with_name("pybabel")
        result = subprocess.run([str(pybabel), "compile", "-d", str(TRANSLATIONS)], capture_output=True, text=True)
        if result.returncode != 0:
            warnings.warn(f"pybabel compile failed: {result.stderr}", stacklevel=1)
    _catalogue.cache_clear()


@pytest.fixture(scope="session")
def browser(compiled_translations, playwright) -> Iterator[Any]:
    # A missing browser is a failed set-up, not a reason to skip: `make test` installs it.
    assert Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium)"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_context(browser, live_server) -> Iterator[Callable[..., Any]]:
    """open_context(**options) -> a new BrowserContext on the live server.

    Options are Playwright's new_context options (locale, viewport, bypass_csp, ...). The
    context has `outside_requests`, an OutsideRequests of every aborted off-machine request.
    """
    contexts: list[Any] = []

    def _open(**options: Any):
        options.setdefault("base_url", live_server.url)
        options.setdefault("locale", "sv-SE")
        options.setdefault("timezone_id", "Europe/Stockholm")
        context = browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        outside = OutsideRequests()

        def _route(route) -> None:
            url = route.request.url
            if is_local(url):
                route.continue_()
            else:
                outside.urls.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", _route)
        context.outside_requests = outside
        contexts.append(context)
        return context

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_context) -> Any:
    """A page in a Swedish (sv-SE) browser, the site's main audience."""
    return open_context().new_page()


def run_axe(page) -> list[dict[str, Any]]:
    """Inject axe-core from node_modules and return its WCAG 2.0/2.1 A and AA violations."""
    page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return result["violations"]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation.get('impact')}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}")
    return "\n".join(lines)
