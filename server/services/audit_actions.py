"""What each audit-log code means, in words. The log and the public-records export keep the
codes (`talk.update`, `message.hide`); the admin's audit page and the export's README.txt
say them in Swedish or English from here (`action_words`).

Codes are `thing.verb`. Rows written before that scheme carry older codes (`hide` of a
`message`, `lift_ban`): the log is a public record and is never rewritten, so EARLIER_CODES
keeps each old code with the code it now means, and whatever reads history by code reads
both (`with_earlier`). A key of EARLIER_CODES is an action, or "action:target_type" where
the same old action meant different things for different targets. A code missing here (a
later feature's) is shown as it is.
"""

from __future__ import annotations

from typing import Any

from server.i18n import _l

ACTIONS = {
    "event.create": _l("Created the event"),
    "event.update": _l("Changed the event's details"),
    "event.publish": _l("Published the event"),
    "event.unpublish": _l("Unpublished the event"),
    "event.export": _l("Exported the event's records"),
    "talk.create": _l("Added a talk"),
    "talk.update": _l("Changed a talk"),
    "talk.move": _l("Moved a talk in the programme"),
    "talk.slides": _l("Changed a talk's slides file"),
    "talk.delete": _l("Deleted a talk"),
    "speaker.create": _l("Added a speaker"),
    "speaker.update": _l("Changed a speaker"),
    "speaker.photo": _l("Changed a speaker's photo"),
    "speaker.delete": _l("Removed a speaker"),
    "grant.moderator": _l("Made a moderator link"),
    "grant.speaker": _l("Made a speaker link"),
    "grant.organiser": _l("Made an organiser link"),
    "grant.revoke": _l("Withdrew a link"),
    "message.hide": _l("Hid a chat message"),
    "question.hide": _l("Hid a question"),
    "message.restore": _l("Showed a chat message again"),
    "question.restore": _l("Showed a question again"),
    "participant.ban": _l("Stopped a participant from writing"),
    "participant.unban": _l("Let a participant write again"),
    "talk.room_rules": _l("Changed the rules for chat and questions"),
    "question.state": _l("Changed a question's status"),
    "recording.import": _l("Started importing a recording"),
    "recording.import_cancel": _l("Cancelled a recording import"),
    "recording.imported": _l("A recording was imported"),
    "recording.upload": _l("Uploaded a recording"),
    "recording.captions": _l("Added captions to a recording"),
    "recording.from_live": _l("Used the recording of a live broadcast"),
    "recording.publish": _l("Published a recording"),
    "recording.unpublish": _l("Unpublished a recording"),
    "organiser.create": _l("Added an organiser account"),
    "organiser.password_link": _l("Made a link to choose a password"),
    "organiser.reset_password": _l("Made a link to choose a new password"),
    "organiser.close": _l("Closed an organiser account"),
    "organiser.reopen": _l("Opened an organiser account again"),
    "stream_key.create": _l("Made a stream key for live video from an encoder"),
    "stream_key.rotate": _l("Made a new stream key (the old one stopped working)"),
    "stream_key.revoke": _l("Revoked a stream key"),
    "simulcast.create": _l("Added a destination the live stream is also sent to"),
    "simulcast.update": _l("Changed a destination the live stream is also sent to"),
    "simulcast.delete": _l("Removed a destination the live stream is also sent to"),
    "ingest.refused": _l("Refused an encoder's stream (RTMP)"),
    "ingest.publish": _l("An encoder went live on the talk (RTMP)"),
    "ingest.resume": _l("An encoder came back and its stream continued (RTMP)"),
    "ingest.stop": _l("Ended an encoder's stream from the studio (RTMP)"),
    "ingest.end": _l("An encoder's stream ended (RTMP)"),
}

# The codes of rows written before every action was named thing.verb, and what each is now.
EARLIER_CODES = {
    "hide:message": "message.hide",
    "hide:question": "question.hide",
    "restore:message": "message.restore",
    "restore:question": "question.restore",
    "ban": "participant.ban",
    "lift_ban": "participant.unban",
    "room_rules": "talk.room_rules",
    "question_state": "question.state",
    "recording_import": "recording.import",
    "recording_import_cancel": "recording.import_cancel",
    "recording_imported": "recording.imported",
    "recording_upload": "recording.upload",
    "recording_captions": "recording.captions",
    "recording_from_live": "recording.from_live",
    "recording_publish": "recording.publish",
    "recording_unpublish": "recording.unpublish",
}


def current_code(action: str, target_type: str = "") -> str:
    """The thing.verb code an entry's action means: itself, or what its older code became."""
    return EARLIER_CODES.get(f"{action}:{target_type}") or EARLIER_CODES.get(action) or action


def action_words(action: str, target_type: str = "") -> Any:
    """What an entry's action means, in words (lazy), or None for a code without words yet."""
    return ACTIONS.get(current_code(action, target_type))


def with_earlier(*codes: str) -> tuple[str, ...]:
    """The codes and every older action code that meant one of them: for reading history by
    code (`AuditEntry.action.in_(with_earlier("recording.upload"))`). An old code shared by
    two things (`hide`) needs the target_type checked too."""
    earlier = [key.partition(":")[0] for key, code in EARLIER_CODES.items() if code in codes]
    return tuple(dict.fromkeys([*codes, *earlier]))


# Why the RTMP ingest refused an encoder: the reason of an "ingest.refused" entry
# (server/services/ingest.py PublishRefused).
INGEST_REFUSALS = {
    "unknown_key": _l("Unknown stream key"),
    "revoked_key": _l("The stream key was revoked or replaced by a new one"),
    "talk_not_published": _l("The event or talk is not published"),
    "already_live": _l("The talk was already live (from the studio or another encoder)"),
    "wrong_application": _l("Wrong server address (the path must end in /live)"),
    "ingest_off": _l("Live video from an encoder is turned off on this server"),
    "disk_full": _l("The server is running out of disk space"),
    "stream_not_allowed": _l("The stream was not allowed (resolution, bitrate or format)"),
    "server_error": _l("An error on the server; the encoder may try again in a moment"),
}


# E-mail and passwords (services/mail.py, services/password_reset.py).
ACTIONS.update({
    "grant.mail": _l("Sent a sign-in link by e-mail"),
    "organiser.mail": _l("Sent a link to choose a password by e-mail"),
    "password.set": _l("Chose a password through a colleague's link"),
    "password.reset": _l("Chose a new password through a link sent by e-mail"),
})
