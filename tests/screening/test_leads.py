"""The teams' side of screening: their leads, what came of each visit, the runs' figures and
the scorecard — each through the policy, each audited."""

from __future__ import annotations

from typing import Any

import pytest

from entraide.screening import leads
from entraide.screening.models import Indicator, KeyKind, Lead, ScreeningRun, Source
from entraide.secrecy.models import AuditRecord
from entraide.secrecy.policy import Denied

from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(world: Any) -> ScreeningRun:
    """A run with a lead for team A1, one for team A2 and one in territory B."""
    run = ScreeningRun.objects.create(households=100, leads=3, bias={"by_territory": {}})
    for team, territory in ((world.team_a1, world.territory_a),
                            (world.team_a2, world.territory_a),
                            (world.team_b1, world.territory_b)):
        Lead.objects.create(
            run=run, household=HouseholdFactory(territory=territory, address="3 rue du Lot"),
            territory=territory, team=team, score=14, scorecard=14,
            explanation=[{"indicator": "energie.coupure", "label": "Coupure d'électricité",
                          "text": "<b>coupure</b> depuis 30 jours", "value": 1, "weight": 6}])
    return run


def _shown(world: Any, name: str) -> set[int]:
    return {lead.team_id for lead in leads.leads_for(world.actor(name), leads.Status.ALL).leads}


def test_a_worker_sees_the_leads_of_their_team_and_a_lead_those_of_the_territory(
        world: Any, run: ScreeningRun) -> None:
    assert _shown(world, "worker") == {world.team_a1.pk}
    assert _shown(world, "worker.a2") == {world.team_a2.pk}
    assert _shown(world, "lead") == {world.team_a1.pk, world.team_a2.pk}
    with pytest.raises(Denied):
        leads.leads_for(world.actor("manager"))


def test_every_lead_shown_is_audited(world: Any, run: ScreeningRun) -> None:
    shown = leads.leads_for(world.actor("lead"), leads.Status.ALL).leads
    audited = set(AuditRecord.objects.filter(object_type="screening_lead", action="read")
                  .values_list("object_id", flat=True))
    assert audited == {lead.pk for lead in shown} and len(shown) == 2


def test_a_lead_of_another_team_is_refused_and_the_refusal_recorded(
        world: Any, run: ScreeningRun) -> None:
    other = Lead.objects.get(team=world.team_a2)
    response = world.client("worker").get(f"/screening/leads/{other.pk}/")
    assert response.status_code == 403
    assert AuditRecord.objects.filter(object_type="screening_lead", action="denied",
                                      object_id=other.pk).exists()


def test_the_outcome_of_a_visit_is_recorded_and_audited(world: Any, run: Any) -> None:
    lead = Lead.objects.get(team=world.team_a1)
    response = world.client("worker").post(f"/screening/leads/{lead.pk}/",
                                           {"outcome": "case_opened"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_by) == ("case_opened", world.users["worker"])
    assert AuditRecord.objects.filter(object_type="screening_lead", action="update",
                                      detail="outcome case_opened").exists()
    assert leads.leads_for(world.actor("worker")).total == 0  # nothing left to see
    with pytest.raises(ValueError):
        leads.record_outcome(world.actor("worker"), lead.pk, "deported")


def test_the_lead_page_explains_in_plain_words_and_escapes_them(world: Any, run: Any) -> None:
    lead = Lead.objects.get(team=world.team_a1)
    page = world.client("worker").get(f"/screening/leads/{lead.pk}/").content.decode()
    assert "Coupure d&#x27;électricité" in page and "&lt;b&gt;coupure&lt;/b&gt;" in page
    assert "3 rue du Lot" in page


def test_the_runs_page_shows_figures_and_names_no_household(world: Any, run: Any) -> None:
    page = world.client("manager").get("/screening/runs/").content.decode()
    assert "100" in page and "3 rue du Lot" not in page


@pytest.fixture
def indicator(db: None) -> Indicator:
    source = Source.objects.create(code="energie", name="Énergie", provider="Fournisseur",
                                   key_kind=KeyKind.ADDRESS, key_column="adresse",
                                   legal_basis="Convention")
    return Indicator.objects.create(source=source, code="coupure", label="Coupure", kind="flag",
                                    points=3)


def test_a_team_lead_tunes_the_scorecard_and_the_change_is_audited(
        world: Any, indicator: Indicator) -> None:
    prefix = f"i{indicator.pk}-"
    response = world.client("lead").post("/screening/scorecard/", {
        prefix + "points": "5", prefix + "threshold": "1,5", prefix + "explanation": "Coupée"})
    assert response.status_code == 302
    indicator.refresh_from_db()
    assert (indicator.points, indicator.threshold, indicator.explanation) == (5, 1.5, "Coupée")
    assert AuditRecord.objects.filter(object_type="screening_indicator", action="update",
                                      object_id=indicator.pk).exists()


def test_a_manager_reads_the_scorecard_but_may_not_change_it(
        world: Any, indicator: Indicator) -> None:
    assert world.client("manager").get("/screening/scorecard/").status_code == 200
    prefix = f"i{indicator.pk}-"
    response = world.client("manager").post("/screening/scorecard/", {
        prefix + "points": "9", prefix + "threshold": "1", prefix + "explanation": ""})
    assert response.status_code == 403
    indicator.refresh_from_db()
    assert indicator.points == 3


@pytest.mark.parametrize(("points", "threshold"), [("beaucoup", "1"), ("2", "nan"),
                                                  ("2", "inf")])
def test_a_malformed_scorecard_changes_nothing(world: Any, indicator: Indicator, points: str,
                                               threshold: str) -> None:
    prefix = f"i{indicator.pk}-"
    response = world.client("lead").post("/screening/scorecard/", {
        prefix + "points": points, prefix + "threshold": threshold,
        prefix + "explanation": ""})
    assert response.status_code == 200 and "Coupure" in response.content.decode()
    indicator.refresh_from_db()
    assert (indicator.points, indicator.threshold) == (3, 1)
