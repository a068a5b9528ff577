"""The bridge's MQTT subscriber: QoS 1, persistent session, packets parsed in bulk.

paho hands messages over one at a time, reading each packet's header with a system call of
its own and building an object per message; at the rates a monitoring centre must absorb
(10,000 homes, a reading a second or more when something happens) that alone took most of
a core. This subscriber reads the socket 256 KB at a time and cuts every complete PUBLISH
out of the buffer in one pass; it speaks just what a consumer needs of MQTT 5 and 3.1.1
(CONNECT, SUBSCRIBE, PUBLISH in, PUBACK out, PINGREQ), over TCP or TLS, and reconnects by
itself with the same session, so that what the broker holds for it is delivered again.

Acknowledgements are explicit (`ack`), so that a message is acknowledged only once what it
carried is stored; each token names the connection it came on, and tokens of an earlier
connection are dropped, since the broker delivers those messages again on the new one.
Publishing stays with paho (`mqtt.client`): publishers are not where the load is.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
# MQTT 5 lets a client say how many unacknowledged messages the broker may have in flight
# to it (up to 65,535). A wide window keeps the stream flowing while a batch is stored;
# without one Mosquitto keeps 20 in flight and queues the rest, dropping beyond 1,000.
RECEIVE_MAXIMUM = 65535
SESSION_EXPIRY = 7 * 24 * 3600

CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP, DISCONNECT = 2, 3, 4, 9, 13, 14
PINGREQ = b"\xc0\x00"
CONNACK_WAIT = 3.0


class ProtocolError(Exception):
    """The broker said no, or sent what MQTT does not allow."""


class UnsupportedVersion(ProtocolError):
    """The broker does not speak the MQTT version we offered."""


@dataclass(frozen=True, slots=True)
class Token:
    """How to acknowledge one message: its packet id on the connection it came on."""

    connection: int
    packet_id: int


Received = Callable[[list[tuple[str, bytes, Token | None]]], None]


def encode_length(n: int) -> bytes:
    """MQTT's variable byte integer (a remaining length, a property length)."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_string(value: str | bytes) -> bytes:
    """An MQTT string or binary field: two bytes of length, then the bytes."""
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_length(len(body)) + body


def _varint(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """A variable byte integer at `at`: (value, position after it); -1 if incomplete."""
    value = shift = 0
    while True:
        if at >= len(data):
            return -1, at
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 21:
            raise ProtocolError("remaining length longer than four bytes")


def connect_packet(client_id: str, version: int, *, persistent: bool, keepalive: int,
                   username: str | None, password: str | None) -> bytes:
    flags = 0x00 if persistent else 0x02
    payload = encode_string(client_id)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    header = encode_string(b"MQTT") + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        properties = b"\x21" + struct.pack("!H", RECEIVE_MAXIMUM)
        if persistent:
            properties += b"\x11" + struct.pack("!I", SESSION_EXPIRY)
        header += encode_length(len(properties)) + properties
    return _packet(0x10, header + payload)


def subscribe_packet(topics: Sequence[str], packet_id: int, version: int) -> bytes:
    body = struct.pack("!H", packet_id) + (b"\x00" if version == 5 else b"")
    for topic in topics:
        body += encode_string(topic) + b"\x01"  # QoS 1
    return _packet(0x82, body)


def parse(data: bytes | bytearray, version: int) -> tuple[list[tuple[int, int, bytes | str,
                                                                    bytes, int | None]], int]:
    """Every complete packet in `data`: (type, flags, topic or body, payload, packet id),
    and how many bytes they took (the rest is the start of a packet still arriving)."""
    packets: list[tuple[int, int, bytes | str, bytes, int | None]] = []
    at, size = 0, len(data)
    while size - at >= 2:
        first = data[at]
        length = data[at + 1]
        start = at + 2
        if length >= 0x80:
            length, start = _varint(data, at + 1)
            if length < 0:
                break
        end = start + length
        if end > size:
            break
        kind = first >> 4
        if kind == PUBLISH:
            qos = (first >> 1) & 3
            cursor = start + 2 + ((data[start] << 8) | data[start + 1])
            topic = bytes(data[start + 2:cursor]).decode("utf-8", "replace")
            packet_id = None
            if qos:
                packet_id = (data[cursor] << 8) | data[cursor + 1]
                cursor += 2
            if version == 5:
                properties, cursor = _varint(data, cursor)
                cursor += properties if properties >= 0 else end
            if cursor > end:
                raise ProtocolError("PUBLISH shorter than its own header")
            packets.append((PUBLISH, qos, topic, bytes(data[cursor:end]), packet_id))
        else:
            packets.append((kind, first & 0x0F, bytes(data[start:end]), b"", None))
        at = end
    return packets, at


_versions: dict[str, int] = {}  # brokers found not to speak MQTT 5, by URL


class Subscriber:
    """Subscribes `topics` at QoS 1 and hands what arrives to `received`, in bulk, from a
    thread of its own; `ack` the tokens once done with their messages."""

    def __init__(self, url: str, client_id: str, topics: Sequence[str], received: Received,
                 *, persistent: bool = True, version: int | None = None,
                 keepalive: int = 30):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, not {url!r}")
        self.url, self.client_id, self.topics = url, client_id, tuple(topics)
        self.received, self.persistent, self.keepalive = received, persistent, keepalive
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.tls = parts.scheme == "mqtts"
        # A user name also tells the embedded broker to queue this client's messages.
        self.username = unquote(parts.username or client_id)
        self.password = unquote(parts.password) if parts.password else None
        self.version = version or _versions.get(url, 5)
        self.fixed_version = version is not None
        self.connection = 0
        self.session_present = False
        self.connected = threading.Event()
        self.refused: str | None = None
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._last_sent = 0.0
        self._thread: threading.Thread | None = None
        self._spoke_5 = False  # once accepted in MQTT 5, a hang-up is only a hang-up

    # --- the caller's side ------------------------------------------------------------

    def start(self, timeout: float = 15) -> Subscriber:
        """Connect and subscribe; returns once the broker has accepted the subscription."""
        self._thread = threading.Thread(target=self._run, name="mqtt-subscriber", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.05):
            if self.refused or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"no MQTT broker accepts the subscriber at {self.url}"
                                   + (f": {self.refused}" if self.refused else ""))
        return self

    def ack(self, tokens: Iterable[Token | None]) -> int:
        """Acknowledge messages (tokens of a closed connection are dropped: the broker sends
        those again); returns how many acknowledgements went out."""
        current = self.connection
        ids = [t.packet_id for t in tokens if t is not None and t.connection == current]
        if ids:
            self._send(b"".join(b"\x40\x02" + struct.pack("!H", i) for i in ids), current)
        return len(ids)

    def stop(self) -> None:
        """Disconnect (the session stays at the broker when persistent) and stop reading."""
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                self._send(b"\xe0\x00", self.connection)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self.connected.clear()

    # --- the reading thread -----------------------------------------------------------

    def _send(self, data: bytes, connection: int) -> None:
        with self._send_lock:
            sock = self._sock
            if sock is None or connection != self.connection:
                return
            sock.sendall(data)
            self._last_sent = time.monotonic()

    def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                self._session()
                delay = 1.0
            except UnsupportedVersion as error:
                if self.version == 5 and not self.fixed_version and not self._spoke_5:
                    log.info("%s does not speak MQTT 5; speaking 3.1.1", self.url)
                    self.version = _versions[self.url] = 4
                    continue
                log.warning("MQTT broker at %s: %s; trying again in %.0f s", self.url, error,
                            delay)
            except ProtocolError as error:
                self.refused = str(error)
                log.error("MQTT broker at %s: %s", self.url, error)
            except OSError as error:
                if not self._stopping.is_set():
                    log.warning("lost the MQTT broker at %s (%s); reconnecting in %.0f s",
                                self.url, error, delay)
            except Exception:  # a bug must not end the subscription for good
                log.exception("MQTT subscriber failed; reconnecting in %.0f s", delay)
            finally:
                self._close()
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, 30)

    def _close(self) -> None:
        self.connected.clear()
        with self._send_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        return sock

    def _session(self) -> None:
        """One connection, from CONNECT until it breaks or we stop."""
        sock = self._open()
        with self._send_lock:
            self._sock = sock
            self.connection += 1
        connection = self.connection
        self._send(connect_packet(self.client_id, self.version, persistent=self.persistent,
                                  keepalive=self.keepalive, username=self.username,
                                  password=self.password), connection)
        sock.settimeout(0.5)
        pending = b""
        last_heard = opened = time.monotonic()
        accepted = False
        subscription = connection % 65535 + 1
        while not self._stopping.is_set():
            try:
                data = sock.recv(READ_SIZE)
            except TimeoutError:
                data = None
            now = time.monotonic()
            if data is None:
                if not accepted and now - opened > CONNACK_WAIT:
                    # amqtt neither answers nor hangs up on an MQTT 5 CONNECT.
                    raise UnsupportedVersion("no answer to CONNECT")
                if now - last_heard > 1.5 * self.keepalive:
                    raise OSError("the broker stopped answering")
                if accepted and now - self._last_sent > self.keepalive / 2:
                    self._send(PINGREQ, connection)
                continue
            if not data:
                if not accepted:
                    # A 3.1.1 broker may just hang up on an MQTT 5 CONNECT.
                    raise UnsupportedVersion("the broker closed the connection")
                raise OSError("the broker closed the connection")
            last_heard = now
            pending = pending + data if pending else data
            packets, used = parse(pending, self.version)
            pending = pending[used:]
            messages: list[tuple[str, bytes, Token | None]] = []
            for kind, _flags, topic, payload, packet_id in packets:
                if kind == PUBLISH:
                    messages.append((str(topic), payload, None if packet_id is None
                                     else Token(connection, packet_id)))
                elif kind == CONNACK:
                    self._connack(bytes(topic) if isinstance(topic, bytes) else b"")
                    accepted = True
                    self._send(subscribe_packet(self.topics, subscription, self.version),
                               connection)
                elif kind == SUBACK:
                    body = topic if isinstance(topic, bytes) else b""
                    self._suback(body)
                    self.connected.set()
                elif kind == DISCONNECT:
                    raise OSError("the broker disconnected us")
            if messages:
                self.received(messages)

    def _connack(self, body: bytes) -> None:
        if len(body) < 2:
            raise ProtocolError("malformed CONNACK")
        code = body[1]
        if code in (0x01, 0x84):  # 3.1.1: unacceptable protocol level; 5: unsupported
            raise UnsupportedVersion(f"CONNACK {code:#x}")
        if code:
            raise ProtocolError(f"the broker refused the connection (code {code:#x})")
        self.session_present = bool(body[0] & 1)
        self._spoke_5 = self._spoke_5 or self.version == 5
        log.info("connected to %s in MQTT %s (session %s)", self.url,
                 "5" if self.version == 5 else "3.1.1",
                 "resumed" if self.session_present else "new")

    def _suback(self, body: bytes) -> None:
        codes = body[2:]
        if self.version == 5:
            properties, at = _varint(body, 2)
            codes = body[at + properties:]
        refused = [topic for topic, code in zip(self.topics, codes, strict=False)
                   if code >= 0x80]
        if refused:
            raise ProtocolError(f"the broker refused the subscription to {refused}")
