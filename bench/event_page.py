"""Event page benchmark: server time in-process, and requests per second over real HTTP.

    .venv/bin/python bench/event_page.py [--requests N] [--duration S] [--json]

It builds a fresh SQLite database in a temporary folder with one published event of 20 talks
(1-2 speakers each, Swedish Markdown invitations of about 600 characters, slides links, a few
YouTube streams), then:

  (a) server time: N GET requests of the event page through app.test_client(), each timed
      with time.perf_counter_ns() (routing, queries, templates; no network, no WSGI server);
  (b) requests per second from one process: `python -m server serve` (eventlet, as in
      production) on a free port of 127.0.0.1, driven by wrk (2 threads, 32 connections,
      15 s) or, when wrk is not installed, by a bounded Python thread pool. A 5 s run on one
      keep-alive connection comes first: the latency one visitor sees, without queueing.

Only 127.0.0.1 is ever contacted. The temporary folder is removed at the end (--keep keeps it).
By default a Markdown table goes to stdout; with --json the JSON results go to stdout and the
table to stderr. Progress messages go to stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

EVENT_SLUG = "digital-delaktighet-2026"
EVENT_DAY = date(2026, 11, 24)  # fixed, so every run renders the same page (no talk is live)
ZONE = ZoneInfo("Europe/Stockholm")
SECRET_KEY = "bench-secret-key-not-for-production"

# Targets from the issue.
TARGET_P50_MS = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the data -----------------------------------------------------------------------------

EVENT_TEXT = """\
Välkommen till en heldag om **digital delaktighet** i kommuner och regioner. Vi samlar
kommunikatörer, chefer, lärare och utvecklare som vill att fler invånare ska kunna delta,
oavsett var de bor och vilken utrustning de har.

Alla pass sänds live och finns kvar som inspelningar efteråt. Ställ gärna frågor i chatten,
både på plats i Luleå och på distans. Programmet nedan anger tider i svensk tid.

- Fika serveras 10.00 och 14.30
- Lunch 12.00–13.00 i Kulturens hus
- Anmälan senast den 10 november via [kommunförbundets webbplats](https://example.se/anmalan)
"""

TOPICS = [
    ("Skapa arenor för samtal", "livesända kommunfullmäktige", "fler invånare följer debatten"),
    ("Twitter dygnet runt", "svara invånare i sociala medier", "svarstiderna halverades"),
    ("Berika undervisningen", "låta eleverna blogga om matematik", "eleverna skriver mer"),
    ("Öppna data i praktiken", "publicera kommunens data öppet", "nya tjänster byggdes av andra"),
    ("Tillgänglighet från början", "granska webben mot WCAG", "fler kan använda e-tjänsterna"),
    ("Krisinformation på nätet", "kommunicera under en storm", "ryktena minskade snabbt"),
    ("Offentlighetsprincipen och chatten", "diarieföra meddelanden", "rutinerna blev tydliga"),
    ("Video med små medel", "spela in med mobiltelefon", "kostnaden blev nästan noll"),
    ("Klarspråk i sociala medier", "skriva kort och begripligt", "färre följdfrågor kom in"),
    ("Medborgardialog på distans", "hålla samråd digitalt", "unga deltog för första gången"),
    ("Bibliotekets nya roll", "lära äldre använda e-legitimation", "köerna till kundtjänst minskade"),
    ("Säkerhet utan krångel", "skydda kommunens konton", "inga konton kapades under året"),
    ("Mät det som spelar roll", "följa upp kommunikationen", "arbetet fick större mandat"),
    ("Ledarskap i öppenhet", "låta medarbetare synas", "rekryteringen blev enklare"),
    ("Podcast från kommunhuset", "starta en egen podd", "lyssnarna blev fler än väntat"),
    ("Turism och Instagram", "samarbeta med besöksnäringen", "fler besökare kom till länet"),
    ("Skolval på webben", "förenkla ansökan till förskola", "handläggningen gick fortare"),
    ("Äldreomsorgen digitalt", "ordna videosamtal med anhöriga", "ensamheten minskade"),
    ("Sociala medier i krishanteringsplanen", "öva tillsammans med räddningstjänsten",
     "samordningen fungerade skarpt"),
    ("Vad händer nu?", "summera dagen tillsammans", "alla går hem med en plan"),
]

FIRST_NAMES = ["Anna", "Mattias", "Helen", "Erik", "Sara", "Johan", "Maria", "Lars", "Karin", "Per",
               "Elin", "Anders", "Sofia", "Mikael", "Ingrid", "Oskar", "Lena", "Fredrik", "Emma", "Nils"]
LAST_NAMES = ["Karlsson", "Jansson", "Alfvegren", "Lindqvist", "Nilsson", "Berg", "Öberg", "Holm",
              "Sjöberg", "Lundström", "Åkesson", "Forsberg", "Hedlund", "Wikström", "Ek", "Strand"]
ROLES = ["Kommunikationschef, Luleå kommun", "Webbredaktör, Region Norrbotten",
         "Lärare i matematik och NO", "Utvecklare, Kiruna kommun", "Bibliotekarie, Piteå stadsbibliotek",
         "Säkerhetssamordnare, Bodens kommun", "Kommunchef, Katrineholms kommun",
         "Digitaliseringsstrateg, Kommunförbundet Norrbotten"]
YOUTUBE_IDS = {0: "M7lc1UVf-VE", 5: "aqz-KE-bpKQ", 10: "ScMzIvxBSi4", 15: "jNQXAC9IVRw"}


def talk_text(n: int, title: str, practice: str, result: str) -> str:
    """About 600 characters of Swedish Markdown, different for every talk."""
    return (
        f"Hur gör man för att {practice}? I passet **{title}** berättar vi hur vi gick till väga, "
        f"vad det kostade och vad vi hellre hade gjort annorlunda. Resultatet: {result}.\n\n"
        "Vi går igenom:\n\n"
        f"- hur arbetet förankrades hos ledningen och i förvaltningen\n"
        f"- vilka verktyg vi valde, och varför de flesta var gratis\n"
        f"- hur vi tog hänsyn till *offentlighetsprincipen* och till tillgängligheten\n\n"
        f"Passet vänder sig till dig som arbetar i en kommun, en region eller ett kommunalförbund. "
        f"Efteråt finns tid för frågor från salen och från chatten (pass {n + 1} av 20). "
        f"Läs mer i [underlaget](https://example.se/underlag/pass-{n + 1}).\n"
    )


def build_event(session: Any) -> Any:
    from server.models import EventStatus
    from server.services.events import create_event, create_speaker, create_talk

    event = create_event(
        session,
        slug=EVENT_SLUG,
        title="Digital delaktighet i kommuner och regioner",
        organiser="Kommunförbundet Norrbotten",
        venue="Kulturens hus, Luleå",
        starts_on=EVENT_DAY,
        time_zone="Europe/Stockholm",
        invitation_text=EVENT_TEXT,
        status=EventStatus.published,
    )
    session.flush()
    start = datetime.combine(EVENT_DAY, datetime.min.time(), ZONE).replace(hour=8)
    speaker_count = 0
    for n, (title, practice, result) in enumerate(TOPICS):
        speakers = []
        for _ in range(2 if n % 3 == 0 else 1):  # 1-2 speakers; 27 in all
            first = FIRST_NAMES[speaker_count % len(FIRST_NAMES)]
            last = LAST_NAMES[(speaker_count * 7) % len(LAST_NAMES)]
            speakers.append(create_speaker(
                session, event,
                name=f"{first} {last}",
                role=ROLES[speaker_count % len(ROLES)],
                bio=f"{first} har arbetat med kommunikation i offentlig sektor i {5 + speaker_count % 15} år "
                    f"och föreläser ofta om {practice}.",
                links=[{"label": "Webbplats", "url": f"https://example.se/talare/{speaker_count + 1}"}],
            ))
            speaker_count += 1
        begins = start + timedelta(minutes=30 * n)
        youtube = YOUTUBE_IDS.get(n)
        create_talk(
            session, event,
            title=title,
            starts_at=begins,
            ends_at=begins + timedelta(minutes=25),
            speakers=speakers,
            invitation_text=talk_text(n, title, practice, result),
            stream_url=f"https://www.youtube.com/watch?v={youtube}" if youtube else "",
            slides_url=(f"https://www.slideshare.net/arena/pass-{n + 1}" if n % 2 == 0
                        else f"https://docs.google.com/presentation/d/arena-pass-{n + 1}/edit"),
            own_host="127.0.0.1",
        )
        session.flush()
    return event


def build_database(tmp: Path) -> str:
    """A migrated SQLite file in tmp with the 20-talk event; returns its URL."""
    from server.db import make_engine
    from server.migrations import upgrade

    url = f"sqlite:///{tmp / 'arena.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def make_app(tmp: Path, database_url: str):
    from server import create_app
    from server.config import load_settings

    settings = load_settings(config_file=None, environ={}, overrides={
        "server": {"instance_path": str(tmp / "instance"), "secret_key": SECRET_KEY,
                   "base_url": "http://127.0.0.1", "async_mode": "threading"},
        "database": {"url": database_url},
        "media": {"recordings_dir": str(tmp / "recordings")},
    })
    return create_app(settings)


# -- (a) server time ----------------------------------------------------------------------

def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def measure_server_time(app, path: str, requests: int, warmup: int) -> dict[str, Any]:
    from sqlalchemy import event as sa_event

    from server.db import db

    client = app.test_client()
    first = client.get(path)
    if first.status_code != 200:
        raise SystemExit(f"GET {path} answered {first.status_code}: {first.get_data(as_text=True)[:500]}")
    body = first.get_data()
    talks_on_page = body.count(b'class="talk-card')

    queries: list[str] = []

    def count(*_args: Any) -> None:
        queries.append("q")

    sa_event.listen(db.engine, "before_cursor_execute", count)
    client.get(path).get_data()
    sa_event.remove(db.engine, "before_cursor_execute", count)

    for _ in range(warmup):
        client.get(path).get_data()

    times_ns: list[int] = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter_ns()
        response = client.get(path)
        response.get_data()
        times_ns.append(time.perf_counter_ns() - t0)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code} during the run")
    wall = time.perf_counter() - started

    ms = sorted(t / 1e6 for t in times_ns)
    return {
        "requests": requests,
        "warmup": warmup,
        "talks_on_page": talks_on_page,
        "sql_queries_per_request": len(queries),
        "html_bytes": len(body),
        "html_gzip6_bytes": len(gzip.compress(body, compresslevel=6)),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "sequential_req_per_s": requests / wall,
    }


# -- (b) one server process over HTTP -----------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(tmp: Path, port: int, database_url: str, async_mode: str = "eventlet") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update({
        "ARENA_SERVER__HOST": "127.0.0.1",
        "ARENA_SERVER__PORT": str(port),
        "ARENA_SERVER__BASE_URL": f"http://127.0.0.1:{port}",
        "ARENA_SERVER__ASYNC_MODE": async_mode,
        "ARENA_SERVER__SECRET_KEY": SECRET_KEY,
        "ARENA_SERVER__DEBUG": "false",
        "ARENA_SERVER__INSTANCE_PATH": str(tmp / "instance"),
        "ARENA_DATABASE__URL": database_url,
        "ARENA_MEDIA__RECORDINGS_DIR": str(tmp / "recordings"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run_cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "server", *args], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"python -m server {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def start_server(tmp: Path, env: dict[str, str]) -> LiveServer:
    """`python -m server serve` as a subprocess; returns once /healthz answers (30 s at most)."""
    import requests

    url = env["ARENA_SERVER__BASE_URL"]
    log_path = tmp / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=PROJECT_ROOT, env=env,
                               stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    server = LiveServer(url=url, process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{server.log()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.stop()
    raise SystemExit(f"the server did not answer within 30 s:\n{server.log()}")


WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write("WRK_JSON ", string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def load_with_wrk(url: str, tmp: Path, threads: int, connections: int, duration: int) -> dict[str, Any]:
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
               "-s", str(script), url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "tool": f"wrk -t{threads} -c{connections} -d{duration}s",
        "requests": raw["requests"],
        "errors": errors,
        "error_detail": {k: raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                               "status_errors", "timeouts")},
        "duration_s": raw["duration_us"] / 1e6,
        "req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }


def load_with_threads(url: str, threads: int, duration: int, max_requests: int = 200_000) -> dict[str, Any]:
    """Fallback load generator: `threads` workers with one requests.Session each, stopped by
    time (duration) and by count (max_requests), whichever comes first."""
    import requests

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + duration

    def worker() -> None:
        session = requests.Session()
        own: list[float] = []
        own_errors = 0
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    break
                issued[0] += 1
            t0 = time.perf_counter_ns()
            try:
                response = session.get(url, timeout=5)
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            own.append((time.perf_counter_ns() - t0) / 1e6)
            own_errors += 0 if ok else 1
        with lock:
            latencies.extend(own)
            errors[0] += own_errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    ms = sorted(latencies)
    return {
        "tool": f"python requests, {threads} threads, {duration}s",
        "requests": len(ms),
        "errors": errors[0],
        "duration_s": elapsed,
        "req_per_s": len(ms) / elapsed,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
    }


def measure_http(tmp: Path, database_url: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """The load run (wrk -t2 -c32 -d15s by default) and, first, a short run on one keep-alive
    connection: latency without queueing, as one visitor's browser sees it."""
    import requests

    port = free_port()
    env = server_env(tmp, port, database_url, async_mode=args.async_mode)
    server = start_server(tmp, env)
    use_wrk = bool(shutil.which("wrk")) and not args.no_wrk
    try:
        url = f"{server.url}{path}"
        assert url.startswith("http://127.0.0.1:"), url  # loopback only
        with requests.Session() as session:
            for _ in range(100):  # warm-up: templates compiled, Markdown cached, pool filled
                response = session.get(url, timeout=5)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url} answered {response.status_code}")
        results = {}
        runs = {"one_connection": (1, 1, min(args.duration, 5)),
                "load": (args.threads, args.connections, args.duration)}
        if args.no_single:
            del runs["one_connection"]
        for name, (threads, connections, duration) in runs.items():
            if use_wrk:
                result = load_with_wrk(url, tmp, threads, connections, duration)
            else:
                result = load_with_threads(url, connections, duration)
            result["async_mode"] = args.async_mode
            results[name] = result
            if server.process.poll() is not None:
                raise SystemExit(f"the server died during the run:\n{server.log()}")
        return results
    finally:
        server.stop()


# -- output -------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def markdown_table(results: dict[str, Any]) -> str:
    a = results["server_time"]
    lines = [
        f"Event page, {a['talks_on_page']} talks, SQLite; {a['sql_queries_per_request']} SQL queries per request; "
        f"HTML {a['html_bytes'] / 1024:.1f} KB, {a['html_gzip6_bytes'] / 1024:.1f} KB gzipped (level 6)",
        "",
        f"(a) Server time, app.test_client(), {a['requests']} requests after {a['warmup']} warm-up",
        "",
        "| p50 | p90 | p99 | mean | min | max | sequential req/s | target p50 <= 5 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|:---|",
        f"| {a['p50_ms']:.2f} ms | {a['p90_ms']:.2f} ms | {a['p99_ms']:.2f} ms | {a['mean_ms']:.2f} ms "
        f"| {a['min_ms']:.2f} ms | {a['max_ms']:.2f} ms | {a['sequential_req_per_s']:.0f} "
        f"| {'met' if a['p50_ms'] <= TARGET_P50_MS else 'NOT met'} |",
    ]
    http = results.get("http")
    if http:
        mode = next(iter(http.values()))["async_mode"]
        lines += [
            "",
            f"(b) One server process ({mode}) over HTTP on 127.0.0.1",
            "",
            "| run | requests | errors | req/s | p50 | p90 | p99 | mean | max |",
            "|:---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for b in http.values():
            lines.append(
                f"| {b['tool']} | {b['requests']} | {b['errors']} | {b['req_per_s']:.0f} | {b['p50_ms']:.1f} ms "
                f"| {b['p90_ms']:.1f} ms | {b['p99_ms']:.1f} ms | {b['mean_ms']:.1f} ms | {b['max_ms']:.1f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed in-process requests (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (default 200)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of HTTP load (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32,
                        help="wrk connections, or Python threads without wrk (default 32)")
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent", "threading"),
                        help="the server's async mode for (b) (default eventlet, as in production)")
    parser.add_argument("--no-http", action="store_true", help="skip (b), the HTTP run")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator even if wrk exists")
    parser.add_argument("--no-single", action="store_true",
                        help="skip the 5 s run on one keep-alive connection that precedes the load run")
    parser.add_argument("--json", action="store_true", help="JSON results on stdout (the table goes to stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 1_000_000 or not 1 <= args.duration <= 600:
        parser.error("--requests must be 1..1000000 and --duration 1..600")

    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-"))
    try:
        log(f"database and app in {tmp}")
        database_url = build_database(tmp)
        app = make_app(tmp, database_url)
        from server.db import db

        path = f"/events/{EVENT_SLUG}/"
        with app.app_context():
            build_event(db.session)
            db.session.commit()
            db.session.remove()
        log(f"(a) {args.requests} requests of {path} through app.test_client()")
        results: dict[str, Any] = {"machine": machine(), "path": path}
        results["server_time"] = measure_server_time(app, path, args.requests, args.warmup)
        db.engine.dispose()
        if not args.no_http:
            log(f"(b) python -m server serve ({args.async_mode}), load for {args.duration} s on 127.0.0.1")
            results["http"] = measure_http(tmp, database_url, path, args)
        table = markdown_table(results)
        if args.json:
            print(table, file=sys.stderr)
            print(json.dumps(results, indent=2))
        else:
            print(table)
        return 0
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
