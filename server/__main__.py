"""`python -m server [command]`: serve Arena, or run one of its commands (--help lists them).

The monkey-patch for the configured async mode (eventlet or gevent) happens first, here and
nowhere else: reading the settings needs only the standard library (server/config.py).
"""

import sys  # noqa: I001

from server.config import patch_for_async_mode  # must run before any other import

if len(sys.argv) < 2 or sys.argv[1] == "serve":
    patch_for_async_mode()

import argparse  # noqa: E402
import resource  # noqa: E402
from datetime import date, datetime  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from server.config import ConfigError, load_settings  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Arena: pages, live chat and recordings for days of talks. "
        "Settings come from config.toml and ARENA_<SECTION>__<KEY> environment variables.",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("serve", help="serve Arena (the default command)")
    commands.add_parser("migrate", help="create or upgrade the database schema (Alembic)")
    demo = commands.add_parser("load-demo", help="add the demo event (Kommunförbundet Norrbotten's day)")
    demo.add_argument("--if-empty", action="store_true", help="only when the database has no event yet")
    demo.add_argument("--date", type=date.fromisoformat, help="the day of the event (default: today)")
    revision = commands.add_parser("db-revision", help="write a new migration from model changes (developers)")
    revision.add_argument("message")
    grant = commands.add_parser("grant-role", help="print a sign-in link for a moderator, speaker or organiser")
    grant.add_argument("role", choices=["moderator", "speaker", "organiser"])
    grant.add_argument("name", help="the person's name, shown beside what they write")
    grant.add_argument("--event", help="the event's slug (moderator; speaker with --talk)")
    grant.add_argument("--talk", help="the talk's slug (speaker)")
    grant.add_argument("--days", type=int, default=7, help="how long the link is valid (default 7)")
    revoke = commands.add_parser("revoke-role", help="withdraw a sign-in link; its holder's connections close")
    revoke.add_argument("grant_id", type=int)
    export = commands.add_parser("export-event", help="write everything of an event (public records) to a ZIP")
    export.add_argument("slug", help="the event's slug")
    export.add_argument("--out", help="the ZIP file to write (default: <slug>-export-<date>.zip here)")
    organiser = commands.add_parser("create-organiser",
                                    help="create an organiser account (password read from standard input)")
    organiser.add_argument("email")
    organiser.add_argument("name")
    reset = commands.add_parser("reset-password", help="set a new password for an organiser (read from standard input)")
    reset.add_argument("email")
    recording = commands.add_parser("import-recording",
                                    help="give a talk its recording: import from a URL, or a video file")
    recording.add_argument("event", help="the event's slug")
    recording.add_argument("talk", help="the talk's slug")
    source = recording.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="YouTube, Vimeo, Facebook, Twitch, a video file or a page with a <video>")
    source.add_argument("--file", help="an MP4 or WebM file on this machine")
    recording.add_argument("--archive", action="store_true", help="keep our own copy of a YouTube/Vimeo/... video")
    recording.add_argument("--captions", help="a WebVTT or SRT file")
    recording.add_argument("--captions-language", default="sv", choices=["sv", "en"])
    recording.add_argument("--publish", action="store_true", help="publish it on the talk's page")
    stream_key = commands.add_parser("stream-key",
                                     help="make a talk's RTMP stream key; print the server URL and the key")
    stream_key.add_argument("event", help="the event's slug")
    stream_key.add_argument("talk", help="the talk's slug")
    stream_key.add_argument("--rotate", action="store_true",
                            help="make a new key even if the talk has one (the old one stops working at once)")
    commands.add_parser("check-config", help="load the settings, report errors, print the effective values")
    mail_test = commands.add_parser("send-test-mail", help="send a test message through [mail] (docs/mail.md)")
    mail_test.add_argument("address", help="where to send it")
    mail_test.add_argument("--language", choices=["sv", "en"], default="sv")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Arena cannot start: {exc}", file=sys.stderr)
        return 2

    command = args.command or "serve"
    if command == "check-config":
        import dataclasses
        import json

        values = dataclasses.asdict(settings)
        values["server"]["secret_key"] = "(set)" if settings.server.secret_key else "(generated in instance/)"
        # Secrets are never printed: only whether they are set.
        for section, key in (("mail", "password"), ("metrics", "token")):
            values[section][key] = "(set)" if values[section][key] else ""
        values["database"]["url"] = _without_password(settings.database.url)
        values["chat"]["message_queue"] = _without_password(settings.chat.message_queue)
        print(json.dumps(values, indent=2))
        return 0

    from server import create_app
    from server.db import db
    from server.migrations import new_revision, upgrade

    app = create_app(settings)
    with app.app_context():
        if command == "migrate":
            upgrade(db.engine)
            print("The database schema is up to date.")
            return 0
        if command == "db-revision":
            new_revision(db.engine, args.message)
            return 0
        if command == "load-demo":
            return _load_demo(db, args, settings)
        if command in ("create-organiser", "reset-password"):
            return _accounts(db, args)
        if command in ("grant-role", "revoke-role"):
            return _roles(db, args, settings, app)
        if command == "export-event":
            return _export(db, args, settings)
        if command == "import-recording":
            return _import_recording(db, args, settings)
        if command == "stream-key":
            return _stream_key(db, args, settings)
        if command == "send-test-mail":
            return _send_test_mail(args, settings)

    return _serve(app, settings)


def _without_password(url: str) -> str:
    """scheme://user:***@host/...: a URL as it may be shown."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _send_test_mail(args, settings) -> int:
    """Check [mail] from the server: one message, or why it could not be sent."""
    from server.i18n import _l
    from server.services import mail
    from server.services.accounts import normalise_email
    from server.services.errors import ServiceError

    if not mail.mail_enabled(settings):
        print("Not sent: [mail] has no host (docs/mail.md).", file=sys.stderr)
        return 1
    try:
        message = mail.compose("test", to=normalise_email(args.address), language=args.language,
                               subject=_l("Arena: a test message"), site=settings.public_base_url)
        message_id = mail.send(settings, message)
    except ServiceError as exc:
        print(f"Not sent: {exc}", file=sys.stderr)
        return 1
    print(f"Sent to {message.to} via {settings.mail.host}:{settings.mail.port}, Message-ID {message_id}.")
    return 0


def _load_demo(db, args, settings) -> int:
    from server.services.demo import database_is_empty, load_demo

    session = db.session
    if args.if_empty and not database_is_empty(session):
        print("The database already has events; the demo event was not added.")
        return 0
    day = args.date or datetime.now(ZoneInfo(settings.time.time_zone)).date()
    try:
        event = load_demo(session, day=day)
        session.commit()
    except Exception as exc:  # a ServiceError says what is wrong in words
        session.rollback()
        print(f"The demo event could not be added: {exc}", file=sys.stderr)
        return 1
    print(f"Added the demo event: {settings.public_base_url}/events/{event.slug}/")
    return 0


def _read_password() -> str:
    """From the terminal without echo, or the first line of standard input (scripts, CI)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("New password (at least 12 characters): ")
        if getpass.getpass("Once more: ") != first:
            raise SystemExit("The two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\n")


def _command_line_actor():
    """Who acted, for the audit log, when it was done from this machine's shell."""
    import getpass
    import socket

    from server.models import Role
    from server.services.roles import Actor

    return Actor(participant_id="command-line", role=Role.organiser,
                 staff_name=f"command line ({getpass.getuser()}@{socket.gethostname()})"[:120])


def _accounts(db, args) -> int:
    from server.services.accounts import create_organiser, set_password
    from server.services.errors import ServiceError

    session = db.session
    try:
        password = _read_password()
        if args.command == "create-organiser":
            organiser = create_organiser(session, email=args.email, name=args.name, password=password,
                                         actor=_command_line_actor())
            done = f"Created organiser {organiser.name} <{organiser.email}>. Sign in at /sign-in."
        else:
            organiser = set_password(session, args.email, password, actor=_command_line_actor())
            done = f"New password set for {organiser.email}."
        session.commit()
    except ServiceError as exc:
        session.rollback()
        print(f"Nothing was changed: {exc}", file=sys.stderr)
        return 1
    print(done)
    return 0


def _roles(db, args, settings, app) -> int:
    from server.db import utcnow
    from server.models import Role
    from server.services import events as event_service
    from server.services.errors import ServiceError
    from server.services.roles import grant_role, revoke_grant, sign_in_token

    session = db.session
    try:
        if args.command == "revoke-role":
            grant = revoke_grant(session, args.grant_id, utcnow(), actor=_command_line_actor())
            session.commit()
            print(f"Withdrawn: grant {grant.id} ({grant.role.value}, {grant.name}).")
            return 0
        event = talk = None
        if args.event:
            event = event_service.get_event(session, args.event, include_drafts=True)
        if args.talk:
            if event is None:
                print("A talk is named with --event EVENT --talk TALK.", file=sys.stderr)
                return 2
            talk = event_service.get_talk(session, event.slug, args.talk, include_drafts=True)
        grant = grant_role(session, role=Role(args.role), name=args.name, now=utcnow(),
                           event=None if talk else event, talk=talk, valid_days=args.days, actor=_command_line_actor())
        session.commit()
    except ServiceError as exc:
        session.rollback()
        print(f"Not granted: {exc}", file=sys.stderr)
        return 1
    token = sign_in_token(app.config["SECRET_KEY"], grant)
    print(f"Grant {grant.id}: {grant.role.value} {grant.name}, valid until {grant.expires_at:%Y-%m-%d %H:%M} UTC.")
    print(f"Sign-in link: {settings.public_base_url}/staff/sign-in/{token}")
    return 0


def _export(db, args, settings) -> int:
    import os
    import tempfile
    from pathlib import Path

    from server.db import utcnow
    from server.services import events as event_service
    from server.services.errors import NotFound
    from server.services.export import write_event_export

    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # One snapshot for every table: a message written meanwhile is in all files or in none.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        event = event_service.get_event(session, args.slug, include_drafts=True)
    except NotFound:
        print(f"Not exported: there is no event with the slug {args.slug!r}.", file=sys.stderr)
        return 1
    now = utcnow()
    day = now.astimezone(ZoneInfo(settings.time.time_zone)).date()
    path = Path(args.out or f"{event.slug}-export-{day.isoformat()}.zip").resolve()
    if not path.parent.is_dir():
        print(f"Not exported: there is no folder {path.parent}.", file=sys.stderr)
        return 1
    # Written beside the target and renamed when complete: never a half-written export.
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            counts = write_event_export(session, event, out, now=now)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
    finally:
        session.rollback()  # read only
    print(f"Exported {event.slug} to {path}")
    for name, count in counts.items():
        print(f"  {name}: {count}")
    return 0


def _import_recording(db, args, settings) -> int:
    """The same services as the admin's recording page, as the command line's organiser."""
    from pathlib import Path

    from server.models import JobState
    from server.services import events as event_service
    from server.services.errors import ServiceError
    from server.services.recordings import edits as recording_edits
    from server.services.recordings import imports as recording_imports

    session = db.session
    actor = _command_line_actor()
    try:
        talk = event_service.get_talk(session, args.event, args.talk, include_drafts=True)
        if args.url:
            job = recording_imports.start_import(session, talk, args.url, archive=args.archive, actor=actor)
            session.commit()
            shown = {"percent": -10}

            def progress(view) -> None:
                if view["state"] == "running" and view["percent"] >= shown["percent"] + 10:
                    shown["percent"] = view["percent"]
                    print(f"  {view['percent']:3d} %  {view['downloaded_bytes']:,} bytes", file=sys.stderr, flush=True)

            limits = recording_imports.ImportLimits.from_settings(settings)
            job = recording_imports.execute_import(session, job.id, limits, notify=progress)
            if job.state is not JobState.succeeded:
                message = recording_imports.job_view(job)["message"]
                print(f"Not imported: {message} ({job.error_code}: {job.error_detail})", file=sys.stderr)
                return 1
            session.refresh(talk)
        else:
            path = Path(args.file)
            if not path.is_file():
                print(f"Not imported: there is no file {path}.", file=sys.stderr)
                return 1
            with open(path, "rb") as fh:
                recording_edits.save_uploaded_video(session, talk, fh, settings=settings, actor=actor)
        if args.captions:
            data = Path(args.captions).read_bytes()
            recording_edits.save_captions(session, talk, data, language=args.captions_language, settings=settings,
                                          actor=actor)
        if args.publish:
            recording_edits.set_published(session, talk, True, actor=actor)
        session.commit()
    except (ServiceError, OSError) as exc:
        session.rollback()
        print(f"Not imported: {exc}", file=sys.stderr)
        return 1
    recording = talk.recording
    print(f"Recording of {talk.title}: {recording.file_path or recording.source_url}"
          f" ({recording.duration_seconds or '?'} s, captions: {recording.captions_path or 'none'},"
          f" {'published' if recording.is_published else 'not published'})")
    return 0


def _stream_key(db, args, settings) -> int:
    """A talk's stream key for the venue's encoder. Only its hash is stored, so a key made
    earlier cannot be printed again: --rotate makes a new one (the old one stops at once)."""
    from server.db import utcnow
    from server.services import events as event_service
    from server.services import stream_keys
    from server.services.errors import NotFound, ServiceError

    session = db.session
    try:
        talk = event_service.get_talk(session, args.event, args.talk, include_drafts=True)
    except NotFound as exc:
        missing = f"there is no event {args.event!r}" if exc.code == "event_not_found" else \
            f"the event {args.event!r} has no talk {args.talk!r}"
        print(f"No key made: {missing}.", file=sys.stderr)
        return 2
    server = stream_keys.server_url(settings)
    existing = stream_keys.active(session, talk.id)
    if existing is not None and not args.rotate:
        session.rollback()
        print(f"The talk already has a stream key (ending in {existing.hint}, made"
              f" {existing.created_at:%Y-%m-%d %H:%M} UTC by {existing.created_by}); only its hash is stored, so it"
              " cannot be shown again. Use --rotate to make a new one (the old one stops working at once).",
              file=sys.stderr)
        print(f"Server: {server}")
        return 1
    try:
        key = stream_keys.make(session, talk, _command_line_actor(), utcnow())
        session.commit()
    except ServiceError as exc:
        session.rollback()
        print(f"No key made: {exc}", file=sys.stderr)
        return 1
    if not settings.ingest.enabled:
        print("Note: RTMP ingest is turned off ([ingest] enabled = false); encoders are refused until it is on.",
              file=sys.stderr)
    print(f"Talk: {talk.title} ({talk.event.slug}/{talk.slug})")
    print(f"Server: {server}")
    print(f"Stream key: {key}")
    print(stream_keys.publish_url(settings, key))
    return 0


def _serve(app, settings) -> int:
    import gc
    import socket

    from server.extensions import socketio

    # A room of thousands needs thousands of sockets: raise the soft limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port, mode = settings.server.host, settings.server.port, settings.server.async_mode
    print(f"Arena is serving on {settings.public_base_url} ({mode})", flush=True)
    _not_ready_on_sigterm(app)
    if mode == "threading":
        import logging

        from server.web.ingest import RedactSecretFilter

        logging.getLogger("werkzeug").addFilter(RedactSecretFilter())
        _start_ingest(app, settings)
        socketio.run(app, host=host, port=port, debug=settings.server.debug, use_reloader=False,
                     allow_unsafe_werkzeug=True)
        return 0

    # Our own listening socket (socketio.run makes one without these options): TCP_NODELAY,
    # inherited by accepted connections, stops Nagle's algorithm holding back the end of a
    # page for the client's delayed ACK (about 40 ms on a kept-alive connection).
    listener = socket.create_server((host, port), backlog=2048, reuse_port=False)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Listening already, so nginx's first callbacks wait in the backlog instead of failing.
    _start_ingest(app, settings)
    # Long-lived objects made at start-up need no scanning: fewer, shorter full collections,
    # each of which would pause every connection of this process.
    gc.collect()
    gc.freeze()
    # Messages in flight outlive two young collections and fill the oldest generation, whose
    # full collections (300,000 objects, up to 200 ms) paused every viewer about every
    # second under chat load (docs/benchmarks.md). Collect the young generation less often.
    gc.set_threshold(100_000, 50, 100)
    # The request log is Arena's own (server/logs.py: no query strings, a request id); the
    # servers' own loggers keep their errors, with the ingest callbacks' secret redacted.
    import logging

    from server.logs import EventletLog
    from server.web.ingest import RedactSecretFilter

    if mode == "eventlet":
        import eventlet.wsgi

        logging.getLogger("eventlet.wsgi").addFilter(RedactSecretFilter())
        # eventlet's WSGI server stops accepting at 1,024 connections by default.
        eventlet.wsgi.server(listener, app, max_size=20000, log=EventletLog(), log_output=True,
                             log_format=EventletLog.ACCESS_MARKER)
    else:
        from gevent import pywsgi

        errors = logging.getLogger("gevent.pywsgi")
        errors.addFilter(RedactSecretFilter())
        pywsgi.WSGIServer(listener, app, log=None, error_log=errors).serve_forever()
    return 0


def _start_ingest(app, settings) -> None:
    """RTMP ingest (server/media/rtmp.py): nginx-rtmp as Arena's child, stopped with it, or the
    system's nginx (ingest.manage_nginx = false). Without it Arena serves everything else."""
    if not settings.ingest.enabled:
        return
    from server.media import rtmp

    if not settings.ingest.manage_nginx:
        # Made now, not at the first callback: the system nginx's configuration needs it first.
        rtmp.callback_secret(settings)
        print(f"RTMP ingest: the system's nginx sends the secret in {settings.instance_dir / 'ingest_secret'} "
              "with its callbacks (docs/ingest.md).", file=sys.stderr, flush=True)
        if not settings.ingest.control_url:
            print("RTMP ingest: the system's nginx answers encoders; set ingest.control_url to its "
                  "rtmp_stat/rtmp_control location so Arena can read and end streams.", file=sys.stderr, flush=True)
            return
        try:
            rtmp.install(app, rtmp.RtmpRuntime(control=rtmp.RtmpControl(settings.ingest.control_url)))
        except ValueError as exc:
            print(f"RTMP ingest: {exc}", file=sys.stderr, flush=True)
        return
    runtime = rtmp.start_managed(settings)
    rtmp.install(app, runtime)
    if runtime is not None and runtime.nginx is not None:
        _stop_on_signal(runtime.nginx)


def _not_ready_on_sigterm(app) -> None:
    """SIGTERM (systemd stopping or restarting the unit): /readyz says "not ready" from then
    on; what SIGTERM did before (stop nginx, end the process) follows unchanged."""
    from server.web.ops import mark_shutting_down

    _on_sigterm(lambda: mark_shutting_down(app))


def _stop_on_signal(nginx) -> None:
    """SIGTERM (systemd, docker stop): stop nginx, then end as before. SIGINT ends through
    KeyboardInterrupt and atexit; SIGKILL through nginx's PR_SET_PDEATHSIG."""
    _on_sigterm(nginx.signal_stop)


def _on_sigterm(callback) -> None:
    """Run `callback` on SIGTERM, then whatever SIGTERM did before: the earlier Python handler,
    or (default or ignored) that disposition again with the signal re-sent to this process."""
    import os
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame) -> None:
        callback()
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)


if __name__ == "__main__":
    sys.exit(main())
