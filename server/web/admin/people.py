"""Admin: who may moderate an event and who speaks in its talks.

Moderators and speakers get a sign-in link, not a password: a signed token that expires and
can be withdrawn. Withdrawing it ends the holder's open live connections on every process
within a second (the live namespace's presence ticker reads revocations from the database).
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from server.db import db, utcnow
from server.i18n import _, _l
from server.models import Role, RoleGrant, Talk
from server.services import mail, moderation
from server.services.accounts import normalise_email
from server.services.errors import ServiceError
from server.services.events import get_event
from server.services.roles import grant_role, revoke_grant, sign_in_token
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, ModeratorForm, SpeakerInviteForm, show_error
from server.web.admin.mailing import (
    MailLinkForm,
    ModeratorMailForm,
    SpeakerMailForm,
    default_language,
    mail_on,
    sender_address,
)
from server.web.admin.repeats import Once
from server.web.context import absolute_url, settings


def sign_in_link(grant: RoleGrant) -> str:
    return absolute_url("staff.sign_in", token=sign_in_token(current_app.config["SECRET_KEY"], grant))


def _page(event, moderator_form: ModeratorForm, invite_form: SpeakerInviteForm, status: int = 200,
          refused_mail: tuple[int, MailLinkForm] | None = None):
    grants = db.session.scalars(
        select(RoleGrant).where(RoleGrant.event_id == event.id)
        .order_by(RoleGrant.created_at.desc(), RoleGrant.id.desc())
    ).all()
    now = utcnow()
    talks = {talk.id: talk for talk in event.talks}
    mail_forms = {}
    if mail_on():
        # One small form per link that still works; a refused one keeps what was typed.
        mail_forms = {grant.id: _mail_form(grant, formdata=None) for grant in grants if grant.is_active(now)}
        if refused_mail is not None:
            mail_forms[refused_mail[0]] = refused_mail[1]
    return render_template(
        "admin/people.html", event=event, moderator_form=moderator_form, invite_form=invite_form, now=now,
        moderators=[grant for grant in grants if grant.role is Role.moderator],
        speakers=[grant for grant in grants if grant.role is Role.speaker], talks=talks,
        bans=moderation.active_bans(db.session, event.id),
        confirm=ConfirmForm(), link_for=sign_in_link, mail_forms=mail_forms, mail_enabled=mail_on(),
        open_mail=refused_mail[0] if refused_mail else None,
    ), status


def _mail_form(grant: RoleGrant, **options) -> MailLinkForm:
    form = MailLinkForm(prefix=f"mail-{grant.id}", **options)
    if options.get("formdata", True) is None:
        form.language.data = default_language()
    return form


def _invite_form(event, **options) -> SpeakerMailForm:
    form = SpeakerMailForm(prefix="invite", **options)
    form.talk.choices = [SelectChoice(talk.id, talk.title) for talk in event.talks]
    return form


@bp.get("/events/<slug>/people")
def event_people(slug: str):
    event = get_event(db.session, slug, include_drafts=True)
    return _page(event, ModeratorMailForm(prefix="moderator"), _invite_form(event))


def _grant(event, form, once: Once, *, role: Role, talk: Talk | None, status_message: str):
    try:
        grant = grant_role(db.session, role=role, name=form.name.data, now=utcnow(), event=event, talk=talk,
                           valid_days=form.valid_days.data, actor=g.actor)
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return None, error
    db.session.flush()
    once.record(url_for("admin.event_people", slug=event.slug, _anchor=f"grant-{grant.id}"), status_message, grant.id)
    db.session.commit()
    flash(status_message, "success")
    return grant, None


def _send_to(form) -> str | None:
    """The address to send the new link to ("" for none), or None when it is no address
    (said beside the field; nothing is made)."""
    typed = (form.to.data or "").strip() if mail_on() else ""
    if not typed:
        return ""
    try:
        return normalise_email(typed)
    except ServiceError as error:
        form.to.errors = [*form.to.errors, str(error.message)]
        return None


def _made(name: str, address: str) -> str:
    if address:
        return _("A sign-in link was made for %(name)s.", name=name)
    return _("A sign-in link was made for %(name)s. Copy it from the list and send it to them.", name=name)


def _made_then_sent(event, grant: RoleGrant, address: str, language: str) -> Response:
    back = redirect(url_for("admin.event_people", slug=event.slug, _anchor=f"grant-{grant.id}"), code=303)
    return _send_link(event, grant, address, language, back) if address else back


@bp.post("/events/<slug>/people/moderators")
def add_moderator(slug: str):
    event = get_event(db.session, slug, include_drafts=True)
    form = ModeratorMailForm(prefix="moderator")
    if form.validate_on_submit() and (address := _send_to(form)) is not None:
        once = Once(target=RoleGrant)
        if (answer := once.claim()) is not None:
            return answer  # sent twice: the first one's link
        grant, error = _grant(event, form, once, role=Role.moderator, talk=None,
                              status_message=_made(form.name.data.strip(), address))
        if grant is not None:
            return _made_then_sent(event, grant, address, form.language.data)
    return _page(event, form, _invite_form(event), 400)


@bp.post("/events/<slug>/people/speakers")
def invite_speaker(slug: str):
    event = get_event(db.session, slug, include_drafts=True)
    form = _invite_form(event)
    if form.validate_on_submit() and (address := _send_to(form)) is not None:
        talk = next((talk for talk in event.talks if talk.id == form.talk.data), None)
        if talk is None:
            abort(400)
        once = Once(target=RoleGrant)
        if (answer := once.claim()) is not None:
            return answer  # sent twice: the first one's link
        grant, error = _grant(event, form, once, role=Role.speaker, talk=talk,
                              status_message=_made(form.name.data.strip(), address))
        if grant is not None:
            return _made_then_sent(event, grant, address, form.language.data)
    return _page(event, ModeratorMailForm(prefix="moderator", formdata=None), form, 400)


@bp.post("/events/<slug>/people/<int:grant_id>/revoke")
def revoke(slug: str, grant_id: int) -> Response:
    event = get_event(db.session, slug, include_drafts=True)
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.event_id != event.id:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if grant.revoked_at is None:
        revoke_grant(db.session, grant.id, utcnow(), actor=g.actor)
        db.session.commit()
    flash(_("The link of %(name)s no longer works, and their open live pages have lost the role.", name=grant.name),
          "success")
    return redirect(url_for("admin.event_people", slug=slug), code=303)


@bp.post("/events/<slug>/people/bans/<int:ban_id>/lift")
def lift_ban(slug: str, ban_id: int) -> Response:
    """Lift a ban from the admin: the row stays as a record, with who lifted it and when."""
    event = get_event(db.session, slug, include_drafts=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        ban = moderation.lift_ban_in_event(db.session, event.id, g.actor, ban_id)
    except ServiceError as error:
        db.session.rollback()
        if error.http_status == 404:
            abort(404)
        raise
    lifted = (ban.participant_id, ban.event_id, ban.talk_id, ban.display_name)
    db.session.commit()
    # Open live pages follow at once: the moderators' lists, and the participant may write again.
    try:
        current_app.extensions["arena.live"].ban_lifted(*lifted[:3])
    except Exception:  # committed: the pages catch up on their next join
        current_app.logger.exception("telling the live rooms of a lifted ban failed")
    flash(_("%(name)s can write again. The ban stays on record.", name=lifted[3] or _("The participant")),
          "success")
    return redirect(url_for("admin.event_people", slug=slug, _anchor="bans-heading"), code=303)


@bp.post("/events/<slug>/people/<int:grant_id>/mail")
def mail_link(slug: str, grant_id: int):
    """Send a moderator's or speaker's sign-in link by e-mail, in the recipient's language."""
    event = get_event(db.session, slug, include_drafts=True)
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.event_id != event.id:
        abort(404)
    back = redirect(url_for("admin.event_people", slug=slug, _anchor=f"grant-{grant.id}"), code=303)
    if not mail_on():
        flash(_("E-mail is not set up on this server. Copy the link and send it yourself."), "error")
        return back
    if not grant.is_active(utcnow()):
        flash(_("The link of %(name)s no longer works, so it was not sent. Make a new one.", name=grant.name), "error")
        return back
    form = _mail_form(grant)
    if form.validate_on_submit():
        try:
            address = normalise_email(form.to.data)
        except ServiceError as error:
            form.to.errors = [*form.to.errors, str(error.message)]
        else:
            once = Once()
            if (answer := once.claim()) is not None:
                return answer  # sent twice (a reload, a double click): sent once, the first one's answer
            return _send_link(event, grant, address, form.language.data, back, once)
    return _page(event, ModeratorMailForm(prefix="moderator", formdata=None), _invite_form(event, formdata=None), 400,
                 refused_mail=(grant.id, form))


def release_claim(once: Once) -> None:
    """A message that was not sent gives up its form's claim (committed before sending), so
    that the same form sent again sends."""
    if once.row is None:
        return
    try:
        db.session.delete(once.row)
        db.session.commit()
    except Exception:  # the claim expires with the day's others; a retry is then "sent twice"
        db.session.rollback()
        current_app.logger.exception("a form's claim could not be given up after a message was not sent")


def _send_link(event, grant: RoleGrant, address: str, language: str, back: Response,
               once: Once | None = None) -> Response:
    talk = db.session.get(Talk, grant.talk_id) if grant.talk_id else None
    message = mail.compose(
        "role_link", to=address, language=language, auto_submitted=False, reply_to=sender_address(),
        subject=(_l("You are invited to speak in “%(talk)s”", talk=talk.title) if talk is not None
                 else _l("You are invited to moderate “%(event)s”", event=event.title)),
        grant=grant, talk=talk, event=event, sender=g.actor.label, link=sign_in_link(grant),
        event_url=absolute_url("public.event_page", slug=event.slug), site=settings().public_base_url)
    # The claim is committed before the SMTP exchange (up to mail.timeout_seconds): a repeat
    # meanwhile is answered without sending, and no database lock is held while sending.
    if once is not None:
        once.record(back.location, _("The sign-in link of %(name)s is being sent to %(address)s.", name=grant.name,
                                     address=address), grant.id)
        db.session.commit()
    try:
        mail.send_audited(db.session, settings(), message, g.actor, "grant.mail", grant, event=event, talk=talk)
    except ServiceError as error:
        db.session.rollback()
        if once is not None:
            release_claim(once)  # nothing was sent: the same form sent again (corrected or not) sends
        flash(_("The sign-in link of %(name)s was not sent: %(reason)s The link still works: copy it below and send "
                "it yourself.", name=grant.name, reason=str(error.message)), "error")
        return back
    if once is not None:
        once.record(back.location, _("The sign-in link of %(name)s was sent to %(address)s.", name=grant.name,
                                     address=address), grant.id)
    try:
        db.session.commit()
    except Exception:  # sent already: say so, and the log says the record is missing
        db.session.rollback()
        current_app.logger.exception("a sent sign-in link could not be recorded in the audit log")
    flash(_("The sign-in link of %(name)s was sent to %(address)s.", name=grant.name, address=address), "success")
    return back
