"""Organiser sign-in and sign-out (accounts are created with `python -m server create-organiser`)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from server.db import db, utcnow
from server.i18n import _l
from server.services.accounts import authenticate
from server.services.errors import ServiceError
from server.web.context import client_address, safe_redirect_target
from server.web.public import ensure_participant_id

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
        session["organiser_id"] = organiser.id
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
    from flask import flash

    from server.services.accounts import choose_password, organiser_from_password_token
    from server.web.admin.forms import ChoosePasswordForm, show_error

    organiser = organiser_from_password_token(db.session, current_app.config["SECRET_KEY"], token)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            choose_password(organiser, form.password.data, form.repeat.data)
        except ServiceError as exc:
            db.session.rollback()
            show_error(form, exc)
            return render_template("set_password.html", form=form, organiser=organiser), exc.http_status
        db.session.commit()
        flash(_l("Your password is set. Sign in with your e-mail address and the new password."), "success")
        return redirect(url_for("auth.sign_in"), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("set_password.html", form=form, organiser=organiser), status
