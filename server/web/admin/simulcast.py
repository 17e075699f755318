"""Admin: a talk's simulcast destinations ("also send to"): YouTube Live, Facebook Live or any
RTMP(S) server that receives the talk's live stream as it is (server/services/simulcast.py).

The stream key is write-only: the form's key field is a password field that is never filled
in, and the page shows the key as •••• and its last four characters. Every POST: form parses
-> service checks, changes and audits -> one commit -> the pushes of a live stream in this
process follow at once (other processes within seconds) -> redirect with a flash message.
The state list is kept current by static/js/simulcast.js, which reads `talk_simulcast_state`.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, PasswordField, StringField

from server.db import db, utcnow
from server.i18n import _, _l, local_time
from server.media.simulcast import masked
from server.models import SimulcastDestination
from server.services import golive
from server.services import simulcast as service
from server.services.errors import ServiceError
from server.services.events import get_talk
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, show_error
from server.web.admin.repeats import Once
from server.web.context import settings

URL_HELP = _l("It begins with rtmp:// or rtmps://. YouTube Studio calls it \u201cStream URL\u201d, "
              "Facebook\u2019s Live Producer \u201cServer URL\u201d.")


class DestinationForm(FlaskForm):
    label = StringField(_l("Name"), description=_l("How you recognise it, e.g. \u201cYouTube\u201d or "
                                                   "\u201cFacebook, the municipality\u2019s page\u201d."))
    url = StringField(_l("Server address"), description=URL_HELP)
    # Never rendered back (PasswordField): the key is write-only.
    stream_key = PasswordField(_l("Stream key"), description=_l(
        "From the same place in the streaming service. It is stored encrypted and never shown again."))
    enabled = BooleanField(_l("Send to this destination while the talk is live"), default=True)


class EditDestinationForm(DestinationForm):
    stream_key = PasswordField(_l("New stream key"))


def _simulcast():
    return current_app.extensions["arena.simulcast"]


def _talk(slug: str, talk_slug: str):
    return get_talk(db.session, slug, talk_slug, include_drafts=True)


def _page_url(talk, anchor: str | None = None) -> str:
    return url_for("admin.talk_simulcast", slug=talk.event.slug, talk_slug=talk.slug, _anchor=anchor)


def _edit_form(destination: SimulcastDestination, *, submitted: bool = False) -> EditDestinationForm:
    """One destination's form (its fields prefixed with its id: several forms on one page)."""
    prefix = f"d{destination.id}"
    form = EditDestinationForm(prefix=prefix) if submitted else EditDestinationForm(
        formdata=None, prefix=prefix, obj=destination)
    form.stream_key.description = (
        _("Leave it empty to keep the key ending in %(hint)s. Typing a key replaces it.",
          hint=masked(destination.key_hint)) if destination.key_hint
        else _("Leave it empty to keep the stored key. Typing a key replaces it."))
    return form


def _page(talk, status: int = 200, *, add_form: DestinationForm | None = None,
          edited: tuple[int, EditDestinationForm] | None = None) -> tuple[str, int]:
    destinations = service.destinations(db.session, talk.id)
    forms = {d.id: (edited[1] if edited and edited[0] == d.id else _edit_form(d)) for d in destinations}
    items = [(d, service.view(d)) for d in destinations]
    context = {
        "event": talk.event, "talk": talk, "items": items, "forms": forms,
        "add_form": add_form or DestinationForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None), "masked": masked,
        "live": golive.active_stream(db.session, talk.id) is not None,
    }
    return render_template("admin/talk_simulcast.html", **context), status


def _refused(form: DestinationForm, error: ServiceError) -> None:
    show_error(form, error)
    if error.code == "key_in_url":
        # Never shown back: the address as typed ends with the key. Offer it without.
        form.url.data = str(form.url.data or "").strip().rstrip("/").rsplit("/", 1)[0]


def _follow(talk) -> None:
    """A running push follows the change now (in this process; others at their next tick)."""
    try:
        _simulcast().reconcile_talk(talk.id)
    except Exception:  # committed already: the ticker catches up
        current_app.logger.exception("simulcast: following a change of talk %s failed", talk.id)


@bp.app_context_processor
def _simulcast_helpers() -> dict:
    """For templates/partials/simulcast_status.html, on the admin's page and in the studio."""

    def views(talk) -> list[dict]:
        return [service.view(d) for d in service.destinations(db.session, talk.id)]

    def at(value: str, zone: str) -> str:
        return local_time(datetime.fromisoformat(value), zone, format="medium")

    return {"simulcast_views": views, "simulcast_reasons": lambda: service.REASONS,
            "simulcast_state_text": service.state_text, "simulcast_reason_text": service.reason_text,
            "simulcast_time": at}


@bp.get("/events/<slug>/talks/<talk_slug>/simulcast")
def talk_simulcast(slug: str, talk_slug: str) -> tuple[str, int]:
    return _page(_talk(slug, talk_slug))


@bp.get("/events/<slug>/talks/<talk_slug>/simulcast/state")
def talk_simulcast_state(slug: str, talk_slug: str) -> Response:
    talk = _talk(slug, talk_slug)
    return jsonify({"destinations": [service.view(d) for d in service.destinations(db.session, talk.id)]})


@bp.post("/events/<slug>/talks/<talk_slug>/simulcast")
def simulcast_add(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = DestinationForm()
    if not form.validate_on_submit():
        return _page(talk, 400, add_form=form)
    once = Once(target=SimulcastDestination)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: added once
    try:
        destination = service.add(db.session, g.actor, talk, label=form.label.data, url=form.url.data,
                                  stream_key=form.stream_key.data, enabled=form.enabled.data,
                                  keys=_simulcast().keys, allowed_hosts=settings().media.import_allowed_hosts,
                                  now=utcnow())
        message = _("%(label)s was added.", label=destination.label)
        once.record(_page_url(talk), message, destination.id)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        _refused(form, error)
        return _page(talk, error.http_status, add_form=form)
    _follow(talk)
    flash(message, "success")
    return redirect(_page_url(talk), code=303)


@bp.post("/events/<slug>/talks/<talk_slug>/simulcast/<int:destination_id>")
def simulcast_edit(slug: str, talk_slug: str, destination_id: int) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    destination = service.get(db.session, talk, destination_id)
    form = _edit_form(destination, submitted=True)
    if not form.validate_on_submit():
        return _page(talk, 400, edited=(destination.id, form))
    try:
        changed = service.update(db.session, g.actor, destination, label=form.label.data, url=form.url.data,
                                 stream_key=form.stream_key.data, enabled=form.enabled.data, keys=_simulcast().keys,
                                 allowed_hosts=settings().media.import_allowed_hosts)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        _refused(form, error)
        return _page(talk, error.http_status, edited=(destination.id, form))
    _follow(talk)
    flash(_("%(label)s was saved.", label=destination.label) if changed else _("Nothing was changed."), "success")
    return redirect(_page_url(talk, f"destination-{destination.id}"), code=303)


@bp.post("/events/<slug>/talks/<talk_slug>/simulcast/<int:destination_id>/remove")
def simulcast_remove(slug: str, talk_slug: str, destination_id: int) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    if not ConfirmForm().validate_on_submit():
        return _page(talk, 400)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm that the destination should be removed."), "error")
        return redirect(_page_url(talk, f"destination-{destination_id}"), code=303)
    once = Once()
    if (answer := once.claim()) is not None:
        return answer  # sent twice: removed once
    try:
        destination = service.get(db.session, talk, destination_id)
        label = destination.label
        service.remove(db.session, g.actor, destination)
        message = _("%(label)s was removed. Nothing more is sent there.", label=label)
        once.record(_page_url(talk), message)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _page(talk, error.http_status)
    _follow(talk)
    flash(message, "success")
    return redirect(_page_url(talk), code=303)
