"""The admin's forms. They parse and carry CSRF; the services decide what is valid, so the
rules live in one place (server/services/programme.py) and the forms only show the errors."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from server.i18n import _l
from server.services.errors import AddressTaken, ServiceError

REQUIRED = _l("Please fill in this field.")
# What services/text.py renders, said where the text is typed.
MARKDOWN_HELP = _l("Markdown: **bold**, *italic*, [link](https://...), lists (- or 1.), headings (# and ##) and "
                   "tables (a line like | Time | Talk |, then |---|---|, then one line per row). HTML is shown "
                   "as text.")
# Time zones organisers of Swedish public bodies meet; any IANA name is accepted by the service.
TIME_ZONES = ("Europe/Stockholm", "Europe/Helsinki", "Europe/Oslo", "Europe/Copenhagen", "Europe/London", "UTC")


class EventForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(REQUIRED)])
    slug = StringField(_l("Address (slug)"), description=_l(
        "Lower-case letters a-z, digits and hyphens. Left empty, it is made from the title. "
        "Changed later, links to the old address still lead here."))
    organiser = StringField(_l("Organiser"))
    venue = StringField(_l("Venue"))
    starts_on = DateField(_l("First day"), validators=[InputRequired(REQUIRED)])
    ends_on = DateField(_l("Last day"), validators=[Optional()], description=_l("Left empty: a one-day event."))
    time_zone = SelectField(_l("Time zone"), choices=[SelectChoice(zone) for zone in TIME_ZONES])
    invitation_text = TextAreaField(_l("Invitation text"), description=MARKDOWN_HELP)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TalkForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(REQUIRED)])
    slug = StringField(_l("Address (slug)"), description=_l(
        "Lower-case letters a-z, digits and hyphens. Left empty, it is made from the title. "
        "Changed later, links to the old address still lead here."))
    day = DateField(_l("Day"), validators=[InputRequired(REQUIRED)])
    starts = TimeField(_l("Starts"), validators=[InputRequired(REQUIRED)])
    ends = TimeField(_l("Ends"), validators=[InputRequired(REQUIRED)])
    # Shown only when a time falls in the hour the clocks repeat in autumn; the view fills the
    # choices ("earlier"/"later", with their UTC offsets) for the day and time typed.
    starts_fold = RadioField(_l("Which start time?"), choices=[], validate_choice=False)
    ends_fold = RadioField(_l("Which end time?"), choices=[], validate_choice=False)
    speakers = MultiCheckboxField(_l("Speakers"), coerce=int, choices=[])
    invitation_text = TextAreaField(_l("Invitation text"), description=MARKDOWN_HELP)
    stream_url = StringField(_l("Stream address"), description=_l(
        "YouTube, Vimeo, Twitch or Facebook, or an HLS (.m3u8), MP4 or WebM address. Left empty: "
        "no stream, or the speaker goes live from the studio."))
    # Checked by the service (programme.update_talk), which also knows whether the studio is live.
    live_state = SelectField(_l("Live status"), default="scheduled", validate_choice=False, choices=[
        SelectChoice("scheduled", _l("By the programme's times")),
        SelectChoice("live", _l("Live now")),
        SelectChoice("ended", _l("Ended")),
    ], description=_l("For a stream from YouTube and the like: mark the talk live early or ended when it is over. "
                      "A broadcast from the studio sets this itself."))
    slides_url = StringField(_l("Slides address"), description=_l(
        "Slideshare, Speaker Deck, Google Slides or a link to a PDF file."))
    slides_file = FileField(_l("Or upload the slides as a PDF"), description=_l("PDF, at most 50 MB."))
    remove_slides_file = BooleanField(_l("Remove the uploaded slides"))


class SpeakerForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED)])
    role = StringField(_l("Title and organisation"), description=_l("As the invitation says it, e.g. "
                                                                     "\u201ckommunchef, Katrineholms kommun\u201d."))
    bio = TextAreaField(_l("Biography"), description=MARKDOWN_HELP)
    links = TextAreaField(_l("Links"), description=_l("One per line: a label, a vertical bar and the address, "
                                                      "e.g. \u201cLinkedIn | https://www.linkedin.com/in/...\u201d. "
                                                      "An address alone is labelled with its site's name."))
    photo = FileField(_l("Photo"), description=_l("JPEG, PNG or WebP, at most 5 MB."))
    remove_photo = BooleanField(_l("Remove the photo"))


class ModeratorForm(FlaskForm):
    name = StringField(_l("The moderator's name"), validators=[InputRequired(REQUIRED)])
    valid_days = IntegerField(_l("Link valid for (days)"), default=7,
                              validators=[InputRequired(REQUIRED), NumberRange(1, 366, _l("From 1 to 366 days."))])


class SpeakerInviteForm(FlaskForm):
    name = StringField(_l("The speaker's name"), validators=[InputRequired(REQUIRED)])
    talk = SelectField(_l("Talk"), coerce=int, choices=[])
    valid_days = IntegerField(_l("Link valid for (days)"), default=14,
                              validators=[InputRequired(REQUIRED), NumberRange(1, 366, _l("From 1 to 366 days."))])


class OrganiserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED)])
    email = EmailField(_l("E-mail address"), validators=[InputRequired(REQUIRED)])


class ChoosePasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[InputRequired(REQUIRED)],
                             description=_l("At least 12 characters. A few unrelated words make a good one."))
    repeat = PasswordField(_l("The same password again"), validators=[InputRequired(REQUIRED)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


def show_error(form: FlaskForm, error: ServiceError) -> None:
    """Put a service's refusal beside the field it concerns, or above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error.message)]
        if isinstance(error, AddressTaken):
            field.data = error.proposal  # a free address, filled in: one more click saves
    else:
        form.form_errors.append(str(error.message))
