"""docs/deploy.md's topology, run on this machine: Debian's nginx with deploy/nginx.conf (TLS,
sticky sessions), two Arena processes started as deploy/arena@.service starts them, and a
PostgreSQL and a Redis of the test's own (tests/services.py). Two Debian chromium browsers,
each kept on a different process, chat, ask and vote, and see one another; one process is
stopped with SIGTERM and started again, and its browser comes back and sees what was said
meanwhile. tests/deploy/topology.py says how the shipped files are run here.

Which process served a browser is read from nginx's access log (its `upstream=` field): the
log an operator reads for the same question.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from server.config import PROJECT_ROOT
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, is_local
from tests.conftest import STOCKHOLM
from tests.deploy.topology import (
    UNIT,
    ArenaProcess,
    Nginx,
    arena_unit,
    environment_file,
    run_command,
    start_nginx,
    unit_service_lines,
)
from tests.services import postgres_service, redis_service
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

SLUG = "sociala-medier-i-offentlig-sektor"
TALK = f"/events/{SLUG}/skapa-arenor"
ORGANISER_EMAIL, PASSWORD = "karin@norrbotten.se", "ett långt och hemligt lösenord"


@dataclass
class Deployment:
    nginx: Nginx
    processes: list[ArenaProcess]
    recordings: Path

    def session(self) -> requests.Session:
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE would win over `verify`
        http.verify = str(self.nginx.certificate)
        return http

    def route_to(self, process: ArenaProcess) -> str:
        """An arena_route cookie that nginx sends to `process` (docs/deploy.md: setting the
        cookie picks a process). Found by asking: each value always lands on the same one."""
        http = self.session()
        for n in range(200):
            route = f"probe-{n}-{uuid.uuid4().hex[:8]}"
            answer = http.get(f"{self.nginx.url}/healthz", cookies={"arena_route": route}, timeout=30)
            assert answer.status_code == 200, answer.text
            if self.nginx.line(answer.headers["X-Request-ID"])["upstream"] == process.address:
                return route
        pytest.fail(f"no route cookie reached {process.address}: {self.nginx.requests_log()[-5:]}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres_service())
        queue = stack.enter_context(redis_service())
        folder = tmp_path_factory.mktemp("deployment")
        from tests.conftest import free_port

        ports = [free_port(), free_port()]
        state = folder / "var-lib-arena"  # /var/lib/arena: instance/ and recordings/
        (state / "instance").mkdir(parents=True)
        (state / "recordings").mkdir()
        nginx_folder = folder / "nginx"
        nginx_folder.mkdir()
        nginx = start_nginx(nginx_folder, arena_ports=ports, recordings_parent=state)
        stack.callback(nginx.stop)
        env_file = environment_file(folder, {
            "ARENA_DATABASE__URL": database.create_database("arena"),
            "ARENA_SERVER__SECRET_KEY": secrets.token_urlsafe(48),
            "ARENA_CHAT__MESSAGE_QUEUE": queue.url(0),
            "ARENA_MAIL__PASSWORD": "",
            "ARENA_METRICS__TOKEN": secrets.token_urlsafe(32),
        }, machine={
            "ARENA_SERVER__BASE_URL": nginx.url,
            "ARENA_SERVER__INSTANCE_PATH": str(state / "instance"),
            "ARENA_MEDIA__RECORDINGS_DIR": str(state / "recordings"),
            "ARENA_INGEST__ENABLED": "false",  # RTMP ingest has tests of its own (test_ingest_nginx.py)
        })
        processes = [arena_unit(port, env_file, folder / f"arena@{port}.log") for port in ports]
        for process in processes:
            stack.callback(process.close)
        # docs/deploy.md, "First start": migrate, an organiser, then the units.
        for args, stdin in ((("migrate",), None),
                            (("load-demo", "--date", datetime.now(STOCKHOLM).date().isoformat()), None),
                            (("create-organiser", ORGANISER_EMAIL, "Karin Kommunikatör"), PASSWORD + "\n")):
            done = run_command(processes[0], *args, stdin=stdin)
            assert done.returncode == 0, done.stderr
        for process in processes:
            process.start()
        yield Deployment(nginx, processes, state / "recordings")


@pytest.fixture(scope="module")
def chromium(playwright) -> Iterator[Any]:
    # A missing browser is a failed set-up, not a reason to skip: `make test` installs it.
    assert Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium)"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_browser(chromium, deployment) -> Iterator[Any]:
    """open_browser(route) -> a new browser (context) on nginx, with its sticky cookie set."""
    contexts = []

    def _open(route: str, agent: str = "") -> Any:
        # The certificate is self-signed for 127.0.0.1; nothing leaves the machine. `agent` marks
        # the user agent, so nginx's log tells this browser's requests from another's.
        user_agent = f"{chromium_agent(chromium)} {agent}".strip()
        context = chromium.new_context(base_url=deployment.nginx.url, ignore_https_errors=True, locale="sv-SE",
                                       timezone_id="Europe/Stockholm", user_agent=user_agent)
        context.set_default_timeout(WAIT_MS)
        context.route("**/*", lambda route_: route_.continue_() if is_local(route_.request.url)
                      else route_.abort("blockedbyclient"))
        context.add_cookies([{"name": "arena_route", "value": route, "url": deployment.nginx.url}])
        contexts.append(context)
        return context

    yield _open
    for context in contexts:
        context.close()


def chromium_agent(chromium: Any) -> str:
    page = chromium.new_page()
    try:
        return page.evaluate("navigator.userAgent")
    finally:
        page.close()


def open_talk(context: Any, name: str | None) -> Any:
    """The talk's page, joined to its live room; named, unless the browser already was."""
    page = context.new_page()
    page.goto(TALK)
    expect(page.locator("[data-live-viewers]")).to_be_visible()  # joined: the count comes with the ack
    if name is not None:
        page.fill("#live-name-input", name)
        page.press("#live-name-input", "Enter")
    expect(page.locator("[data-message-form]")).to_be_visible()
    return page


def message(page: Any, text: str) -> Any:
    return page.locator("[data-messages] > li", has_text=text)


def question(page: Any, text: str) -> Any:
    return page.locator("[data-questions] > li", has_text=text)


def say(page: Any, body: str) -> None:
    page.fill("#live-message-input", body)
    page.press("#live-message-input", "Enter")
    expect(message(page, body)).to_have_count(1)


def ask(page: Any, body: str) -> None:
    show_questions(page)
    page.fill("#live-question-input", body)
    page.press("#live-question-input", "Enter")
    expect(question(page, body)).to_have_count(1)


def show_questions(page: Any) -> None:
    page.click("#live-tab-questions")
    expect(page.locator("#live-tab-questions")).to_have_attribute("aria-selected", "true")


def show_chat(page: Any) -> None:
    page.click("#live-tab-chat")
    expect(page.locator("#live-tab-chat")).to_have_attribute("aria-selected", "true")


def socket_upstreams(deployment: Deployment, route: str, agent: str | None = None) -> set[str]:
    """The processes that served a browser's Socket.IO requests (logged once a websocket closes)."""
    def served() -> set[str]:
        return deployment.nginx.upstreams(route=route, path_prefix="/socket.io/", agent=agent)

    return wait_until(served, message=f"nginx logged no Socket.IO request of {route}")


def tag() -> str:
    return uuid.uuid4().hex[:8]


# -- the tests ------------------------------------------------------------------------------

def test_two_browsers_on_two_processes_chat_and_vote_and_see_one_another(deployment, open_browser):
    first, second = deployment.processes
    anna_route, helen_route = deployment.route_to(first), deployment.route_to(second)
    anna = open_talk(open_browser(anna_route), "Anna")
    helen = open_talk(open_browser(helen_route), "Helen")
    word = tag()

    say(anna, f"Hej från Luleå {word}")
    say(helen, f"Hej från Kiruna {word}")
    ask(anna, f"Hur kommer vi igång i en liten kommun? {word}")
    show_questions(helen)
    vote = question(helen, f"Hur kommer vi igång i en liten kommun? {word}").locator("[data-vote]")
    vote.click()

    # Each sees the other's message, the question, and the vote.
    expect(message(helen, f"Hej från Luleå {word}")).to_have_count(1)
    expect(question(helen, word)).to_have_count(1)
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(question(anna, word).locator("[data-vote-count]")).to_have_text(re.compile(r"^1\b"))
    show_chat(anna)
    expect(message(anna, f"Hej från Kiruna {word}")).to_have_count(1)
    # ... and they did so through different processes: every Socket.IO request of each went to
    # its own (nginx logs a websocket when it closes).
    anna.close()
    helen.close()
    assert socket_upstreams(deployment, anna_route) == {first.address}
    assert socket_upstreams(deployment, helen_route) == {second.address}
    # Each process's own log has its browser's page, under the id nginx gave the request.
    page_ids = {route: [line["request_id"] for line in deployment.nginx.requests_log()
                        if line["route"] == route and line["path"] == TALK]
                for route in (anna_route, helen_route)}
    for route, own, other in ((anna_route, first, second), (helen_route, second, first)):
        assert page_ids[route] and all(id_ in own.log() and id_ not in other.log() for id_ in page_ids[route])


def test_a_restarted_process_s_browser_comes_back_and_sees_what_was_said_meanwhile(deployment, open_browser):
    first, second = deployment.processes
    anna_route, helen_route = deployment.route_to(first), deployment.route_to(second)
    anna = open_talk(open_browser(anna_route), "Anna")
    helen = open_talk(open_browser(helen_route), "Helen")
    word = tag()
    say(anna, f"Före omstarten {word}")
    expect(message(helen, f"Före omstarten {word}")).to_have_count(1)

    exit_status = first.terminate()  # systemctl restart arena@<port>: SIGTERM first...
    say(helen, f"Medan du var borta {word}")
    first.start()  # ...then the same unit again

    # Anna's page reconnected by itself (to whichever process nginx had for it) and caught up.
    expect(message(anna, f"Medan du var borta {word}")).to_have_count(1)
    say(anna, f"Tillbaka {word}")
    expect(message(helen, f"Tillbaka {word}")).to_have_count(1)
    assert exit_status in (0, -15), first.log()  # a stop, not a crash: systemd does not restart it
    # Once nginx tries the restarted process again, Anna's next page is served by it again.
    anna.close()
    http = deployment.session()

    def served_by_first() -> bool:
        answer = http.get(f"{deployment.nginx.url}/healthz", cookies={"arena_route": anna_route}, timeout=30)
        return answer.status_code == 200 and deployment.nginx.line(answer.headers["X-Request-ID"])["upstream"] \
            == first.address

    wait_until(served_by_first, timeout=90, interval=0.5,
               message="nginx never sent Anna's cookie to the restarted process")
    # Anna's next page: her cookies (session and route) in a window that nginx's log tells
    # apart by a mark in its user agent.
    again = open_browser(anna_route, agent="anna-again")
    again.add_cookies(anna.context.cookies())
    anna = open_talk(again, "Anna")
    expect(message(anna, f"Medan du var borta {word}")).to_have_count(1)
    anna.close()
    assert socket_upstreams(deployment, anna_route, agent="anna-again") == {first.address}


def test_http_is_sent_to_https_with_hsts_on_pages_static_files_and_recordings(deployment):
    http = deployment.session()
    plain = requests.get(f"{deployment.nginx.http_url}{TALK}?a=1", allow_redirects=False, timeout=30)
    page = http.get(f"{deployment.nginx.url}{TALK}", timeout=30)
    recording = deployment.recordings / "kept" / "photo.jpg"
    recording.parent.mkdir(exist_ok=True)
    recording.write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    refused = http.get(f"{deployment.nginx.url}/recordings/kept/photo.jpg", timeout=30)
    script = http.get(f"{deployment.nginx.url}/static/js/share.js", timeout=30)

    assert plain.status_code == 301
    location = plain.headers["Location"]
    assert location.startswith("https://127.0.0.1") and location.endswith(f"{TALK}?a=1")
    for answer in (page, script, refused):
        assert answer.headers["Strict-Transport-Security"].startswith("max-age="), answer.url
    assert refused.status_code == 403  # a file no talk has: Arena said no, so nginx did not send it


def test_nginx_sends_static_files_itself_with_their_types(deployment):
    http = deployment.session()
    route = f"static-{tag()}"  # marks these requests in nginx's log
    http.cookies.set("arena_route", route)

    script = http.get(f"{deployment.nginx.url}/static/js/live/main.js", timeout=30)
    style = http.get(f"{deployment.nginx.url}/static/css/{next((PROJECT_ROOT / 'static' / 'css').glob('*.css')).name}",
                     timeout=30)
    again = http.get(script.url, headers={"If-None-Match": script.headers["ETag"]}, timeout=30)

    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript"
    assert script.content == (PROJECT_ROOT / "static" / "js" / "live" / "main.js").read_bytes()
    assert style.status_code == 200 and style.headers["Content-Type"] == "text/css"
    assert script.headers["Cache-Control"] == "no-cache" and script.headers["X-Content-Type-Options"] == "nosniff"
    assert again.status_code == 304
    # No Arena process was asked.
    static = deployment.nginx.lines(route, 3)
    assert all(line["path"].startswith("/static/") for line in static)
    assert {line["upstream"] for line in static} == {"-"}


def test_a_browser_without_the_cookie_gets_one_and_stays_on_its_process(deployment):
    http = deployment.session()

    first = http.get(f"{deployment.nginx.url}{TALK}", timeout=30)
    route = http.cookies.get("arena_route")
    pages = [http.get(f"{deployment.nginx.url}{TALK}", timeout=30) for _ in range(4)]

    assert first.status_code == 200 and route and re.fullmatch(r"[0-9a-f]{32}", route)
    cookie = next(value for name, value in first.raw.headers.items() if name.lower() == "set-cookie"
                  and value.startswith("arena_route="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "Max-Age" not in cookie  # a session cookie
    assert all(page.status_code == 200 for page in pages)
    assert len(deployment.nginx.upstreams(route=route, path_prefix=TALK)) == 1
    # What shared caches may keep (the calendar feed: public) never carries the cookie.
    feed = deployment.session().get(f"{deployment.nginx.url}/events/{SLUG}.ics", timeout=30)  # no cookie yet
    assert feed.status_code == 200 and "public" in feed.headers["Cache-Control"]
    assert "arena_route" not in feed.headers.get("Set-Cookie", "")


def test_metrics_and_health_checks_answer_the_monitoring_network_only_and_ingest_callbacks_are_closed(deployment):
    first, _ = deployment.processes
    context = ssl.create_default_context(cafile=str(deployment.nginx.certificate))

    token = first.env["ARENA_METRICS__TOKEN"]

    def get(path: str, source: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPSConnection("127.0.0.1", deployment.nginx.https_port, timeout=30,
                                                 source_address=(source, 0), context=context)
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        result = answer.status, answer.read().decode(errors="replace")
        connection.close()
        return result

    stranger = get(f"/metrics/{first.port}", "127.0.0.2", {"Authorization": f"Bearer {token}"})
    stranger_all = get("/metrics", "127.0.0.2", {"Authorization": f"Bearer {token}"})
    ingest = get("/_ingest/on_publish", "127.0.0.1")
    stranger_health = [get(path, "127.0.0.2")[0] for path in ("/healthz", "/readyz")]
    monitoring_health = [get(path, "127.0.0.1")[0] for path in ("/healthz", "/readyz")]
    route = f"monitoring-{tag()}"  # marks these requests in nginx's log
    without_token = get(f"/metrics/{first.port}", "127.0.0.1", {"Cookie": f"arena_route={route}"})
    monitoring = get(f"/metrics/{first.port}", "127.0.0.1", {"Authorization": f"Bearer {token}",
                                                             "Cookie": f"arena_route={route}"})

    assert stranger[0] == 403 and stranger_all[0] == 403 and ingest[0] == 404
    assert stranger_health == [403, 403] and monitoring_health == [200, 200]
    assert without_token[0] == 404  # through a proxy, Arena wants the token as well
    assert monitoring[0] == 200 and "arena_socketio_connections" in monitoring[1]
    assert [line["upstream"] for line in deployment.nginx.lines(route, 2)] == [first.address] * 2  # that very process


def test_the_unit_file_is_valid_for_systemd(tmp_path):
    # systemd-analyze checks every directive (ExecStart's program is /bin/sh).
    unit = tmp_path / "arena@5001.service"
    unit.write_text(UNIT.read_text())

    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], check=False, capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
    settings = dict(unit_service_lines(UNIT.read_text()))
    assert settings["Restart"] == "on-failure" and settings["User"] == "arena" and int(settings["LimitNOFILE"]) >= 65536
    assert settings["WorkingDirectory"] == "/opt/arena/current"  # the release link (docs/deploy.md, "Upgrading")


def test_arena_logs_the_client_s_own_address_not_one_it_claims(deployment):
    first, _ = deployment.processes
    route = deployment.route_to(first)
    context = ssl.create_default_context(cafile=str(deployment.nginx.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", deployment.nginx.https_port, timeout=30,
                                             source_address=("127.0.0.2", 0), context=context)

    connection.request("GET", TALK, headers={"Cookie": f"arena_route={route}", "X-Forwarded-For": "203.0.113.9"})
    answer = connection.getresponse()
    status, request_id = answer.status, answer.getheader("X-Request-ID")
    connection.close()

    assert status == 200
    assert deployment.nginx.line(request_id)["upstream"] == first.address  # nginx's id, in Arena's answer
    logged = wait_until(lambda: [json.loads(line) for line in first.log().splitlines()
                                 if request_id in line and line.startswith("{")],
                        message=f"arena@{first.port} logged no request {request_id}")
    # nginx appends the address it saw; with trusted_proxies = 1 Arena takes that one.
    assert [entry.get("client") for entry in logged if "client" in entry] == ["127.0.0.2"]


def moderator_link(deployment: Deployment, name: str) -> str:
    """A real moderator's sign-in link (`arena-manage grant-role`): /staff/sign-in/<secret>."""
    granted = run_command(deployment.processes[0], "grant-role", "moderator", name, "--event", SLUG)
    assert granted.returncode == 0, granted.stderr
    found = re.search(r"/staff/sign-in/[^\s/]+", granted.stdout)
    assert found, granted.stdout
    return found.group(0)


def test_nginx_and_arena_log_sign_in_and_password_links_without_their_secret(deployment):
    http = deployment.session()
    route = f"links-{tag()}"  # marks these requests in nginx's log
    http.cookies.set("arena_route", route)
    link = moderator_link(deployment, f"Maja {tag()}")
    secret, other = link.rsplit("/", 1)[1], secrets.token_urlsafe(24)
    # nginx hides a link whatever its letter case (Arena answers 404 to this one: not a link).
    upper = secrets.token_urlsafe(24)
    paths = [link, f"/set-password/{other}", f"/reset-password/{other}", f"/STAFF/Sign-In/{upper}",
             "/forgot-password"]

    answers = [http.get(f"{deployment.nginx.url}{path}?next=/{other}", timeout=30, allow_redirects=False)
               for path in paths]

    assert answers[0].status_code == 303  # the real link signed the moderator in
    logged = deployment.nginx.lines(route, len(paths))
    assert [line["path"] for line in logged] == ["/staff/sign-in/[hidden]", "/set-password/[hidden]",
                                                 "/reset-password/[hidden]", "/STAFF/Sign-In/[hidden]",
                                                 "/forgot-password"]
    # Nor in Arena's own logs: its request log has the same hidden form.
    ids = [line["request_id"] for line in logged]
    wait_until(lambda: all(any(id_ in process.log() for process in deployment.processes) for id_ in ids[:3]),
               message="Arena logged not every sign-in and password request")
    arena_logs = "".join(process.log() for process in deployment.processes)
    nginx_logs = deployment.nginx.access_log.read_text() + deployment.nginx.site_errors() + deployment.nginx.errors()
    assert secret not in nginx_logs and other not in nginx_logs and upper not in nginx_logs
    assert [line for line in arena_logs.splitlines() if secret in line or other in line] == []
    assert "/staff/sign-in/***" in arena_logs


def test_a_refused_connection_during_a_restart_leaves_no_sign_in_secret_in_nginx_s_error_log(deployment):
    first, _ = deployment.processes
    route = deployment.route_to(first)
    link = moderator_link(deployment, f"Maja {tag()}")
    secret = link.rsplit("/", 1)[1]
    http = deployment.session()
    assert first.terminate() in (0, -15)  # as during a rolling restart's `systemctl restart`
    try:
        # The link's request reaches the stopped process first: refused, then the other.
        answer = http.get(f"{deployment.nginx.url}{link}", cookies={"arena_route": route}, timeout=30,
                          allow_redirects=False)
    finally:
        first.start()

    assert answer.status_code == 303
    line = deployment.nginx.line(answer.headers["X-Request-ID"])
    assert line["upstream"].startswith(f"{first.address}, ") and line["path"] == "/staff/sign-in/[hidden]"
    # The site's error log is at "crit" (docs/deploy.md, "Logs"): the refusal is not written,
    # and with it not the request line that holds the secret.
    assert secret not in deployment.nginx.site_errors() and secret not in deployment.nginx.errors()
    assert secret not in deployment.nginx.access_log.read_text()

    # Later tests find the restarted process through nginx again (it is left out for 10 s).
    def served_by_first() -> bool:
        again = http.get(f"{deployment.nginx.url}/healthz", cookies={"arena_route": route}, timeout=30)
        return again.status_code == 200 and deployment.nginx.line(again.headers["X-Request-ID"])["upstream"] \
            == first.address

    wait_until(served_by_first, timeout=90, interval=0.5, message="nginx never sent the route to the restarted process")
