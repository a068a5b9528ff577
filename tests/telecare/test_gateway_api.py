"""Readings over HTTP from a cellular gateway, with its own token."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from entraide.org.models import ApiToken
from entraide.telecare.models import Alert, Gateway, Reading, Rejection

pytestmark = pytest.mark.django_db
URL = "/api/v1/telecare/readings"


def post(token: str, body: Any) -> Any:
    return Client().post(URL, body, content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})


def test_a_gateway_posts_readings_and_the_bad_ones_are_refused_one_by_one(home: Any) -> None:
    token = Gateway.issue(home, "4G box")
    now = dt.datetime.now(dt.UTC).isoformat()
    response = post(token, {"readings": [
        {"device": "climate", "temperature": 19.5, "humidity": 45, "ts": now},
        {"device": "climate", "temperature": "hot"},
        {"device": "cellar", "motion": True},
        {"device": "smoke", "smoke": True},
    ]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["stored"], body["alerts"]) == (3, 1)
    assert [(r["index"], r["reason"]) for r in body["refused"]] == [
        (1, "wrong_type"), (2, "unknown_device")]
    assert "number" in body["refused"][0]["detail"]
    assert Reading.objects.count() == 3 and Alert.objects.get().cause == "smoke"
    assert Rejection.objects.filter(source="entraide/maison-a/cellar").exists()
    assert Gateway.objects.get().last_used_at is not None


def test_a_gateway_cannot_post_for_another_home(world: Any, home: Any) -> None:
    from .conftest import make_home

    other = make_home(world, code="autre")
    token = Gateway.issue(other)
    response = post(token, {"readings": [{"device": "../maison-a/smoke", "smoke": True}]})
    assert response.json()["refused"][0]["reason"] == "unknown_device"
    assert not Alert.objects.exists()


def test_agent_tokens_and_garbage_are_refused(world: Any, home: Any) -> None:
    agent = ApiToken.issue(world.users["operator"])
    assert post(agent, {"readings": []}).status_code == 403
    assert post("nonsense", {"readings": []}).status_code == 401
    token = Gateway.issue(home)
    assert post(token, {"readings": [{"device": "x"}] * 501}).status_code == 422
    assert post(token, {"nothing": 1}).status_code == 422


def test_operators_list_acknowledge_and_resolve_alerts_over_the_api(world: Any,
                                                                     home: Any) -> None:
    post(Gateway.issue(home), {"readings": [{"device": "panic", "panic": True}]})
    headers = {"Authorization": f"Bearer {ApiToken.issue(world.users['operator'])}",
               "Accept-Language": "en"}
    client = Client()
    listed = client.get("/api/v1/telecare/alerts", headers=headers).json()
    assert [(a["cause"], a["installation"]) for a in listed] == [("panic", "maison-a")]
    alert_id = listed[0]["id"]
    acked = client.post(f"/api/v1/telecare/alerts/{alert_id}/acknowledge", headers=headers)
    assert acked.json()["status"] == "acknowledged"
    again = client.post(f"/api/v1/telecare/alerts/{alert_id}/acknowledge", headers=headers)
    assert again.status_code == 422 and "already" in again.json()["detail"]
    resolved = client.post(f"/api/v1/telecare/alerts/{alert_id}/resolve",
                           {"outcome": "false_alarm"}, content_type="application/json",
                           headers=headers)
    assert resolved.json()["status"] == "resolved"
    assert client.get("/api/v1/telecare/alerts", headers=headers).json() == []
