"""Telecare API: readings from cellular gateways, and the operator's alerts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.security import HttpBearer

from entraide.api_contract import responses
from entraide.org.models import ApiToken
from entraide.secrecy.policy import Actor

from . import services
from .engine import Engine, Message
from .models import Gateway
from .payloads import REASONS

router = Router(tags=["telecare"])
MAX_READINGS = 500


class GatewayToken(HttpBearer):
    """`Authorization: Bearer <gateway token>` as issued by `entraide telecare gateway`."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        digest = Gateway.digest(token)
        gateway = Gateway.objects.filter(token_hash=digest, installation__active=True).first()
        if gateway is None:
            if ApiToken.objects.filter(key_hash=ApiToken.digest(token)).exists():
                raise PermissionDenied("This endpoint takes a gateway's token, not an agent's.")
            return None
        Gateway.objects.filter(pk=gateway.pk).update(last_used_at=timezone.now())
        return gateway


class ReadingsIn(Schema):
    """Messages in the Entraide schema (docs/telecare.md), each with its device's code:
    `{"device": "climate", "temperature": 19.5, "ts": "2026-11-30T08:00:00+01:00"}`."""

    readings: list[dict[str, Any]] = Field(..., max_length=MAX_READINGS)


class Refusal(Schema):
    index: int
    reason: str
    message: str
    detail: str


class ReadingsOut(Schema):
    stored: int
    alerts: int
    refused: list[Refusal]


@router.post("/telecare/readings", auth=GatewayToken(),
             response=responses({200: ReadingsOut}, 400, 401, 403, 422))
def post_readings(request: HttpRequest, body: ReadingsIn) -> dict[str, Any]:
    """Readings from a home's cellular gateway (up to 500 per call); each bad one is refused
    with its index and reason, the good ones around it are kept."""
    gateway: Gateway = request.auth  # type: ignore[attr-defined]
    code = gateway.installation.code
    now = dt.datetime.now(dt.UTC)
    messages = []
    for reading in body.readings:
        fields = dict(reading)
        device = str(fields.pop("device", ""))[:40]
        messages.append(Message(f"entraide/{code}/{device}", json.dumps(fields).encode(), now))
    engine = Engine(installation_id=gateway.installation_id)
    result = engine.process(messages)
    engine.flush()
    return {"stored": result.stored, "alerts": result.alerts,
            "refused": [{"index": i, "reason": code_, "message": str(REASONS[code_]),
                         "detail": detail} for i, code_, detail in result.refused]}


class AlertOut(Schema):
    id: int
    installation: str = Field(..., alias="installation.code")
    cause: str
    severity: int
    status: str
    reason: str
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    dispatched_to: str
    repeats: int


@router.get("/telecare/alerts", response=responses({200: list[AlertOut]}, 401, 403))
def open_alerts(request: HttpRequest) -> list[Any]:
    """Open alerts, most severe then oldest first (monitoring operators)."""
    return services.console_alerts(Actor.from_request(request, "api"))


@router.post("/telecare/alerts/{alert_id}/acknowledge",
             response=responses({200: AlertOut}, 401, 403, 404, 422))
def acknowledge(request: HttpRequest, alert_id: int) -> Any:
    """Take the alert in hand; it stops escalating to the contacts."""
    return services.acknowledge(Actor.from_request(request, "api"), alert_id)


class ResolveIn(Schema):
    outcome: str
    note: str = ""


@router.post("/telecare/alerts/{alert_id}/resolve",
             response=responses({200: AlertOut}, 400, 401, 403, 404, 422))
def resolve(request: HttpRequest, alert_id: int, body: ResolveIn) -> Any:
    """Close the alert with what happened (false_alarm, help_given, hospital, death…)."""
    return services.resolve(Actor.from_request(request, "api"), alert_id, body.outcome,
                            body.note)
