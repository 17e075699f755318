"""/metrics as Prometheus scrapes it: who may read it, and the live room's figures it shows."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from server.db import make_engine
from server.migrations import upgrade
from server.sockets import protocol as p
from tests.conftest import start_live_server
from tests.live.conftest import Arena, open_browsers
from tests.services import postgres_service, redis_service
from tests.test_live_room import Browser as RoomBrowser
from tests.waiting import wait_until

TOKEN = "skrapa-4f1c2a9e-bd17-4c55"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(name, ((label, value), ...)): value} of a scrape, parsed as Prometheus would."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


# -- who may read it ----------------------------------------------------------------------

def test_metrics_answer_loopback_in_prometheus_text_format(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    scraped = samples(response.get_data(as_text=True))
    assert value(scraped, "arena_database_up") == 1
    assert value(scraped, "arena_socketio_connections", namespace="/live") == 0


def test_metrics_from_another_address_without_a_token_are_not_found(client):
    response = client.get("/metrics", environ_base=OUTSIDE)
    unknown = client.get("/no-such-address", environ_base=OUTSIDE)

    assert response.status_code == 404
    # Nothing tells that /metrics exists: the page is the one of any unknown address.
    assert response.get_data().replace(b"/metrics", b"/no-such-address") == unknown.get_data()
    assert b"arena_" not in response.get_data()


def test_metrics_from_another_address_with_the_token(make_app):
    client = make_app(metrics={"token": TOKEN}).test_client()

    right = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {TOKEN}"})
    wrong = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    basic = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Basic {TOKEN}"})

    assert right.status_code == 200 and b"arena_database_up" in right.get_data()
    assert wrong.status_code == 404
    assert basic.status_code == 404


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_metrics_through_a_proxy_on_this_machine_need_the_token(make_app, trusted_proxies):
    # nginx on the same host connects from 127.0.0.1: the forwarded header says it was not us.
    client = make_app(server={"trusted_proxies": trusted_proxies}, metrics={"token": TOKEN}).test_client()
    forwarded = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"}

    without = client.get("/metrics", headers=forwarded)
    with_token = client.get("/metrics", headers={**forwarded, "Authorization": f"Bearer {TOKEN}"})

    assert without.status_code == 404
    assert with_token.status_code == 200


def test_metrics_with_no_token_configured_refuse_any_bearer(client):
    response = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer "})

    assert response.status_code == 404


# -- what it shows ------------------------------------------------------------------------

def test_metrics_show_the_live_rooms_connections_and_messages(app, client, demo_event):
    talk = demo_event.talks[0]
    anna = RoomBrowser(app, talk, "Anna")
    helen = RoomBrowser(app, talk, "Helen")
    assert anna.say("Hej från Kiruna!")["ok"] and helen.say("Hej från Luleå!")["ok"]
    assert anna.ask("Hur gör ni med arkiveringen?")["ok"]

    scraped = samples(client.get("/metrics").get_data(as_text=True))

    assert value(scraped, "arena_socketio_connections", namespace=p.LIVE_NAMESPACE) == 2
    assert value(scraped, "arena_live_rooms") == 1
    assert value(scraped, "arena_live_room_connections", talk_id=str(talk.id)) == 2
    assert value(scraped, "arena_live_entries_per_minute", kind="message") == 2
    assert value(scraped, "arena_live_entries_per_minute", kind="question") == 1
    assert value(scraped, "arena_live_entries_total", kind="message") == 2
    assert value(scraped, "arena_fanout_delay_seconds_count") == 3
    assert value(scraped, "arena_fanout_oldest_wait_seconds") == 0
    assert value(scraped, "arena_live_streams", source="browser") == 0
    assert value(scraped, "arena_recording_import_jobs", state="running") == 0
    assert value(scraped, "arena_redis_configured") == 0
    assert all(v == 1 for (name, _), v in scraped.items() if name == "arena_metrics_collector_up")
    assert value(scraped, "process_resident_memory_bytes") > 0


def test_metrics_report_redis_down_and_still_answer_while_its_redis_is_killed(make_app):
    with redis_service() as queue:
        client = make_app(chat={"message_queue": queue.url()}).test_client()
        up = samples(client.get("/metrics").get_data(as_text=True))

        queue.kill()
        down = wait_until(lambda: (s := samples(client.get("/metrics").get_data(as_text=True)))
                          and value(s, "arena_redis_up") == 0 and s, message="arena_redis_up never became 0")

    assert value(up, "arena_redis_configured") == 1 and value(up, "arena_redis_up") == 1
    assert value(down, "arena_database_up") == 1
    assert value(down, "arena_metrics_collector_up", collector="live") == 1


def test_metrics_still_answer_with_the_database_down_and_say_so(make_app):
    with postgres_service() as database:
        url = database.create_database("arena")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        client = make_app(database={"url": url}).test_client()
        up = samples(client.get("/metrics").get_data(as_text=True))

        database.stop()
        response = client.get("/metrics")
        database.start()

    down = samples(response.get_data(as_text=True))
    assert value(up, "arena_database_up") == 1 and value(up, "arena_recording_import_jobs", state="queued") == 0
    assert response.status_code == 200
    assert value(down, "arena_database_up") == 0
    assert value(down, "arena_metrics_collector_up", collector="database") == 0
    assert value(down, "arena_metrics_collector_up", collector="imports") == 0
    assert not any(name == "arena_recording_import_jobs" for name, _ in down)  # left out, not made up
    assert value(down, "arena_metrics_collector_up", collector="live") == 1
    assert value(down, "arena_socketio_connections", namespace=p.LIVE_NAMESPACE) == 0


def test_metrics_of_a_served_process_show_the_room_while_people_chat(tmp_path):
    arena = Arena(start_live_server(tmp_path))
    try:
        talk_id = arena.talk_id()
        with open_browsers(arena) as browsers:
            people = [browsers.open(name, talk_id=talk_id) for name in ("Anna", "Helen", "Mattias")]
            for person in people:
                assert person.say("Hälsningar från Norrbotten")["ok"]

            def scraped_after_the_pushes():  # entries close together wait up to 50 ms for their tick
                scraped = samples(requests.get(f"{arena.url}/metrics", timeout=30).text)
                return value(scraped, "arena_fanout_delay_seconds_count") == 3 and scraped

            scraped = wait_until(scraped_after_the_pushes, message="the three messages never went out")
            outside = requests.get(f"{arena.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    finally:
        arena.close()
        arena.server.stop()

    assert outside.status_code == 404
    assert value(scraped, "arena_socketio_connections", namespace=p.LIVE_NAMESPACE) == 3
    assert value(scraped, "arena_live_rooms") == 1
    assert value(scraped, "arena_live_room_connections", talk_id=str(talk_id)) == 3
    assert value(scraped, "arena_live_entries_per_minute", kind="message") == 3
    assert value(scraped, "arena_fanout_oldest_wait_seconds") == 0
