"""The benchmark's load: publishers in their own processes, speaking just enough MQTT 3.1.1
(CONNECT, QoS 1 PUBLISH, PUBACK) over a raw socket that generating the load costs little of
the two cores the broker and the bridge need. No Django in here."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from entraide.telecare.subscriber import encode_length, encode_string

DEVICES = (("motion", "motion"), ("door", "door"), ("climate", "climate"), ("water", "water"))
BODIES = {"motion": '"motion": true', "door": '"contact": true', "climate":
          '"temperature": 19.5', "water": '"water_leak": false'}
INCIDENTS_PER_S = 10
CHUNK = 200


def connect_packet(client_id: str, username: str) -> bytes:
    body = (encode_string(b"MQTT") + bytes([4, 0x82]) + struct.pack("!H", 60)
            + encode_string(client_id.encode()) + encode_string(username.encode()))
    return b"\x10" + encode_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    body = encode_string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return b"\x32" + encode_length(len(body)) + body


class Publisher:
    """A QoS 1 publisher on a raw socket; a thread counts the broker's PUBACKs."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1",
                                              parts.port or 1883))
        self.sock.sendall(connect_packet(f"bench-load-{uuid.uuid4().hex[:8]}", "bench"))
        connack = self.sock.recv(4)
        if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the connection: {connack!r}")
        self.acked = 0
        self.next_id = 0
        threading.Thread(target=self._read_acks, daemon=True).start()

    def _read_acks(self) -> None:
        pending = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            pending += data
            complete = len(pending) // 4  # a PUBACK is 4 bytes: 0x40 0x02 id id
            self.acked += complete
            pending = pending[complete * 4:]

    def packet(self, topic: str, payload: bytes) -> bytes:
        self.next_id = self.next_id % 65535 + 1
        return publish_packet(topic, payload, self.next_id)

    def close(self, sent: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < sent and time.monotonic() < deadline:
            time.sleep(0.01)
        self.sock.sendall(b"\xe0\x00")
        self.sock.close()


def publish(url: str, codes: list[str], seconds: float, rate: float, incidents: list[str],
            results: Any) -> None:
    """Publish readings round-robin over the homes' devices at `rate` per second (each with
    its own time stamp), and a smoke reading in each home of `incidents` at INCIDENTS_PER_S
    stamped with the instant it is sent; report how many went out."""
    publisher = Publisher(url)
    sent = smoke = index = 0
    started = time.monotonic()
    next_incident = started + 0.5
    while (now := time.monotonic()) - started < seconds:
        if sent > (now - started) * rate:
            time.sleep(0.002)
            continue
        packets = []
        if incidents and now >= next_incident and smoke < len(incidents):
            body = json.dumps({"smoke": True, "ts": time.time()}).encode()
            packets.append(publisher.packet(f"entraide/{incidents[smoke]}/smoke", body))
            smoke += 1
            next_incident += 1 / INCIDENTS_PER_S
        stamp = time.time()
        for _ in range(CHUNK):
            code = codes[index % len(codes)]
            device = DEVICES[(index // len(codes)) % len(DEVICES)][0]
            payload = f'{{{BODIES[device]}, "ts": {stamp + index * 1e-6:.6f}}}'.encode()
            packets.append(publisher.packet(f"entraide/{code}/{device}", payload))
            index += 1
        publisher.sock.sendall(b"".join(packets))
        sent += len(packets)
    publisher.close(sent)
    results.put((sent, smoke))
