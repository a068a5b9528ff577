"""`entraide simulate homes`: demo homes whose simulated sensors send to the MQTT broker."""

from __future__ import annotations

import datetime as dt
import random
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from entraide.telecare import demo, simulator
from entraide.telecare.payloads import MAX_AGE
from entraide.telecare.simulator import Home, Incident, Live, Publisher


class Command(BaseCommand):
    help = "Simulate the sensors of demo homes: days of history, then live, with incidents."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        homes = sub.add_parser("homes", help="Equip demo homes and play their sensors.")
        homes.add_argument("--homes", type=int, default=40, help="How many homes (40).")
        homes.add_argument("--mqtt-url", default=settings.MQTT_URL)
        homes.add_argument("--backfill-days", type=float, default=0,
                           help="Days of history to send first, with their time stamps "
                                "(at most what the bridge accepts: 7 days).")
        homes.add_argument("--speed", type=float, default=1.0,
                           help="How much faster than real time the live homes run (1).")
        homes.add_argument("--incidents-every", type=float, default=10, metavar="MINUTES",
                           help="An incident in a random home every so many real minutes "
                                "(10; 0 for none).")
        homes.add_argument("--first-incident", choices=sorted(simulator.INCIDENTS),
                           help="Kind of the first incident, injected within a minute of "
                                "going live (then random kinds).")
        homes.add_argument("--seed", type=int, default=42,
                           help="Random seed: the same seed gives the same lives.")
        homes.add_argument("--once", action="store_true",
                           help="Send the history, then exit instead of going live.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive.")
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._simulate(options, stop)
        finally:  # called from code (tests), the command leaves the handlers as they were
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _simulate(self, options: dict[str, Any], stop: threading.Event) -> None:
        rng = random.Random(options["seed"])
        installations = demo.seed_homes(options["homes"], rng)
        if not installations:
            raise CommandError("No household to equip: run `entraide seed` first.")
        homes = [Home.of(installation) for installation in installations]
        zigbee = sum(any(sensor.zigbee for sensor in home.sensors) for home in homes)
        self.stdout.write(f"{len(homes)} simulated homes ({zigbee} on Zigbee2MQTT) sending "
                          f"to {options['mqtt_url']}")
        try:
            publisher = Publisher(options["mqtt_url"]).start(timeout=60)
        except RuntimeError as error:
            raise CommandError(f"{error} at {options['mqtt_url']}") from None
        try:
            end = timezone.now()
            if options["backfill_days"] > 0:
                end = self._backfill(publisher, homes, options, stop)
            if options["once"] or stop.is_set():
                return
            self.stdout.write(f"Live at {options['speed']:g}× real time; an incident every "
                              f"{options['incidents_every']:g} min. Ctrl-C stops.")
            Live(publisher, homes, options["seed"], end, options["speed"]).run(
                stop, rng, options["incidents_every"] * 60, self._incident,
                first=options["first_incident"])
        finally:
            publisher.stop()

    def _backfill(self, publisher: Publisher, homes: list[Home], options: dict[str, Any],
                  stop: threading.Event) -> dt.datetime:
        """Send the history up to now, then what went by meanwhile; returns where it ends."""
        end = timezone.now()
        # A reading older than the bridge accepts would be refused: start just inside.
        start = max(end - dt.timedelta(days=options["backfill_days"]),
                    end - MAX_AGE + dt.timedelta(hours=1))
        first = start
        sent = simulator.backfill(publisher, homes, start, end, options["seed"], stop)
        while not stop.is_set() and timezone.now() - end > dt.timedelta(seconds=1):
            start, end = end, timezone.now()
            sent += simulator.backfill(publisher, homes, start, end, options["seed"], stop)
        lost = f", {publisher.failed} lost" if publisher.failed else ""
        if stop.is_set():
            self.stdout.write(f"History interrupted after {sent} messages{lost}.")
        else:
            self.stdout.write(f"History sent: {sent} messages over {(end - first).days} days "
                              f"{(end - first).seconds // 3600} h{lost}.")
        return end

    def _incident(self, home: Home, incident: Incident) -> None:
        device = f" ({incident.device})" if incident.device else ""
        self.stdout.write(f"{timezone.localtime():%H:%M:%S}  {incident.kind}{device} in "
                          f"{home.code}: {simulator.INCIDENTS[incident.kind]}")
