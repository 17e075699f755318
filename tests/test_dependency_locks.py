"""The locks `make run` and `make test` install (pip --require-hashes) against the inputs people
edit: every package named in requirements*.txt is in its lock at the same version, every lock
entry carries hashes, and a package in both locks has one version. So a bump in
requirements.txt without scripts/lock-requirements fails here, not on an operator's machine."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [("requirements.txt", "requirements.lock"), ("requirements-test.txt", "requirements-test.lock")]
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[(?P<extras>[^\]]*)\])?"
                         r"\s*==\s*(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def canonical(name: str) -> str:
    """PEP 503: Flask-Babel, flask_babel and flask.babel are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    version: str
    extras: frozenset[str]
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_input(name: str) -> dict[str, Pin]:
    """A requirements*.txt, following its `-r` lines; every requirement must be an exact pin."""
    pins: dict[str, Pin] = {}
    for raw in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(read_input(line[3:].strip()))
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{name}: {raw!r} is not pinned as name==version"
        extras = frozenset(e.strip().lower() for e in (match["extras"] or "").split(",") if e.strip())
        pins[canonical(match["name"])] = Pin(match["version"], extras)
    return pins


def read_lock(name: str) -> dict[str, Pin]:
    """A lock as scripts/lock-requirements writes it: `name==version ; marker \\`, then its
    `--hash=` lines, then `# via` annotations."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for raw in (ROOT / name).read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        match = REQUIREMENT.match(raw)
        if match:
            extras = frozenset(e.strip().lower() for e in (match["extras"] or "").split(",") if e.strip())
            key = canonical(match["name"])
            assert key not in pins, f"{name}: {match['name']} is locked twice"
            current = pins[key] = Pin(match["version"], extras)
            in_via = False
        elif current is not None and stripped.startswith("--hash="):
            assert HASH.fullmatch(stripped.rstrip(" \\")), f"{name}: {stripped!r} is not a sha256 hash"
            current.hashes.append(stripped.rstrip(" \\"))
        elif current is not None and stripped.startswith("# via"):
            in_via = True
            rest = stripped[len("# via"):].strip()
            if rest:
                current.via.append(rest)
        elif current is not None and in_via and stripped.startswith("#   "):
            current.via.append(stripped[1:].strip())
        elif stripped and not stripped.startswith("#"):
            pytest.fail(f"{name}: line {raw!r} is neither a pin, a hash nor a comment")
    return pins


@pytest.mark.parametrize("source, lock", PAIRS)
def test_every_package_named_in_the_requirements_is_locked_at_the_same_version(source, lock):
    wanted, locked = read_input(source), read_lock(lock)

    drifted = {name: (pin.version, locked[name].version if name in locked else None)
               for name, pin in wanted.items() if name not in locked or locked[name].version != pin.version}

    assert drifted == {}, f"{lock} is stale for {source} (wanted, locked): run scripts/lock-requirements"


@pytest.mark.parametrize("source, lock", PAIRS)
def test_extras_asked_for_in_the_requirements_are_kept_in_the_lock(source, lock):
    # yt-dlp[default] brings yt-dlp-ejs, the YouTube extractor's scripts; psycopg[binary] the driver.
    wanted, locked = read_input(source), read_lock(lock)

    missing = {name: sorted(pin.extras - locked[name].extras) for name, pin in wanted.items()
               if name in locked and pin.extras - locked[name].extras}

    assert missing == {}


@pytest.mark.parametrize("lock", [lock for _, lock in PAIRS])
def test_every_locked_package_has_a_hash(lock):
    locked = read_lock(lock)

    assert locked, f"{lock} locks nothing"
    assert sorted(name for name, pin in locked.items() if not pin.hashes) == []


@pytest.mark.parametrize("source, lock", PAIRS)
def test_lock_keeps_no_package_that_its_requirements_dropped(source, lock):
    # Every locked package is there because an input names it or another locked package needs it.
    wanted, locked = read_input(source), read_lock(lock)

    orphans = sorted(name for name, pin in locked.items() if not pin.via)
    dropped = sorted(name for name, pin in locked.items()
                     if name not in wanted and all(v.startswith(("-r ", "-c ")) for v in pin.via))

    assert orphans == [] and dropped == []


def test_package_in_both_locks_has_one_version():
    run, test = read_lock("requirements.lock"), read_lock("requirements-test.lock")

    assert set(run) <= set(test), "the test lock installs everything Arena runs with"
    assert {name: (pin.version, test[name].version) for name, pin in run.items()
            if pin.version != test[name].version} == {}


def test_javascript_runtime_for_yt_dlp_is_locked_with_it():
    # The YouTube extractor's scripts (yt-dlp-ejs) and their runtime (deno) are bumped together
    # with yt-dlp (docs/dependencies.md); all three must be in the run lock.
    locked = read_lock("requirements.lock")

    assert {"yt-dlp", "yt-dlp-ejs", "deno"} <= set(locked)
    assert "default" in locked["yt-dlp"].extras
