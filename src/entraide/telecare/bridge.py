"""The bridge: an MQTT consumer that feeds the engine, for `entraide telecare bridge`.

It holds a persistent session (fixed client id, clean_session off, QoS 1), so what is
published while it is down waits at the broker; it acknowledges a message only once the
batch holding it is committed, so a crash loses nothing; its subscriber (`subscriber.py`)
reconnects by itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from django.db import close_old_connections, connection

from . import services
from .engine import BatchResult, Engine, Message
from .mqtt import client, connected
from .payloads import Rejected
from .subscriber import Subscriber, Token

__all__ = ["TOPICS", "Bridge", "client", "connected"]

log = logging.getLogger(__name__)

TOPICS = ("entraide/+/+", "zigbee2mqtt/#")


class Bridge:
    """Consumes sensor topics into the engine, in batches, until told to stop."""

    def __init__(self, url: str, client_id: str = "entraide-bridge", *,
                 engine: Engine | None = None, batch_size: int = 5000,
                 batch_wait: float = 0.02, tick_seconds: float = 15):
        self.url, self.client_id = url, client_id
        self.engine = engine or Engine()
        self.batch_size, self.batch_wait, self.tick_seconds = batch_size, batch_wait, tick_seconds
        self.queue: deque[Message] = deque()
        self.arrived = threading.Event()
        self.stopping = threading.Event()
        self.totals = BatchResult()
        self.subscriber: Subscriber | None = None
        self.outbox = threading.Event()

    def _received(self, messages: list[tuple[str, bytes, Token | None]]) -> None:
        now = dt.datetime.now(dt.UTC)
        self.queue.extend(Message(topic, payload, now, token)
                          for topic, payload, token in messages)
        self.arrived.set()

    def start(self, timeout: float = 15) -> Bridge:
        """Connect and subscribe; returns once the broker has accepted the session."""
        self.subscriber = Subscriber(self.url, self.client_id, TOPICS, self._received)
        self.subscriber.start(timeout)
        return self

    def _take(self) -> list[Message]:
        if not self.queue:
            self.arrived.wait(self.batch_wait)
            self.arrived.clear()
        batch: list[Message] = []
        connection = self.subscriber.connection if self.subscriber else 0
        while self.queue and len(batch) < self.batch_size:
            message = self.queue.popleft()
            # The broker delivers again what came on a connection since lost.
            if message.token is None or message.token.connection == connection:
                batch.append(message)
        return batch

    def step(self) -> BatchResult | None:
        """Process what has arrived (one batch); acknowledge it once committed."""
        batch = self._take()
        if not batch:
            return None
        attempts = 0
        while True:
            try:
                result = self.engine.process(batch) if attempts < 3 else self._singly(batch)
                break
            except Exception:  # the database is away: keep the batch, try again
                log.exception("could not store a batch of %d messages; retrying", len(batch))
                _drop_broken_connection()
                attempts += 1
                if self.stopping.wait(min(2 * attempts, 30)):
                    return None
        assert self.subscriber is not None
        self.subscriber.ack(message.token for message in batch)
        self.totals.add(result)
        return result

    def _singly(self, batch: list[Message]) -> BatchResult:
        """A batch that keeps failing, one message at a time: if some pass, the database is
        up and the others are poison — refused as unreadable, so that they cannot block the
        stream. If none passes, the database is down: raise, and the batch is kept."""
        results, poison = [], []
        for message in batch:
            try:
                results.append(self.engine.process([message]))
            except Exception as error:
                _drop_broken_connection()
                poison.append((message, error))
        if not results:
            raise RuntimeError("no message of the batch could be stored")
        total = BatchResult()
        for result in results:
            total.add(result)
        for message, failure in poison:
            log.error("refusing a message on %s that cannot be stored: %s", message.topic,
                      failure)
            services.count_rejections([(message.topic, None, Rejected(
                "unreadable", f"{type(failure).__name__}: {failure}"), b"",
                message.received_at)])
            total.rejected += 1
        return total

    def run_until(self, done: Callable[[], bool], timeout: float = 30) -> bool:
        """Process messages until `done()` holds (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                return False
            self.step()
        return True

    def _send_notifications(self) -> None:
        """Send notifications from a thread of their own: a slow SMS gateway must not hold
        up the stream."""
        while True:
            self.outbox.wait(5)
            self.outbox.clear()
            stopping = self.stopping.is_set()  # then one last round, and out
            try:
                services.send_pending_notifications()
            except Exception:
                log.exception("sending notifications failed; will try again")
            finally:
                close_old_connections()
            if stopping:
                connection.close()  # this thread's own connection
                return

    def run(self) -> None:
        """The long-running loop of `entraide telecare bridge`."""
        sender = threading.Thread(target=self._send_notifications, name="notifications",
                                  daemon=True)
        sender.start()
        last_tick = last_report = 0.0
        while not self.stopping.is_set():
            result = self.step()
            if result is not None and result.alerts:
                self.outbox.set()
            now = time.monotonic()
            # Silences are judged only once caught up: during a backlog (after an outage,
            # or a gateway's history arriving) the newest readings are still in the queue.
            if now - last_tick >= self.tick_seconds and len(self.queue) < self.batch_size:
                try:
                    self.engine.tick(send=False)
                    self.outbox.set()
                    for installation_id in services.stale_profiles(self.engine.clock(), 5):
                        self.engine.learnt(installation_id, services.learn_profile(
                            installation_id, self.engine.clock()))
                    self.engine.refresh()
                except Exception:
                    log.exception("periodic checks failed; will try again")
                    _drop_broken_connection()
                last_tick = now
            if now - last_report >= 60:
                log.info("bridge totals: %s", self.totals)
                last_report = now
        self.outbox.set()
        sender.join(30)
        self.engine.flush()
        if not connection.in_atomic_block:
            connection.close()  # run() may have had a thread of its own

    def stop(self) -> None:
        """Finish the batch in hand, write what is kept in memory, and disconnect."""
        self.stopping.set()
        if self.subscriber is not None:
            self.subscriber.stop()
        self.engine.flush()


def _drop_broken_connection() -> None:
    """After a database error, let Django open a fresh connection next time (outside a
    transaction only: inside one, as in tests, the connection is not ours to close)."""
    if not connection.in_atomic_block:
        close_old_connections()
