"""The audit log has one writer (server/services/audit.py), called by services only, and reads
rows written under the older action codes as well as the thing.verb ones."""

from __future__ import annotations

import ast
from datetime import UTC
from pathlib import Path

from server.models import AuditEntry
from server.services import audit
from server.services.audit_actions import ACTIONS, EARLIER_CODES, action_words, current_code, with_earlier
from tests.test_admin import SV, audit_table_rows, page

SERVER = Path(__file__).resolve().parent.parent / "server"


def _writes_audit_rows(tree: ast.AST) -> list[str]:
    """Where a module builds an AuditEntry, imports the audit writer, or calls a `record` or
    `audit` function of a module (programme.audit, audit.record)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "AuditEntry":
                found.append(f"line {node.lineno}: AuditEntry(...)")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
                    (func.value.id, func.attr) in {("audit", "record"), ("programme", "audit")}):
                found.append(f"line {node.lineno}: {func.value.id}.{func.attr}(...)")
        if isinstance(node, ast.ImportFrom) and node.module == "server.services.audit":
            found.append(f"line {node.lineno}: from server.services.audit import ...")
        if isinstance(node, ast.ImportFrom) and node.module == "server.services" and any(
                alias.name == "audit" for alias in node.names):
            found.append(f"line {node.lineno}: from server.services import audit")
    return found


def test_audit_rows_are_written_by_services_only():
    faces = [path for path in SERVER.rglob("*.py")
             if not path.is_relative_to(SERVER / "services") and not path.is_relative_to(SERVER / "models")
             and "migrations" not in path.parts]
    assert len(faces) > 20  # the web, socket and command-line faces were found

    offenders = {str(path.relative_to(SERVER)): found for path in faces
                 if (found := _writes_audit_rows(ast.parse(path.read_text(encoding="utf-8"))))}

    assert offenders == {}


def test_every_new_code_is_thing_dot_verb_and_every_older_code_means_a_current_one():
    assert all("." in code and ":" not in code for code in ACTIONS)
    assert set(EARLIER_CODES.values()) <= set(ACTIONS)
    assert current_code("hide", "question") == "question.hide"
    assert current_code("lift_ban", "participant") == "participant.unban"
    assert current_code("talk.update", "talk") == "talk.update"
    assert str(action_words("hide", "message")) == str(action_words("message.hide", "message"))


def test_reading_history_by_code_finds_the_older_rows_too(session, make_event, make_talk):
    from sqlalchemy import select

    event = make_event()
    talk = make_talk(event)
    session.add(AuditEntry(event_id=event.id, talk_id=talk.id, actor="Karin", actor_role="organiser",
                           action="recording_upload", target_type="recording", target_id="1"))
    audit.record(session, None, "recording.upload", talk=talk, target_type="recording", target_id=2,
                 actor_label="Karin", actor_role="organiser")
    session.flush()

    found = session.scalars(select(AuditEntry.target_id).where(
        AuditEntry.action.in_(with_earlier("recording.upload"))).order_by(AuditEntry.id)).all()

    assert found == ["1", "2"]


def test_audit_page_says_older_and_newer_codes_in_the_same_words(organiser_client, make_event, make_talk,
                                                                 session):
    event = make_event()
    talk = make_talk(event, title="Skapa arenor!")
    # One row as it was written before the thing.verb codes, one as it is written now.
    session.add(AuditEntry(event_id=event.id, talk_id=talk.id, actor="Moa Moderator", actor_role="moderator",
                           action="lift_ban", target_type="participant", target_id="p-troll",
                           before={"ban_id": 1, "scope": "talk"}, after={"lifted": True}))
    session.add(AuditEntry(event_id=event.id, talk_id=talk.id, actor="Moa Moderator", actor_role="moderator",
                           action="hide", target_type="question", target_id="7", after={"hidden": True}))
    session.flush()
    audit.record(session, None, "question.hide", talk=talk, target_type="question", target_id=8,
                 after={"hidden": True}, actor_label="Moa Moderator", actor_role="moderator")
    session.commit()

    body = page(organiser_client.get(f"/admin/events/{event.slug}/audit", headers=SV))
    rows = audit_table_rows(body)

    assert [row[2].split(":")[0] for row in rows] == ["Dolde en fråga", "Dolde en fråga",
                                                       "Lät en deltagare skriva igen"]
    assert "lift_ban" not in body and "question.hide" not in body


def test_a_role_link_made_and_withdrawn_by_someone_is_recorded_once_each(session, make_event, make_talk):
    from datetime import datetime

    from sqlalchemy import select

    from server.models import Role
    from server.services.roles import Actor, grant_role, revoke_grant

    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    karin = Actor(participant_id="k", role=Role.organiser, staff_name="Karin Kommunikatör")
    talk = make_talk(make_event())
    grant = grant_role(session, role=Role.speaker, name="Sara Talare", now=now, talk=talk, actor=karin)
    revoke_grant(session, grant.id, now, actor=karin)
    revoke_grant(session, grant.id, now, actor=karin)  # a second press changes nothing
    session.flush()

    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()

    assert [(r.action, r.actor, r.talk_id, r.target_type) for r in rows] == [
        ("grant.speaker", "Karin Kommunikatör", talk.id, "rolegrant"),
        ("grant.revoke", "Karin Kommunikatör", talk.id, "rolegrant")]
    assert (rows[1].before["revoked_at"], rows[1].after["revoked_at"]) == (None, now.isoformat())


def test_closing_and_reopening_an_account_are_recorded_once_each(session):
    from datetime import datetime

    from sqlalchemy import select

    from server.models import Role
    from server.services.accounts import create_organiser, set_disabled
    from server.services.roles import Actor

    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    karin = Actor(participant_id="k", role=Role.organiser, staff_name="Karin Kommunikatör")
    create_organiser(session, email="karin@kommun.se", name="Karin Kommunikatör", password="ett långt lösenord 1")
    olle = create_organiser(session, email="olle@kommun.se", name="Olle", password="ett långt lösenord 2",
                            actor=karin)
    set_disabled(session, olle, disabled=True, by=None, now=now, actor=karin)
    set_disabled(session, olle, disabled=True, by=None, now=now, actor=karin)  # closed already: nothing
    set_disabled(session, olle, disabled=False, by=None, now=now, actor=karin)
    session.flush()

    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()

    assert [(r.action, r.target_id) for r in rows] == [
        ("organiser.create", str(olle.id)), ("organiser.close", str(olle.id)), ("organiser.reopen", str(olle.id))]
    assert rows[1].after["disabled_at"] == now.isoformat() and "password_hash" not in rows[0].after
