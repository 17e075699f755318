"""The public-records export (offentlighetsprincipen): everything of one event, and nothing of
another, as JSON and CSV in a ZIP. On SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.config import PROJECT_ROOT
from server.db import Base, utcnow
from server.models import (
    AuditEntry,
    Ban,
    ChatMessage,
    ImportJob,
    LiveStream,
    Participation,
    Question,
    QuestionVote,
    Recording,
    Report,
    Role,
    RoleGrant,
    RoomEvent,
    Speaker,
    StreamState,
    Talk,
    TalkSpeaker,
    ViewerSample,
)
from server.services import chat, moderation, qa
from server.services.export import EXPORTED_TABLES, NOT_EXPORTED, export_event
from server.services.roles import Actor, grant_role, sign_in_token
from tests.conftest import STOCKHOLM, at, run_cli

pytestmark = pytest.mark.both_databases

NOW = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
TABLE_FILES = [spec.name for spec in EXPORTED_TABLES]
MODELS = {"talks": Talk, "speakers": Speaker, "talk_speakers": TalkSpeaker, "chat_messages": ChatMessage,
          "questions": Question, "question_votes": QuestionVote, "bans": Ban, "reports": Report,
          "audit_log": AuditEntry, "role_grants": RoleGrant, "recordings": Recording,
          "viewer_samples": ViewerSample, "participations": Participation, "import_jobs": ImportJob,
          "live_streams": LiveStream, "room_events": RoomEvent}
DEMO_SLUG = "sociala-medier-i-offentlig-sektor"
CLIENT_IDS = itertools.count(1)


# -- building events with everything ------------------------------------------------------

def moderator_of(session, event, name: str) -> Actor:
    grant = grant_role(session, role=Role.moderator, name=name, now=utcnow(), event=event)
    return Actor(participant_id=f"p-{grant.id}-mod", role=Role.moderator, staff_name=name, grant_id=grant.id,
                 event_id=event.id)


def say(session, talk, participant: str, name: str, body: str) -> ChatMessage:
    message, _ = chat.post_message(session, talk, participant_id=participant, display_name=name, body=body,
                                   client_id=f"c-{participant}-{next(CLIENT_IDS):04d}", max_length=500)
    session.flush()
    return message


def ask(session, talk, participant: str, name: str, body: str, *, anonymous: bool = False) -> Question:
    question, _ = qa.ask(session, talk, Actor(participant_id=participant), display_name=name, body=body,
                         client_id=f"q-{participant}-{next(CLIENT_IDS):04d}", anonymous=anonymous, max_length=500)
    session.flush()
    return question


@pytest.fixture
def full_event(session, make_event, make_talk, make_speaker):
    """An event with a row in every exported table, and a second event with rows of its own."""
    event = make_event(title="Öppenhet på nätet – Luleå", organiser="Region Västerbotten",
                       invitation_text="Välkommen till en dag om sociala medier i kommunerna.")
    åsa = make_speaker(event, name="Åsa Öberg", role="kommunikatör, Kåge",
                       links=[{"label": "Webbplats", "url": "https://example.se/åsa"}])
    ärling = make_speaker(event, name="Ärling Ytterström")
    opening = make_talk(event, title="Öppning", speakers=[åsa, ärling], starts_at=at(9), ends_at=at(10))
    panel = make_talk(event, title="Panel", speakers=[ärling], starts_at=at(10), ends_at=at(11))
    moa = moderator_of(session, event, "Moa Moderator")
    speaker_grant = grant_role(session, role=Role.speaker, name="Åsa Öberg", now=utcnow(), talk=opening)

    hello = say(session, opening, "p-anna", "Anna", "Hej från Luleå! Hörs ljudet i Kåge?")
    rude = say(session, opening, "p-troll", "Troll", "Något olämpligt")
    formula = say(session, panel, "p-helen", "Helen", '=HYPERLINK("https://evil.example","klicka")')
    moderation.hide(session, rude, opening, moa, "Kränkande språk")

    plain = ask(session, opening, "p-anna", "Anna", "Hur når vi unga på Instagram?")
    secret = ask(session, opening, "p-helen", "Helen", "Får kommunen blockera någon?", anonymous=True)
    spam = ask(session, panel, "p-troll", "Troll", "Köp billiga klockor")
    for voter in ("p-anna", "p-berit", "p-cecilia"):
        qa.vote(session, secret, voter, True)
    qa.vote(session, plain, "p-helen", True)
    qa.set_state(session, plain, opening, moa, "answered")
    moderation.hide(session, spam, panel, moa, "Reklam")

    moderation.ban(session, opening, moa, "p-troll", whole_event=True, reason="Upprepade kränkningar")
    moderation.report(session, opening, "p-anna", message_id=rude.id, reason="Otrevligt")
    moderation.report(session, panel, "p-anna", question_id=spam.id, reason="Reklam")
    session.add(AuditEntry(event_id=event.id, talk_id=None, actor="Olle Organisatör", actor_role="organiser",
                           action="publish", target_type="event", target_id=str(event.id), reason="Klar"))
    session.add(Recording(talk_id=opening.id, source_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                          duration_seconds=3600, published_at=at(12)))
    session.add(RoleGrant(role=Role.organiser, name="Global Organisatör", created_at=utcnow(),
                          expires_at=utcnow() + timedelta(days=1)))

    other = make_event(title="Annan dag", slug="annan-dag")
    other_speaker = make_speaker(other, name="Bertil Annan")
    other_talk = make_talk(other, title="Annat pass", speakers=[other_speaker], starts_at=at(9), ends_at=at(10))
    bertil = moderator_of(session, other, "Bertil Moderator")
    other_message = say(session, other_talk, "p-anna", "Anna", "LÄCKER-INTE meddelande")
    other_question = ask(session, other_talk, "p-anna", "Anna", "LÄCKER-INTE fråga")
    qa.vote(session, other_question, "p-helen", True)
    moderation.hide(session, other_message, other_talk, bertil, "LÄCKER-INTE skäl")
    moderation.ban(session, other_talk, bertil, "p-troll", whole_event=False, reason="LÄCKER-INTE ban")
    moderation.report(session, other_talk, "p-helen", message_id=other_message.id, reason="LÄCKER-INTE")
    session.add(Recording(talk_id=other_talk.id, source_url="https://vimeo.com/1"))
    session.add(ImportJob(talk_id=opening.id, source_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                          requested_by="Olle Organisatör", error_code="not_found"))
    session.add(ImportJob(talk_id=other_talk.id, source_url="https://vimeo.com/2", requested_by="Bertil Moderator"))
    for talk in (opening, other_talk):
        session.add(LiveStream(talk_id=talk.id, state=StreamState.ended, end_reason="ended",
                               publisher_name="Åsa Öberg", video_codec="h264", directory=f"x/{talk.slug}/live/1",
                               archive_directory=f"x/{talk.slug}/archive/1-0f0f", duration_seconds=61.5,
                               archive_path=f"x/{talk.slug}/archive/1-0f0f/recording.mp4"))
    for talk, count in ((opening, 40), (panel, 25), (other_talk, 999)):
        session.add(ViewerSample(talk_id=talk.id, event_id=talk.event_id, minute=at(9, 30), viewers=count))
        session.add(Participation(talk_id=talk.id, event_id=talk.event_id, participant_id="p-anna",
                                  first_seen_at=at(9)))
    session.commit()
    return {"event": event, "other": other, "hello": hello, "rude": rude, "formula": formula, "plain": plain,
            "secret": secret, "spam": spam, "speaker_grant": speaker_grant}


# -- reading an export back ---------------------------------------------------------------

def read_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def read_json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name).decode("utf-8"))


def read_csv(archive: zipfile.ZipFile, name: str) -> tuple[list[str], list[dict[str, str]]]:
    raw = archive.read(name)
    assert raw.startswith(codecs.BOM_UTF8), f"{name} does not start with the UTF-8 BOM"
    reader = csv.DictReader(io.StringIO(raw[len(codecs.BOM_UTF8):].decode("utf-8"), newline=""), delimiter=";")
    return list(reader.fieldnames or []), list(reader)


def as_cell(value: Any) -> str:
    """A JSON value as the export documents it in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return str(value)


def exported_columns(model) -> list[str]:
    """Every column, in table order, except one whose name says it holds a secret."""
    return [c.name for c in model.__table__.columns if not any(w in c.name for w in ("token", "secret", "password"))]


def primary_key(model, row: Any) -> tuple:
    names = [column.name for column in model.__table__.primary_key.columns]
    if isinstance(row, dict):
        return tuple(row[name] for name in names)
    values = (getattr(row, column.key) for column in model.__mapper__.primary_key)
    return tuple(value.isoformat() if isinstance(value, datetime) else value for value in values)


def expected_keys(session, event_id: int) -> dict[str, set[tuple]]:
    """The primary keys of the event's rows, worked out in Python from every row of each table."""
    def all_of(model):
        return list(session.scalars(select(model)))

    talk_ids = {t.id for t in all_of(Talk) if t.event_id == event_id}
    speaker_ids = {s.id for s in all_of(Speaker) if s.event_id == event_id}
    question_ids = {q.id for q in all_of(Question) if q.talk_id in talk_ids}
    belongs = {
        "talks": lambda r: r.event_id == event_id,
        "speakers": lambda r: r.event_id == event_id,
        "talk_speakers": lambda r: r.talk_id in talk_ids or r.speaker_id in speaker_ids,
        "chat_messages": lambda r: r.talk_id in talk_ids,
        "questions": lambda r: r.talk_id in talk_ids,
        "question_votes": lambda r: r.question_id in question_ids,
        "bans": lambda r: r.event_id == event_id,
        "reports": lambda r: r.talk_id in talk_ids,
        "audit_log": lambda r: r.event_id == event_id or r.talk_id in talk_ids,
        "role_grants": lambda r: r.event_id == event_id or r.talk_id in talk_ids,
        "recordings": lambda r: r.talk_id in talk_ids,
        "viewer_samples": lambda r: r.talk_id in talk_ids,
        "participations": lambda r: r.talk_id in talk_ids,
        "import_jobs": lambda r: r.talk_id in talk_ids,
        "live_streams": lambda r: r.talk_id in talk_ids,
        "room_events": lambda r: r.talk_id in talk_ids,
    }
    return {name: {primary_key(MODELS[name], row) for row in all_of(MODELS[name]) if belongs[name](row)}
            for name in TABLE_FILES}


# -- tests --------------------------------------------------------------------------------

def test_every_table_is_exported_or_deliberately_left_out():
    exported = {spec.table.name for spec in EXPORTED_TABLES}

    assert exported | set(NOT_EXPORTED) == set(Base.metadata.tables)
    assert set(TABLE_FILES) == set(MODELS)


def test_export_round_trip_has_exactly_the_events_rows_in_json_and_csv(session, full_event):
    event = full_event["event"]
    expected = expected_keys(session, event.id)

    archive = read_zip(export_event(session, event, now=NOW))

    assert set(archive.namelist()) == ({"event.json", "README.txt"} | {f"{n}.json" for n in TABLE_FILES}
                                       | {f"{n}.csv" for n in TABLE_FILES})
    for name in TABLE_FILES:
        model = MODELS[name]
        rows = read_json(archive, f"{name}.json")
        assert {primary_key(model, row) for row in rows} == expected[name], name
        assert expected[name], f"the fixture should give {name} at least one row"
        assert len(rows) == len(expected[name]), name
        columns = exported_columns(model)
        assert all(list(row) == columns for row in rows), f"{name}: every column, in table order"
        header, csv_rows = read_csv(archive, f"{name}.csv")
        assert header == columns, name
        assert csv_rows == [{key: as_cell(value) for key, value in row.items()} for row in rows], name


def test_export_event_json_is_the_event(session, full_event):
    event = full_event["event"]

    archive = read_zip(export_event(session, event, now=NOW))

    exported = read_json(archive, "event.json")
    assert exported["id"] == event.id and exported["slug"] == event.slug
    assert exported["title"] == "Öppenhet på nätet – Luleå"
    assert exported["starts_on"] == event.starts_on.isoformat() and exported["status"] == "published"
    assert exported["created_at"].endswith("+00:00")


def test_export_hidden_message_carries_who_when_and_why(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    messages = {row["id"]: row for row in read_json(archive, "chat_messages.json")}
    rude, hello = messages[full_event["rude"].id], messages[full_event["hello"].id]
    assert (rude["body"], rude["hidden_by"], rude["hidden_reason"]) == ("Något olämpligt", "Moa Moderator",
                                                                      "Kränkande språk")
    hidden_at = datetime.fromisoformat(rude["hidden_at"])
    assert hidden_at.utcoffset() == timedelta(0) and abs(utcnow() - hidden_at) < timedelta(minutes=5)
    assert (hello["hidden_at"], hello["hidden_by"], hello["hidden_reason"]) == (None, None, None)


def test_export_questions_keep_anonymous_hidden_answered_and_votes(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    questions = {row["id"]: row for row in read_json(archive, "questions.json")}
    plain, secret, spam = (questions[full_event[k].id] for k in ("plain", "secret", "spam"))
    assert secret["anonymous"] is True and secret["display_name"] == "Helen" and secret["vote_count"] == 3
    assert plain["state"] == "answered" and plain["answered_at"] and plain["vote_count"] == 1
    assert (spam["state"], spam["hidden_by"], spam["hidden_reason"]) == ("hidden", "Moa Moderator", "Reklam")
    assert spam["hidden_at"].endswith("+00:00")
    votes = read_json(archive, "question_votes.json")
    assert sorted(v["participant_id"] for v in votes if v["question_id"] == secret["id"]) == [
        "p-anna", "p-berit", "p-cecilia"]
    assert all(set(v) == {"question_id", "participant_id", "created_at"} for v in votes)


def test_export_moderation_records_are_complete(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    bans = read_json(archive, "bans.json")
    assert [(b["participant_id"], b["talk_id"], b["reason"], b["created_by"]) for b in bans] == [
        ("p-troll", None, "Upprepade kränkningar", "Moa Moderator")]
    reports = read_json(archive, "reports.json")
    assert {(r["message_id"], r["question_id"]) for r in reports} == {
        (full_event["rude"].id, None), (None, full_event["spam"].id)}
    actions = sorted(entry["action"] for entry in read_json(archive, "audit_log.json"))
    assert actions == ["message.hide", "participant.ban", "publish", "question.hide", "question.state"]
    hide = next(e for e in read_json(archive, "audit_log.json") if e["target_id"] == str(full_event["rude"].id))
    assert hide["before"] == {"hidden": False, "body": "Något olämpligt"} and hide["reason"] == "Kränkande språk"


def test_export_nothing_of_another_event_leaks_in(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    everything = b"".join(archive.read(name) for name in archive.namelist()).decode("utf-8")
    assert "LÄCKER-INTE" not in everything
    assert "Bertil" not in everything and "annan-dag" not in everything and "vimeo.com" not in everything
    assert "Global Organisatör" not in everything


def test_export_role_grants_carry_no_sign_in_link(app, session, full_event):
    grant = full_event["speaker_grant"]
    token = sign_in_token(app.config["SECRET_KEY"], grant)

    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    grants = read_json(archive, "role_grants.json")
    assert {(g["role"], g["name"]) for g in grants} == {("moderator", "Moa Moderator"), ("speaker", "Åsa Öberg")}
    assert not any("token" in key for g in grants for key in g)
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert token.encode() not in everything and b"test-secret" not in everything


def test_export_swedish_characters_survive_in_json_and_csv(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    raw_json = archive.read("chat_messages.json")
    assert "Hörs ljudet i Kåge?".encode() in raw_json  # ensure_ascii=False: no \\u00f6 escapes
    _, messages = read_csv(archive, "chat_messages.csv")
    assert "Hej från Luleå! Hörs ljudet i Kåge?" in {m["body"] for m in messages}
    _, speakers = read_csv(archive, "speakers.csv")
    åsa = next(s for s in speakers if s["name"] == "Åsa Öberg")
    assert json.loads(åsa["links"]) == [{"label": "Webbplats", "url": "https://example.se/åsa"}]
    assert "Ärling Ytterström" in {s["name"] for s in speakers}


def test_export_csv_defuses_formulas_but_json_keeps_the_text(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    message_id = str(full_event["formula"].id)
    _, messages = read_csv(archive, "chat_messages.csv")
    in_csv = next(m for m in messages if m["id"] == message_id)
    in_json = next(m for m in read_json(archive, "chat_messages.json") if str(m["id"]) == message_id)
    assert in_csv["body"] == '\'=HYPERLINK("https://evil.example","klicka")'
    assert in_json["body"] == '=HYPERLINK("https://evil.example","klicka")'


def test_export_csv_splits_into_columns_in_swedish_excel_like_the_activity_report(session, full_event,
                                                                                   organiser_client):
    event = full_event["event"]

    archive = read_zip(export_event(session, event, now=NOW))
    activity = organiser_client.get(f"/admin/events/{event.slug}/activity.csv")

    # Excel with Swedish settings splits at semicolons: the header line is the columns joined by ";".
    talks_header = archive.read("talks.csv")[len(codecs.BOM_UTF8):].split(b"\r\n", 1)[0].decode("utf-8")
    assert talks_header == ";".join(exported_columns(Talk))
    activity_header = activity.get_data(as_text=True).lstrip("\ufeff").split("\r\n", 1)[0]
    assert activity_header.count(";") == 6 and "," not in activity_header
    readme = archive.read("README.txt").decode("utf-8")
    assert "semikolon" in readme and "semicolons" in readme


def test_export_readme_counts_rows_in_singular_and_plural(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    readme = archive.read("README.txt").decode("utf-8")
    assert "bans.json / bans.csv (1 rad) –" in readme and "bans.json / bans.csv (1 row) –" in readme
    assert "(1 rader)" not in readme and "(1 rows)" not in readme
    talks = len(read_json(archive, "talks.json"))
    assert talks > 1 and f"talks.json / talks.csv ({talks} rader) –" in readme
    assert f"talks.json / talks.csv ({talks} rows) –" in readme


def test_export_readme_is_bilingual_dated_and_lists_every_file(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    readme = archive.read("README.txt").decode("utf-8")
    assert "fullständigt utdrag" in readme and "complete extract" in readme
    assert "2026-11-24T16:30:00Z" in readme
    for name in ["event.json", *(f"{n}.json / {n}.csv" for n in TABLE_FILES)]:
        assert name in readme
    assert archive.getinfo("README.txt").date_time == (2026, 11, 24, 16, 30, 0)


def test_export_event_without_chat_gives_empty_lists_and_header_only_csv(session, make_event, make_talk):
    event = make_event()
    make_talk(event)
    session.commit()

    archive = read_zip(export_event(session, event, now=NOW))

    assert len(read_json(archive, "talks.json")) == 1
    for name in ("chat_messages", "questions", "question_votes", "bans", "reports", "audit_log", "role_grants",
                 "recordings", "speakers", "talk_speakers"):
        assert read_json(archive, f"{name}.json") == [], name
        header, rows = read_csv(archive, f"{name}.csv")
        assert header == exported_columns(MODELS[name]) and rows == [], name
        assert archive.read(f"{name}.csv").count(b"\r\n") == 1, name


def test_export_refuses_a_naive_now(session, make_event):
    event = make_event()

    with pytest.raises(ValueError):
        export_event(session, event, now=datetime(2026, 11, 24, 12, 0))


# -- the command line ---------------------------------------------------------------------

@pytest.fixture
def cli_env(database_url, tmp_path) -> dict[str, str]:
    """The CLI on this test's database (a migrated SQLite copy, or the PostgreSQL schema), demo loaded."""
    env = {"PATH": "/usr/bin:/bin", "ARENA_DATABASE__URL": database_url,
           "ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "instance")}
    for args in (("migrate",), ("load-demo", "--date", "2026-11-24")):
        result = run_cli(env, *args)
        assert result.returncode == 0, result.stderr
    return env


def test_cli_export_event_writes_the_zip_and_prints_the_counts(cli_env, tmp_path):
    out = tmp_path / "utdrag.zip"

    result = run_cli(cli_env, "export-event", DEMO_SLUG, "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and "talks: " in result.stdout and "chat_messages: 0" in result.stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        assert read_json(archive, "event.json")["slug"] == DEMO_SLUG
        talks = read_json(archive, "talks.json")
    assert talks and f"talks: {len(talks)}" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_cli_export_event_unknown_slug_exits_1_with_a_message(cli_env, tmp_path):
    out = tmp_path / "utdrag.zip"

    result = run_cli(cli_env, "export-event", "finns-inte", "--out", str(out))

    assert result.returncode == 1
    assert "finns-inte" in result.stderr and "no event" in result.stderr
    assert not out.exists() and list(tmp_path.glob("*.zip")) == []


def test_cli_export_event_default_name_is_slug_and_date_in_the_current_folder(cli_env, tmp_path):
    folder = tmp_path / "here"
    folder.mkdir()
    today = datetime.now(STOCKHOLM).date()

    result = subprocess.run([sys.executable, "-m", "server", "export-event", DEMO_SLUG], cwd=folder,
                            capture_output=True, text=True, timeout=120,
                            env={**cli_env, "PYTHONPATH": str(PROJECT_ROOT)})

    assert result.returncode == 0, result.stderr
    names = [p.name for p in folder.iterdir()]
    assert names in ([f"{DEMO_SLUG}-export-{today.isoformat()}.zip"],
                     [f"{DEMO_SLUG}-export-{(today + timedelta(days=1)).isoformat()}.zip"])
    assert os.path.join(str(folder), names[0]) in result.stdout


def test_export_readme_says_what_each_audit_action_code_means_in_both_languages(session, full_event):
    archive = read_zip(export_event(session, full_event["event"], now=NOW))

    readme = archive.read("README.txt").decode("utf-8")
    assert "  talk.update – Ändrade ett pass" in readme and "  talk.update – Changed a talk" in readme
    assert "  message.hide – Dolde ett chattmeddelande" in readme
    assert "  recording.publish – Published a recording" in readme
    # Rows written before the thing.verb codes keep their older codes: the README reads them too.
    assert "  hide (target_type message) = message.hide – Dolde ett chattmeddelande" in readme
    assert "  recording_publish = recording.publish – Published a recording" in readme
    assert "organiser.create" not in readme
