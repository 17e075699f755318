"""Admin: the audit log and the public-records export of an event."""

from __future__ import annotations

import tempfile
from zoneinfo import ZoneInfo

from flask import current_app, g, render_template, request, send_file
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.models import AuditEntry
from server.services import programme
from server.services.events import get_event
from server.services.export import write_event_export
from server.web.admin import bp
from server.web.admin.audit_view import audit_rows

AUDIT_PAGE_SIZE = 100


@bp.get("/events/<slug>/audit")
def event_audit(slug: str) -> str:
    event = get_event(db.session, slug, include_drafts=True)
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100000 else 1
    total = db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event_id == event.id))
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.event_id == event.id).order_by(AuditEntry.id.desc())
        .limit(AUDIT_PAGE_SIZE).offset((page - 1) * AUDIT_PAGE_SIZE)
    ).all()
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render_template("admin/audit.html", event=event, rows=audit_rows(db.session, event, entries), page=page,
                           pages=pages, total=total)


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
    programme.audit(session, g.actor, event, "event.export", event, after={"rows": counts})
    session.commit()
    out.seek(0)
    day = now.astimezone(ZoneInfo(current_app.extensions["arena.settings"].time.time_zone)).date()
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"{event.slug}-export-{day.isoformat()}.zip", max_age=0)
