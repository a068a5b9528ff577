"""paho clients for Entraide's publishers (simulator, tests, benchmark), without Django.

The bridge, where the load is, has a subscriber of its own (`subscriber.py`). Brokers that
speak MQTT 5 are spoken to in 5, the others (like the embedded amqtt) in 3.1.1.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .subscriber import SESSION_EXPIRY


def client(url: str, client_id: str, *, persistent: bool = True,
           version: int | None = None) -> mqtt.Client:
    """A paho client for an mqtt:// or mqtts:// URL (user and password in the URL), in
    MQTT 5 when the broker speaks it, else 3.1.1 (`version=4`)."""
    if version is None:
        version = protocol_of(url)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, not {url!r}")
    properties = None
    if version == 5:
        paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=mqtt.MQTTv5)
        properties = Properties(PacketTypes.CONNECT)
        if persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY
    else:
        paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=mqtt.MQTTv311, clean_session=not persistent)
    # A user name also tells the embedded broker to queue this client's messages.
    paho.username_pw_set(unquote(parts.username or client_id),
                         unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        paho.tls_set()
    paho.reconnect_delay_set(1, 30)
    clean_start = not persistent if version == 5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
    paho.connect_async(parts.hostname or "127.0.0.1",
                       parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30,
                       clean_start=clean_start, properties=properties)
    return paho


_versions: dict[str, int] = {}


def protocol_of(url: str) -> int:
    """5 if the broker speaks MQTT 5, else 4 (3.1.1); asked once per URL."""
    if url not in _versions:
        _versions[url] = 5 if speaks(url, 5) else 4
    return _versions[url]


def speaks(url: str, version: int, timeout: float = 10) -> bool | None:
    """Whether the broker accepts this MQTT version (None: it does not answer)."""
    answer: list[bool] = []
    probe = client(url, f"entraide-probe-{time.monotonic_ns()}", persistent=False,
                   version=version)
    probe.on_connect = lambda c, u, f, code, p: answer.append(not code.is_failure)
    # A 3.1.1-only broker may just hang up on an MQTT 5 CONNECT: that is an answer too.
    probe.on_disconnect = lambda *args: answer.append(False)
    probe.loop_start()
    deadline = time.monotonic() + timeout
    while not answer and time.monotonic() < deadline:
        time.sleep(0.01)
    probe.disconnect()
    probe.loop_stop()
    return answer[0] if answer else None


def connected(paho: mqtt.Client, timeout: float = 15) -> mqtt.Client:
    """Start the client's network loop and wait until the broker has accepted it."""
    paho.loop_start()
    deadline = time.monotonic() + timeout
    while not paho.is_connected():
        if time.monotonic() > deadline:
            paho.loop_stop()
            raise RuntimeError("no MQTT broker answers")
        time.sleep(0.01)
    return paho


