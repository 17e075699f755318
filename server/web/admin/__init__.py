"""The organisers' admin: server-rendered forms, in Swedish and English.

Only organisers enter (an organiser account, or an organiser sign-in link). The check runs
before every admin route, and each view takes the acting organiser from `g.actor` for the
audit log. One module per thing an organiser manages; each registers its routes on `bp`.
Every change goes through a service in server/services/, which validates and writes the
audit entry; the view commits once (Indico's single commit point) or rolls back.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response

from server.models import Role
from server.web.admin.repeats import form_token_field
from server.web.context import request_actor

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _organisers_only() -> Response | None:
    actor = request_actor()
    if actor.role is Role.organiser:
        g.actor = actor
        return None
    if actor.role is None:
        # Not signed in: the sign-in page brings them back here.
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")), code=303)
    abort(403)  # a moderator or speaker: signed in, but the admin is not theirs


@bp.app_context_processor
def _admin_helpers() -> dict:
    return {"has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
            "form_token_field": form_token_field}


@bp.after_request
def _never_cached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# The modules below add their routes to `bp`.
from server.web.admin import (  # noqa: E402,F401,E501
    activity,
    audit_view,
    dashboard,
    export,
    ingest,  # noqa: E402,F401
    organisers,
    people,
    programme,
    recordings,
    simulcast,  # noqa: E402,F401
)
