"""RTMP ingest through the nginx-rtmp that a real Arena server starts
(server/media/rtmp.py, server/web/ingest.py, server/services/ingest.py).

Real ffmpeg publishes a test pattern with a tone over RTMP to the port the server was given;
nginx asks Arena (on_publish) and refuses what Arena refuses. The callbacks answer only
nginx: loopback and the shared secret. nginx is Arena's child: it is started again when it
dies and never outlives Arena.

nginx with Debian's RTMP module and ffmpeg come from Debian (`make test` installs them):
missing, they are a failed set-up, not a reason to skip.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.media import rtmp
from server.models import AuditEntry, EventStatus, LiveState, LiveStream, Role, Talk
from server.services import stream_keys
from server.services.events import create_event, create_talk
from server.services.roles import Actor
from tests.conftest import LiveServer, at, free_port, start_live_server
from tests.waiting import wait_until

EVENT_NUMBERS = itertools.count(1)
ORGANISER = Actor(participant_id="test", role=Role.organiser, staff_name="Karin Kommunikatör")


@dataclass
class Ingest:
    server: LiveServer
    engine: Engine
    instance: Path
    # Every key a test presented: none may be in a log.
    presented: list[str] = field(default_factory=list)

    @property
    def rtmp_port(self) -> int:
        return int(self.server.env["ARENA_INGEST__RTMP_PORT"])

    def url(self, key: str, application: str = "live") -> str:
        self.presented.append(key)
        return f"rtmp://127.0.0.1:{self.rtmp_port}/{application}/{key}"

    def secret(self) -> str:
        return (self.instance / "ingest_secret").read_text().strip()

    def key_for(self, *, published: bool = True) -> tuple[int, str]:
        """A talk of a new event of its own, published or a draft, and a key for it."""
        with Session(self.engine, expire_on_commit=False) as session:
            n = next(EVENT_NUMBERS)
            event = create_event(session, title=f"RTMP-dag {n}", slug=f"rtmp-dag-{n}", starts_on=at(9).date(),
                                 status=EventStatus.published if published else EventStatus.draft)
            talk = create_talk(session, event, title="Skapa arenor", slug="skapa-arenor", starts_at=at(10),
                               ends_at=at(11))
            session.flush()
            key = stream_keys.make(session, talk, ORGANISER, utcnow())
            session.commit()
            return talk.id, key

    def refusals(self, **where) -> list[AuditEntry]:
        with Session(self.engine) as session:
            query = select(AuditEntry).where(AuditEntry.action == "ingest.refused").order_by(AuditEntry.id)
            for name, value in where.items():
                query = query.where(getattr(AuditEntry, name) == value)
            return list(session.scalars(query))

    def attempts(self, **where) -> int:
        """Refused tries: repeats from one address for one reason are one entry with a count."""
        return sum(entry.after.get("count", 1) for entry in self.refusals(**where))

    def nginx_pid(self) -> int | None:
        try:
            pid = int((self.instance / "ingest" / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if running(pid) else None


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def rtmp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def publish(url: str, seconds: float = 4) -> subprocess.Popen:
    """ffmpeg sends testsrc2 with a tone, H.264 with a keyframe every second, AAC, as FLV."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30",
         "-c:a", "aac", "-b:a", "64k", "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def refused(process: subprocess.Popen) -> bool:
    """ffmpeg gave up: nginx closed the connection it was publishing on."""
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return process.returncode != 0


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    tmp = tmp_path_factory.mktemp("ingest")
    # debug: the request log is on, so the test sees that it never shows the secret.
    server = start_live_server(tmp, extra_env={"ARENA_SERVER__DEBUG": "true"})
    engine = create_engine(server.env["ARENA_DATABASE__URL"])
    here = Ingest(server, engine, tmp / "instance")
    try:
        wait_until(lambda: rtmp_answers(here.rtmp_port), timeout=60,
                   message=lambda: f"nginx-rtmp never answered: {server.log()}")
        yield here
    finally:
        server.stop()
        engine.dispose()


# -- refusals -------------------------------------------------------------------------------------

def test_publish_with_wrong_key_is_refused_and_audited_with_address(ingest: Ingest) -> None:
    wrong = secrets.token_urlsafe(32)

    encoder = publish(ingest.url(wrong))

    assert refused(encoder), "nginx let a wrong key publish"
    entry = wait_until(lambda: ingest.refusals(reason="unknown_key"), message="the refusal was not audited")[-1]
    assert entry.after["address"] == "127.0.0.1"
    assert entry.talk_id is None
    assert wrong not in repr((entry.actor, entry.after, entry.reason, entry.target_id))


def test_publish_for_talk_not_published_is_refused(ingest: Ingest) -> None:
    talk_id, key = ingest.key_for(published=False)

    encoder = publish(ingest.url(key))

    assert refused(encoder), "nginx let a draft event's talk go live"
    entry = wait_until(lambda: ingest.refusals(talk_id=talk_id), message="the refusal was not audited")[-1]
    assert entry.reason == "talk_not_published"
    assert entry.after["address"] == "127.0.0.1"
    assert entry.after["key_hint"] == key[-4:]
    with Session(ingest.engine) as session:
        assert session.get(Talk, talk_id).live_state is not LiveState.live
        assert session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).first() is None


def test_publish_to_another_application_is_refused(ingest: Ingest) -> None:
    talk_id, key = ingest.key_for()

    encoder = publish(ingest.url(key, application="other"))

    assert refused(encoder), "nginx took a stream outside /live"
    with Session(ingest.engine) as session:
        assert session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).first() is None


def test_callback_without_the_secret_is_forbidden(ingest: Ingest) -> None:
    talk_id, key = ingest.key_for()
    ingest.presented.append(key)
    form = {"app": "live", "name": key, "addr": "127.0.0.1", "clientid": "7", "call": "publish"}
    before = len(ingest.refusals())

    missing = requests.post(f"{ingest.server.url}/_ingest/on_publish", data=form, timeout=30)
    wrong = requests.post(f"{ingest.server.url}/_ingest/on_publish?secret=guess", data=form, timeout=30)
    # Through a reverse proxy (its connection is from loopback too), even with the secret.
    proxied = requests.post(f"{ingest.server.url}/_ingest/on_publish?secret={ingest.secret()}", data=form,
                            headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    done = requests.post(f"{ingest.server.url}/_ingest/on_publish_done", data=form, timeout=30)

    assert [missing.status_code, wrong.status_code, proxied.status_code, done.status_code] == [403] * 4
    assert len(ingest.refusals()) == before  # nobody got as far as the key
    with Session(ingest.engine) as session:
        assert session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).first() is None


def test_callback_from_another_address_is_forbidden(app, client, session) -> None:
    secret = rtmp.callback_secret(app.extensions["arena.settings"])
    form = {"app": "live", "name": secrets.token_urlsafe(32), "addr": "203.0.113.9", "clientid": "1"}

    outside = client.post(f"/_ingest/on_publish?secret={secret}", data=form,
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})
    # The same from loopback passes the gate: the unknown key is refused and audited.
    inside = client.post(f"/_ingest/on_publish?secret={secret}", data=form,
                         environ_base={"REMOTE_ADDR": "127.0.0.1"})

    assert outside.status_code == 403 and inside.status_code == 403
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "ingest.refused")).all()
    assert [(entry.reason, entry.after["address"]) for entry in entries] == [("unknown_key", "203.0.113.9")]


def test_callback_with_wrong_application_is_refused(app, client, session) -> None:
    secret = rtmp.callback_secret(app.extensions["arena.settings"])
    form = {"app": "other", "name": secrets.token_urlsafe(32), "addr": "198.51.100.4", "clientid": "3"}

    answer = client.post(f"/_ingest/on_publish?secret={secret}", data=form, environ_base={"REMOTE_ADDR": "::1"})

    assert answer.status_code == 403
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "ingest.refused")).one()
    assert (entry.reason, entry.after["address"]) == ("wrong_application", "198.51.100.4")


def test_callback_with_revoked_key_is_refused_with_its_reason(app, client, session, make_event, make_talk) -> None:
    talk = make_talk(make_event())
    key = stream_keys.make(session, talk, ORGANISER, utcnow())
    stream_keys.make(session, talk, ORGANISER, utcnow())  # rotated: the first key stops working
    session.commit()
    secret = rtmp.callback_secret(app.extensions["arena.settings"])

    answer = client.post(f"/_ingest/on_publish?secret={secret}", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                         data={"app": "live", "name": key, "addr": "192.0.2.7", "clientid": "12"})

    assert answer.status_code == 403
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "ingest.refused")).one()
    assert (entry.reason, entry.talk_id, entry.after["address"]) == ("revoked_key", talk.id, "192.0.2.7")
    assert (entry.after["key_hint"], entry.after["revoke_reason"]) == (key[-4:], "rotated")
    assert key not in repr((entry.actor, entry.after, entry.reason))


def post_wrong_key(client, secret: str, address: str, app_name: str = "live"):
    return client.post(f"/_ingest/on_publish?secret={secret}", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                       data={"app": app_name, "name": secrets.token_urlsafe(32), "addr": address, "clientid": "5"})


def test_callback_refusals_repeated_from_one_address_are_one_entry_with_a_count(app, client, session) -> None:
    secret = rtmp.callback_secret(app.extensions["arena.settings"])

    answers = [post_wrong_key(client, secret, "198.51.100.9").status_code for _ in range(5)]
    answers.append(post_wrong_key(client, secret, "198.51.100.9", app_name="other").status_code)

    assert answers == [403] * 6
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "ingest.refused")
                              .order_by(AuditEntry.id)).all()
    assert [(e.reason, e.after["address"], e.after["count"]) for e in entries] == [
        ("unknown_key", "198.51.100.9", 5), ("wrong_application", "198.51.100.9", 1)]
    assert entries[0].after["last_seen"] >= entries[0].created_at.isoformat(timespec="seconds")


def test_callback_refusals_over_the_budget_of_an_address_are_refused_unwritten_and_logged_once(
        app, client, session, caplog) -> None:
    from server.web.ingest import RefusalBudget

    app.extensions["arena.ingest_refusal_budget"] = RefusalBudget(per_minute=3)
    secret = rtmp.callback_secret(app.extensions["arena.settings"])

    with caplog.at_level("WARNING", logger="server.web.ingest"):
        flood = [post_wrong_key(client, secret, "203.0.113.66").status_code for _ in range(8)]
        other = post_wrong_key(client, secret, "203.0.113.67").status_code

    assert flood == [403] * 8 and other == 403
    counts = {e.after["address"]: e.after["count"]
              for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "ingest.refused"))}
    assert counts == {"203.0.113.66": 3, "203.0.113.67": 1}
    held_back = [r.getMessage() for r in caplog.records if "over 3 a minute" in r.getMessage()]
    assert held_back == ["RTMP publish refusals from 203.0.113.66 over 3 a minute: refused without an audit "
                         "entry (1 so far this minute)"]


def test_refusal_budget_starts_again_after_a_minute() -> None:
    from server.web.ingest import RefusalBudget

    budget = RefusalBudget(per_minute=2)

    taken = [budget.take("192.0.2.1", now=t)[0] for t in (0, 1, 2, 59, 60.5)]

    assert taken == [True, True, False, False, True]


# -- the accepted publish (briefly: H5's viewer test and the studio's tests go further) -------------

def test_accepted_publish_makes_the_talk_live(ingest: Ingest) -> None:
    talk_id, key = ingest.key_for()

    encoder = publish(ingest.url(key), seconds=30)
    try:
        def live() -> bool:
            with Session(ingest.engine) as session:
                return session.get(Talk, talk_id).live_state is LiveState.live

        wait_until(live, timeout=60, message=lambda: f"the talk never went live: {ingest.server.log()[-3000:]}")
        with Session(ingest.engine) as session:
            stream = session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).one()
            assert stream.source == "rtmp" and stream.client_address == "127.0.0.1"
            assert stream.rtmp_name and key not in stream.rtmp_name
        # A second encoder on the same talk (the same key, as a crew's backup encoder would) is refused.
        second = publish(ingest.url(key))
        assert refused(second), "a second publisher got through"
        entry = wait_until(lambda: ingest.refusals(talk_id=talk_id), message="the second one was not audited")[-1]
        assert (entry.reason, entry.after["address"]) == ("already_live", "127.0.0.1")
        # nginx knows the stream by its new name only, and says what arrives.
        control = rtmp.RtmpControl(ingest.instance / "ingest" / "control.sock")
        stats = wait_until(lambda: (found := control.stats()).get(stream.rtmp_name, None) and
                           found[stream.rtmp_name].width and found, message="nginx never saw the stream's metadata")
        seen = stats[stream.rtmp_name]
        assert key not in stats
        assert (seen.publishing, seen.width, seen.height, seen.video_codec, seen.audio_codec, seen.address) == (
            True, 640, 360, "H264", "AAC", "127.0.0.1")
        assert seen.bytes_in > 0

        assert control.drop_publisher(stream.rtmp_name)

        assert refused(encoder), "the encoder was not disconnected"
        assert not control.drop_publisher(stream.rtmp_name)  # nobody left to drop
    finally:
        encoder.kill()
        encoder.wait()


# -- nginx's life ---------------------------------------------------------------------------------

def test_generated_config_has_no_access_log_and_no_key(ingest: Ingest) -> None:
    config_path = ingest.instance / "ingest" / "nginx.conf"
    config = config_path.read_text()

    rtmp_block = config[config.index("rtmp {"):config.index("http {")]
    assert "access_log off;" in rtmp_block
    assert re.search(r"error_log \S+ warn;", config)
    assert "application live {" in config and config.count("application ") == 1
    assert not any(key in config for key in ingest.presented)
    # It holds the callback secret: only Arena's user may read it.
    assert config_path.stat().st_mode & 0o077 == 0
    assert (ingest.instance / "ingest_secret").stat().st_mode & 0o077 == 0


def test_nginx_killed_is_started_again(ingest: Ingest) -> None:
    first = wait_until(ingest.nginx_pid, message="nginx wrote no pid file")

    os.kill(first, signal.SIGKILL)

    second = wait_until(lambda: (pid := ingest.nginx_pid()) and pid != first and rtmp_answers(ingest.rtmp_port)
                        and pid, timeout=90, message=lambda: f"nginx was not started again: {ingest.server.log()}")
    assert parent_of(second) == ingest.server.process.pid
    # And it still asks Arena: a wrong key is refused and audited.
    before = ingest.attempts(reason="unknown_key")
    assert refused(publish(ingest.url(secrets.token_urlsafe(32))))
    wait_until(lambda: ingest.attempts(reason="unknown_key") > before, message="no refusal after the restart")


def test_logs_show_no_key_and_no_secret(ingest: Ingest) -> None:
    """Arena's log (with its request log on) and nginx's, after a publish that was accepted and
    one that was refused (its own, so the test holds alone as well as after the others)."""
    talk_id, key = ingest.key_for()
    wrong = secrets.token_urlsafe(32)
    refusals_before = ingest.attempts(reason="unknown_key")

    accepted = publish(ingest.url(key), seconds=6)
    assert refused(publish(ingest.url(wrong))), "nginx let a wrong key publish"

    def streamed() -> bool:
        with Session(ingest.engine) as session:
            return session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).first() is not None

    wait_until(streamed, timeout=60, message=lambda: f"the key was not accepted: {ingest.server.log()[-3000:]}")
    wait_until(lambda: ingest.attempts(reason="unknown_key") > refusals_before, message="the refusal was not audited")
    accepted.wait(timeout=60)
    logs = {"arena": ingest.server.log(), "nginx": (ingest.instance / "ingest" / "error.log").read_text()}

    for name, text in logs.items():
        assert ingest.secret() not in text, f"the callback secret is in {name}'s log"
        leaked = [key for key in ingest.presented if key in text]
        assert not leaked, f"a stream key is in {name}'s log"
    # The request log names the callback, without its query string (the secret travels there).
    requests_logged = [line for line in logs["arena"].splitlines() if "arena.request" in line]
    callbacks = [line for line in requests_logged if "/_ingest/on_publish" in line]
    assert callbacks, "the request log has no line for nginx's on_publish callback"
    assert not [line for line in callbacks if "/_ingest/on_publish?" in line], "a query string reached the request log"


@pytest.mark.parametrize(("async_mode", "how"), [("gevent", signal.SIGKILL), ("eventlet", signal.SIGTERM)],
                         ids=["gevent-killed", "eventlet-terminated"])
def test_nginx_dies_with_arena(tmp_path: Path, async_mode: str, how: signal.Signals) -> None:
    server = start_live_server(tmp_path, async_mode=async_mode)
    try:
        here = Ingest(server, None, tmp_path / "instance")  # type: ignore[arg-type]
        pid = wait_until(here.nginx_pid, timeout=60, message=lambda: f"nginx never started: {server.log()}")
        assert parent_of(pid) == server.process.pid

        server.process.send_signal(how)  # SIGKILL: no atexit, no signal handler runs
        server.process.wait(timeout=60)

        wait_until(lambda: not running(pid), timeout=30, message="nginx outlived Arena")
        assert not rtmp_answers(here.rtmp_port)
    finally:
        server.stop()


def test_system_nginx_setup_finds_the_callback_secret_made_at_start(tmp_path: Path) -> None:
    # An administrator writes the system nginx's on_publish line before any encoder calls.
    server = start_live_server(tmp_path, extra_env={"ARENA_INGEST__MANAGE_NGINX": "false"})
    try:
        secret = tmp_path / "instance" / "ingest_secret"

        assert len(secret.read_text().strip()) >= 32
        assert secret.stat().st_mode & 0o077 == 0
        assert str(secret) in server.log()
    finally:
        server.stop()


def test_missing_rtmp_module_is_said_with_its_package(make_settings, tmp_path: Path, caplog) -> None:
    settings = make_settings(ingest={"rtmp_module": str(tmp_path / "none.so"), "rtmp_port": free_port()})

    runtime = rtmp.start_managed(settings)  # what `serve` does; it then serves without ingest

    assert runtime is None
    assert "libnginx-mod-rtmp" in caplog.text and "ingest.rtmp_module" in caplog.text
    assert not (settings.instance_dir / "ingest" / "nginx.pid").exists()


def test_rtmp_port_taken_is_said_and_nginx_starts_once_it_is_free(make_settings, caplog) -> None:
    squatter = socket.create_server(("127.0.0.1", 0))
    port = squatter.getsockname()[1]
    settings = make_settings(ingest={"rtmp_port": port})
    nginx = rtmp.ManagedNginx(settings, callback_base="http://127.0.0.1:9", secret="s")
    try:
        assert not nginx.start()
        assert "ARENA_INGEST__RTMP_PORT" in caplog.text
        nginx.supervise(interval=0.2)

        squatter.close()

        wait_until(lambda: nginx.alive() and rtmp_answers(port), timeout=60, message="nginx never took the freed port")
        assert nginx.control().stats() == {}
    finally:
        squatter.close()
        nginx.stop()
    assert not running(nginx.pid)
