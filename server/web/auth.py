"""Organiser sign-in and sign-out, choosing a password through a colleague's link, and "forgot
my password" (accounts are created with `python -m server create-organiser` or in the admin).

Forgot my password answers the same whether or not the address has an account, and sends
in the background, after the commit: the page, its status and its timing say nothing of
who has an account, and a mail server that is down shows in the log, not to the visitor
(services/password_reset.py, docs/mail.md)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from server.db import db, utcnow
from server.extensions import socketio
from server.i18n import _, _l, current_language
from server.services import mail
from server.services.accounts import SESSION_FINGERPRINT, authenticate, organiser_from_password_token, sign_in_session
from server.services.errors import ServiceError
from server.services.password_reset import (
    RESET_MAX_AGE,
    ResetLinkRefused,
    organiser_from_reset_token,
    request_reset,
    reset_password,
    reset_token,
)
from server.web.admin.forms import ChoosePasswordForm, show_error
from server.web.context import absolute_url, client_address, ensure_participant_id, safe_redirect_target
from server.web.context import settings as arena_settings

log = logging.getLogger("arena.mail")

bp = Blueprint("auth", __name__)


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(_l("Please fill in this field.")),
                                                         Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please fill in this field.")),
                                                         Length(max=1024)])


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str | tuple[str, int]:
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        try:
            organiser = authenticate(db.session, form.email.data, form.password.data, now=utcnow(),
                                     remote_addr=client_address())
        except ServiceError as exc:
            db.session.commit()  # the failed attempt counts towards the limit
            error = str(exc.message)
            return render_template("sign_in.html", form=form, error=error), exc.http_status
        db.session.commit()
        participant_id = ensure_participant_id()
        session.clear()  # a fresh session on sign-in: nothing carried over but the participant id
        session["participant_id"] = participant_id
        sign_in_session(session, organiser)
        session["display_name"] = organiser.name
        session.permanent = True
        return redirect(safe_redirect_target(request.args.get("next"), url_for("public.home")), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("sign_in.html", form=form, error=error), status


@bp.post("/sign-out")
def sign_out() -> Response:
    organiser_id = session.pop("organiser_id", None)
    grant_id = session.pop("grant_id", None)
    session.pop("display_name", None)
    session.pop(SESSION_FINGERPRINT, None)
    # The socket's session is a copy taken at connect: close this browser's connections
    # that carry the role, so it ends everywhere at once.
    for namespace in ("arena.live", "arena.studio", "arena.admin"):  # the studio's stream ends, its recording kept
        current_app.extensions[namespace].close_grant_connections(
            grant_id if isinstance(grant_id, int) else None, session.get("participant_id"),
            organiser_id=organiser_id if isinstance(organiser_id, int) else None)
    return redirect(url_for("public.home"), code=303)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str) -> Response | str | tuple[str, int]:
    """An organiser chooses their password through the link a colleague made for them."""
    organiser = organiser_from_password_token(db.session, current_app.config["SECRET_KEY"], token)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(db.session, organiser, form.password.data, form.repeat.data, action="password.set")
        except ServiceError as exc:
            db.session.rollback()
            show_error(form, exc)
            return render_template("set_password.html", form=form, organiser=organiser), exc.http_status
        db.session.commit()
        flash(_l("Your password is set. Sign in with your e-mail address and the new password."), "success")
        return redirect(url_for("auth.sign_in"), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("set_password.html", form=form, organiser=organiser), status


# -- forgot my password ---------------------------------------------------------------------

class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(_l("Please fill in this field.")),
                                                         Length(max=254, message=_l("At most %(count)d characters.",
                                                                                    count=254))])


def _send_in_background(settings, message: mail.Mail) -> None:
    try:
        mail.send(settings, message)
    except mail.MailNotSent:
        pass  # mail.send has logged why; the visitor was told to ask an organiser if nothing comes
    except Exception:  # a background task must not die with a traceback on stderr only
        log.exception("sending a password link failed")


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Response | str | tuple[str, int]:
    settings = arena_settings()
    if not mail.mail_enabled(settings):
        # No form that pretends: nothing could be sent.
        return render_template("auth/forgot_password.html", form=None), 200
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot_password.html", form=form), 400 if form.is_submitted() else 200
    try:
        organiser = request_reset(db.session, form.email.data, now=utcnow(), remote_addr=client_address())
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        if not error.field:
            form.form_errors.append(str(error.message))
        return render_template("auth/forgot_password.html", form=form), error.http_status
    # Composed before the commit, so an unknown address costs the same work and the request
    # stays short; sent after it, in the background, so the answer never waits for the
    # mail server and is the same for every address.
    message = _reset_mail(organiser, settings)
    db.session.commit()
    if organiser is not None:
        socketio.start_background_task(_send_in_background, settings, message)
    flash(_("If there is an organiser account with the address %(email)s, a link to choose a new password is on its "
            "way to it. The link works once, for one hour. If nothing arrives within a few minutes, check the spam "
            "folder, or ask an organiser.", email=form.email.data.strip().lower()), "success")
    return redirect(url_for("auth.sign_in"), code=303)


def _reset_mail(organiser, settings) -> mail.Mail:
    token = reset_token(current_app.config["SECRET_KEY"], organiser) if organiser is not None else "x"
    return mail.compose(
        "password_reset", to=organiser.email if organiser is not None else "nobody@invalid.example",
        language=current_language(), subject=_l("Choose a new password for Arena"),
        name=organiser.name if organiser is not None else "", email=organiser.email if organiser is not None else "",
        link=absolute_url("auth.reset_password", token=token), site=settings.public_base_url,
        minutes=int(RESET_MAX_AGE.total_seconds() // 60))


@bp.route("/reset-password/<token>", methods=["GET", "POST"], endpoint="reset_password")
def reset_password_page(token: str) -> Response | str | tuple[str, int]:
    """Choose a new password through the link "forgot my password" sent."""
    try:
        organiser = organiser_from_reset_token(db.session, current_app.config["SECRET_KEY"], token)
    except ResetLinkRefused as refused:
        return _no_referrer(render_template("auth/reset_link_refused.html", message=str(refused.message),
                                            mail_on=mail.mail_enabled(arena_settings())), refused.http_status)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(db.session, organiser, form.password.data, form.repeat.data)
        except ServiceError as error:
            db.session.rollback()
            show_error(form, error)
            return _no_referrer(render_template("auth/reset_password.html", form=form, organiser=organiser),
                                error.http_status)
        db.session.commit()
        flash(_l("Your new password is saved. Sign in with your e-mail address and the new password."), "success")
        return redirect(url_for("auth.sign_in"), code=303)
    status = 400 if form.is_submitted() else 200
    return _no_referrer(render_template("auth/reset_password.html", form=form, organiser=organiser), status)


def _no_referrer(page: str, status: int) -> Response:
    # The link is in the address: never hand it on to another page, never keep it in a cache.
    response = current_app.make_response((page, status))
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
