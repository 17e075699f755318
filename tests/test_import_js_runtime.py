"""yt-dlp's JavaScript runtime in the import worker: the deno binary of our own deno package,
which the YouTube extractor starts as a child process to run yt-dlp-ejs's challenge solver on
YouTube's player script. The worker's guard (server/media/guard.py) wraps Python's sockets,
so it cannot see deno's: deno must make no connection of its own. These tests run the real
deno the way the worker's yt-dlp runs it (yt-dlp's own deno provider, set up by
import_worker.youtube_dl_params in a process with the guard installed), against a web server
of the test on 127.0.0.1 that also stands as deno's HTTP(S) proxy and npm registry, so any
connection deno tried, to the test's address or to the internet, would arrive there."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from deno import find_deno_bin

from server.config import PROJECT_ROOT
from server.media import importer

# Runs in a process of its own, as the worker does: the guard first, then yt-dlp with the
# worker's options. Prints what yt-dlp's deno provider reports and what deno printed.
DRIVER = """
import json, sys
from pathlib import Path
from server.media import guard, import_worker

job = json.loads(sys.stdin.readline())
guard.Guard([]).install()
import yt_dlp
from yt_dlp.extractor.youtube.jsc._builtin.deno import DenoJCP
from yt_dlp.extractor.youtube.jsc.provider import JsChallengeRequest, JsChallengeType, NChallengeInput

if job.get("unknown_provider"):  # as if a later yt-dlp started deno in a way the worker does not know
    del DenoJCP._DENO_BASE_OPTIONS

work = Path(job["work_dir"])
params = import_worker.youtube_dl_params(job, work, import_worker._Logger(), lambda progress: None)
if job.get("grant_everything"):  # as if a later yt-dlp ran deno with every permission
    DenoJCP._DENO_BASE_OPTIONS.insert(0, "--allow-all")
with yt_dlp.YoutubeDL(params) as ydl:
    youtube = ydl.get_info_extractor("Youtube")
    youtube.initialize()
    provider = {p.PROVIDER_NAME: p for p in youtube._jsc_director.providers.values()}["deno"]
    report = {
        "runtimes": params["js_runtimes"],
        "available": provider.is_available(),
        "runtime": provider.runtime_info and provider.runtime_info.path,
        "environment": {k: v for k, v in provider._get_env_options().items() if k.startswith("DENO_")},
        "outputs": [],
    }
    for script in job["scripts"]:
        report["outputs"].append(provider._run_js_runtime(script))
    for player, challenges in job["players"]:
        challenge = NChallengeInput("https://www.youtube.com/player.js", challenges)
        request = JsChallengeRequest(JsChallengeType.N, challenge)
        stdin = provider._construct_stdin(player, False, [request])
        report["outputs"].append(provider._run_js_runtime(stdin))
print(json.dumps(report))
"""

# Every way a script has to reach the network (and files, programs, the environment), each
# outcome printed: a refused attempt as its error, one that got through as "reached".
ATTEMPTS = """
const target = "http://127.0.0.1:%(port)d";
const outcomes = {};
async function attempt(name, action) {
  try { await action(); outcomes[name] = "reached"; }
  catch (error) { outcomes[name] = `${error.name}: ${error.message}`; }
}
await attempt("fetch", () => fetch(`${target}/fetch`));
await attempt("fetch_internet", () => fetch("https://www.youtube.com/"));
await attempt("connect", () => Deno.connect({hostname: "127.0.0.1", port: %(port)d}));
await attempt("dns", () => Deno.resolveDns("www.youtube.com", "A"));
await attempt("websocket", () => new Promise((resolve, reject) => {
  const socket = new WebSocket(`ws://127.0.0.1:%(port)d/socket`);
  socket.onopen = resolve; socket.onerror = (event) => reject(new Error(event.message || "refused"));
}));
await attempt("import_remote", () => import(`${target}/module.js`));
await attempt("import_npm", () => import("npm:left-pad@1.3.0"));
await attempt("import_jsr", () => import("jsr:@std/path"));
await attempt("read_file", () => Deno.readTextFile("/etc/hostname"));
await attempt("run_program", () => new Deno.Command("curl", {args: [`${target}/curl`]}).output());
await attempt("environment", () => Deno.env.get("HOME"));
console.log(JSON.stringify(outcomes));
"""

# A player script shaped like YouTube's (one function wrapper) whose URL object scrambles the
# "n" parameter by reversing it, and which also tries to fetch from the test's server while
# the solver runs it, the way a hostile player would.
PLAYER = """
var _yt_player = {};
(function (g) {
  var first = 0;
  var leak = fetch("http://127.0.0.1:%(port)d/from-player").then(
    function () { return "reached"; }, function (error) { return error.name; });
  var Url = function (href) { this.href = href; this.params = {}; };
  Url.prototype.set = function (key, value) { this.params[key] = value; };
  Url.prototype.get = function (key) { return this.params[key]; };
  Url.prototype.scramble = function () {
    var n = this.params.n;
    if (n) this.params.n = n.split("").reverse().join("");
  };
  var makeUrl = function (href, name, value) {
    var url = new Url(href);
    url.set("alr", "yes");
    if (value) url.set(name, value);
    return url;
  };
  var report = leak.then(function (outcome) { console.log(JSON.stringify({player_fetch: outcome})); });
})(_yt_player);
"""


class Trap:
    """A web server on 127.0.0.1 that records every connection it accepts (before reading a
    byte of it), whatever comes over it: a request, a proxy's CONNECT, or nothing."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self.requests: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                trap.requests.append(self.requestline)
                body = b"export default 1;\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_CONNECT = do_HEAD = _answer

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                connection, address = super().get_request()
                trap.connections.append(f"{address[0]}:{address[1]}")
                return connection, address

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap():
    server = Trap()
    yield server
    server.close()


def run_as_the_worker(tmp_path: Path, trap: Trap, *, scripts=(), players=(), grant_everything=False,
                      unknown_provider=False) -> dict:
    """The driver in the worker's environment (importer._worker_environment), plus proxy and
    npm registry variables that lead every connection deno might try on its own to the trap."""
    work = tmp_path / "work"
    work.mkdir()
    env = importer._worker_environment(str(work))
    env.update({name: trap.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                                            "all_proxy", "NPM_CONFIG_REGISTRY", "JSR_URL")})
    job = {"work_dir": str(work), "socket_timeout": 5, "download": False, "scripts": list(scripts),
           "players": [list(p) for p in players], "grant_everything": grant_everything,
           "unknown_provider": unknown_provider}
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(job) + "\n", env=env, cwd=str(PROJECT_ROOT),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_worker_yt_dlp_runs_the_deno_binary_of_our_deno_package(tmp_path, trap):
    report = run_as_the_worker(tmp_path, trap)

    assert report["available"] is True
    assert report["runtime"] == find_deno_bin()
    assert Path(report["runtime"]).parent == Path(sys.executable).parent  # the venv's, not one on PATH
    assert trap.connections == []


def test_worker_runs_yt_dlp_without_deno_when_it_cannot_lock_deno_down(tmp_path, trap):
    report = run_as_the_worker(tmp_path, trap, unknown_provider=True)

    assert report["runtimes"] == {}
    assert report["available"] is False and report["runtime"] is None


def test_deno_started_by_the_worker_checks_for_no_update_and_caches_in_the_work_folder(tmp_path, trap):
    work = tmp_path / "work"

    report = run_as_the_worker(tmp_path, trap, players=[(PLAYER % {"port": trap.port}, ["abc123"])])

    assert json.loads(report["outputs"][0].splitlines()[0])["type"] == "result"  # deno really ran
    assert report["environment"]["DENO_NO_UPDATE_CHECK"] == "1"
    assert report["environment"]["DENO_DIR"] == str(work / ".deno")
    assert any((work / ".deno").iterdir())
    # The worker's HOME is the work folder, so deno's default cache ($HOME/.cache/deno) would be here.
    assert not (work / ".cache" / "deno").exists()


def test_script_that_yt_dlp_runs_in_deno_is_refused_every_connection_and_the_server_sees_none(tmp_path, trap):
    report = run_as_the_worker(tmp_path, trap, scripts=[ATTEMPTS % {"port": trap.port}])
    outcomes = json.loads(report["outputs"][0])

    assert {name: outcome for name, outcome in outcomes.items() if outcome == "reached"} == {}
    for name in ("fetch", "fetch_internet", "connect", "dns", "websocket"):
        assert outcomes[name].startswith("NotCapable: Requires net access"), (name, outcomes[name])
    for name in ("import_remote", "import_npm", "import_jsr"):
        assert any(word in outcomes[name] for word in ("import", "remote", "npm")), (name, outcomes[name])
    assert outcomes["read_file"].startswith("NotCapable: Requires read access")
    assert outcomes["run_program"].startswith("NotCapable: Requires run access")
    assert outcomes["environment"].startswith("NotCapable: Requires env access")
    assert trap.connections == [] and trap.requests == []


def test_script_is_refused_the_network_even_if_yt_dlp_granted_deno_every_permission(tmp_path, trap):
    # The worker's --deny-* flags win over any --allow-* that a later yt-dlp might pass.
    report = run_as_the_worker(tmp_path, trap, scripts=[ATTEMPTS % {"port": trap.port}], grant_everything=True)
    outcomes = json.loads(report["outputs"][0])

    assert {name: outcome for name, outcome in outcomes.items() if outcome == "reached"} == {}
    for name in ("fetch", "fetch_internet", "connect", "dns", "websocket"):
        assert outcomes[name].startswith("NotCapable: Requires net access"), (name, outcomes[name])
    assert trap.connections == [] and trap.requests == []


def test_challenge_solver_solves_under_the_lockdown_and_a_player_cannot_reach_the_network(tmp_path, trap):
    report = run_as_the_worker(tmp_path, trap, players=[(PLAYER % {"port": trap.port}, ["abc123", "Luleå"])])
    lines = report["outputs"][0].strip().splitlines()
    solved, player_fetch = json.loads(lines[0]), json.loads(lines[1])

    assert solved["type"] == "result"
    assert solved["responses"] == [{"type": "result", "data": {"abc123": "321cba", "Luleå": "åeluL"}}]
    assert player_fetch == {"player_fetch": "NotCapable"}
    assert trap.connections == [] and trap.requests == []


def test_trap_sees_deno_when_deno_is_allowed_the_network(tmp_path, trap):
    # The check above is worth something only if a deno that may connect is seen by the trap.
    script = f"await fetch('{trap.url}/allowed'); console.log('fetched');"

    done = subprocess.run([find_deno_bin(), "run", "--allow-net", "--no-config", "-"], input=script, text=True,
                          capture_output=True, timeout=60, check=False,
                          env={"DENO_DIR": str(tmp_path / "deno"), "DENO_NO_UPDATE_CHECK": "1"})

    assert done.stdout.strip() == "fetched", done.stderr
    assert trap.requests == ["GET /allowed HTTP/1.1"]

