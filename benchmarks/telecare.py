"""Telecare end to end: readings per second from the broker through the rules into the
database, and how long a smoke reading takes to become a committed alert.

`entraide bench telecare [--homes 10000] [--seconds 30] [--mqtt-url URL] [--rate 20000]`
publishes, from separate processes, one reading per message for every home's motion, door,
climate and water sensors, plus a smoke reading in a new home every 1/10 s; the bridge runs
in this process exactly as `entraide telecare bridge` does. The baseline, measured first in
the same run with the same publishers, is a bare subscriber that only parses the JSON.
Without --mqtt-url the broker is MQTT_URL; the embedded broker is started when that is its
default address and nothing answers there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from benchmarks import _load as load
from benchmarks.cases import percentile, say, use_database

DEVICES = load.DEVICES
INCIDENTS_PER_S = load.INCIDENTS_PER_S


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entraide bench telecare")
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=20_000,
                        help="Readings per second the publishers aim at, all together.")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--mqtt-url", default=settings.MQTT_URL)
    parser.add_argument("--db", type=Path,
                        default=Path(settings.DATA_DIR) / "bench-telecare.sqlite3")
    return parser.parse_args(argv)


# --- the homes ---------------------------------------------------------------------------

def ensure_homes(count: int) -> list[str]:
    """Installation codes of `count` homes with the benchmark's devices, seeded once."""
    from entraide.org.models import Organisation, Territory
    from entraide.people.models import Household, Person
    from entraide.telecare.models import Device, Installation

    have = Installation.objects.count()
    if have < count:
        say(f"seeding {count - have} telecare homes")
        territory = Territory.objects.first() or Territory.objects.create(
            organisation=Organisation.objects.create(name="Bench"), code="B", name="Bench")
        for start in range(have, count, 2000):
            size = min(2000, count - start)
            households = Household.objects.bulk_create(
                Household(territory=territory, address=f"{i} rue du Banc", postcode="47000",
                          commune="Agen") for i in range(start, start + size))
            persons = Person.objects.bulk_create(
                Person(household=h, first_name="Jeanne", last_name=f"Banc {h.pk}")
                for h in households)
            now = time.time()
            installations = Installation.objects.bulk_create(
                Installation(code=f"bench-{start + i}", household=h, resident=p,
                             territory=territory,
                             installed_at=timezone.now(), silence_minutes=24 * 60)
                for i, (h, p) in enumerate(zip(households, persons, strict=True)))
            Device.objects.bulk_create(
                Device(installation=inst, code=code, kind=kind, label=code)
                for inst in installations for code, kind in (*DEVICES, ("smoke", "smoke")))
            say(f"  {start + size} homes ({time.time() - now:.1f} s)")
    return list(Installation.objects.order_by("pk").values_list("code", flat=True)[:count])


def reset_stream_tables() -> None:
    """Forget the readings, alerts and rejections of a previous run."""
    with connection.cursor() as cursor:
        for table in ("telecare_reading", "telecare_alertstep", "telecare_notification",
                      "telecare_alert", "telecare_rejection", "cases_timelineevent"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
    from entraide.telecare.models import Device, Installation

    Device.objects.update(last_seen_at=None, rejected_count=0)
    Installation.objects.update(last_motion_at=None, last_door_at=None, climate_out_since=None)


# --- publishers, in their own processes ---------------------------------------------------

def start_publishers(url: str, codes: list[str], options: argparse.Namespace,
                     incidents: list[str]) -> tuple[list[Any], Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    count = options.publishers
    processes = []
    for n in range(count):
        share = codes[n::count]
        process = context.Process(target=load.publish, args=(
            url, share, options.seconds, options.rate / count, incidents[n::count], results))
        process.start()
        processes.append(process)
    return processes, results


def collect(processes: list[Any], results: Any) -> tuple[int, int]:
    sent = smoke = 0
    for _ in processes:
        while True:
            try:
                a, b = results.get(timeout=1)
                break
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    raise SystemExit("a publisher failed (its error is above)") from None
        sent, smoke = sent + a, smoke + b
    for process in processes:
        process.join()
    return sent, smoke


# --- the two subscribers -------------------------------------------------------------------

def baseline(url: str, codes: list[str], options: argparse.Namespace) -> float:
    """Messages per second a bare subscriber receives and parses, nothing more: the bridge's
    own MQTT subscriber, acknowledging each message once its JSON is parsed."""
    from entraide.telecare.bridge import TOPICS
    from entraide.telecare.subscriber import Subscriber

    received = [0, 0.0, 0.0]

    def on_messages(messages: list[Any]) -> None:
        for _topic, payload, _token in messages:
            json.loads(payload)
        now = time.perf_counter()
        if not received[0]:
            received[1] = now
        received[0] += len(messages)
        received[2] = now
        subscriber.ack(token for _topic, _payload, token in messages)

    session = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(url, session, TOPICS, on_messages, persistent=False).start()
    time.sleep(0.5)
    processes, results = start_publishers(url, codes, options, [])
    sent, _ = collect(processes, results)
    deadline = time.monotonic() + 30
    while received[0] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    subscriber.stop()
    say(f"baseline: {received[0]} of {sent} messages received")
    return received[0] / max(received[2] - received[1], 1e-9)


def through_the_bridge(url: str, codes: list[str], options: argparse.Namespace
                       ) -> dict[str, Any]:
    from entraide.telecare.bridge import Bridge, client, connected
    from entraide.telecare.models import Alert, Reading

    session = f"bench-bridge-{uuid.uuid4().hex[:8]}"
    bridge = Bridge(url, session).start()
    incidents = codes[: int(options.seconds * INCIDENTS_PER_S) + 10]
    processes, results = start_publishers(url, codes, options, incidents)
    latencies: list[float] = []
    seen = 0
    first = last = 0.0
    published: tuple[int, int] | None = None
    idle_since = time.monotonic()
    while True:
        result = bridge.step()
        now = time.time()
        if result is not None:
            idle_since = time.monotonic()
            first = first or now
            last = now
            if result.alerts:
                for pk, at in Alert.objects.filter(pk__gt=seen).values_list("pk", "reading_at"):
                    latencies.append((now - at.timestamp()) * 1000)
                    seen = max(seen, pk)
        if published is None and not any(p.is_alive() for p in processes):
            published = collect(processes, results)
        if published is not None and (bridge.totals.stored >= published[0]
                                      or time.monotonic() - idle_since > 10):
            break
    bridge.stop()
    forget = connected(client(url, session, persistent=False))
    forget.disconnect()
    forget.loop_stop()
    stored = Reading.objects.count()
    say(f"bridge: {stored} of {published[0]} readings stored, {len(latencies)} alerts")
    return {"readings_per_s": round(stored / max(last - first, 1e-9)),
            "alert_p50_ms": percentile(latencies, 0.5) if latencies else None,
            "alert_p99_ms": percentile(latencies, 0.99) if latencies else None,
            "alerts": len(latencies), "incidents": published[1],
            "published": published[0], "lost": published[0] - stored}


def ensure_broker(url: str) -> subprocess.Popen[bytes] | None:
    """Start the embedded broker when the URL is its default address and nobody answers."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    try:
        socket.create_connection((host, port), timeout=1).close()
        return None
    except OSError:
        if port != settings.ENTRAIDE_EMBEDDED_MQTT_PORT:
            raise SystemExit(f"no MQTT broker answers at {url}") from None
    say(f"starting the embedded broker on port {port}")
    broker = subprocess.Popen([sys.executable, "-m", "entraide.cli", "telecare",  # noqa: S603
                               "broker", "--port", str(port)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return broker
        except OSError:
            time.sleep(0.2)
    broker.kill()
    raise SystemExit("the embedded broker did not start")


def run(argv: list[str]) -> dict[str, Any]:
    options = parse(argv)
    use_database(options.db)
    call_command("migrate", interactive=False, verbosity=0, stdout=sys.stderr)
    codes = ensure_homes(options.homes)
    reset_stream_tables()
    broker = ensure_broker(options.mqtt_url)
    try:
        base = baseline(options.mqtt_url, codes, options)
        figures = through_the_bridge(options.mqtt_url, codes, options)
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(10)
    broker_name = "embedded amqtt" if broker is not None or urlsplit(
        options.mqtt_url).port == settings.ENTRAIDE_EMBEDDED_MQTT_PORT else options.mqtt_url
    return {"homes": options.homes, "seconds": options.seconds, "broker": broker_name,
            **figures, "baseline_readings_per_s": round(base),
            "ratio_to_baseline": round(figures["readings_per_s"] / max(base, 1e-9), 2)}
