"""Admin: the organisers' own accounts. The first is made from the command line; after that an
organiser adds colleagues here. A colleague chooses their own password through a link that
works once and expires, so no password ever passes through another person's hands."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.i18n import _
from server.models import AuditEntry, Organiser
from server.services import programme
from server.services.accounts import active_organiser, invite_organiser, password_link_token, set_disabled
from server.services.errors import ServiceError
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, OrganiserForm, show_error
from server.web.admin.repeats import Once
from server.web.public import absolute_url

ACCOUNT_FIELDS = ("email", "name", "disabled_at")
NEW_LINK = "admin.new_password_link"


def _link(organiser: Organiser) -> str:
    return absolute_url("auth.set_password", token=password_link_token(current_app.config["SECRET_KEY"], organiser))


def _page(form: OrganiserForm, status: int = 200):
    accounts = db.session.scalars(select(Organiser).order_by(Organiser.name, Organiser.id)).all()
    log = db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "organiser")
                             .order_by(AuditEntry.id.desc()).limit(50)).all()
    new_link = session.pop(NEW_LINK, None)
    return render_template("admin/organisers.html", form=form, accounts=accounts, log=log, confirm=ConfirmForm(),
                           new_link=new_link if isinstance(new_link, dict) else None,
                           me=session.get("organiser_id"),
                           zone=current_app.extensions["arena.settings"].time.time_zone), status


def _me() -> Organiser | None:
    return active_organiser(db.session, session.get("organiser_id"))


def _remember_link(organiser: Organiser) -> None:
    # Shown once on the next page, in a field to copy; not in the flash region, which a
    # screen reader would read out in full.
    session[NEW_LINK] = {"name": organiser.name, "link": _link(organiser)}


@bp.get("/organisers")
def organisers():
    return _page(OrganiserForm())


@bp.post("/organisers")
def add_organiser():
    form = OrganiserForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    once = Once(on_repeat=_link_again, target=Organiser)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: the first one's account, and its link shown again
    try:
        organiser = invite_organiser(db.session, email=form.email.data, name=form.name.data)
        programme.audit(db.session, g.actor, None, "organiser.create", organiser,
                        after=programme.snapshot(organiser, ACCOUNT_FIELDS))
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(form, error.http_status)
    message = _("The account of %(name)s was made. Send them the link below: with it they choose their own "
                "password.", name=organiser.name)
    db.session.flush()
    once.record(url_for("admin.organisers"), message, organiser.id)
    db.session.commit()
    _remember_link(organiser)
    flash(message, "success")
    return redirect(url_for("admin.organisers"), code=303)


def _link_again(first) -> None:
    organiser = db.session.get(Organiser, first.target_id) if first.target_id else None
    if organiser is not None and organiser.disabled_at is None:
        _remember_link(organiser)


def _account(organiser_id: int) -> Organiser:
    organiser = db.session.get(Organiser, organiser_id)
    if organiser is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return organiser


@bp.post("/organisers/<int:organiser_id>/password-link")
def password_link(organiser_id: int) -> Response:
    organiser = _account(organiser_id)
    if organiser.disabled_at is not None:
        flash(_("Open the account again first."), "error")
        return redirect(url_for("admin.organisers"), code=303)
    once = Once(on_repeat=_link_again, target=Organiser)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: one link, one audit entry
    programme.audit(db.session, g.actor, None, "organiser.password_link", organiser)
    message = _("A new password link for %(name)s is below. Their current password works until they use it.",
                name=organiser.name)
    once.record(url_for("admin.organisers"), message, organiser.id)
    db.session.commit()
    _remember_link(organiser)
    flash(message, "success")
    return redirect(url_for("admin.organisers"), code=303)


@bp.post("/organisers/<int:organiser_id>/<any(close, reopen):change>")
def change_account(organiser_id: int, change: str) -> Response:
    organiser = _account(organiser_id)
    before = programme.snapshot(organiser, ACCOUNT_FIELDS)
    try:
        set_disabled(db.session, organiser, disabled=change == "close", by=_me(), now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("admin.organisers"), code=303)
    after = programme.snapshot(organiser, ACCOUNT_FIELDS)
    if after != before:
        programme.audit(db.session, g.actor, None, f"organiser.{change}", organiser, before=before, after=after)
    db.session.commit()
    if change == "close":
        flash(_("The account of %(name)s is closed: it cannot sign in, and its open pages have lost the role.",
                name=organiser.name), "success")
    else:
        flash(_("The account of %(name)s is open again.", name=organiser.name), "success")
    return redirect(url_for("admin.organisers"), code=303)
