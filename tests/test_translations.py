"""Tests for the message catalogues in translations/.

Swedish is the default language, so every English msgid needs a Swedish msgstr; English
keeps empty msgstrs (the msgid is the English text). The catalogues must follow the
sources: a string added to server/ or templates/ without running scripts/update-translations
and translating it makes test_catalogue_msgids_match_sources fail with the msgids listed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"
UPDATE_SCRIPT = ROOT / "scripts" / "update-translations"
LANGUAGES = ("sv", "en")
FIX = "run scripts/update-translations, translate in translations/sv/LC_MESSAGES/messages.po"

# A printf conversion as Python's %-operator reads it: %(name)s, %(count)d, %s, %.1f, %%.
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>.)?")


def _catalogue_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _entries(catalog: Catalog) -> list[Message]:
    """The messages proper: no header, no obsolete (#~) entries."""
    return [message for message in catalog if message.id]


def _key(message: Message) -> str:
    """The msgid as the test output shows it: singular | plural, with any context."""
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    text = " | ".join(ids)
    return f"[{message.context}] {text}" if message.context else text


def _strings(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string,)


def _placeholders(text: str) -> list[str]:
    """Every %-conversion in text, sorted, %% included, e.g. ['%%', '%(count)d']."""
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


def _pybabel() -> str | None:
    if os.environ.get("PYBABEL"):
        return os.environ["PYBABEL"]
    beside_python = Path(sys.executable).with_name("pybabel")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("pybabel")


@pytest.fixture(scope="module")
def sv() -> Catalog:
    return _read(_catalogue_path("sv"), locale="sv")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A fresh extraction from the sources, made by the same script the developers run."""
    pybabel = _pybabel()
    if pybabel is None:
        pytest.fail("pybabel not found (make install, or set PYBABEL)")
    output = tmp_path_factory.mktemp("extract") / "messages.pot"
    result = subprocess.run(
        ["bash", str(UPDATE_SCRIPT), "--extract-only", str(output)],
        cwd=ROOT, env={**os.environ, "PYBABEL": pybabel}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"extraction failed:\n{result.stdout}\n{result.stderr}"
    return _read(output)


def _difference_report(name: str, expected: Catalog, actual: Catalog) -> str:
    wanted = {_key(message) for message in _entries(expected)}
    present = {_key(message) for message in _entries(actual)}
    lines = []
    if missing := sorted(wanted - present):
        lines.append(f"msgids in the sources but not in {name}:")
        lines += [f"  {key!r}" for key in missing]
    if stale := sorted(present - wanted):
        lines.append(f"msgids in {name} but no longer in the sources:")
        lines += [f"  {key!r}" for key in stale]
    if lines:
        lines.append(f"Fix: {FIX}.")
    return "\n".join(lines)


# --- the Swedish catalogue is complete ----------------------------------------------------


def test_sv_msgstrs_are_not_empty(sv: Catalog) -> None:
    untranslated = [_key(message) for message in _entries(sv) if not all(s.strip() for s in _strings(message))]
    assert not untranslated, "msgids without a Swedish translation:\n" + "\n".join(f"  {k!r}" for k in untranslated)


def test_sv_entries_are_not_fuzzy(sv: Catalog) -> None:
    # A fuzzy header makes `pybabel compile` skip the whole catalogue.
    assert not sv.fuzzy, "the header of sv/messages.po is marked fuzzy: remove the '#, fuzzy' line"
    fuzzy = [_key(message) for message in _entries(sv) if message.fuzzy]
    assert not fuzzy, "fuzzy entries (check the msgstr, then remove '#, fuzzy'):\n" + "\n".join(
        f"  {k!r}" for k in fuzzy
    )


def test_sv_plural_forms_are_swedish(sv: Catalog) -> None:
    assert sv.num_plurals == 2
    assert sv.plural_expr.replace(" ", "") == "(n!=1)"
    for message in _entries(sv):
        if message.pluralizable:
            assert len(_strings(message)) == 2, f"{_key(message)!r} needs msgstr[0] and msgstr[1]"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_placeholders_match_msgid(language: str) -> None:
    """Each msgstr has exactly the msgid's %(name)s placeholders: a missing one loses
    information, an unknown or mistyped one raises when the string is formatted."""
    mismatches = []
    for message in _entries(_read(_catalogue_path(language), locale=language)):
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        wanted = _placeholders(ids[-1])
        for index, string in enumerate(_strings(message)):
            if not string:  # untranslated: gettext falls back to the msgid (en)
                continue
            if _placeholders(string) != wanted:
                mismatches.append(f"  {_key(message)!r}\n    msgstr[{index}] {string!r}: "
                                  f"has {_placeholders(string)}, msgid has {wanted}")
    assert not mismatches, f"placeholders differ in {language}/messages.po:\n" + "\n".join(mismatches)


def test_catalogue_placeholder_pattern_reads_conversions() -> None:
    assert _placeholders("%(num)d talks by %(name)s, 100%%") == ["%%", "%(name)s", "%(num)d"]
    assert _placeholders("no placeholder") == []


# --- the catalogues follow the sources ----------------------------------------------------


def test_pot_msgids_match_sources(extracted: Catalog) -> None:
    report = _difference_report("translations/messages.pot", extracted, _read(POT))
    assert not report, report


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_msgids_match_sources(extracted: Catalog, language: str) -> None:
    name = f"translations/{language}/LC_MESSAGES/messages.po"
    report = _difference_report(name, extracted, _read(_catalogue_path(language), locale=language))
    assert not report, report


def test_extraction_finds_python_and_template_strings(extracted: Catalog) -> None:
    """Guards babel.cfg and the script's keywords: a broken mapping would extract nothing
    and make every catalogue look current."""
    keys = {_key(message) for message in _entries(extracted)}
    assert "There is nothing at this address." in keys  # server/web, _()
    assert "There is no talk at this address." in keys  # server/services, _l()
    assert "Skip to content" in keys  # templates, _()
    assert "%(num)d talk | %(num)d talks" in keys  # templates, ngettext()
