"""What one join to the live room costs Arena, in process: SQL statements, commits and Python time.

    .venv/bin/python bench/join_profile.py [--joins 500] [--arena-ref GIT_REF] [--top 30] [--json]

Diagnosis for issue 10, item 3 ("join at the speed of the bare server"); chat_load.py measures
the storm over real websockets, this script says where a join's time goes. It builds the demo
database (`python -m server migrate`, `load-demo`) in a temporary folder, creates Arena's app
in this process (async mode "threading": no eventlet, no network) and, for each of --joins
participants, GETs the talk page with a Flask test client (a participant cookie of its own, as
a browser has), connects a Socket.IO test client to /live with that cookie and emits `join`
with an ack, as static/js does. Only the connect and the join are measured:

- SQL statements per join, by kind (the first words and the table), and commits per join,
  from SQLAlchemy's engine events;
- wall time per connect and per join (perf_counter);
- cProfile over all the connects and joins: the functions with the largest cumulative time,
  and the share of the join's time under a few known service functions.

--arena-ref runs the code of a commit (git archive into the temporary folder) instead of the
work tree. Touches nothing outside its temporary folder; contacts no network.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from chat_load import DEMO_EVENT, DEMO_TALK, export_arena  # noqa: E402

# Functions whose cumulative share of the connects and joins is reported by name, when the
# code has them (each is looked up by the end of its file path and its name).
WATCHED = [
    ("live.py", "on_connect"), ("live.py", "on_join"), ("live.py", "_record_participation"),
    ("live.py", "_actor"), ("roles.py", "actor_for"), ("chat.py", "latest_messages"),
    ("qa.py", "questions_for"), ("qa.py", "has_voted"), ("presence.py", "viewer_counts"),
    ("moderation.py", "active_ban"), ("moderation.py", "room_rules"), ("golive.py", "golive_view"),
    ("activity.py", "record_participation"), ("session.py", "commit"), ("base.py", "_execute_context"),
    ("sessions.py", "open_session"), ("sessions.py", "save_session"), ("flask_babel/__init__.py", "refresh"),
    ("json/__init__.py", "dumps"), ("socketio/packet.py", "encode"),
]


def statement_kind(statement: str) -> str:
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", text, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else ''}".strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=500, help="participants who connect and join (default 500)")
    parser.add_argument("--arena-ref", metavar="GIT_REF", help="run Arena from this commit instead of the work tree")
    parser.add_argument("--top", type=int, default=30, help="functions listed by cumulative time")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args()
    if not 1 <= args.joins <= 20000:
        parser.error("--joins takes 1..20000")

    workdir = Path(tempfile.mkdtemp(prefix="arena-join-profile-"))
    try:
        root = export_arena(args.arena_ref, workdir) if args.arena_ref else PROJECT_ROOT
        data = workdir / "data"
        data.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
        env.update({
            "ARENA_SERVER__BASE_URL": "http://127.0.0.1:5000",
            "ARENA_SERVER__ASYNC_MODE": "threading",
            "ARENA_SERVER__INSTANCE_PATH": str(data / "instance"),
            "ARENA_DATABASE__URL": f"sqlite:///{data / 'arena.db'}",
            "ARENA_MEDIA__RECORDINGS_DIR": str(data / "recordings"),
        })
        for command in (("migrate",), ("load-demo", "--date", date.today().isoformat())):
            subprocess.run([sys.executable, "-m", "server", *command], cwd=root, env=env, check=True,
                           capture_output=True, timeout=120)
        with sqlite3.connect(data / "arena.db") as connection:
            talk_id = connection.execute("SELECT id FROM talks WHERE slug = ?", (DEMO_TALK,)).fetchone()[0]
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(root))
        for name in [m for m in sys.modules if m == "server" or m.startswith("server.")]:
            del sys.modules[name]

        from sqlalchemy import event

        import server.app
        from server.app import create_app
        from server.db import db

        try:
            from server.extensions import socketio
        except ImportError:  # older code kept it in server/app.py
            socketio = server.app.socketio

        app = create_app()
        with app.app_context():
            engine = db.engine if hasattr(db, "engine") else db.get_engine()
        statements: Counter[str] = Counter()
        commits = [0]
        counting = [False]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            if counting[0]:
                statements[statement_kind(statement)] += 1

        @event.listens_for(engine, "commit")
        def _commit(conn):  # noqa: ANN001
            if counting[0]:
                commits[0] += 1

        page = f"/events/{DEMO_EVENT}/{DEMO_TALK}"
        http_clients = []
        for _ in range(args.joins):  # untimed: each participant's cookie, as a browser has it
            client = app.test_client()
            response = client.get(page)
            if response.status_code != 200:
                raise RuntimeError(f"GET {page}: {response.status_code}")
            http_clients.append(client)

        profiler = cProfile.Profile()
        connect_s, join_s, refused = [], [], Counter()
        sockets = []
        counting[0] = True
        connect_statements: Counter[str] = Counter()
        for client in http_clients:
            before = Counter(statements)
            started = time.perf_counter()
            profiler.enable()
            sio = socketio.test_client(app, namespace="/live", flask_test_client=client)
            profiler.disable()
            connect_s.append(time.perf_counter() - started)
            connect_statements.update(Counter(statements) - before)
            started = time.perf_counter()
            profiler.enable()
            ack = sio.emit("join", {"talk_id": talk_id}, namespace="/live", callback=True)
            profiler.disable()
            join_s.append(time.perf_counter() - started)
            if not (isinstance(ack, dict) and ack.get("ok")):
                refused[str(ack)[:120]] += 1
            sio.get_received("/live")  # drop what was pushed (presence and the like)
            sockets.append(sio)
        counting[0] = False
        join_statements = Counter(statements) - connect_statements

        stats = pstats.Stats(profiler)
        total = sum(connect_s) + sum(join_s)
        watched = {}
        for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
            for suffix, name in WATCHED:
                if function == name and filename.endswith(suffix):
                    key = f"{suffix}:{name}"
                    watched[key] = watched.get(key, 0.0) + cumulative
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.top)
        n = args.joins
        result = {
            "arena": str(root), "joins": n, "refused": dict(refused),
            "connect_ms_mean": 1000 * sum(connect_s) / n, "join_ms_mean": 1000 * sum(join_s) / n,
            "join_ms_p50": 1000 * sorted(join_s)[n // 2], "join_ms_max": 1000 * max(join_s),
            "sql_per_connect": sum(connect_statements.values()) / n,
            "sql_per_join": sum(join_statements.values()) / n,
            "commits_per_connect_and_join": commits[0] / n,
            "sql_by_kind_per_join": {k: round(v / n, 2) for k, v in join_statements.most_common()},
            "sql_by_kind_per_connect": {k: round(v / n, 2) for k, v in connect_statements.most_common()},
            "watched_cumulative_ms_per_join": {k: round(1000 * v / n, 3) for k, v in
                                               sorted(watched.items(), key=lambda kv: -kv[1])},
            "watched_share_of_connect_and_join": {k: round(v / total, 3) for k, v in
                                                  sorted(watched.items(), key=lambda kv: -kv[1])},
        }
        for sio in sockets:
            sio.disconnect(namespace="/live")
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(json.dumps(result, indent=2))
            print(text.getvalue())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
