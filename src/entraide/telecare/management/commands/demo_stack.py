"""`entraide demo_stack`: the whole demo at once, for `make demo`.

The embedded MQTT broker, the bridge, the simulated homes and the web server run as child
processes of this one, their output prefixed with their name; Ctrl-C, SIGTERM or the end
of any of them stops them all (each runs in its own process group, so that a Ctrl-C
reaches this process only, which stops the others in order, the broker last).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from entraide.cases import demo as department
from entraide.telecare import demo
from entraide.telecare.mqtt import speaks

SEED = 42


@dataclass
class Child:
    """A process of the demo, and whether it has printed the line that says it is ready."""

    name: str
    process: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)


class Command(BaseCommand):
    help = "Run the whole demo: MQTT broker, bridge, simulated homes and the web server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1:8000",
                            help="Address and port of the web server (127.0.0.1:8000).")
        parser.add_argument("--homes", type=int, default=40,
                            help="How many homes have simulated sensors (40).")
        parser.add_argument("--backfill-days", type=float, default=7,
                            help="Days of sensor history sent first (7).")
        parser.add_argument("--incidents-every", type=float, default=5, metavar="MINUTES",
                            help="An incident in a random home every so many minutes (5).")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        self.lock = threading.Lock()
        self.children: list[Child] = []
        url = settings.MQTT_URL
        parts = urlsplit(url)
        homes = demo.seed_homes(options["homes"], random.Random(SEED))
        if not homes:
            raise CommandError("No household to equip: run `entraide seed` first.")
        # The demo starts now: the bridge about to start must not find the homes stale.
        demo.checked(homes, timezone.now())
        try:
            if speaks(url, 4, timeout=2) is not None:
                self._say(f"An MQTT broker answers at {url}: the demo uses it.")
            elif parts.hostname in ("127.0.0.1", "localhost") and \
                    parts.port == settings.ENTRAIDE_EMBEDDED_MQTT_PORT:
                broker = self._start("broker", "telecare", "broker", "--port",
                                     str(parts.port), ready="Embedded MQTT broker on")
                self._wait(broker.ready.is_set, stop, "the MQTT broker")
            else:
                raise CommandError(f"No MQTT broker answers at MQTT_URL={url}.")
            bridge = self._start("bridge", "telecare", "bridge", "--mqtt-url", url,
                                 ready="Bridge listening")
            self._wait(bridge.ready.is_set, stop, "the bridge")
            self._start("homes", "simulate", "homes", "--homes", str(options["homes"]),
                        "--mqtt-url", url, "--backfill-days", f"{options['backfill_days']:g}",
                        "--incidents-every", f"{options['incidents_every']:g}",
                        # A fire first, within a minute: the console shows life at once.
                        "--first-incident", "fire", "--seed", str(SEED))
            # Alerts and leads refresh levels as they come; overdue actions need the clock.
            self._start("levels", "territory", "refresh", "--every-minutes", "60")
            self._start("web", "runserver", options["host"], "--noreload", "--insecure")
            self._welcome(options)
            while not stop.wait(0.5):
                ended = next((c for c in self.children if c.process.poll() is not None), None)
                if ended is not None:
                    raise CommandError(f"{ended.name} stopped (exit code "
                                       f"{ended.process.returncode}): the demo stops.")
        finally:
            self._stop_all()

    def _start(self, name: str, *command: str, ready: str = "") -> Child:
        """Start `entraide <command>` with this Python, its output prefixed with `name`."""
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            [sys.executable, "-m", "entraide.cli", *command], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, process_group=0)
        child = Child(name, process)
        self.children.append(child)
        threading.Thread(target=self._relay, args=(child, ready), daemon=True).start()
        return child

    def _relay(self, child: Child, ready: str) -> None:
        assert child.process.stdout is not None
        for line in child.process.stdout:
            if ready and ready in line:
                child.ready.set()
            self._say(f"[{child.name}] {line.rstrip()}")

    def _say(self, line: str) -> None:
        with self.lock:
            self.stdout.write(line)

    def _wait(self, ready: Callable[[], bool], stop: threading.Event, what: str,
              timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if stop.is_set():
                raise CommandError("Stopped before the demo was up.")
            if any(child.process.poll() is not None for child in self.children):
                raise CommandError(f"The demo could not start {what}.")
            if time.monotonic() > deadline:
                raise CommandError(f"{what.capitalize()} is not ready after {timeout:g} s.")
            time.sleep(0.1)

    def _welcome(self, options: dict[str, Any]) -> None:
        logins = ", ".join(f"{username} ({role})"
                           for username, role, _ in department.demo_logins())
        self._say(
            f"\nEntraide is starting on http://{options['host']}/ with {options['homes']} "
            f"simulated homes and an incident every {options['incidents_every']:g} minutes."
            f"\nLog in as operator to watch the alerts. Demo accounts: {logins or 'none'}; "
            f"password for every one: {department.DEMO_PASSWORD}\nCtrl-C stops everything.\n")

    def _stop_all(self) -> None:
        """Stop the children, the last started first, so that the broker goes last."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
                try:
                    child.process.wait(15)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
