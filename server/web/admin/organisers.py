"""Admin: the organisers' own accounts. The first is made from the command line; after that an
organiser adds colleagues here. A colleague chooses their own password through a link that
works once and expires, so no password ever passes through another person's hands."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.i18n import _, _l
from server.models import AuditEntry, Organiser
from server.services import mail
from server.services.accounts import (
    PASSWORD_LINK_DAYS,
    active_organiser,
    invite_organiser,
    password_link_token,
    record_password_link,
    set_disabled,
)
from server.services.errors import ServiceError
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, show_error
from server.web.admin.mailing import MailLanguageForm, OrganiserMailForm, default_language, mail_on, sender_address
from server.web.admin.people import release_claim
from server.web.admin.repeats import Once
from server.web.context import absolute_url, settings

NEW_LINK = "admin.new_password_link"


def _link(organiser: Organiser) -> str:
    return absolute_url("auth.set_password", token=password_link_token(current_app.config["SECRET_KEY"], organiser))


def _page(form: OrganiserMailForm, status: int = 200):
    accounts = db.session.scalars(select(Organiser).order_by(Organiser.name, Organiser.id)).all()
    log = db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "organiser")
                             .order_by(AuditEntry.id.desc()).limit(50)).all()
    new_link = session.pop(NEW_LINK, None)
    language_form = MailLanguageForm(formdata=None, language=default_language())
    return render_template("admin/organisers.html", form=form, accounts=accounts, log=log, confirm=ConfirmForm(),
                           new_link=new_link if isinstance(new_link, dict) else None,
                           mail_enabled=mail_on(), language_form=language_form,
                           me=session.get("organiser_id"),
                           zone=settings().time.time_zone), status


def _me() -> Organiser | None:
    return active_organiser(db.session, session.get("organiser_id"))


def _remember_link(organiser: Organiser) -> None:
    # Shown once on the next page, in a field to copy; not in the flash region, which a
    # screen reader would read out in full.
    session[NEW_LINK] = {"name": organiser.name, "link": _link(organiser)}


def _new_form(**options) -> OrganiserMailForm:
    form = OrganiserMailForm(**options)
    if options.get("formdata", True) is None:
        form.language.data = default_language()
    return form


@bp.get("/organisers")
def organisers():
    return _page(_new_form(formdata=None))


@bp.post("/organisers")
def add_organiser():
    form = _new_form()
    if not form.validate_on_submit():
        return _page(form, 400)
    once = Once(on_repeat=_link_again, target=Organiser)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: the first one's account, and its link shown again
    try:
        organiser = invite_organiser(db.session, email=form.email.data, name=form.name.data, actor=g.actor)
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(form, error.http_status)
    message = _("The account of %(name)s was made. Send them the link below: with it they choose their own "
                "password.", name=organiser.name)
    db.session.flush()
    once.record(url_for("admin.organisers"), message, organiser.id)
    db.session.commit()
    flash(message, "success")
    # Made and committed first; sent after. Sent, the link is not shown again here; not sent,
    # it is shown to copy, as without e-mail.
    if not (mail_on() and form.send_link.data and _send_password_link(organiser, form.language.data)):
        _remember_link(organiser)
    return redirect(url_for("admin.organisers"), code=303)


@bp.post("/organisers/<int:organiser_id>/password-mail")
def mail_password_link(organiser_id: int) -> Response:
    """E-mail a new password link to the account's own address, in the chosen language."""
    organiser = db.session.get(Organiser, organiser_id)
    if organiser is None:
        abort(404)
    form = MailLanguageForm()
    if not form.validate_on_submit():
        abort(400)
    if not mail_on():
        flash(_("E-mail is not set up on this server. Make a password link and send it yourself."), "error")
    elif organiser.disabled_at is not None:
        flash(_("Open the account again first."), "error")
    else:
        once = Once(target=Organiser)
        if (answer := once.claim()) is not None:
            return answer  # sent twice (a reload, a double click): sent once, the first one's answer
        if not _send_password_link(organiser, form.language.data, once):
            _remember_link(organiser)
    return redirect(url_for("admin.organisers"), code=303)


def _send_password_link(organiser: Organiser, language: str, once: Once | None = None) -> bool:
    """Send the account's password link to its address; say how it went. The link in the
    message is the same one the page would show. `once`: the form's claim, committed before
    the SMTP exchange so that a repeat meanwhile does not send again."""
    message = mail.compose(
        "organiser_link", to=organiser.email, language=language, auto_submitted=False, reply_to=sender_address(),
        subject=_l("Choose your password for Arena"), organiser=organiser, sender=g.actor.label, link=_link(organiser),
        days=PASSWORD_LINK_DAYS, sign_in_url=absolute_url("auth.sign_in"), site=settings().public_base_url)
    back = url_for("admin.organisers")
    sent = _("A password link was sent to %(name)s at %(email)s. It works once, for %(days)d days.",
             name=organiser.name, email=organiser.email, days=PASSWORD_LINK_DAYS)
    if once is not None:
        once.record(back, _("A password link is being sent to %(name)s at %(email)s.", name=organiser.name,
                            email=organiser.email), organiser.id)
        db.session.commit()
    try:
        mail.send_audited(db.session, settings(), message, g.actor, "organiser.mail", organiser)
    except ServiceError as error:
        db.session.rollback()
        if once is not None:
            release_claim(once)
        flash(_("The password link of %(name)s was not sent: %(reason)s Copy the link below and send it yourself.",
                name=organiser.name, reason=str(error.message)), "error")
        return False
    if once is not None:
        once.record(back, sent, organiser.id)
    try:
        db.session.commit()
    except Exception:  # sent already: say so, and the log says the record is missing
        db.session.rollback()
        current_app.logger.exception("a sent password link could not be recorded in the audit log")
    flash(sent, "success")
    return True


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
    record_password_link(db.session, g.actor, organiser)
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
    try:
        set_disabled(db.session, organiser, disabled=change == "close", by=_me(), now=utcnow(), actor=g.actor)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("admin.organisers"), code=303)
    db.session.commit()
    if change == "close":
        flash(_("The account of %(name)s is closed: it cannot sign in, and its open pages have lost the role.",
                name=organiser.name), "success")
    else:
        flash(_("The account of %(name)s is open again.", name=organiser.name), "success")
    return redirect(url_for("admin.organisers"), code=303)
