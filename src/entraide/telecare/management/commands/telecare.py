"""`entraide telecare broker|bridge|learn|gateway`: the telecare processes and chores."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from entraide.telecare import services
from entraide.telecare.bridge import Bridge
from entraide.telecare.broker import EmbeddedBroker
from entraide.telecare.models import Gateway, Installation


class Command(BaseCommand):
    help = "Run the embedded MQTT broker or the bridge, learn habits, issue gateway tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        broker = sub.add_parser("broker", help="Run the embedded MQTT broker (amqtt).")
        broker.add_argument("--port", type=int, default=settings.ENTRAIDE_EMBEDDED_MQTT_PORT)
        bridge = sub.add_parser("bridge", help="Consume sensor messages into alerts.")
        bridge.add_argument("--mqtt-url", default=settings.MQTT_URL)
        bridge.add_argument("--client-id", default="entraide-bridge")
        sub.add_parser("learn", help="Learn every home's habits from its motion history.")
        gateway = sub.add_parser("gateway", help="Issue an HTTP token for a cellular gateway.")
        gateway.add_argument("installation", help="The installation's code.")
        gateway.add_argument("--label", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        getattr(self, f"_{options['action']}")(options)

    def _until_signalled(self, stop: threading.Event | None = None) -> threading.Event:
        """An event set by Ctrl-C or SIGTERM."""
        stop = stop or threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        return stop

    def _broker(self, options: dict[str, Any]) -> None:
        broker = EmbeddedBroker(options["port"]).start()
        self.stdout.write(f"Embedded MQTT broker on mqtt://127.0.0.1:{options['port']}")
        self._until_signalled().wait()
        broker.stop()

    def _bridge(self, options: dict[str, Any]) -> None:
        bridge = Bridge(options["mqtt_url"], options["client_id"])
        try:
            bridge.start(timeout=60)
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Bridge listening on {options['mqtt_url']}")
        self._until_signalled(bridge.stopping)
        bridge.run()
        bridge.stop()

    def _learn(self, options: dict[str, Any]) -> None:
        now = timezone.now()
        ids = list(Installation.objects.filter(active=True).values_list("pk", flat=True))
        for installation_id in ids:
            services.learn_profile(installation_id, now)
        self.stdout.write(f"Habits learnt for {len(ids)} homes.")

    def _gateway(self, options: dict[str, Any]) -> None:
        installation = Installation.objects.filter(code=options["installation"]).first()
        if installation is None:
            raise CommandError(f"No installation with code {options['installation']!r}.")
        token = Gateway.issue(installation, options["label"])
        self.stdout.write(f"Gateway token (shown once): {token}")
