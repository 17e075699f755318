"""The admin's front page: every event, drafts first."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from server.db import db
from server.models import Event
from server.web.admin import bp


@bp.get("/")
def dashboard() -> str:
    events = db.session.scalars(select(Event).order_by(Event.starts_on.desc(), Event.id.desc())).all()
    return render_template("admin/dashboard.html", events=events)
