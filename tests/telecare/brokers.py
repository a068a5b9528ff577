"""MQTT brokers for the tests: the embedded amqtt one always, the real Mosquitto when it
answers on 127.0.0.1:1883 (as it does on CI machines)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from entraide.telecare.bridge import Bridge, client, connected
from entraide.telecare.broker import EmbeddedBroker

MOSQUITTO = "mqtt://127.0.0.1:1883"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[str]:
    port = free_port()
    broker = EmbeddedBroker(port).start()
    yield f"mqtt://127.0.0.1:{port}"
    broker.stop()


@pytest.fixture(params=["embedded", "mosquitto"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "mosquitto":
        if not answers("127.0.0.1", 1883):
            pytest.skip("no Mosquitto on 127.0.0.1:1883")
        return MOSQUITTO
    return str(request.getfixturevalue("embedded_broker"))


def publish(url: str, messages: Iterable[tuple[str, Any]], qos: int = 1) -> int:
    """Publish (topic, payload) pairs (dicts are sent as JSON) and wait until all are out."""
    publisher = connected(client(url, f"test-pub-{uuid.uuid4().hex[:8]}", persistent=False))
    infos = []
    try:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            infos.append(publisher.publish(topic, body, qos=qos))
            if len(infos) % 500 == 0:
                infos[-1].wait_for_publish(30)
        for info in infos:
            info.wait_for_publish(30)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    return len(infos)


@pytest.fixture
def bridges(broker_url: str) -> Iterator[Any]:
    """Start bridges on the broker under one session id; forget that session afterwards."""
    session = f"test-bridge-{uuid.uuid4().hex[:8]}"
    started: list[Bridge] = []

    def start(**kwargs: Any) -> Bridge:
        bridge = Bridge(broker_url, session, **kwargs).start()
        started.append(bridge)
        return bridge

    start.url = broker_url  # type: ignore[attr-defined]
    yield start
    for bridge in started:
        if not bridge.stopping.is_set():
            bridge.stop()
    # Connecting with a clean session under the same id drops the queue at the broker.
    forget = connected(client(broker_url, session, persistent=False))
    forget.disconnect()
    forget.loop_stop()
