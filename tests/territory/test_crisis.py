"""Crisis levels follow their causes: alerts, screening leads, assessments, overdue actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from entraide.cases import services as cases
from entraide.screening.models import Lead, ScreeningRun
from entraide.telecare import services as telecare
from entraide.telecare.engine import Engine, Message
from entraide.territory import crisis
from entraide.territory.models import CrisisLevel, CrisisRule, Signal


def level_of(household_id: int) -> tuple[int, list[str]]:
    row = CrisisLevel.objects.get(household_id=household_id)
    return row.level, crisis.summary(row.level, row.reasons)["reasons"]


@pytest.fixture
def home(world: Any) -> Any:
    return telecare.create_installation(world.household_a, world.person_a, code="home-a",
                                        devices=[("smoke", "smoke", None)])


@pytest.mark.django_db
def test_a_household_with_no_signal_is_stable_and_says_so(world: Any) -> None:
    crisis.refresh()
    assert level_of(world.household_a.pk) == (1, ["No signal"])


@pytest.mark.django_db
def test_an_alert_raises_the_level_and_resolving_it_brings_it_back(
        world: Any, home: Any, django_capture_on_commit_callbacks: Any) -> None:
    crisis.refresh()
    with django_capture_on_commit_callbacks(execute=True):
        Engine().process([Message("entraide/home-a/smoke", b'{"smoke": true}', timezone.now())])
    level, reasons = level_of(world.household_a.pk)
    assert level == 4 and reasons == ["Telecare alert open (severity 4)"]
    assert CrisisLevel.objects.get(household_id=world.household_a.pk).open_alert

    alert = home.alerts.get()
    with django_capture_on_commit_callbacks(execute=True):
        telecare.resolve(world.actor("operator"), alert.pk, "false_alarm")
    assert level_of(world.household_a.pk) == (1, ["No signal"])


@pytest.mark.django_db
def test_a_screening_score_sets_the_level_and_a_new_score_changes_it(
        world: Any, django_capture_on_commit_callbacks: Any) -> None:
    household = world.household_b
    world.file_b.status = "closed"
    world.file_b.save()
    run = ScreeningRun.objects.create(households=1, leads=1)
    with django_capture_on_commit_callbacks(execute=True):
        lead = Lead.objects.create(run=run, household=household, territory=household.territory,
                                   team=world.team_b1, score=5, scorecard=5)
    assert level_of(household.pk) == (2, ["Screening lead waiting (5 points)"])

    with django_capture_on_commit_callbacks(execute=True):
        lead.scorecard = 9
        lead.save()
    assert level_of(household.pk) == (3, ["Screening lead waiting (9 points)"])
    row = CrisisLevel.objects.get(household_id=household.pk)
    assert row.waiting_lead and row.team_id == world.team_b1.pk

    with django_capture_on_commit_callbacks(execute=True):
        lead.outcome = "not_in_need"
        lead.save()
    assert level_of(household.pk)[0] == 1


@pytest.mark.django_db
def test_a_screening_run_refreshes_the_households_it_chose(
        world: Any, django_capture_on_commit_callbacks: Any) -> None:
    household = world.household_b
    with django_capture_on_commit_callbacks(execute=True):
        run = ScreeningRun.objects.create(households=1, leads=1)
        Lead.objects.bulk_create([Lead(run=run, household=household, team=world.team_b1,
                                       territory=household.territory, score=12, scorecard=12)])
    assert level_of(household.pk)[0] == 3


@pytest.mark.django_db
def test_assessment_and_overdue_actions_count_and_the_highest_rule_wins(
        world: Any, django_capture_on_commit_callbacks: Any) -> None:
    actor, file = world.actor("worker"), world.file_a
    with django_capture_on_commit_callbacks(execute=True):
        cases.assess(actor, file.pk, {"housing": (4, ""), "income": (2, "")})
    assert level_of(world.household_a.pk) == (3, ["Assessment at level 4 in a domain"])

    goal = cases.add_goal(actor, file.pk, "housing", "Garder le logement")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        cases.add_action(actor, goal.pk, "Dossier FSL", None, yesterday)
    level, reasons = level_of(world.household_a.pk)
    assert level == 3
    assert reasons == ["Assessment at level 4 in a domain", "1 plan action overdue"]

    with django_capture_on_commit_callbacks(execute=True):
        cases.assess(actor, file.pk, {"housing": (1, "")})
    assert level_of(world.household_a.pk) == (2, ["1 plan action overdue"])


@pytest.mark.django_db
def test_managers_rules_decide_and_their_words_are_shown(world: Any) -> None:
    CrisisRule.objects.filter(signal=Signal.ASSESSMENT).delete()
    CrisisRule.objects.create(signal=Signal.ASSESSMENT, threshold=2, level=4,
                              reason="Situation jugée critique par le référent")
    cases.assess(world.actor("worker"), world.file_a.pk, {"family": (2, "")})
    crisis.refresh([world.household_a.pk])
    assert level_of(world.household_a.pk) == (4, ["Situation jugée critique par le référent"])

    CrisisRule.objects.filter(signal=Signal.ASSESSMENT).update(active=False)
    crisis.refresh([world.household_a.pk])
    assert level_of(world.household_a.pk)[0] == 1


def test_judge_takes_each_signals_highest_matching_rule() -> None:
    rules = [CrisisRule(signal=Signal.OPEN_ALERT, threshold=1, level=3, reason=""),
             CrisisRule(signal=Signal.OPEN_ALERT, threshold=3, level=4, reason=""),
             CrisisRule(signal=Signal.OVERDUE_ACTIONS, threshold=5, level=3, reason="")]
    verdict = crisis.judge({Signal.OPEN_ALERT: 2, Signal.OVERDUE_ACTIONS: 4}, rules)
    assert verdict.level == 3
    assert [(r["signal"], r["level"]) for r in verdict.reasons] == [("open_alert", 3)]
    assert crisis.judge({}, rules).level == 1
