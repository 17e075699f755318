"""Admin: the public-records export of an event (server/services/export.py), one ZIP."""

from __future__ import annotations

import tempfile
from zoneinfo import ZoneInfo

from flask import g, send_file
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.services.events import get_event
from server.services.export import record_export, write_event_export
from server.web.admin import bp
from server.web.context import settings


@bp.get("/events/<slug>/export.zip")
def event_export(slug: str) -> Response:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # One snapshot of every table: a message written meanwhile is in all files or in none.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    event = get_event(session, slug, include_drafts=True)
    now = utcnow()
    # Spooled: a large event goes to disk, not memory, before it is sent.
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    counts = write_event_export(session, event, out, now=now)
    session.rollback()  # end the read snapshot before the audit entry is written
    record_export(session, g.actor, event, counts)
    session.commit()
    out.seek(0)
    day = now.astimezone(ZoneInfo(settings().time.time_zone)).date()
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"{event.slug}-export-{day.isoformat()}.zip", max_age=0)
