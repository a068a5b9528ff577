"""Sending notifications through Apprise (SMS gateways, e-mail, chat…).

`capture://` is a local Apprise scheme: messages sent to it are kept in `CAPTURED`, for
tests and for trying a configuration without sending anything.
"""

from __future__ import annotations

import apprise
from apprise.decorators import notify

CAPTURED: list[dict[str, str]] = []


@notify(on="capture", name="Entraide local capture")
def _capture(body: str, title: str, notify_type: str, meta: dict, *args: object,
             **kwargs: object) -> bool:
    CAPTURED.append({"to": f"{meta.get('user') or ''}@{meta.get('host') or ''}",
                     "title": title, "body": body})
    return True


def send(url: str, title: str, body: str) -> str:
    """Send one message; returns the empty string when sent, else why it was not."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return "not an Apprise URL Entraide can use"
    if not sender.notify(title=title, body=body):
        return "the service refused or could not be reached"
    return ""
