"""Admin: events, their talks and speakers, the programme order and the uploaded files.

Every POST goes: form parses -> service checks and changes -> one commit. A refusal rolls
back and shows the form again with the message beside its field, status 400; any file the
request had stored is removed, so nothing of a refused request remains.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from server.db import db
from server.i18n import _
from server.models import Event, EventStatus, Speaker, Talk
from server.services import programme
from server.services.errors import ServiceError, ValidationError
from server.services.events import (
    EARLIER,
    LATER,
    create_event,
    create_speaker,
    create_talk,
    get_event,
    get_talk,
    local_instant,
    programme_days,
    repeated_time_choices,
    stream_embed,
)
from server.services.text import render_markdown
from server.services.uploads import (
    KeptUpload,
    UploadRefused,
    claim_kept,
    discard,
    drop_kept,
    keep_upload,
    kept_upload,
    save_photo,
    save_slides,
)
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, EventForm, SpeakerForm, TalkForm, show_error
from server.web.admin.repeats import Once
from server.web.context import own_host, settings


def _media_root():
    return settings().recordings_path


def _form_page(template: str, form, **context) -> str | tuple[str, int]:
    """The form again: with its invitation text rendered when the organiser asked for a
    preview (nothing saved), else as it is (400 after a post that was refused)."""
    if _previewing():
        return render_template(template, form=form, preview=render_markdown(form.invitation_text.data or ""),
                               **context)
    return render_template(template, form=form, **context), 400 if form.is_submitted() else 200


def _previewing() -> bool:
    return request.method == "POST" and "preview" in request.form


def _refused(template: str, form, error: ServiceError, stored: list[str | None], **context) -> tuple[str, int]:
    db.session.rollback()
    for path in stored:
        discard(_media_root(), path)
    show_error(form, error)
    return render_template(template, form=form, **context), error.http_status


def _discard(stored: list[str | None]) -> None:
    """Files this request stored that nothing will refer to (a repeat's copy)."""
    for path in stored:
        discard(_media_root(), path)


def _commit(stored: list[str | None]) -> None:
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        for path in stored:
            discard(_media_root(), path)
        raise


# -- events -------------------------------------------------------------------------------

@bp.route("/events/new", methods=["GET", "POST"])
def new_event() -> Response | str | tuple[str, int]:
    form = EventForm()
    if not _previewing() and form.validate_on_submit():
        once = Once(target=Event)
        if (answer := once.claim()) is not None:
            return answer  # sent twice: the first one's event
        try:
            event = create_event(db.session, title=form.title.data, slug=form.slug.data, starts_on=form.starts_on.data,
                                 ends_on=form.ends_on.data, organiser=form.organiser.data, venue=form.venue.data,
                                 time_zone=form.time_zone.data, invitation_text=form.invitation_text.data)
            programme.record_event_created(db.session, g.actor, event)
        except ServiceError as error:
            return _refused("admin/event_form.html", form, error, [], event=None)
        message, url = (_("The event was created as a draft. Add its talks and speakers, then publish it."),
                        url_for("admin.edit_event", slug=event.slug))
        once.record(url, message, event.id)
        _commit([])
        flash(message, "success")
        return redirect(url, code=303)
    return _form_page("admin/event_form.html", form, event=None)


@bp.route("/events/<slug>", methods=["GET", "POST"])
def edit_event(slug: str) -> Response | str | tuple[str, int]:
    event = get_event(db.session, slug, include_drafts=True)
    form = EventForm(obj=event)
    context = {"event": event, "confirm": ConfirmForm(), "days": programme_days(event.talks, event.time_zone)}
    if not _previewing() and form.validate_on_submit():
        try:
            programme.update_event(db.session, g.actor, event, title=form.title.data, slug=form.slug.data,
                                   starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                                   organiser=form.organiser.data, venue=form.venue.data,
                                   time_zone=form.time_zone.data, invitation_text=form.invitation_text.data)
        except ServiceError as error:
            return _refused("admin/event_form.html", form, error, [], **context)
        _commit([])
        flash(_("Saved."), "success")
        return redirect(url_for("admin.edit_event", slug=event.slug), code=303)
    return _form_page("admin/event_form.html", form, **context)


@bp.post("/events/<slug>/status")
def set_event_status(slug: str) -> Response:
    event = get_event(db.session, slug, include_drafts=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    wanted = request.form.get("status")
    if wanted not in (EventStatus.published.value, EventStatus.draft.value):
        raise ValidationError(_("Choose publish or unpublish."), code="invalid_status")
    try:
        programme.set_event_status(db.session, g.actor, event, EventStatus(wanted))
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("admin.edit_event", slug=event.slug), code=303)
    _commit([])
    if event.status is EventStatus.published:
        flash(_("Published: the event is on the home page, in the feeds and the API."), "success")
    else:
        flash(_("Unpublished: only organisers see the event now."), "success")
    return redirect(url_for("admin.edit_event", slug=event.slug), code=303)


# -- talks --------------------------------------------------------------------------------

def _talk_form(event, talk=None) -> TalkForm:
    form = TalkForm(obj=talk)
    speakers = sorted(event.speakers, key=lambda s: s.name)
    form.speakers.choices = [SelectChoice(speaker.id, speaker.name) for speaker in speakers]
    if talk is not None and not form.is_submitted():
        zone = ZoneInfo(event.time_zone)
        starts, ends = talk.starts_at.astimezone(zone), talk.ends_at.astimezone(zone)
        form.day.data, form.starts.data, form.ends.data = starts.date(), starts.time(), ends.time()
        # astimezone() sets fold=1 on the second of a repeated time: show the choice already made.
        form.starts_fold.data = "later" if starts.fold else "earlier"
        form.ends_fold.data = "later" if ends.fold else "earlier"
        form.speakers.data = [speaker.id for speaker in talk.speakers]
        form.live_state.data = talk.live_state.value
    elif talk is None and not form.is_submitted():
        form.day.data = event.starts_on
    _offer_repeated_times(event, form)
    return form


FOLDS = {"earlier": EARLIER, "later": LATER}


def _offer_repeated_times(event, form: TalkForm) -> None:
    """In the hour the clocks repeat, the form asks which of the two times is meant."""
    for clock, choice in ((form.starts, form.starts_fold), (form.ends, form.ends_fold)):
        options = (repeated_time_choices(form.day.data, clock.data, event.time_zone)
                   if form.day.data and clock.data else [])
        choice.choices = [SelectChoice(name, _repeated_time_label(option, clock.data))
                          for name, option in zip(FOLDS, options, strict=False)]


def _repeated_time_label(option, clock) -> str:
    values = {"time": clock.strftime("%H:%M"), "offset": option.utc_offset}
    if option.fold == EARLIER:
        return (_("The first %(time)s, the earlier (summer time, UTC%(offset)s)", **values) if option.summer_time
                else _("The first %(time)s, the earlier (UTC%(offset)s)", **values))
    return (_("The second %(time)s, the later (winter time, UTC%(offset)s)", **values) if not option.summer_time
            else _("The second %(time)s, the later (UTC%(offset)s)", **values))


def _talk_times(event, form: TalkForm) -> tuple[datetime, datetime]:
    times = []
    for clock, choice in ((form.starts, form.starts_fold), (form.ends, form.ends_fold)):
        try:
            times.append(local_instant(form.day.data, clock.data, event.time_zone, field=clock.name,
                                       fold=FOLDS.get(choice.data)))
        except ValidationError as error:
            if error.code == "time_repeated":
                error.field = choice.name  # the message goes with the choice it asks for
            raise
    return times[0], times[1]


def _chosen_speakers(event, form: TalkForm) -> list[Speaker]:
    by_id = {speaker.id: speaker for speaker in event.speakers}
    return [by_id[speaker_id] for speaker_id in form.speakers.data or [] if speaker_id in by_id]


def _slides_upload(form: TalkForm) -> str | None:
    upload = form.slides_file.data
    if upload is None or not getattr(upload, "filename", ""):
        return None
    return save_slides(upload.stream, _media_root())


def _talk_context(event, talk) -> dict:
    return {"event": event, "talk": talk, "stream": stream_embed(talk, own_host()) if talk else None}


# A PDF chosen on the talk form is verified and kept when the form comes back (a preview, a
# refused save), so that saving afterwards still gives the talk its slides.

def _slides_owner(event, talk) -> str:
    """Whose a kept PDF is: this organiser's (sign-in and browser), on this talk's form."""
    who = session.get("organiser_id") or f"grant-{g.actor.grant_id}"
    return f"{who}:{g.actor.participant_id}:{event.id}:{talk.id if talk is not None else 'new'}"


def _kept_slides(event, talk) -> KeptUpload | None:
    if request.method != "POST" or request.form.get("remove_kept_slides"):
        return None
    return kept_upload(_media_root(), request.form.get("kept_slides"), owner=_slides_owner(event, talk), kind="slides")


def _drop_kept_slides(event, talk) -> None:
    drop_kept(_media_root(), request.form.get("kept_slides"), owner=_slides_owner(event, talk), kind="slides")


def _hold_slides(event, talk, form: TalkForm) -> KeptUpload | None:
    """The form comes back (a preview, a field to correct): a newly chosen PDF is verified now
    and kept (replacing one kept before); otherwise the one kept before stays, unless the
    organiser said not to use it."""
    upload = form.slides_file.data
    if upload is not None and getattr(upload, "filename", ""):
        try:
            stored = save_slides(upload.stream, _media_root())
        except UploadRefused as error:
            show_error(form, error)
            return _kept_slides(event, talk)
        _drop_kept_slides(event, talk)
        return keep_upload(_media_root(), stored, owner=_slides_owner(event, talk), filename=upload.filename)
    if request.form.get("remove_kept_slides"):
        _drop_kept_slides(event, talk)
    return _kept_slides(event, talk)


def _chosen_slides(event, talk, form: TalkForm) -> tuple[str | None, str]:
    """The PDF this save gives the talk: one chosen now, else the one kept from the form
    before; with the name it had on the organiser's computer."""
    new_file = _slides_upload(form)
    if new_file:
        _drop_kept_slides(event, talk)
        return new_file, form.slides_file.data.filename
    kept = _kept_slides(event, talk)
    if kept is None:
        _drop_kept_slides(event, talk)  # "do not use this file", or nothing kept
        return None, ""
    return claim_kept(_media_root(), kept.token, owner=_slides_owner(event, talk), kind="slides"), kept.filename


def _refused_talk(form: TalkForm, error: ServiceError, stored: list[str | None], filename: str,
                  **context) -> tuple[str, int]:
    """The form again after a refused save, with a PDF that passed its check kept, not lost."""
    if stored and stored[-1]:
        owner = _slides_owner(context["event"], context["talk"])
        context["kept_slides"] = keep_upload(_media_root(), stored.pop(), owner=owner, filename=filename)
    elif not isinstance(error, UploadRefused):  # refused before the PDF was looked at: check it now
        context["kept_slides"] = _hold_slides(context["event"], context["talk"], form)
    return _refused("admin/talk_form.html", form, error, stored, **context)


@bp.route("/events/<slug>/talks/new", methods=["GET", "POST"])
def new_talk(slug: str) -> Response | str | tuple[str, int]:
    event = get_event(db.session, slug, include_drafts=True)
    form = _talk_form(event)
    context = _talk_context(event, None)
    saving = not _previewing() and form.validate_on_submit()
    if request.method == "POST":
        # Kept across the form shown again; when saving, shown again only if the save is refused.
        context["kept_slides"] = _kept_slides(event, None) if saving else _hold_slides(event, None, form)
    if saving:
        stored: list[str | None] = []
        filename = ""
        try:
            # The PDF is read and checked before the claim: no write lock is held while it is.
            slides, filename = _chosen_slides(event, None, form)
            stored.append(slides)
        except ServiceError as error:
            return _refused_talk(form, error, stored, filename, **context)
        once = Once(target=Talk)
        if (answer := once.claim()) is not None:
            _discard(stored)
            return answer  # sent twice: the first one's talk
        try:
            starts, ends = _talk_times(event, form)
            talk = create_talk(db.session, event, title=form.title.data, slug=form.slug.data, starts_at=starts,
                               ends_at=ends, speakers=_chosen_speakers(event, form),
                               invitation_text=form.invitation_text.data,
                               stream_url=form.stream_url.data,
                               slides_url=programme.checked_slides_url(form.slides_url.data), own_host=own_host())
            talk.slides_file = stored[-1]
            programme.record_talk_created(db.session, g.actor, talk)
        except ServiceError as error:
            return _refused_talk(form, error, stored, filename, **context)
        message, url = (_("The talk was added to the programme."),
                        url_for("admin.edit_talk", slug=event.slug, talk_slug=talk.slug))
        once.record(url, message, talk.id)
        _commit(stored)
        flash(message, "success")
        return redirect(url, code=303)
    return _form_page("admin/talk_form.html", form, **context)


@bp.route("/events/<slug>/talks/<talk_slug>", methods=["GET", "POST"])
def edit_talk(slug: str, talk_slug: str) -> Response | str | tuple[str, int]:
    talk = get_talk(db.session, slug, talk_slug, include_drafts=True)
    event = talk.event
    form = _talk_form(event, talk)
    context = _talk_context(event, talk)
    saving = not _previewing() and form.validate_on_submit()
    if request.method == "POST":
        # Kept across the form shown again; when saving, shown again only if the save is refused.
        context["kept_slides"] = _kept_slides(event, talk) if saving else _hold_slides(event, talk, form)
    if saving:
        stored: list[str | None] = []
        filename = ""
        try:
            starts, ends = _talk_times(event, form)
            programme.update_talk(db.session, g.actor, talk, title=form.title.data, slug=form.slug.data,
                                  starts_at=starts, ends_at=ends, invitation_text=form.invitation_text.data,
                                  stream_url=form.stream_url.data, slides_url=form.slides_url.data,
                                  speakers=_chosen_speakers(event, form), own_host=own_host(),
                                  live_state=form.live_state.data if "live_state" in request.form else None)
            new_file, filename = _chosen_slides(event, talk, form)
            stored.append(new_file)
            if new_file:
                programme.set_talk_slides_file(db.session, g.actor, talk, new_file)
            elif form.remove_slides_file.data and talk.slides_file:
                programme.set_talk_slides_file(db.session, g.actor, talk, None)
        except ServiceError as error:
            return _refused_talk(form, error, stored, filename, **context)
        _commit(stored)
        flash(_("Saved."), "success")
        return redirect(url_for("admin.edit_talk", slug=event.slug, talk_slug=talk.slug), code=303)
    return _form_page("admin/talk_form.html", form, **context)


@bp.post("/events/<slug>/talks/<talk_slug>/move")
def move_talk(slug: str, talk_slug: str) -> Response:
    talk = get_talk(db.session, slug, talk_slug, include_drafts=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    direction = request.form.get("direction", "")
    try:
        programme.move_talk(db.session, g.actor, talk, direction)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("admin.edit_event", slug=slug, _anchor="programme"), code=303)
    _commit([])
    flash(_("Moved \u201c%(title)s\u201d %(direction)s.", title=talk.title,
            direction=_("up") if direction == "up" else _("down")), "success")
    # Back to the same button, so a keyboard user can press it again.
    return redirect(url_for("admin.edit_event", slug=slug, _anchor=f"move-{talk.slug}-{direction}"), code=303)


# -- speakers -----------------------------------------------------------------------------

def _speaker(event, speaker_id: int) -> Speaker:
    speaker = db.session.get(Speaker, speaker_id)
    if speaker is None or speaker.event_id != event.id:
        abort(404)
    return speaker


def _photo_upload(form: SpeakerForm) -> str | None:
    upload = form.photo.data
    if upload is None or not getattr(upload, "filename", ""):
        return None
    return save_photo(upload.stream, _media_root())


@bp.route("/events/<slug>/speakers/new", methods=["GET", "POST"])
def new_speaker(slug: str) -> Response | str | tuple[str, int]:
    event = get_event(db.session, slug, include_drafts=True)
    form = SpeakerForm()
    context = {"event": event, "speaker": None}
    if form.validate_on_submit():
        stored: list[str | None] = []
        try:
            stored.append(_photo_upload(form))  # resized before the claim: no write lock held meanwhile
        except ServiceError as error:
            return _refused("admin/speaker_form.html", form, error, stored, **context)
        once = Once(target=Speaker)
        if (answer := once.claim()) is not None:
            _discard(stored)
            return answer  # sent twice: the first one's speaker
        try:
            speaker = create_speaker(db.session, event, name=form.name.data, role=form.role.data, bio=form.bio.data,
                                     links=programme.parse_links(form.links.data))
            speaker.photo_path = stored[-1]
            programme.record_speaker_created(db.session, g.actor, speaker)
        except ServiceError as error:
            return _refused("admin/speaker_form.html", form, error, stored, **context)
        message, url = _("The speaker was added."), url_for("admin.edit_event", slug=event.slug, _anchor="speakers")
        once.record(url, message, speaker.id)
        _commit(stored)
        flash(message, "success")
        return redirect(url, code=303)
    return _form_page("admin/speaker_form.html", form, **context)


@bp.route("/events/<slug>/speakers/<int:speaker_id>", methods=["GET", "POST"])
def edit_speaker(slug: str, speaker_id: int) -> Response | str | tuple[str, int]:
    event = get_event(db.session, slug, include_drafts=True)
    speaker = _speaker(event, speaker_id)
    form = SpeakerForm(obj=speaker)
    if not form.is_submitted():
        form.links.data = programme.links_text(speaker.links)
    context = {"event": event, "speaker": speaker}
    if form.validate_on_submit():
        stored: list[str | None] = []
        try:
            programme.update_speaker(db.session, g.actor, speaker, name=form.name.data, role=form.role.data,
                                     bio=form.bio.data, links=form.links.data)
            new_photo = _photo_upload(form)
            stored.append(new_photo)
            if new_photo:
                programme.set_speaker_photo(db.session, g.actor, speaker, new_photo)
            elif form.remove_photo.data and speaker.photo_path:
                programme.set_speaker_photo(db.session, g.actor, speaker, None)
        except ServiceError as error:
            return _refused("admin/speaker_form.html", form, error, stored, **context)
        _commit(stored)
        flash(_("Saved."), "success")
        return redirect(url_for("admin.edit_speaker", slug=event.slug, speaker_id=speaker.id), code=303)
    return _form_page("admin/speaker_form.html", form, **context)


# -- deleting mistakes ----------------------------------------------------------------------

def _confirmed() -> bool:
    return ConfirmForm().validate_on_submit() and request.form.get("confirm") == "yes"


@bp.post("/events/<slug>/talks/<talk_slug>/delete")
def delete_talk(slug: str, talk_slug: str) -> Response:
    talk = get_talk(db.session, slug, talk_slug, include_drafts=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not _confirmed():
        flash(_("Tick the box to confirm that the talk should be deleted."), "error")
        return redirect(url_for("admin.edit_talk", slug=slug, talk_slug=talk_slug, _anchor="delete"), code=303)
    title = talk.title
    try:
        programme.delete_talk(db.session, g.actor, talk)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("admin.edit_talk", slug=slug, talk_slug=talk_slug, _anchor="delete"), code=303)
    _commit([])
    flash(_("The talk \u201c%(title)s\u201d was deleted.", title=title), "success")
    return redirect(url_for("admin.edit_event", slug=slug, _anchor="programme"), code=303)


@bp.post("/events/<slug>/speakers/<int:speaker_id>/delete")
def delete_speaker(slug: str, speaker_id: int) -> Response:
    event = get_event(db.session, slug, include_drafts=True)
    speaker = _speaker(event, speaker_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not _confirmed():
        flash(_("Tick the box to confirm that the speaker should be deleted."), "error")
        return redirect(url_for("admin.edit_speaker", slug=slug, speaker_id=speaker_id, _anchor="delete"), code=303)
    name = speaker.name
    programme.delete_speaker(db.session, g.actor, speaker)
    _commit([])
    flash(_("%(name)s was removed from the speakers.", name=name), "success")
    return redirect(url_for("admin.edit_event", slug=slug, _anchor="speakers"), code=303)
