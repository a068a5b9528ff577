"""The welfare map shows each agent only what need-to-know allows: workers and team leads
their own households (as points or as clusters), managers counts per commune with the small
ones hidden; every read is audited and malformed filters are refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from entraide.cases import services as cases
from entraide.org.models import ApiToken
from entraide.screening.models import Lead, ScreeningRun
from entraide.secrecy.models import AuditAction, AuditRecord
from entraide.telecare import services as telecare
from entraide.telecare.engine import Engine, Message
from entraide.territory import crisis, layers
from entraide.territory.models import Commune, CrisisRule, Signal

from ..factories import CaseFileFactory, HouseholdFactory, PersonFactory

HOUSEHOLDS = "/map/layers/households.geojson"
CELLS = "/map/layers/cells.geojson"


@pytest.fixture
def area(world: Any) -> dict[str, Any]:
    """Around the world's two case files: a file of the other team of territory A, a lead
    sent to that team, a household nobody follows; crisis levels computed."""
    a2_file = CaseFileFactory(household=HouseholdFactory(territory=world.territory_a,
                                                         latitude=44.3, longitude=0.7),
                              team=world.team_a2, referent=world.users["worker.a2"])
    lead_home = HouseholdFactory(territory=world.territory_a, latitude=44.25, longitude=0.65)
    run = ScreeningRun.objects.create(households=1, leads=1)
    Lead.objects.create(run=run, household=lead_home, territory=world.territory_a,
                        team=world.team_a2, score=12, scorecard=12, explanation=[])
    nobody = HouseholdFactory(territory=world.territory_a)
    cases.assess(world.actor("worker"), world.file_a.pk, {"housing": (4, "Expulsion")})
    # This organisation's managers count a domain in crisis as a crisis.
    CrisisRule.objects.create(signal=Signal.ASSESSMENT, threshold=4, level=4, reason="")
    crisis.refresh()
    return {"a2": a2_file.household, "lead": lead_home, "nobody": nobody}


def layer(client: Client, url: str = HOUSEHOLDS, **params: Any) -> dict[str, Any]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def ids(collection: dict[str, Any]) -> set[int]:
    return {f["properties"]["id"] for f in collection["features"]}


def api(world: Any, role: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(world.users[role])}"})


@pytest.mark.django_db
def test_a_worker_sees_only_the_households_of_their_team_and_files(world: Any, area: Any
                                                                     ) -> None:
    shown = layer(world.client("worker"))

    assert ids(shown) == {world.household_a.pk}
    point = shown["features"][0]["properties"]
    assert point["level"] == 4 and point["colour"] == "#a50026"
    assert point["reasons"] == ["Assessment at level 4 in a domain"]


@pytest.mark.django_db
def test_a_team_lead_sees_their_territory_and_never_another(world: Any, area: Any) -> None:
    shown = ids(layer(world.client("lead")))

    assert shown == {world.household_a.pk, area["a2"].pk, area["lead"].pk}
    assert world.household_b.pk not in shown and area["nobody"].pk not in shown


@pytest.mark.django_db
def test_clusters_count_only_the_households_in_the_agents_scope(
        world: Any, area: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layers, "POINT_LIMIT", 0)

    for name, expected in (("worker", 1), ("lead", 3), ("worker.b", 1)):
        shown = layer(world.client(name), zoom="3")
        assert shown["properties"]["clustered"]
        assert {f["properties"]["kind"] for f in shown["features"]} == {"cluster"}
        assert sum(f["properties"]["count"] for f in shown["features"]) == expected, name
        assert all("id" not in f["properties"] for f in shown["features"])


@pytest.mark.django_db
def test_filters_change_what_the_layer_returns(world: Any, area: Any) -> None:
    lead = world.client("lead")
    home = telecare.create_installation(area["a2"], PersonFactory(household=area["a2"]),
                                        code="home-a2", devices=[("smoke", "smoke", None)])
    Engine().process([Message("entraide/home-a2/smoke", b'{"smoke": true}', timezone.now())])
    assert home.alerts.exists()
    crisis.refresh()

    assert ids(layer(lead, level="4")) == {world.household_a.pk, area["a2"].pk}
    assert ids(layer(lead, level="3")) == {area["lead"].pk}
    assert ids(layer(lead, level=["1", "3"])) == {area["lead"].pk}
    assert ids(layer(lead, level="3,4")) == {world.household_a.pk, area["a2"].pk,
                                              area["lead"].pk}
    assert ids(layer(lead, lead="1")) == {area["lead"].pk}
    assert ids(layer(lead, alert="1")) == {area["a2"].pk}
    assert ids(layer(lead, team=str(world.team_a2.pk))) == {area["a2"].pk, area["lead"].pk}
    assert ids(layer(lead, territory=str(world.territory_b.pk))) == set()
    assert ids(layer(lead, bbox="0.62,44.2,0.68,44.28")) == {area["lead"].pk}


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "words"), [
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "10,50,0,40"}, "bbox"),
    ({"level": "5"}, "level"), ({"level": "high"}, "level"), ({"team": "A1"}, "team"),
])
def test_malformed_filters_are_refused_with_the_reason(world: Any, params: dict[str, str],
                                                        words: str) -> None:
    web = world.client("worker").get(HOUSEHOLDS, params)
    through_api = api(world, "worker").get("/api/v1/map/households", params)

    assert web.status_code == 400 and words in json.loads(web.content)["detail"]
    assert through_api.status_code == 422 and words in through_api.json()["detail"]


@pytest.mark.django_db
def test_a_manager_sees_aggregates_with_cells_under_3_households_hidden(world: Any) -> None:
    for _ in range(4):
        HouseholdFactory(territory=world.territory_a, commune="Agen", latitude=44.2,
                         longitude=0.62)
    for _ in range(2):
        HouseholdFactory(territory=world.territory_a, commune="Nérac", latitude=44.13,
                         longitude=0.34)
    square = {"type": "Polygon", "coordinates": [[[0.6, 44.1], [0.7, 44.1], [0.7, 44.3],
                                                  [0.6, 44.3], [0.6, 44.1]]]}
    Commune.objects.create(territory=world.territory_a, code="47001", name="Agen",
                           boundary=square)
    crisis.refresh()

    cells = layer(world.client("manager"), CELLS)

    assert [f["properties"]["name"] for f in cells["features"]] == ["Agen"]
    agen = cells["features"][0]
    assert agen["geometry"] == square
    assert agen["properties"]["count"] == 4 and agen["properties"]["levels"]["1"] == 4
    # Nérac (2), and Villeneuve in A and in B (1 each) are left out, and said to be.
    assert cells["properties"]["hidden_cells"] == 3
    assert "id" not in agen["properties"]


@pytest.mark.django_db
def test_a_manager_never_gets_points(world: Any, area: Any) -> None:
    web = world.client("manager").get(HOUSEHOLDS)
    through_api = api(world, "manager").get("/api/v1/map/households")
    summary = world.client("manager").get(f"/map/households/{world.household_a.pk}/")

    assert web.status_code == 403 and through_api.status_code == 403
    assert summary.status_code == 403
    page = world.client("manager").get("/map/")
    assert page.status_code == 200
    assert CELLS.encode() in page.content and HOUSEHOLDS.encode() not in page.content


@pytest.mark.django_db
def test_a_layer_read_writes_one_audit_record(world: Any, area: Any) -> None:
    before = AuditRecord.objects.count()

    layer(world.client("lead"), level="3,4")

    records = list(AuditRecord.objects.order_by("pk")[before:])
    assert len(records) == 1
    assert (records[0].action, records[0].object_type) == (AuditAction.READ, "map_layer")
    assert records[0].username == "lead" and "2 households" in records[0].detail


@pytest.mark.django_db
def test_the_summary_of_a_household_off_the_map_is_refused_and_audited(world: Any,
                                                                       area: Any) -> None:
    for household in (world.household_b, area["a2"], area["nobody"]):
        response = world.client("worker").get(f"/map/households/{household.pk}/")
        assert response.status_code == 403
        assert AuditRecord.objects.filter(action=AuditAction.DENIED, username="worker",
                                          household_id=household.pk).count() == 1
    assert b"Dubois" not in response.content
    assert api(world, "worker").get(
        f"/api/v1/map/households/{world.household_b.pk}").status_code == 403


@pytest.mark.django_db
def test_the_summary_shows_level_reasons_people_and_the_way_to_the_case_file(
        world: Any, area: Any) -> None:
    response = world.client("worker").get(f"/map/households/{world.household_a.pk}/",
                                           headers={"HX-Request": "true",
                                                    "Accept-Language": "en"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Crisis" in page and "Assessment at level 4 in a domain" in page
    assert "Zoé LEFÈVRE" in page and world.household_a.address in page
    assert f'href="/households/{world.household_a.pk}/"' in page
    assert "<html" not in page  # a fragment for the panel
    assert AuditRecord.objects.filter(action=AuditAction.READ, object_type="household",
                                      household_id=world.household_a.pk,
                                      detail="map summary").count() == 1


@pytest.mark.django_db
def test_a_household_followed_only_by_a_lead_links_to_the_lead(world: Any, area: Any) -> None:
    summary = api(world, "lead").get(f"/api/v1/map/households/{area['lead'].pk}").json()

    assert summary["level"] == 3 and summary["case_file_id"] is None
    assert summary["lead_id"] == Lead.objects.get(household=area["lead"]).pk
    assert summary["reasons"] == ["Screening lead waiting (12 points)"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["reception", "operator", "dpo", "admin"])
def test_agents_without_a_map_are_refused_it(world: Any, role: str) -> None:
    client = world.client(role)

    assert client.get("/map/").status_code == 403
    assert client.get(HOUSEHOLDS).status_code == 403
    assert client.get("/map/layers/communes.geojson").status_code == 403


@pytest.mark.django_db
def test_the_page_offers_only_the_filters_relevant_to_the_agent(world: Any) -> None:
    worker = world.client("worker").get("/map/").content.decode()
    lead = world.client("lead").get("/map/").content.decode()
    manager = world.client("manager").get("/map/").content.decode()

    assert 'name="territory"' not in worker and worker.count('name="team"') == 1
    assert world.team_a1.name in worker and world.team_a2.name not in worker
    assert world.team_a2.name in lead and world.team_b1.name not in lead
    assert world.territory_a.name in manager and world.territory_b.name in manager


@pytest.mark.django_db
def test_commune_boundaries_are_served_for_the_agents_territory(world: Any) -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 44], [1, 44], [1, 45], [0, 44]]]}
    Commune.objects.create(territory=world.territory_a, code="1", name="Agen", boundary=square)
    Commune.objects.create(territory=world.territory_b, code="2", name="Nérac", boundary=square)

    worker = layer(world.client("worker"), "/map/layers/communes.geojson")
    manager = api(world, "manager").get("/api/v1/map/communes").json()

    assert [f["properties"]["name"] for f in worker["features"]] == ["Agen"]
    assert [f["properties"]["name"] for f in manager["features"]] == ["Agen", "Nérac"]


@pytest.mark.django_db
def test_a_malformed_filter_in_the_address_is_reported_and_the_map_still_opens(world: Any
                                                                              ) -> None:
    response = world.client("worker").get("/map/?level=9", headers={"Accept-Language": "en"})

    assert response.status_code == 200
    assert b"A crisis level is a number from 1 to 4." in response.content
    assert b'id="welfare-map"' in response.content


@pytest.mark.django_db
def test_the_summary_opened_alone_is_a_whole_page(world: Any, area: Any) -> None:
    response = world.client("lead").get(f"/map/households/{area['lead'].pk}/")

    assert response.status_code == 200
    assert b"<html" in response.content and b'href="/map/"' in response.content
    assert f'href="/screening/leads/{Lead.objects.get(household=area["lead"]).pk}/"'.encode() \
        in response.content
