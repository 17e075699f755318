"""Admin: a talk's recording. Import from a URL (with live progress), upload a video, upload
captions, use a go-live recording, publish and unpublish, cancel a running import.

Every POST: form parses -> service checks, changes and audits -> one commit -> redirect with
a flash message (shown in the admin's status region). A refusal rolls back and shows the
page again with the message beside its field.
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, validate_csrf
from flask_wtf.file import FileField
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError as FormValidationError

from server.db import db, utcnow
from server.extensions import csrf
from server.i18n import _, _l
from server.models import ImportJob
from server.services.errors import NotFound, ServiceError
from server.services.events import get_talk
from server.services.golive import finished_live_recordings
from server.services.recordings import edits as recording_edits
from server.services.recordings import imports as recording_imports
from server.web.admin import bp
from server.web.admin.forms import ConfirmForm, show_error
from server.web.admin.repeats import Once
from server.web.context import settings as arena_settings


class ImportForm(FlaskForm):
    url = StringField(_l("Address of the video"), description=_l(
        "YouTube, Vimeo, Facebook or a Twitch video, a video file (MP4 or WebM), or a web page with a video in it."))
    archive = BooleanField(_l("Keep an archive copy on our server"), description=_l(
        "Public bodies keep a copy of what they publish. Files and web pages are always copied; "
        "for YouTube, Vimeo, Facebook and Twitch the page otherwise shows their player."))


class UploadForm(FlaskForm):
    # CSRF is checked by the view itself, after it has raised the size limit for this request.
    class Meta:
        csrf = False

    csrf_token = HiddenField()
    file = FileField(_l("Video file"), description=_l("MP4 or WebM."))


class CaptionsForm(FlaskForm):
    captions = FileField(_l("Captions file"), description=_l("WebVTT (.vtt) or SRT (.srt); SRT is converted."))
    language = SelectField(_l("Language of the captions"), choices=[
        SelectChoice(code, name) for code, name in recording_edits.CAPTION_LANGUAGES.items()])


class LiveRecordingForm(FlaskForm):
    stream_id = HiddenField()


def _talk(slug: str, talk_slug: str):
    return get_talk(db.session, slug, talk_slug, include_drafts=True)


def _page(talk, status: int = 200, **forms) -> tuple[str, int]:
    recording_imports.recover_interrupted(db.session, arena_settings().recordings_path)
    db.session.commit()
    job = recording_imports.job_to_show(db.session, talk)
    settings = arena_settings()
    context = {
        "event": talk.event, "talk": talk, "recording": talk.recording, "job": job,
        "job_view": recording_imports.job_view(job) if job else None,
        "import_form": forms.get("import_form") or ImportForm(formdata=None),
        "upload_form": forms.get("upload_form") or UploadForm(formdata=None),
        "captions_form": forms.get("captions_form") or CaptionsForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "live_recordings": finished_live_recordings(db.session, talk),
        "upload_max_megabytes": settings.media.upload_max_megabytes,
    }
    return render_template("admin/recording.html", **context), status


def _done(talk, message: str) -> Response:
    flash(message, "success")
    return redirect(_page_url(talk), code=303)


def _page_url(talk) -> str:
    return url_for("admin.talk_recording", slug=talk.event.slug, talk_slug=talk.slug)


@bp.get("/events/<slug>/talks/<talk_slug>/recording")
def talk_recording(slug: str, talk_slug: str) -> tuple[str, int]:
    return _page(_talk(slug, talk_slug))


@bp.post("/events/<slug>/talks/<talk_slug>/recording/import")
def recording_import(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(talk, 400, import_form=form)
    once = Once()
    if (answer := once.claim()) is not None:
        return answer  # sent twice: one import
    try:
        job = recording_imports.start_import(db.session, talk, form.url.data, archive=form.archive.data, actor=g.actor)
        once.record(_page_url(talk), _("The import has started. You can follow it here, or leave the page: "
                                       "it continues."))
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(talk, error.http_status, import_form=form)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    app.extensions["arena.admin"].launch_import(app, job.id)
    return _done(talk, _("The import has started. You can follow it here, or leave the page: it continues."))


@bp.post("/events/<slug>/talks/<talk_slug>/recording/cancel/<int:job_id>")
def recording_cancel(slug: str, talk_slug: str, job_id: int) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = ConfirmForm()
    job = db.session.get(ImportJob, job_id)
    if job is None or job.talk_id != talk.id:
        raise NotFound(_l("There is no such import."), code="import_not_found")
    if not form.validate_on_submit():
        return _page(talk, 400)
    try:
        recording_imports.cancel_import(db.session, job, g.actor)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _page(talk, error.http_status)
    return _done(talk, _("The import is being cancelled. Nothing of it is kept."))


@csrf.exempt
@bp.post("/events/<slug>/talks/<talk_slug>/recording/upload")
def recording_upload(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    # A recording is far larger than the app's MAX_CONTENT_LENGTH: raise it for this request
    # only, before anything reads the body; the service counts the bytes against the cap
    # itself. That is why the CSRF token is checked here and not by CSRFProtect (which reads
    # the body first).
    request.max_content_length = arena_settings().media.upload_max_megabytes * 1024 * 1024 + 1024 * 1024
    talk = _talk(slug, talk_slug)
    form = UploadForm()
    try:
        validate_csrf(request.form.get("csrf_token"))
    except FormValidationError:
        raise CSRFError(_("The form was too old or came from another site. Please try again.")) from None
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.file.errors = [_("Choose a video file to upload.")]
        return _page(talk, 400, upload_form=form)
    # Copied and checked before the claim starts the transaction: on SQLite its write lock
    # stops every other writer, and the copy and ffprobe can take minutes.
    try:
        stored = recording_edits.store_uploaded_video(talk, upload.stream, settings=arena_settings(), actor=g.actor)
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(talk, error.http_status, upload_form=form)
    try:
        once = Once()
        if (answer := once.claim()) is not None:
            recording_edits.discard_stored_video(stored)
            return answer  # sent twice: one upload
        recording_edits.record_uploaded_video(db.session, talk, stored, settings=arena_settings(), actor=g.actor)
        once.record(_page_url(talk), _("The video is uploaded and checked."))
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        recording_edits.discard_stored_video(stored)
        show_error(form, error)
        return _page(talk, error.http_status, upload_form=form)
    except BaseException:
        db.session.rollback()
        recording_edits.discard_stored_video(stored)  # nothing refers to it
        raise
    return _done(talk, _("The video is uploaded and checked."))


@bp.post("/events/<slug>/talks/<talk_slug>/recording/captions")
def recording_captions(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = CaptionsForm()
    if not form.validate_on_submit():
        return _page(talk, 400, captions_form=form)
    upload = request.files.get("captions")
    limit = arena_settings().media.captions_max_kilobytes * 1024
    once = Once()
    if (answer := once.claim()) is not None:
        return answer  # sent twice: saved once
    data = upload.stream.read(limit + 1) if upload is not None and upload.filename else b""
    try:
        recording_edits.save_captions(db.session, talk, data, language=form.language.data, settings=arena_settings(),
                                 actor=g.actor)
        once.record(_page_url(talk), _("The captions are saved."))
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_error(form, error)
        return _page(talk, error.http_status, captions_form=form)
    return _done(talk, _("The captions are saved."))


@bp.post("/events/<slug>/talks/<talk_slug>/recording/from-live")
def recording_from_live(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    form = LiveRecordingForm()
    if not form.validate_on_submit() or not str(form.stream_id.data or "").isdigit():
        return _page(talk, 400)
    once = Once()
    if (answer := once.claim()) is not None:
        return answer  # sent twice: used once
    try:
        recording_edits.use_live_recording(db.session, talk, int(form.stream_id.data), actor=g.actor)
        once.record(_page_url(talk), _("The recording of the live broadcast is now the talk's recording."))
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _page(talk, error.http_status)
    return _done(talk, _("The recording of the live broadcast is now the talk's recording."))


@bp.post("/events/<slug>/talks/<talk_slug>/recording/<any(publish, unpublish):action>")
def recording_publish(slug: str, talk_slug: str, action: str) -> Response | tuple[str, int]:
    talk = _talk(slug, talk_slug)
    if not ConfirmForm().validate_on_submit():
        return _page(talk, 400)
    try:
        recording_edits.set_published(db.session, talk, action == "publish", actor=g.actor)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _page(talk, error.http_status)
    if action == "publish" and talk.is_live(utcnow()):
        # While the talk is live its page shows the live stream (Talk.shows_recording): say
        # so, or an organiser who marked the talk live by hand waits for a recording that
        # only appears once the talk is set to Ended.
        return _done(talk, _("The recording is published. The talk is still live, so its page shows the "
                             "live broadcast until the talk has ended; set it to Ended when the broadcast is over."))
    if action == "publish":
        return _done(talk, _("The recording is published on the talk's page."))
    return _done(talk, _("The recording is no longer shown on the talk's page."))

