"""Managers set the crisis rules and visit frequencies; every change is audited."""

from __future__ import annotations

from typing import Any

import pytest

from entraide.secrecy.models import AuditRecord
from entraide.territory.models import CrisisLevel, CrisisRule, Signal, VisitFrequency


@pytest.mark.django_db
def test_a_manager_changes_a_rule_and_the_levels_follow(
        world: Any, django_capture_on_commit_callbacks: Any) -> None:
    from entraide.cases import services as cases

    cases.assess(world.actor("worker"), world.file_a.pk, {"health": (3, "")})
    rule = CrisisRule.objects.get(signal=Signal.ASSESSMENT, threshold=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("manager").post("/map/rules/", {
            f"r{rule.pk}-signal": "assessment", f"r{rule.pk}-threshold": "3",
            f"r{rule.pk}-level": "4", f"r{rule.pk}-reason": "Fragile : voir vite",
            f"r{rule.pk}-active": "on", "f4": "6"})
    assert response.status_code == 302
    row = CrisisLevel.objects.get(household_id=world.household_a.pk)
    assert row.level == 4 and row.reasons[0]["text"] == "Fragile : voir vite"
    assert VisitFrequency.objects.get(level=4).visits_per_month == 6
    assert AuditRecord.objects.filter(object_type="crisis_rule", object_id=rule.pk).exists()
    assert AuditRecord.objects.filter(object_type="visit_frequency").exists()


@pytest.mark.django_db
def test_a_wrong_value_saves_nothing_and_says_why(world: Any) -> None:
    rule = CrisisRule.objects.get(signal=Signal.ASSESSMENT, threshold=3)
    response = world.client("manager").post("/map/rules/", {
        f"r{rule.pk}-signal": "assessment", f"r{rule.pk}-threshold": "3",
        f"r{rule.pk}-level": "3", f"r{rule.pk}-active": "on", "f4": "lots"}, follow=True)
    assert "Visits per month must be a number" in response.content.decode()
    rule.refresh_from_db()
    assert rule.level == 2


@pytest.mark.django_db
def test_a_new_rule_can_be_added_and_one_deleted(world: Any) -> None:
    rule = CrisisRule.objects.get(signal=Signal.OVERDUE_ACTIONS, threshold=3)
    world.client("manager").post("/map/rules/", {
        f"r{rule.pk}-signal": "overdue_actions", f"r{rule.pk}-threshold": "3",
        f"r{rule.pk}-level": "3", f"r{rule.pk}-delete": "on",
        "new-signal": "open_alert", "new-threshold": "2", "new-level": "4",
        "new-reason": "Alerte sérieuse"})
    assert not CrisisRule.objects.filter(pk=rule.pk).exists()
    assert CrisisRule.objects.filter(signal="open_alert", threshold=2, level=4).exists()


@pytest.mark.django_db
def test_workers_read_the_rules_but_cannot_change_them(world: Any) -> None:
    client = world.client("worker")
    assert client.get("/map/rules/").status_code == 200
    rule = CrisisRule.objects.first()
    assert rule is not None
    response = client.post("/map/rules/", {f"r{rule.pk}-signal": "open_alert",
                                           f"r{rule.pk}-threshold": "9",
                                           f"r{rule.pk}-level": "1"})
    assert response.status_code == 403
    rule.refresh_from_db()
    assert rule.threshold != 9
