"""Files organisers upload: speaker photos and slide decks.

Each is verified by its content, never its name or the browser's word: a photo must decode
as JPEG, PNG or WebP; a deck must parse as a PDF with at least one page. Sizes are counted
while reading, so a client that lies about Content-Length gains nothing. The server makes
every stored name (a random token), writes to a temporary file beside the target and
renames it only when it is whole: a refused or broken upload leaves no file behind.

A verified file can be kept while its form is shown again (a preview, a refused save), so
the organiser need not choose it a second time: `keep_upload` moves it under
`_uploads/.kept/` (a dotted folder, which /recordings/ never serves) named by an unguessable
token, with a note of whose it is (the owner: one organiser's one form), what the file was
called and when it expires. Only the same owner gets it back (`claim_kept`); expired files
are removed whenever another is kept or claimed.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from server.i18n import _l
from server.services.errors import ValidationError

PHOTO_MAX_BYTES = 5 * 1024 * 1024
SLIDES_MAX_BYTES = 50 * 1024 * 1024
PHOTO_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# A photo is shown at 96 px; anything above this many pixels is a decompression bomb, not a portrait.
PHOTO_MAX_PIXELS = 40_000_000
PHOTO_STORED_SIZE = 800
# Below the recordings folder; event and talk slugs never start with "_", so no clash.
UPLOADS_FOLDER = "_uploads"
KEPT_FOLDER = ".kept"
KEPT_SECONDS = 6 * 3600
_KEPT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class UploadRefused(ValidationError):
    code = "upload_refused"


def read_capped(stream: IO[bytes], max_bytes: int, too_large_message) -> bytes:
    """Read at most max_bytes; one byte more and the upload is refused."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRefused(too_large_message, code="too_large")
    if not data:
        raise UploadRefused(_l("The file is empty."), code="empty_file")
    return data


def save_photo(stream: IO[bytes], media_root: Path) -> str:
    """Verify a speaker photo and store it, re-encoded: the copy we serve carries no camera
    metadata (GPS position, serial numbers) and no bytes we did not make."""
    data = read_capped(stream, PHOTO_MAX_BYTES, _l("The photo is larger than 5 MB."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                if kind not in PHOTO_FORMATS:
                    raise UnidentifiedImageError(kind)
                if probe.width * probe.height > PHOTO_MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
                image.thumbnail((PHOTO_STORED_SIZE, PHOTO_STORED_SIZE))
                out = io.BytesIO()
                if kind == "JPEG":
                    image.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
                else:
                    image.save(out, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(_l("The photo has too many pixels."), code="too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadRefused(_l("The photo must be a JPEG, PNG or WebP image."), code="not_an_image") from None
    return _store(out.getvalue(), media_root, "photos", PHOTO_FORMATS[kind])


def save_slides(stream: IO[bytes], media_root: Path) -> str:
    """Verify a slide deck as a PDF and store it as it came (a PDF is the speaker's own file)."""
    data = read_capped(stream, SLIDES_MAX_BYTES, _l("The slide deck is larger than 50 MB."))
    if not data.lstrip()[:5] == b"%PDF-":
        raise UploadRefused(_l("The slide deck must be a PDF file."), code="not_a_pdf")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise UploadRefused(_l("The PDF is password-protected. Upload a copy without a password."),
                                    code="encrypted_pdf")
            pages = len(reader.pages)
    except UploadRefused:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError):
        raise UploadRefused(_l("The slide deck must be a PDF file."), code="not_a_pdf") from None
    if pages < 1:
        raise UploadRefused(_l("The PDF has no pages."), code="empty_pdf")
    return _store(data, media_root, "slides", ".pdf")


def _store(data: bytes, media_root: Path, kind: str, suffix: str) -> str:
    folder = media_root / UPLOADS_FOLDER / kind
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(18)}{suffix}"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return f"{UPLOADS_FOLDER}/{kind}/{name}"


def discard(media_root: Path, relative: str | None) -> None:
    """Remove a file we stored when the change that referred to it was not committed."""
    if relative and relative.startswith(UPLOADS_FOLDER + "/") and ".." not in relative:
        (media_root / relative).unlink(missing_ok=True)


# -- kept across a form shown again -----------------------------------------------------------

@dataclass(frozen=True)
class KeptUpload:
    token: str
    filename: str  # the name on the organiser's computer: shown, never used as a path
    path: Path


def _kept_folder(media_root: Path) -> Path:
    return media_root / UPLOADS_FOLDER / KEPT_FOLDER


def keep_upload(media_root: Path, stored: str, *, owner: str, filename: str) -> KeptUpload:
    """Move a file we stored and verified (save_slides, save_photo) aside until its form is
    sent again; it is no longer where `stored` says."""
    sweep_kept(media_root)
    folder = _kept_folder(media_root)
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    kind = stored.split("/")[1]
    suffix = Path(stored).suffix
    name = Path(str(filename or "")).name.strip()[:200] or f"file{suffix}"
    note = {"owner": owner, "kind": kind, "suffix": suffix, "filename": name,
            "expires": time.time() + KEPT_SECONDS}
    (folder / f"{token}.json").write_text(json.dumps(note), encoding="utf-8")
    os.replace(media_root / stored, folder / f"{token}{suffix}")
    return KeptUpload(token, name, folder / f"{token}{suffix}")


def kept_upload(media_root: Path, token: str | None, *, owner: str, kind: str) -> KeptUpload | None:
    """The kept file of this token, if it is this owner's, of this kind and not expired."""
    if not token or not _KEPT_TOKEN.match(token):
        return None
    folder = _kept_folder(media_root)
    try:
        note = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = folder / f"{token}{note.get('suffix', '')}"
    if note.get("expires", 0) < time.time():
        sweep_kept(media_root)  # its time is up: gone, whoever asks
        return None
    if note.get("owner") != owner or note.get("kind") != kind or not path.is_file():
        return None
    return KeptUpload(token, str(note.get("filename", "")), path)


def claim_kept(media_root: Path, token: str | None, *, owner: str, kind: str) -> str | None:
    """Put a kept file back among the stored ones, under a new name; its relative path, or None
    when there is no such kept file for this owner."""
    kept = kept_upload(media_root, token, owner=owner, kind=kind)
    if kept is None:
        return None
    folder = media_root / UPLOADS_FOLDER / kind
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(18)}{kept.path.suffix}"
    os.replace(kept.path, folder / name)
    (kept.path.parent / f"{kept.token}.json").unlink(missing_ok=True)
    sweep_kept(media_root)
    return f"{UPLOADS_FOLDER}/{kind}/{name}"


def drop_kept(media_root: Path, token: str | None, *, owner: str, kind: str) -> None:
    """The organiser no longer wants the kept file: remove it."""
    kept = kept_upload(media_root, token, owner=owner, kind=kind)
    if kept is not None:
        kept.path.unlink(missing_ok=True)
        (kept.path.parent / f"{kept.token}.json").unlink(missing_ok=True)


def sweep_kept(media_root: Path) -> None:
    """Remove kept files whose time is up (a form left open, a tab closed)."""
    folder = _kept_folder(media_root)
    if not folder.is_dir():
        return
    now = time.time()
    for entry in folder.iterdir():
        try:
            if entry.suffix == ".json":
                note = json.loads(entry.read_text(encoding="utf-8"))
                if note.get("expires", 0) < now:
                    (folder / f"{entry.stem}{note.get('suffix', '')}").unlink(missing_ok=True)
                    entry.unlink(missing_ok=True)
            elif entry.stat().st_mtime < now - KEPT_SECONDS - 60 and not (folder / f"{entry.stem}.json").exists():
                entry.unlink(missing_ok=True)  # a file whose note was lost
        except (OSError, ValueError):
            continue
