"""Admin: a talk's live video from the venue. The RTMP server URL and the talk's
stream key for the crew's encoder (OBS, vMix, an ATEM Mini), the stream arriving now, and
the encoders the ingest refused lately, with why.

A key is shown once: in the answer to the POST that made it (rendered, not redirected, so
it is never in a URL, the session or a flash message), with Cache-Control: no-store from
the admin blueprint. A reload or a second send of the form shows it masked.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField

from server.db import db, utcnow
from server.i18n import _, _l
from server.models import StreamKey
from server.services import golive, stream_keys
from server.services import ingest as ingest_service
from server.services.audit_actions import INGEST_REFUSALS
from server.services.errors import ServiceError
from server.services.events import get_talk
from server.web.admin import bp
from server.web.admin.forms import show_error
from server.web.admin.repeats import Once
from server.web.context import settings as arena_settings

# What the ingest's refusal codes mean, for the organiser reading why a crew's encoder does not
# get through: the audit page's words (one list).
REFUSAL_REASONS = INGEST_REFUSALS
# More about some refusals (the `detail` of the audit entry), in words; any other detail is
# for the server's administrator (in the audit entry and the log), not shown here.
REFUSAL_DETAILS = {
    "ingest_unavailable": _l("The server cannot take live video yet: a server administrator must set it up"),
}


class MakeKeyForm(FlaskForm):
    # Only asked when a valid key exists: replacing it stops an encoder sending with it.
    confirm = BooleanField(_l("Yes, replace the key. An encoder sending with the old key stops at once."))


class RevokeKeyForm(FlaskForm):
    confirm = BooleanField(_l("Yes, revoke the key. An encoder sending with it stops at once."))


def _talk(slug: str, talk_slug: str):
    return get_talk(db.session, slug, talk_slug, include_drafts=True)


def _page_url(talk) -> str:
    return url_for("admin.talk_ingest", slug=talk.event.slug, talk_slug=talk.slug)


def _page(talk, status: int = 200, *, new_key: str | None = None, make_form: MakeKeyForm | None = None,
          revoke_form: RevokeKeyForm | None = None) -> tuple[str, int]:
    settings = arena_settings()
    stream = golive.active_stream(db.session, talk.id)
    context = {
        "event": talk.event, "talk": talk, "ingest": settings.ingest,
        "server_url": stream_keys.server_url(settings),
        "key": stream_keys.active(db.session, talk.id),
        "new_key": new_key,
        "publish_url": stream_keys.publish_url(settings, new_key) if new_key else None,
        "stream": stream,
        "refusals": ingest_service.recent_refusals(db.session, talk.id),
        "refusal_reasons": REFUSAL_REASONS,
        "refusal_details": REFUSAL_DETAILS,
        "make_form": make_form or MakeKeyForm(formdata=None, prefix="make"),
        "revoke_form": revoke_form or RevokeKeyForm(formdata=None, prefix="revoke"),
    }
    return render_template("admin/talk_ingest.html", **context), status


@bp.get("/events/<slug>/talks/<talk_slug>/live-video")
def talk_ingest(slug: str, talk_slug: str) -> tuple[str, int]:
    return _page(_talk(slug, talk_slug))


@bp.post("/events/<slug>/talks/<talk_slug>/live-video/key")
def talk_ingest_key(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = MakeKeyForm(prefix="make")
    if not form.validate_on_submit():
        return _page(talk, 400, make_form=form)
    once = Once(target=StreamKey)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: one key, already shown to the first send
    if stream_keys.active(db.session, talk.id) is not None and not form.confirm.data:
        db.session.rollback()
        form.confirm.errors = [_("Tick the box to confirm: the encoder using the current key stops.")]
        return _page(talk, 400, make_form=form)
    try:
        key = stream_keys.make(db.session, talk, g.actor, utcnow())
        made = stream_keys.active(db.session, talk.id)
        once.record(_page_url(talk), _("The stream key was made when the form was sent the first time, and was "
                                       "shown only then. If you did not copy it, make a new key."),
                    made.id if made else None)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(talk, error.http_status, make_form=form)
    return _page(talk, new_key=key)


@bp.get("/events/<slug>/talks/<talk_slug>/live-video/key")
@bp.get("/events/<slug>/talks/<talk_slug>/live-video/revoke")
def talk_ingest_after_post(slug: str, talk_slug: str) -> Response:
    """The address of a POST's answer, opened again (the language switch, a bookmark): the
    page itself, the key masked."""
    return redirect(_page_url(_talk(slug, talk_slug)), code=303)


@bp.post("/events/<slug>/talks/<talk_slug>/live-video/revoke")
def talk_ingest_revoke(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = RevokeKeyForm(prefix="revoke")
    if not form.validate_on_submit():
        return _page(talk, 400, revoke_form=form)
    if not form.confirm.data:
        form.confirm.errors = [_("Tick the box to confirm: the encoder using the key stops.")]
        return _page(talk, 400, revoke_form=form)
    had_key = stream_keys.active(db.session, talk.id) is not None
    try:
        stream_keys.revoke(db.session, talk, g.actor, utcnow())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(talk, error.http_status, revoke_form=form)
    flash(_("The stream key is revoked. An encoder sending with it is stopped, and no encoder can use it again.")
          if had_key else _("The talk has no valid stream key."), "success")
    return redirect(_page_url(talk), code=303)
