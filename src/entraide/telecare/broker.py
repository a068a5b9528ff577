"""The embedded MQTT broker (amqtt), so that `make demo` needs no Mosquitto.

It listens on ENTRAIDE_EMBEDDED_MQTT_PORT (18830 by default, never Mosquitto's 1883) and
keeps its sessions in memory: a restarted embedded broker forgets what it had queued.
Production uses a real broker through MQTT_URL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)


class LocalAuth(BaseAuthPlugin):
    """Lets every local client in; a client with a user name gets its messages queued
    while it is away (amqtt queues nothing for anonymous clients)."""

    async def authenticate(self, *, session: Any) -> bool:
        session.is_anonymous = not session.username
        return True


def config(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    return {"listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}",
                                      "max_connections": 1000}},
            "plugins": {f"{__name__}.LocalAuth": {}}}


def _quiet_hangups(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A client that offers MQTT 5 gets no answer from amqtt and hangs up; amqtt then fails
    to close the socket already closed and asyncio prints a traceback for it. That is not
    news: one line at debug level. Anything else goes to asyncio's own handler."""
    if (isinstance(context.get("exception"), OSError)
            and "client_connected_cb" in str(context.get("message", ""))):
        log.debug("a client hung up before amqtt answered its CONNECT")
        return
    loop.default_exception_handler(context)


class EmbeddedBroker:
    """An amqtt broker on its own event loop in a background thread."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.port, self.host = port, host
        self.loop = asyncio.new_event_loop()
        self.broker: Broker | None = None
        self.thread = threading.Thread(target=self._run, name="mqtt-broker", daemon=True)
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(_quiet_hangups)
        try:
            self.broker = Broker(config(self.port, self.host), loop=self.loop)
            self.loop.run_until_complete(self.broker.start())
        except BaseException as error:  # reported to the caller of start()
            self.error = error
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    def start(self, timeout: float = 15) -> EmbeddedBroker:
        self.thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError("the embedded MQTT broker did not start")
        if self.error is not None:
            raise RuntimeError(f"the embedded MQTT broker could not start: {self.error}")
        return self

    def stop(self) -> None:
        if self.broker is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _shutdown(self) -> None:
        assert self.broker is not None
        await self.broker.shutdown()
        # The clients' handlers outlive the broker's shutdown: end them before the loop.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
