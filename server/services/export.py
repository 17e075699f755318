"""Public-records export (offentlighetsprincipen): everything of one event, as a ZIP of open formats.

Everything said on an event's official channel is an official record, so an organiser must be
able to hand over all of it: the programme, every chat message and question (hidden ones too,
with who hid them, when and why), votes, bans, reports, the audit log, role grants and the
recordings' metadata.

Each table is written twice, as JSON (a list of objects) and as CSV (UTF-8 with BOM, so Excel
shows å, ä and ö; semicolons between fields, so Excel with Swedish settings opens it straight into
columns: `csv_writer`, which the activity report's CSV uses too), with every column of its model:
columns are read from `Model.__table__`, so a column added later is exported without anyone
remembering to. A table added later must be named in EXPORTED_TABLES or NOT_EXPORTED
(tests/test_export.py checks that every table is).

Rows are streamed from the database in batches and spooled to temporary files (on disk once
they grow), so a large event does not have to fit in memory.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any

from flask_babel import force_locale, ngettext
from sqlalchemy import ColumnElement, Table, or_, select
from sqlalchemy.orm import Session

from server.models import (
    AuditEntry,
    Ban,
    ChatMessage,
    Event,
    ImportJob,
    LiveStream,
    Participation,
    Question,
    QuestionVote,
    Recording,
    Report,
    RoleGrant,
    RoomEvent,
    Speaker,
    Talk,
    TalkSpeaker,
    ViewerSample,
)
from server.services import audit
from server.services.audit_actions import ACTIONS, EARLIER_CODES
from server.services.roles import Actor

BATCH_SIZE = 1000
SPOOL_BYTES = 8 * 1024 * 1024
UTF8_BOM = "\ufeff"
# Excel with Swedish (and most European) settings splits a CSV file at its list separator, the
# semicolon; at a comma it puts every row in column A. One dialect for every CSV Arena writes.
CSV_DELIMITER = ";"
# A column whose name says it holds a secret is never exported (a sign-in link is a key, not a record).
SECRET_COLUMN = re.compile(r"token|secret|password|ciphertext|key_hash", re.IGNORECASE)
# Excel runs a cell that starts with one of these as a formula; participants' text must not.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportedTable:
    name: str                                    # the file names: <name>.json and <name>.csv
    table: Table
    rows_of: Callable[[int], ColumnElement[bool]]  # event id -> the condition for this event's rows
    sv: str                                      # what the file holds, for README.txt
    en: str


def _talk_ids(event_id: int):
    return select(Talk.id).where(Talk.event_id == event_id).scalar_subquery()


def _question_ids(event_id: int):
    return select(Question.id).where(Question.talk_id.in_(_talk_ids(event_id))).scalar_subquery()


def _speaker_ids(event_id: int):
    return select(Speaker.id).where(Speaker.event_id == event_id).scalar_subquery()


EXPORTED_TABLES: tuple[ExportedTable, ...] = (
    ExportedTable("talks", Talk.__table__, lambda e: Talk.event_id == e,
                  "Programpunkterna (passen): titel, tider, inbjudningstext, ström, chatt- och frågeregler.",
                  "The talks: title, times, invitation text, stream, chat and question rules."),
    ExportedTable("speakers", Speaker.__table__, lambda e: Speaker.event_id == e,
                  "Talarna: namn, titel, presentation, länkar.",
                  "The speakers: name, role, bio, links."),
    ExportedTable("talk_speakers", TalkSpeaker.__table__,
                  lambda e: or_(TalkSpeaker.talk_id.in_(_talk_ids(e)), TalkSpeaker.speaker_id.in_(_speaker_ids(e))),
                  "Vilka talare som medverkar i vilket pass, i inbjudans ordning.",
                  "Which speakers speak in which talk, in the invitation's order."),
    ExportedTable("chat_messages", ChatMessage.__table__, lambda e: ChatMessage.talk_id.in_(_talk_ids(e)),
                  "Alla chattmeddelanden, även dolda; för dolda: när (hidden_at), av vem (hidden_by) "
                  "och varför (hidden_reason).",
                  "Every chat message, hidden ones too; for hidden ones: when (hidden_at), by whom "
                  "(hidden_by) and why (hidden_reason)."),
    ExportedTable("room_events", RoomEvent.__table__, lambda e: RoomEvent.talk_id.in_(_talk_ids(e)),
                  "Rummets logg per föredrag: varje ändring som deltagarna såg (meddelande, dolt, återställt, "
                  "fråga, regler) numrerad i den ordning den skedde (seq).",
                  "Each talk's room log: every change participants saw (message, hidden, restored, question, "
                  "rules), numbered in the order it happened (seq)."),
    ExportedTable("questions", Question.__table__, lambda e: Question.talk_id.in_(_talk_ids(e)),
                  "Alla frågor till talarna, även anonyma och dolda (med vem som dolde, när och varför), "
                  "med status och antal röster (vote_count).",
                  "Every question to the speakers, anonymous and hidden ones too (with who hid them, "
                  "when and why), with state and number of votes (vote_count)."),
    ExportedTable("question_votes", QuestionVote.__table__, lambda e: QuestionVote.question_id.in_(_question_ids(e)),
                  "Röster på frågor: fråga, deltagar-id, tid.",
                  "Votes on questions: question, participant id, time."),
    ExportedTable("bans", Ban.__table__,
                  lambda e: or_(Ban.event_id == e, Ban.talk_id.in_(_talk_ids(e))),
                  "Avstängningar från att skriva (ett pass eller hela evenemanget), med skäl, "
                  "vem som stängde av och om den hävts.",
                  "Bans from writing (one talk or the whole event), with reason, who banned and whether "
                  "it was lifted."),
    ExportedTable("reports", Report.__table__, lambda e: Report.talk_id.in_(_talk_ids(e)),
                  "Deltagarnas anmälningar av meddelanden och frågor, och om de hanterats.",
                  "Participants' reports of messages and questions, and whether they were handled."),
    ExportedTable("audit_log", AuditEntry.__table__,
                  lambda e: or_(AuditEntry.event_id == e, AuditEntry.talk_id.in_(_talk_ids(e))),
                  "Granskningsloggen: varje ändring i administrationen och varje modereringsåtgärd, "
                  "med vem, vad, när, före och efter.",
                  "The audit log: every admin change and every moderation action, with who, what, when, "
                  "before and after."),
    ExportedTable("role_grants", RoleGrant.__table__,
                  lambda e: or_(RoleGrant.event_id == e, RoleGrant.talk_id.in_(_talk_ids(e))),
                  "Utdelade roller (moderator, talare) för evenemanget: namn, giltighet, återkallelse. "
                  "Inga inloggningslänkar.",
                  "Roles granted for the event (moderator, speaker): name, validity, revocation. "
                  "No sign-in links."),
    ExportedTable("recordings", Recording.__table__, lambda e: Recording.talk_id.in_(_talk_ids(e)),
                  "Inspelningarnas metadata (källa, filnamn, längd, publicering); själva filerna ingår inte.",
                  "The recordings' metadata (source, file name, duration, publication); not the media files."),
    ExportedTable("import_jobs", ImportJob.__table__, lambda e: ImportJob.talk_id.in_(_talk_ids(e)),
                  "Importer av inspelningar från en adress: vem som bad om dem, källan, hur de gick och varför.",
                  "Recording imports from an address: who asked for them, the source, how they went and why."),
    ExportedTable("live_streams", LiveStream.__table__, lambda e: LiveStream.talk_id.in_(_talk_ids(e)),
                  "Sändningar från webbläsarens studio: vem som sände, när, hur länge, hur de slutade "
                  "och inspelningens filnamn; själva filerna ingår inte.",
                  "Broadcasts from the browser's studio: who went live, when, for how long, how they ended "
                  "and the recording's file name; not the media files."),
    ExportedTable("viewer_samples", ViewerSample.__table__, lambda e: ViewerSample.event_id == e,
                  "Flest samtidiga tittare per föredrag och minut (underlag för aktivitetsrapporten).",
                  "The most viewers at once per talk and minute (the activity report's basis)."),
    ExportedTable("participations", Participation.__table__, lambda e: Participation.event_id == e,
                  "Vilka anonyma deltagar-id:n som öppnade varje föredrags chatt och frågor, och när första gången.",
                  "Which anonymous participant ids opened each talk's chat and questions, and when first."),
)
# Tables deliberately left out, and why (README.txt says it too).
NOT_EXPORTED = {
    "events": "event.json",
    "presence": "live viewer counters per server process, overwritten every second: no record of what was said",
    "organisers": "organiser accounts belong to the installation, not to one event (and hold password hashes)",
    "login_attempts": "sign-in attempts to the installation, not to one event",
    "password_reset_requests": "requests for a password reset link to the installation, not to one event",
    "event_old_slugs": "earlier addresses kept to redirect old links; the audit log records each change of address",
    "talk_old_slugs": "earlier addresses kept to redirect old links; the audit log records each change of address",
    "form_tokens": "one-time tokens against a form sent twice, kept a day; what the form did is in the audit log",
    "simulcast_destinations": "where a talk's live stream was also sent, with the channel's encrypted stream key; "
                              "the audit log records each destination added, changed or removed (never the key)",
    "stream_keys": "hashes of the talks' RTMP stream keys, a credential rather than a record; the audit log records "
                   "each key made, replaced or revoked (by its last four characters)",
}


# -- values ---------------------------------------------------------------------------------

def json_value(value: Any) -> Any:
    """A column value as JSON: times in UTC ISO 8601, dates ISO 8601, enums by their value."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # not from a UTCDateTime column; the database keeps UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def csv_cell(value: Any) -> str:
    """A JSON value as a CSV cell: None empty, booleans true/false, lists and dicts as JSON text.
    Text that Excel would run as a formula gets a leading apostrophe (the JSON has it as said)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    return str(value)


def csv_writer(out: IO[str]) -> Any:
    """The one CSV dialect of Arena's files (the export and the activity report): semicolons,
    quotes where needed, CRLF line ends. The caller writes UTF8_BOM first."""
    return csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")


def exported_columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if not SECRET_COLUMN.search(column.name)]


# -- the export -----------------------------------------------------------------------------

def export_event(session: Session, event: Event, *, now: datetime) -> bytes:
    """The whole extract of `event` as the bytes of a ZIP file."""
    buffer = io.BytesIO()
    write_event_export(session, event, buffer, now=now)
    return buffer.getvalue()


def write_event_export(session: Session, event: Event, out: IO[bytes], *, now: datetime) -> dict[str, int]:
    """Write the extract of `event` as a ZIP to `out`; returns the number of rows per table.
    Reads only; the caller decides the transaction (one snapshot: REPEATABLE READ on PostgreSQL)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime given as now; attach a time zone first")
    now = now.astimezone(UTC)
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        event_row = _event_row(session, event.id)
        _write_bytes(archive, "event.json", now,
                     (json.dumps(event_row, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        for spec in EXPORTED_TABLES:
            counts[spec.name] = _write_table(archive, session, spec, event.id, now)
        _write_bytes(archive, "README.txt", now, _readme(event_row, counts, now).encode("utf-8"))
    return counts


def record_export(session: Session, actor: Actor, event: Event, counts: dict[str, int]) -> None:
    """The export in the audit log: who took the extract, and how many rows of each table it
    held. Written after the extract's read snapshot has ended; the caller commits."""
    audit.record(session, actor, "event.export", event, event=event, after={"rows": counts})


def _event_row(session: Session, event_id: int) -> dict[str, Any]:
    table = Event.__table__
    columns = exported_columns(table)
    row = session.execute(select(*(table.c[name] for name in columns)).where(table.c.id == event_id)).mappings().one()
    return {name: json_value(row[name]) for name in columns}


def _rows(session: Session, spec: ExportedTable, event_id: int) -> Iterator[dict[str, Any]]:
    columns = exported_columns(spec.table)
    query = (select(*(spec.table.c[name] for name in columns))
             .where(spec.rows_of(event_id))
             .order_by(*spec.table.primary_key.columns))
    result = session.execute(query, execution_options={"yield_per": BATCH_SIZE})
    for row in result.mappings():
        yield {name: json_value(row[name]) for name in columns}


def _write_table(archive: zipfile.ZipFile, session: Session, spec: ExportedTable, event_id: int,
                 now: datetime) -> int:
    """One pass over the rows writes both files, so JSON and CSV hold the same rows."""
    columns = exported_columns(spec.table)
    count = 0
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as json_spool, \
            tempfile.SpooledTemporaryFile(SPOOL_BYTES) as csv_spool:
        json_text = io.TextIOWrapper(json_spool, encoding="utf-8", newline="\n")
        csv_text = io.TextIOWrapper(csv_spool, encoding="utf-8", newline="")
        csv_text.write(UTF8_BOM)
        writer = csv_writer(csv_text)
        writer.writerow(columns)
        json_text.write("[")
        for row in _rows(session, spec, event_id):
            json_text.write(",\n  " if count else "\n  ")
            json_text.write(json.dumps(row, ensure_ascii=False))
            writer.writerow([csv_cell(row[name]) for name in columns])
            count += 1
        json_text.write("\n]\n" if count else "]\n")
        for spool, text, suffix in ((json_spool, json_text, "json"), (csv_spool, csv_text, "csv")):
            text.flush()
            text.detach()  # the spool stays open for copying
            _copy_into(archive, f"{spec.name}.{suffix}", now, spool)
    return count


def _info(name: str, now: datetime, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = size  # lets zipfile choose ZIP64 for a file over 2 GiB
    info.external_attr = 0o644 << 16
    return info


def _write_bytes(archive: zipfile.ZipFile, name: str, now: datetime, data: bytes) -> None:
    archive.writestr(_info(name, now, len(data)), data)


def _copy_into(archive: zipfile.ZipFile, name: str, now: datetime, spool: IO[bytes]) -> None:
    size = spool.tell()
    spool.seek(0)
    with archive.open(_info(name, now, size), "w") as entry:
        shutil.copyfileobj(spool, entry, 1024 * 1024)


# -- README.txt -----------------------------------------------------------------------------

def _rows_text(language: str, count: int) -> str:
    """"1 rad", "2 rader": the README has a Swedish and an English half, whoever asked for it."""
    with force_locale(language):
        return ngettext("%(num)d row", "%(num)d rows", count)


def _action_lines(language: str) -> list[str]:
    """The audit log's action codes, each with what it means, for README.txt."""
    lines = []
    with force_locale(language):
        for code, words in ACTIONS.items():
            if code.startswith("organiser."):
                continue  # accounts belong to no event, so they are not in an event's extract
            lines.append(f"  {code} – {words}")
        lines += ["", _EARLIER_CODES_HEADING[language]]
        for key, code in EARLIER_CODES.items():
            action, _, target = key.partition(":")
            old = f"{action} (target_type {target})" if target else action
            lines.append(f"  {old} = {code} – {ACTIONS[code]}")
    return lines


# Said in each half of README.txt in its own language, whoever asked for the export.
_EARLIER_CODES_HEADING = {
    "sv": "Äldre rader har äldre koder för samma åtgärder (loggen skrivs aldrig om):",
    "en": "Older rows carry older codes for the same actions (the log is never rewritten):",
}


def _readme(event: dict[str, Any], counts: dict[str, int], now: datetime) -> str:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        "Arena – utdrag ur allmänna handlingar / public-records extract",
        f"{event['title']} ({event['slug']}, {event['starts_on']} – {event['ends_on']})",
        "",
        "SVENSKA",
        "",
        f"Exporterat {stamp} (UTC). Detta är ett fullständigt utdrag av evenemanget: allt som finns "
        "lagrat om det i Arena vid exporttillfället, även dolda chattmeddelanden och frågor. "
        "Inget som sagts har tagits bort eller utelämnats.",
        "",
        "Varje tabell finns i två format med samma rader: .json (en lista av objekt, UTF-8) och .csv "
        "(UTF-8 med BOM så att Excel visar å, ä och ö; semikolon mellan fälten, så att Excel med "
        "svenska inställningar delar upp raden i kolumner; fält som innehåller semikolon, citattecken "
        "eller radbrytningar står inom citattecken; en rubrikrad; en rad per post; listor och "
        "objekt som JSON-text i cellen). Tider anges i UTC enligt ISO 8601. I CSV-filerna har text "
        "som börjar med = + - @ eller tabb fått en inledande apostrof så att Excel inte tolkar den som "
        "en formel; JSON-filerna har texten exakt som den skrevs.",
        "",
        "event.json – evenemanget: titel, arrangör, datum, plats, inbjudningstext, status.",
    ]
    lines += [f"{spec.name}.json / {spec.name}.csv ({_rows_text('sv', counts[spec.name])}) – {spec.sv}"
              for spec in EXPORTED_TABLES]
    lines += ["", "Åtgärderna i audit_log (kolumnen action; target_type och target_id anger vad den gällde, "
              "before och after de värden som ändrades, tider i UTC):", *_action_lines("sv")]
    lines += [
        "",
        "Ingår inte: tabellen presence (tillfälliga tittarräknare per serverprocess, skrivs över varje "
        "sekund), roller som gäller alla evenemang (arrangörer), och inspelningarnas mediefiler.",
        "",
        "ENGLISH",
        "",
        f"Exported {stamp} (UTC). This is a complete extract of the event: everything Arena held about "
        "it at the time of export, hidden chat messages and questions included. Nothing that was said "
        "has been removed or left out.",
        "",
        "Each table comes in two formats with the same rows: .json (a list of objects, UTF-8) and .csv "
        "(UTF-8 with BOM so Excel shows å, ä and ö; semicolons between fields, so Excel with Swedish "
        "settings splits each row into columns; fields that hold a semicolon, a quote or a line break "
        "are quoted; a header row; one row per record; lists and objects as JSON text in the cell). "
        "Times are UTC in ISO 8601. In the CSV files, text starting with = + - @ or a tab has a leading "
        "apostrophe so Excel does not run it as a formula; the JSON files hold the text exactly as written.",
        "",
        "event.json – the event: title, organiser, dates, venue, invitation text, status.",
    ]
    lines += [f"{spec.name}.json / {spec.name}.csv ({_rows_text('en', counts[spec.name])}) – {spec.en}"
              for spec in EXPORTED_TABLES]
    lines += ["", "The actions in audit_log (the action column; target_type and target_id say what it concerned, "
              "before and after the values that changed, times in UTC):", *_action_lines("en")]
    lines += [
        "",
        "Not included: the presence table (transient viewer counters per server process, overwritten "
        "every second), roles that apply to every event (organisers), and the recordings' media files.",
        "",
    ]
    return "\r\n".join(lines)
