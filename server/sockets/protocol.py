"""Every Socket.IO namespace, event name and room name in one place (docs/realtime.md
describes the payloads). Clients and tests import from here, never spell a name twice."""

from __future__ import annotations

LIVE_NAMESPACE = "/live"

# Client -> server (each answers with an ack: {"ok": true, ...} or {"ok": false, "error", "message"}).
JOIN = "join"
SET_NAME = "set_name"
SEND_MESSAGE = "send_message"
ASK_QUESTION = "ask_question"
VOTE = "vote"
REPORT = "report"
# ... for moderators (and, for question states, the talk's speaker).
HIDE = "hide"
RESTORE = "restore"
BAN = "ban"
LIFT_BAN = "lift_ban"
SET_RULES = "set_rules"
SET_QUESTION_STATE = "set_question_state"
# {talk_id, after, before?, limit?} -> {talk_id, events: [{event, data}], head, more}: the room's log
# (docs/realtime.md, "The room's log"): fills a gap, and pages backwards for "Show earlier messages".
HISTORY = "history"

CLIENT_EVENTS = (JOIN, SET_NAME, SEND_MESSAGE, ASK_QUESTION, VOTE, REPORT, HIDE, RESTORE, BAN, LIFT_BAN,
                 SET_RULES, SET_QUESTION_STATE, HISTORY)

# Names Socket.IO itself uses: a client that sends one as an event is refused on every namespace
# (a client "connect" re-ran the connect handler; a client "disconnect" forgot a live connection).
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "__disconnect_final", "message_ack"})

# Server -> client.
MESSAGE = "message"                  # a new chat message
MESSAGE_HIDDEN = "message_hidden"    # {"id"}: take it off the screen
MESSAGE_RESTORED = "message_restored"
QUESTION = "question"                # a new or changed question
QUESTION_HIDDEN = "question_hidden"  # {"id"}
VOTES = "votes"                      # {"talk_id", "counts": {question id: votes}}, batched
RULES = "rules"                      # the room's rules changed
PRESENCE = "presence"                # {"talk_id", "viewers"}, at most once a second
BANNED = "banned"                    # sent to a participant just before their connections close
REPORTED = "reported"                # to moderators: someone reported a message or question
SKIP = "skip"                        # {talk_id, seq}: a log entry this participant may not see
BATCH = "batch"                      # {talk_id, events: [{event, data}]}: entries that came close together
BANS = "bans"                        # to moderators: {talk_id, bans: [Ban]}, the bans in force in the talk now
UNBANNED = "unbanned"                # to a participant whose ban was lifted: {event_id, talk_id}; the page joins again
TALK_LIVE = "talk_live"              # {talk_id, live}: the talk's live status (organiser, studio, clock) changed

# Entries of the room's log: each payload carries "talk_id" and "seq".
LOGGED_EVENTS = (MESSAGE, MESSAGE_HIDDEN, MESSAGE_RESTORED, QUESTION, QUESTION_HIDDEN, RULES)

LIVE_STATE = "live_state"            # {"talk_id", "state", "stream_id", "playlist_url"}: the studio's stream changed

# The studio (server/sockets/studio.py, docs/golive.md): a speaker's browser sends its stream.
STUDIO_NAMESPACE = "/studio"
START = "start"        # {"talk_id", "mime_type"} -> {"stream_id", "next_seq", "state"}
CHUNK = "chunk"        # {"stream_id", "seq", "data": binary} -> {"seq", "next_seq"}
RESUME = "resume"      # {"stream_id"} -> {"stream_id", "next_seq", "state"}, after a dropped connection
END = "end"            # {"stream_id"} -> {"stream_id", "state": "ending"}
STUDIO_EVENTS = (START, CHUNK, RESUME, END)
STREAM_STATE = "stream_state"  # to the studio: {"stream_id", "state", "message", "reason"?, "recording"?}
# Simulcast (server/sockets/simulcast.py): {"talk_id"} -> {"destinations": [destination view]}, joins the
# studio room; then SIMULCAST_STATE brings each change: {"id", "talk_id", "label", "enabled", "state",
# "reason", "next_attempt_at"} (no URL, no key).
WATCH_SIMULCAST = "watch_simulcast"
SIMULCAST_STATE = "simulcast_state"

# Error codes in acks.
E_INVALID_PAYLOAD = "invalid_payload"
E_NOT_JOINED = "not_joined"
E_NAME_REQUIRED = "name_required"
E_COOKIES_REQUIRED = "cookies_required"
E_BANNED = "banned"
E_CHAT_CLOSED = "chat_closed"
E_QUESTIONS_CLOSED = "questions_closed"
E_VOTING_CLOSED = "voting_closed"
E_ALREADY_BANNED = "already_banned"
E_SLOW_MODE = "slow_mode"
E_FLOODING = "flooding"
E_FORBIDDEN = "forbidden"
E_INTERNAL = "internal"
E_PAUSED = "paused"            # the message queue (Redis) is unreachable: nothing stored, retry the same client id
E_UNAVAILABLE = "unavailable"  # the database could not be reached: nothing stored, retry
E_HISTORY_RANGE = "invalid_range"
# ... of the studio.
E_ALREADY_LIVE = "already_live"
E_NOT_PUBLISHING = "not_publishing"
E_CHUNK_TOO_LARGE = "chunk_too_large"
E_OUT_OF_ORDER = "out_of_order"
E_STREAM_FAILED = "stream_failed"
E_UNSUPPORTED_FORMAT = "unsupported_format"


def talk_room(talk_id: int) -> str:
    """Everyone watching a talk (participants and speakers): public payloads."""
    return f"talk:{talk_id}"


def staff_room(talk_id: int) -> str:
    """The talk's moderators: payloads with participant ids and anonymous askers' names."""
    return f"talk:{talk_id}:staff"


def participant_room(participant_id: str) -> str:
    """Every connection of one participant, for ban notices."""
    return f"participant:{participant_id}"


def studio_room(talk_id: int) -> str:
    """The browser(s) of a talk's studio, for the stream's state."""
    return f"studio:{talk_id}"


# -- the admin (namespace /admin, server/sockets/admin.py): organisers only ---------------
ADMIN_NAMESPACE = "/admin"
WATCH_IMPORT = "watch_import"        # client -> server {"talk_id"}: ack {"ok", "job": job view or null}
IMPORT_PROGRESS = "import_progress"  # server -> client: a job view (server/services/recordings/imports.py: job_view)


def admin_talk_room(talk_id: int) -> str:
    """Organisers looking at a talk's recording page: an import's progress."""
    return f"admin:talk:{talk_id}"
