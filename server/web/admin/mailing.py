"""Sending a sign-in or password link by e-mail from the admin (server/services/mail.py).

Shown only when `[mail]` is set up; otherwise the pages are as before and the link is
copied by hand. The link is made and committed first and sent after: a send that fails
leaves the link as it was, still there to copy, and says why in words. A send that worked
is audited (to whom, in which language; never the link).
"""

from __future__ import annotations

from flask import session
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from server.db import db
from server.i18n import LANGUAGE_NAMES, _l, current_language
from server.services import mail
from server.services.accounts import active_organiser
from server.web.admin.forms import REQUIRED, ModeratorForm, OrganiserForm, SpeakerInviteForm
from server.web.context import settings


def _language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, LANGUAGE_NAMES[code]) for code in mail.LANGUAGES]


class MailLinkForm(FlaskForm):
    """Send a moderator's or speaker's sign-in link to an address, in the recipient's language."""

    to = EmailField(_l("E-mail address"), validators=[InputRequired(REQUIRED), Length(max=254)])
    language = SelectField(_l("Language of the message"), choices=_language_choices, default=mail.LANGUAGES[0])


class MailLanguageForm(FlaskForm):
    """Send an organiser's password link to their account's address, in their language."""

    language = SelectField(_l("Language of the message"), choices=_language_choices, default=mail.LANGUAGES[0])


class _SendAtOnce:
    """A link's form, with where to send it (optional) and in which language."""

    to = EmailField(_l("E-mail address (optional)"), validators=[Optional(), Length(max=254)],
                    description=_l("Given, the link is sent there by e-mail as soon as it is made."))
    language = SelectField(_l("Language of the message"), choices=_language_choices,
                           default=lambda: default_language())


class ModeratorMailForm(ModeratorForm, _SendAtOnce):
    pass


class SpeakerMailForm(SpeakerInviteForm, _SendAtOnce):
    pass


class OrganiserMailForm(OrganiserForm):
    """Adding an organiser, and (with e-mail set up) sending them the link at once."""

    send_link = BooleanField(_l("Send them the link by e-mail"), default=True)
    language = SelectField(_l("Language of the message"), choices=_language_choices, default=mail.LANGUAGES[0])


def mail_on() -> bool:
    return mail.mail_enabled(settings())


def default_language() -> str:
    return mail.recipient_language(current_language())


def sender_address() -> str:
    """The signed-in organiser's own address, for replies to what they send (none for an
    organiser who signed in with a link)."""
    organiser = active_organiser(db.session, session.get("organiser_id"))
    return organiser.email if organiser is not None else ""
