"""Arena: pages, live chat and recordings for days of talks.

This package's top level stays free of third-party imports, so that `python -m server` can
read the settings and monkey-patch for the configured async mode before anything else
imports a socket (server/__main__.py). The app factory lives in server/app.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from server.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from server.app import create_app as _create_app  # noqa: PLC0415  see the docstring: patch first

    return _create_app(settings)
