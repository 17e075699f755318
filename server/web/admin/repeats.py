"""A creating form sent twice creates once (server/services/form_tokens.py).

Templates put `{{ form_token_field() }}` in every form that creates something. Its view
claims the submission before creating anything, and after any slow work on an uploaded
file (copy, check, resize): the claim's write starts the transaction, which must stay short
(SQLite has one writer at a time, for the whole database):

    ... store and check the uploaded file, if any ...
    once = Once(target=Speaker)
    if (answer := once.claim()) is not None:
        discard the stored file; return answer   # a repeat: the first one's redirect and message
    ... create ...
    once.record(url, message, target_id)
    commit; flash(message); redirect(url)

`target`: the model of what the form creates. A repeat whose first result has been deleted
since is no repeat: it creates again.

A form posted without a token (an old page, a script) is handled as before: not recognised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.i18n import _
from server.models import FormToken
from server.services import form_tokens

FIELD = "form_token"
NOT_SUBMITTED = ("csrf_token", FIELD)


def form_token_field() -> Markup:
    """The hidden one-time token. A refused form shown again keeps the token it was sent with:
    nothing was created, and its corrected submission is a new one anyway (other contents)."""
    token = request.form.get(FIELD) if request.method == "POST" else None
    if not token or len(token) > form_tokens.MAX_TOKEN_LENGTH:
        token = form_tokens.new_token()
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token)


def _file_size(upload) -> int:
    stream = upload.stream
    try:
        position = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(position)
        return size
    except (AttributeError, OSError):
        return -1


def _submission_key() -> str | None:
    fields = [(name, value) for name, value in request.form.items(multi=True) if name not in NOT_SUBMITTED]
    files = [(name, f"{upload.filename}:{_file_size(upload)}") for name, upload in request.files.items(multi=True)]
    return form_tokens.submission_key(request.form.get(FIELD), request.path, fields + files)


class Once:
    """One submission of a creating form."""

    def __init__(self, on_repeat: Callable[[FormToken], None] | None = None, *, target: Any = None) -> None:
        self.key = _submission_key()
        self.row: FormToken | None = None
        self.on_repeat = on_repeat
        self.target = target

    def _gone(self, first: FormToken) -> bool:
        """What the first submission created has been deleted (or, for a sign-in link, revoked)
        since: sending the form again then means a new one."""
        if self.target is None or first.target_id is None:
            return False
        created = db.session.get(self.target, first.target_id)
        return created is None or getattr(created, "revoked_at", None) is not None

    def claim(self) -> Response | tuple[str, int] | None:
        """None: go on and create. Else the answer to a repeat: the first one's."""
        if self.key is None:
            return None
        now = utcnow()
        form_tokens.prune(db.engine, now)  # its own short transaction, before this one's claim
        claim = form_tokens.claim(db.session, self.key, now, gone=self._gone)
        if not claim.repeat:
            self.row = claim.row
            return None
        first = claim.row
        if first is None or not first.result_url:  # the first was still being saved after a while
            return render_template("error.html", status=409, message=_(
                "This form was sent twice, and the first is still being saved. Reload the page in a moment.")), 409
        if self.on_repeat is not None:
            self.on_repeat(first)
        if first.message:
            flash(first.message, "success")
        return redirect(first.result_url, code=303)

    def record(self, url: str, message: str = "", target_id: int | None = None) -> None:
        """What this first submission answers; committed with what it created."""
        if self.row is not None:
            form_tokens.record(self.row, result_url=url, message=str(message), target_id=target_id)
