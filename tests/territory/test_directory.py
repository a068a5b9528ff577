"""The service directory: search by need and distance, one-click referral from a case file,
who keeps the directory current, the map's services layer and the demo directory."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.test import Client

from entraide.cases import services as cases
from entraide.cases.models import Referral
from entraide.org.models import ApiToken
from entraide.secrecy.models import AuditAction, AuditRecord
from entraide.secrecy.policy import Denied
from entraide.territory import directory
from entraide.territory.demo_services import SPECS, seed_services
from entraide.territory.directory import ServiceQuery
from entraide.territory.directory_api import ServiceLayerOut
from entraide.territory.models import Service

from ..factories import OrganisationFactory

# The households of the world fixture live at (44.2, 0.6).
HOME = (44.2, 0.6)
KM_LAT = 1 / 111.2  # about one kilometre of latitude, in degrees


def _service(world: Any, name: str, needs: list[str], km_north: float | None,
             category: str = "public", **fields: Any) -> Service:
    place = {} if km_north is None else {"latitude": HOME[0] + km_north * KM_LAT,
                                         "longitude": HOME[1]}
    return Service.objects.create(organisation=world.territory_a.organisation, name=name,
                                  category=category, needs=needs, **place, **fields)


def _names(page: directory.SearchPage) -> list[str]:
    return [item.service.name for item in page.items]


def _org(world: Any) -> int:
    return world.territory_a.organisation_id


# --- search --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_search_by_need_finds_the_nearest_services_first(world: Any) -> None:
    _service(world, "CCAS lointain", ["income", "housing"], 30)
    _service(world, "Épicerie solidaire", ["income"], 2)
    _service(world, "Restos du Cœur", ["income"], 8)
    _service(world, "PMI", ["health", "family"], 1)
    _service(world, "Aide alimentaire sans adresse", ["income"], None)

    page = directory.search(ServiceQuery(needs=("income",), near=HOME), _org(world))

    assert _names(page) == ["Épicerie solidaire", "Restos du Cœur", "CCAS lointain",
                            "Aide alimentaire sans adresse"]
    distances = [item.distance_km for item in page.items]
    assert distances[0] == pytest.approx(2, rel=0.02)
    assert distances[-1] is None
    assert page.items[0].matched_needs == ("income",)


@pytest.mark.django_db
def test_radius_leaves_out_farther_services_and_those_without_coordinates(world: Any) -> None:
    _service(world, "Près", ["housing"], 4)
    _service(world, "Juste dedans", ["housing"], 9.8)
    _service(world, "Trop loin", ["housing"], 10.5)
    _service(world, "Sans adresse", ["housing"], None)

    page = directory.search(ServiceQuery(needs=("housing",), near=HOME, radius_km=10),
                            _org(world))

    assert _names(page) == ["Près", "Juste dedans"]
    assert page.total == 2


@pytest.mark.django_db
def test_category_and_words_narrow_the_search_ignoring_accents_and_case(world: Any) -> None:
    _service(world, "Épicerie solidaire « Le Panier »", ["income"], 1, category="association",
             commune="Marmont-sur-Lisonne")
    _service(world, "Épicerie sociale municipale", ["income"], 1, category="public")
    _service(world, "Restos du Cœur", ["income"], 1, category="association",
             description="Distribution alimentaire")

    assert _names(directory.search(ServiceQuery(category="association"), _org(world))) == [
        "Épicerie solidaire « Le Panier »", "Restos du Cœur"]
    assert _names(directory.search(ServiceQuery(text="EPICERIE marmont"), _org(world))) == [
        "Épicerie solidaire « Le Panier »"]
    assert _names(directory.search(ServiceQuery(text="coeur"), _org(world))) == [
        "Restos du Cœur"]
    assert _names(directory.search(ServiceQuery(text="alimentaire"), _org(world))) == [
        "Restos du Cœur"]


@pytest.mark.django_db
def test_without_a_point_services_covering_more_of_the_needs_come_first(world: Any) -> None:
    _service(world, "A — logement", ["housing"], 1)
    _service(world, "B — logement et budget", ["housing", "income"], 50)
    _service(world, "C — santé", ["health"], 1)

    page = directory.search(ServiceQuery(needs=("housing", "income")), _org(world))

    assert _names(page) == ["B — logement et budget", "A — logement"]
    assert all(item.distance_km is None for item in page.items)


@pytest.mark.django_db
def test_closed_services_and_other_organisations_services_are_not_found(world: Any) -> None:
    _service(world, "Fermé", ["income"], 1, active=False)
    Service.objects.create(organisation=OrganisationFactory(), name="Ailleurs",
                           category="public", needs=["income"], latitude=44.2, longitude=0.6)
    _service(world, "Ouvert", ["income"], 1)

    assert _names(directory.search(ServiceQuery(needs=("income",)), _org(world))) == ["Ouvert"]


@pytest.mark.django_db
def test_search_pages_through_thousands_of_services(world: Any) -> None:
    organisation = world.territory_a.organisation
    Service.objects.bulk_create(
        Service(organisation=organisation, name=f"Activité {i:04d}", category="citizen",
                needs=["isolation"], latitude=HOME[0] + (i % 100) * KM_LAT / 10,
                longitude=HOME[1] + (i // 100) * KM_LAT / 10)
        for i in range(3000))

    page = directory.search(ServiceQuery(needs=("isolation",), near=HOME, radius_km=3),
                            _org(world), limit=20, offset=40)

    within = [s for s in Service.objects.all()
              if directory.distance_km(HOME, (s.latitude, s.longitude)) <= 3]
    assert page.total == len(within) > 500
    assert len(page.items) == 20 and page.has_next
    assert [i.distance_km for i in page.items] == sorted(i.distance_km or 0 for i in
                                                          page.items)


def test_the_bounding_box_holds_every_point_of_the_circle() -> None:
    for centre in ((44.2, 0.6), (-33.9, 151.2), (78.2, 15.6), (0.0, 179.9)):
        west, south, east, north = directory.bounding_box(centre, 25)
        for step in range(36):
            bearing = math.radians(step * 10)
            lat = centre[0] + math.degrees(25 / directory.EARTH_RADIUS_KM) * math.cos(bearing)
            scale = math.cos(math.radians(lat))
            lon = centre[1] + math.degrees(25 / directory.EARTH_RADIUS_KM) * math.sin(
                bearing) / scale * 0.999
            if -180 <= lon <= 180 and directory.distance_km(centre, (lat, lon)) <= 25:
                assert south <= lat <= north and west <= lon <= east, (centre, step)


def test_malformed_queries_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="Unknown need: rent"):
        ServiceQuery.build(needs=["housing,rent"])
    with pytest.raises(ValueError, match="Unknown category"):
        ServiceQuery.build(category="shop")
    with pytest.raises(ValueError, match="Latitude"):
        ServiceQuery.build(lat=95, lon=0.5)
    with pytest.raises(ValueError, match="both lat and lon"):
        ServiceQuery.build(lat=44.2)
    with pytest.raises(ValueError, match="radius"):
        ServiceQuery.build(lat=44.2, lon=0.6, radius_km=-3)
    with pytest.raises(ValueError, match="bbox"):
        ServiceQuery.build(bbox="1,2,3")


# --- from a case file ------------------------------------------------------------------------

def _assess(world: Any) -> None:
    cases.assess(world.actor("worker"), world.file_a.pk, {
        "housing": (2, ""), "income": (3, ""), "health": (4, ""), "family": (1, "")})
    # A later, partial assessment: housing gets worse, the other domains keep their level.
    cases.assess(world.actor("worker"), world.file_a.pk, {"housing": (3, "")})


@pytest.mark.django_db
def test_a_case_file_gives_the_home_and_the_domains_in_difficulty_most_pressing_first(
        world: Any) -> None:
    _assess(world)
    before = AuditRecord.objects.count()

    context = directory.near_case_file(world.actor("worker"), world.file_a.pk)

    assert context.point == HOME
    assert context.needs == ("health", "housing", "income")
    read = AuditRecord.objects.order_by("-pk").first()
    assert AuditRecord.objects.count() == before + 1
    assert (read.action, read.object_type, read.object_id) == (
        AuditAction.READ, "case_file", world.file_a.pk)


@pytest.mark.django_db
def test_a_case_file_outside_need_to_know_gives_nothing_and_the_refusal_is_audited(
        world: Any) -> None:
    with pytest.raises(Denied):
        directory.near_case_file(world.actor("worker"), world.file_b.pk)
    refusal = AuditRecord.objects.order_by("-pk").first()
    assert (refusal.action, refusal.object_id, refusal.username) == (
        AuditAction.DENIED, world.file_b.pk, "worker")


@pytest.mark.django_db
def test_search_page_from_a_case_file_preselects_its_needs_and_offers_to_refer(
        world: Any) -> None:
    _assess(world)
    near = _service(world, "Épicerie solidaire", ["income"], 3)
    _service(world, "CCAS lointain", ["income"], 40)
    _service(world, "Club de marche", ["isolation"], 1)

    response = world.client("worker").get(f"/services/?case_file={world.file_a.pk}")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="income" checked' in page and 'value="isolation" checked' not in page
    assert "Épicerie solidaire" in page and "3.0 km" in page
    assert "CCAS lointain" not in page  # beyond the 20 km preselected
    assert "Club de marche" not in page
    assert f'action="/case-files/{world.file_a.pk}/refer/{near.pk}/"' in page


@pytest.mark.django_db
def test_search_page_keeps_what_the_worker_chose_after_the_first_search(world: Any) -> None:
    _assess(world)
    _service(world, "Club de marche", ["isolation"], 1)

    response = world.client("worker").get(
        f"/services/?case_file={world.file_a.pk}&searched=1&need=isolation&radius=")

    assert response.status_code == 200
    assert "Club de marche" in response.content.decode()


@pytest.mark.django_db
def test_search_page_for_a_case_file_outside_need_to_know_is_refused(world: Any) -> None:
    response = world.client("worker").get(f"/services/?case_file={world.file_b.pk}")

    assert response.status_code == 403
    assert AuditRecord.objects.filter(action=AuditAction.DENIED, object_id=world.file_b.pk
                                      ).exists()


@pytest.mark.django_db
def test_search_page_explains_a_malformed_query(world: Any) -> None:
    response = world.client("reception").get("/services/?need=rent")

    assert response.status_code == 400
    assert "Unknown need: rent" in response.content.decode()


# --- one-click referral -----------------------------------------------------------------------

@pytest.mark.django_db
def test_one_click_refers_the_household_and_returns_to_its_referrals(world: Any) -> None:
    service = _service(world, "Épicerie solidaire", ["income", "family"], 3)

    response = world.client("worker").post(
        f"/case-files/{world.file_a.pk}/refer/{service.pk}/",
        {"need": ["income", "housing"]}, follow=True)

    assert response.redirect_chain[-1][0] == (
        f"/households/{world.household_a.pk}/#h-ref")
    referral = Referral.objects.get(case_file=world.file_a)
    assert referral.service == "Épicerie solidaire"
    assert referral.reason == "Income — found in the service directory"
    assert referral.created_by == world.users["worker"]
    assert "Referral to “Épicerie solidaire” recorded" in response.content.decode()
    assert AuditRecord.objects.filter(action=AuditAction.CREATE, object_type="referral",
                                      object_id=referral.pk).exists()


@pytest.mark.django_db
def test_referral_keeps_the_reason_the_worker_gave(world: Any) -> None:
    service = _service(world, "ADIL", ["housing"], 3)

    referral = directory.refer(world.actor("worker"), world.file_a.pk, service.pk,
                               "Impayés de loyer : conseil juridique")

    assert (referral.service, referral.reason) == ("ADIL", "Impayés de loyer : conseil juridique")


@pytest.mark.django_db
def test_referral_outside_need_to_know_is_refused_and_audited(world: Any) -> None:
    service = _service(world, "Épicerie solidaire", ["income"], 3)

    response = world.client("worker").post(
        f"/case-files/{world.file_b.pk}/refer/{service.pk}/", {"need": "income"})

    assert response.status_code == 403
    assert not Referral.objects.filter(case_file=world.file_b).exists()
    assert AuditRecord.objects.filter(action=AuditAction.DENIED, object_type="case_file",
                                      object_id=world.file_b.pk, username="worker").exists()


@pytest.mark.django_db
def test_referral_to_a_closed_service_is_refused_with_a_message(world: Any) -> None:
    service = _service(world, "Ancienne permanence", ["income"], 3, active=False)

    response = world.client("worker").post(
        f"/case-files/{world.file_a.pk}/refer/{service.pk}/", follow=True)

    assert "no longer in the directory" in response.content.decode()
    assert not Referral.objects.exists()


# --- keeping the directory current ---------------------------------------------------------

def _fields(**changes: Any) -> dict[str, Any]:
    return {"name": "Repair café", "category": "citizen", "needs": ["income", "isolation"],
            "latitude": "44.21", "longitude": "0.61", "opening_hours": "1er samedi, 9h30–12h",
            "phone": "05 53 00 00 00", "email": "", "website": "", "active": "on", **changes}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["lead", "manager"])
def test_leads_and_managers_add_and_change_services(world: Any, role: str) -> None:
    client = world.client(role)

    response = client.post("/services/new/", _fields())
    service = Service.objects.get(name="Repair café")
    assert response.status_code == 302 and response["Location"] == f"/services/{service.pk}/"
    assert service.needs == ["income", "isolation"]
    assert service.latitude == pytest.approx(44.21)
    assert service.organisation_id == world.territory_a.organisation_id

    client.post(f"/services/{service.pk}/edit/", _fields(latitude="44,3", active=""))
    service.refresh_from_db()
    assert service.latitude == pytest.approx(44.3) and service.active is False


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["worker", "reception", "operator", "dpo"])
def test_other_agents_cannot_change_the_directory_and_are_audited(world: Any,
                                                                   role: str) -> None:
    service = _service(world, "CCAS", ["income"], 1)

    assert world.client(role).post("/services/new/", _fields()).status_code == 403
    assert world.client(role).get(f"/services/{service.pk}/edit/").status_code == 403
    assert not Service.objects.filter(name="Repair café").exists()
    assert AuditRecord.objects.filter(action=AuditAction.DENIED, object_type="service",
                                      username=world.users[role].username).count() == 2


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"needs": []}, "needs", "Choose at least one need"),
    ({"needs": ["housing", "rent"]}, "needs", "Unknown need: rent"),
    ({"latitude": "95"}, "latitude", "Latitude is in degrees, between -90 and 90"),
    ({"longitude": "200"}, "longitude", "Longitude is in degrees, between -180 and 180"),
    ({"longitude": None}, "latitude", "Give both latitude and longitude, or neither"),
    ({"latitude": "nord"}, "latitude", "numbers of degrees"),
    ({"name": " "}, "name", "Give the service's name"),
    ({"category": "shop"}, "category", "Choose a category"),
    ({"email": "ccas.fr"}, "email", "e-mail address"),
    ({"website": "ccas.fr"}, "website", "https://"),
])
def test_validation_says_what_is_wrong_field_by_field(changes: dict[str, Any], field: str,
                                                      message: str) -> None:
    fields = {**_fields(), **changes}
    with pytest.raises(directory.InvalidService) as invalid:
        directory.validate(fields)
    assert message in " ".join(invalid.value.errors[field])


def test_a_service_without_coordinates_is_valid() -> None:
    cleaned = directory.validate(_fields(latitude=None, longitude=None))
    assert (cleaned["latitude"], cleaned["longitude"]) == (None, None)


@pytest.mark.django_db
def test_the_form_shows_the_messages_and_keeps_what_was_typed(world: Any) -> None:
    response = world.client("lead").post("/services/new/", _fields(latitude="95", needs=[]))

    page = response.content.decode()
    assert response.status_code == 400
    assert "Latitude is in degrees, between -90 and 90" in page
    assert "Choose at least one need" in page
    assert 'value="Repair café"' in page
    assert not Service.objects.exists()


@pytest.mark.django_db
def test_service_page_from_a_case_file_shows_the_distance_and_the_refer_form(
        world: Any) -> None:
    service = _service(world, "Mission locale", ["employment"], 5,
                       eligibility="Jeunes de 16 à 25 ans")

    page = world.client("worker").get(
        f"/services/{service.pk}/?case_file={world.file_a.pk}").content.decode()

    assert "Jeunes de 16 à 25 ans" in page and "5.0 km" in page
    assert f"/case-files/{world.file_a.pk}/refer/{service.pk}/" in page


# --- on the map and in the API -------------------------------------------------------------

def _api(world: Any, role: str) -> tuple[Client, dict[str, str]]:
    return Client(), {"Authorization": f"Bearer {ApiToken.issue(world.users[role])}"}


@pytest.mark.django_db
def test_the_map_layer_is_a_feature_collection_of_service_points(world: Any) -> None:
    service = _service(world, "PMI", ["health", "family"], 1, opening_hours="Lun 9h–12h",
                       phone="05 53 11 22 33", commune="Villeneuve")
    _service(world, "Sans adresse", ["health"], None)
    _service(world, "Hors du cadre", ["health"], 200)
    client, headers = _api(world, "manager")

    layer = client.get("/api/v1/map/services?need=health&bbox=0,43,1,45",
                       headers=headers).json()

    ServiceLayerOut.model_validate(layer)
    assert layer["type"] == "FeatureCollection"
    [feature] = layer["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == [pytest.approx(0.6),
                                                  pytest.approx(44.2 + KM_LAT, abs=1e-6)]
    assert feature["properties"] == {
        "kind": "service", "id": service.pk, "name": "PMI", "category": "public",
        "category_label": "Public service", "needs": ["health", "family"],
        "opening_hours": "Lun 9h–12h", "phone": "05 53 11 22 33", "commune": "Villeneuve",
        "url": f"/services/{service.pk}/"}
    web_layer = world.client("worker").get("/services/layer.geojson?need=health").json()
    assert [f["properties"]["id"] for f in web_layer["features"]] == [
        service.pk, service.pk + 2]


@pytest.mark.django_db
def test_api_search_measures_from_the_household_of_a_case_file(world: Any) -> None:
    _assess(world)
    _service(world, "Épicerie solidaire", ["income"], 3)
    _service(world, "Club de marche", ["isolation"], 1)
    client, headers = _api(world, "worker")

    found = client.get(f"/api/v1/services?case_file_id={world.file_a.pk}&radius_km=10",
                       headers=headers).json()

    assert found["count"] == 1
    [item] = found["items"]
    assert item["service"]["name"] == "Épicerie solidaire"
    assert item["distance_km"] == pytest.approx(3, rel=0.02)
    assert item["matched_needs"] == ["income"]
    refused = client.get(f"/api/v1/services?case_file_id={world.file_b.pk}", headers=headers)
    assert refused.status_code == 403


@pytest.mark.django_db
def test_api_search_refuses_an_unknown_need(world: Any) -> None:
    client, headers = _api(world, "reception")

    response = client.get("/api/v1/services?need=rent", headers=headers)

    assert response.status_code == 422
    assert "Unknown need: rent" in response.json()["detail"]


# --- demo directory ------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_demo_directory_is_seeded_once_with_valid_services(world: Any) -> None:
    organisation = world.territory_a.organisation

    added = seed_services(organisation)
    again = seed_services(organisation)

    assert added == len(SPECS) >= 40 and again == 0
    assert Service.objects.filter(organisation=organisation).count() == added
    categories = set(Service.objects.values_list("category", flat=True))
    assert categories == {"public", "association", "health", "citizen"}
    for service in Service.objects.all():
        directory.validate({name: getattr(service, name) for name in directory.EDITABLE})
        assert 43.9 < service.latitude < 44.8 and 0.0 < service.longitude < 1.1
