"""Home visits: the queue by the policy table, planning a day, its calendar and the report,
through the web pages and the API — each under need-to-know, each audited."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from entraide.cases import services as cases
from entraide.cases.models import Note
from entraide.org.models import ApiToken
from entraide.people.models import Household
from entraide.secrecy.models import AuditRecord
from entraide.secrecy.policy import Denied
from entraide.territory import visits
from entraide.territory.models import (
    CrisisLevel,
    DayPlan,
    Office,
    Visit,
    VisitFrequency,
    VisitStatus,
)
from entraide.territory.visits import VisitRequest

from ..factories import CaseFileFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
TOMORROW = TODAY + dt.timedelta(days=1)
FAST = 0.1  # seconds of search: plenty for a handful of visits


@pytest.fixture
def office(world: Any) -> Office:
    return Office.objects.create(team=world.team_a1, name="Antenne de Villeneuve",
                                 address="1 place de la Mairie", latitude=44.20,
                                 longitude=0.60)


def _home(world: Any, level: int | None, address: str, north_km: float = 1.0,
          team: Any = None, referent: str | None = "worker") -> Household:
    """A household of territory A followed by the worker (by default), at this level."""
    household = Household.objects.create(territory=world.territory_a, address=address,
                                         postcode="47000", commune="Villeneuve",
                                         latitude=44.20 + north_km / 111.2, longitude=0.60)
    CaseFileFactory(household=household, team=team or world.team_a1,
                    referent=world.users[referent] if referent else None)
    if level is not None:
        CrisisLevel.objects.create(household=household, territory=world.territory_a,
                                   level=level, computed_at=timezone.now())
    return household


def _morning(days_ago: int) -> dt.datetime:
    """9:00, so that 7.5 days later is still evening, away from midnight and DST shifts."""
    day = TODAY - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(9), tzinfo=timezone.get_current_timezone())


def _file(household: Household) -> int:
    return household.case_files.get().pk


def _plan(world: Any, office: Office, households: list[Household], day: dt.date = TODAY,
          worker: str = "worker") -> DayPlan:
    plan = DayPlan.objects.create(worker=world.users[worker], day=day, office=office,
                                  starts_at=dt.time(9), ends_at=dt.time(17))
    for position, household in enumerate(households, start=1):
        Visit.objects.create(plan=plan, household=household,
                             case_file=household.case_files.first(), position=position,
                             window_start=dt.time(9), window_end=dt.time(17),
                             arrival=dt.time(9 + position, 0))
    return plan


def _due(world: Any, name: str = "worker") -> list[tuple[str, int]]:
    return [(row.household.address, row.overdue_days)
            for row in visits.visits_due(world.actor(name), today=TODAY).rows]


# --- the queue ---------------------------------------------------------------------------------

def test_the_queue_follows_the_visits_a_month_of_each_level(world: Any, office: Office
                                                             ) -> None:
    worker = world.actor("worker")
    weekly = _home(world, 4, "4 rue Hebdo")  # 4 a month: every 7.5 days
    cases.add_note(worker, _file(weekly), "home_visit", "Vu", at=_morning(10))
    monthly_late = _home(world, 3, "3 rue Tardive")  # once a month, last seen 40 days ago
    plan = _plan(world, office, [monthly_late], day=TODAY - dt.timedelta(days=40))
    plan.visits.update(status=VisitStatus.DONE, done_at=_morning(40))
    monthly_fine = _home(world, 3, "3 rue Récente")
    cases.add_note(worker, _file(monthly_fine), "home_visit", "Vu", at=_morning(20))
    _home(world, 2, "2 rue Jamais")  # every two months, never seen: due now
    _home(world, 1, "1 rue Stable")  # 0 a month: never in the queue
    _home(world, None, "0 rue Sans Niveau")  # no level computed yet: level 1

    assert _due(world) == [("3 rue Tardive", 10), ("4 rue Hebdo", 3), ("2 rue Jamais", 0)]
    rows = visits.visits_due(worker, today=TODAY).rows
    assert [(r.level, r.visits_per_month) for r in rows] == [
        (3, Decimal("1")), (4, Decimal("4")), (2, Decimal("0.5"))]
    assert rows[1].last_visit == TODAY - dt.timedelta(days=10) and rows[2].last_visit is None

    VisitFrequency.objects.filter(level=2).update(visits_per_month=0)
    assert [a for a, _ in _due(world)] == ["3 rue Tardive", "4 rue Hebdo"]


def test_the_queue_holds_only_the_workers_own_households_and_is_audited(
        world: Any, office: Office) -> None:
    mine = _home(world, 3, "1 rue Mienne")
    team = _home(world, 3, "2 rue Équipe", referent=None)  # the team's, no referent yet
    _home(world, 3, "3 rue Voisine", team=world.team_a2, referent="worker.a2")
    CrisisLevel.objects.create(household=world.household_b, territory=world.territory_b,
                               level=4, computed_at=timezone.now())

    assert {a for a, _ in _due(world)} == {"1 rue Mienne", "2 rue Équipe"}
    assert {a for a, _ in _due(world, "worker.a2")} == {"3 rue Voisine"}
    audited = set(AuditRecord.objects.filter(user=world.users["worker"], action="read",
                                             detail="visits due")
                  .values_list("household_id", flat=True))
    assert audited == {mine.pk, team.pk}
    with pytest.raises(Denied):
        visits.visits_due(world.actor("manager"))


def test_a_visit_where_nobody_was_home_keeps_the_household_in_the_queue(
        world: Any, office: Office) -> None:
    worker = world.actor("worker")
    home = _home(world, 3, "3 rue Fermée")  # once a month
    cases.add_note(worker, _file(home), "home_visit", "Vu", at=_morning(40))
    first, second = _plan(world, office, [home]), _plan(world, office, [home])

    visits.record_report(worker, first.visits.get().pk, VisitStatus.MISSED, "")
    assert _due(world) == [("3 rue Fermée", 10)]

    visits.record_report(worker, second.visits.get().pk, VisitStatus.DONE, "Tout va mieux.")
    assert _due(world) == []


# --- planning a day ----------------------------------------------------------------------------

def test_a_day_is_saved_in_route_order_with_its_times_and_audited(world: Any, office: Office
                                                                  ) -> None:
    afternoon = _home(world, 3, "1 rue Après-midi", north_km=1)
    morning = _home(world, 3, "2 rue Matin", north_km=2)
    noon = _home(world, 3, "3 rue Midi", north_km=3)
    requests = [VisitRequest(afternoon.pk, dt.time(14), dt.time(16)),
                VisitRequest(morning.pk, dt.time(9), dt.time(10, 30), duration=60),
                VisitRequest(noon.pk, dt.time(10, 30), dt.time(12, 30))]

    plan = visits.plan_day(world.actor("worker"), TOMORROW, requests, time_limit=FAST)

    saved = list(plan.visits.order_by("position"))
    assert [v.household_id for v in saved] == [morning.pk, noon.pk, afternoon.pk]
    assert [v.position for v in saved] == [1, 2, 3]
    assert [v.arrival for v in saved] == [dt.time(9), dt.time(10, 30), dt.time(14)]
    assert [v.duration_minutes for v in saved] == [60, 45, 45]
    assert saved[0].window_end == dt.time(10, 30) and saved[0].case_file_id == _file(morning)
    assert (plan.worker, plan.day, plan.office) == (world.users["worker"], TOMORROW, office)
    assert (plan.starts_at, plan.ends_at) == (dt.time(8, 30), dt.time(17, 30))  # the office's
    assert plan.travel_minutes > 0 and plan.distance_m > 0
    assert plan.back_at is not None and dt.time(14, 45) < plan.back_at < dt.time(15, 30)
    assert AuditRecord.objects.filter(action="create", object_type="day_plan",
                                      object_id=plan.pk).exists()
    assert set(AuditRecord.objects.filter(action="create", object_type="visit")
               .values_list("household_id", flat=True)) == {afternoon.pk, morning.pk, noon.pk}


def test_another_workers_household_is_refused_audited_and_nothing_is_planned(
        world: Any, office: Office) -> None:
    mine = _home(world, 3, "1 rue Mienne")
    requests = [VisitRequest(mine.pk), VisitRequest(world.household_b.pk)]

    with pytest.raises(Denied):
        visits.plan_day(world.actor("worker"), TOMORROW, requests, time_limit=FAST)

    assert not DayPlan.objects.exists()
    assert AuditRecord.objects.filter(action="denied", object_type="case_file",
                                      object_id=world.file_b.pk,
                                      user=world.users["worker"]).exists()


def test_visits_that_cannot_fit_are_named_and_nothing_is_planned(world: Any, office: Office
                                                                 ) -> None:
    fits = _home(world, 3, "1 rue Proche")
    too_early = _home(world, 3, "2 rue Lointaine", north_km=30)
    requests = [VisitRequest(fits.pk),
                VisitRequest(too_early.pk, dt.time(8, 30), dt.time(9, 15), duration=30)]

    with pytest.raises(visits.CannotFit) as refused:
        visits.plan_day(world.actor("worker"), TOMORROW, requests, time_limit=FAST)

    assert "2 rue Lointaine" in str(refused.value) and "1 rue Proche" not in str(refused.value)
    assert "from the office" in str(refused.value)
    assert set(refused.value.left_out) == {too_early.pk}
    assert not DayPlan.objects.exists() and not Visit.objects.exists()


def test_a_team_without_an_office_is_told_so(world: Any) -> None:
    home = _home(world, 3, "1 rue Mienne")
    with pytest.raises(ValueError, match="office"):
        visits.plan_day(world.actor("worker"), TOMORROW, [VisitRequest(home.pk)])


def test_a_day_in_the_past_or_twice_the_same_household_is_refused(world: Any, office: Office
                                                                   ) -> None:
    home = _home(world, 3, "1 rue Mienne")
    worker = world.actor("worker")
    with pytest.raises(ValueError, match="later day"):
        visits.plan_day(worker, TODAY - dt.timedelta(days=1), [VisitRequest(home.pk)])
    with pytest.raises(ValueError, match="twice"):
        visits.plan_day(worker, TOMORROW, [VisitRequest(home.pk), VisitRequest(home.pk)])


# --- the calendar ------------------------------------------------------------------------------

def test_the_calendar_is_valid_icalendar_without_names(world: Any, office: Office) -> None:
    long_address = "12 avenue du Maréchal de Lattre de Tassigny, résidence Les Érables, bât. C"
    other = _home(world, 3, long_address)
    plan = _plan(world, office, [world.household_a, other], day=TOMORROW)

    text = visits.ics(world.actor("worker"), plan.pk)

    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in physical)
    assert any(line.startswith(" ") for line in physical)  # the long address was folded
    lines = "\r\n".join(physical).replace("\r\n ", "").split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    first_start = dt.datetime.combine(TOMORROW, dt.time(10), tzinfo=ZoneInfo("Europe/Paris"))
    assert f"DTSTART:{first_start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}" in lines
    summaries = [line for line in lines if line.startswith("SUMMARY:")]
    assert summaries == ["SUMMARY:Home visit – Villeneuve"] * 2
    assert "Lefèvre" not in text and "Zoé" not in text
    assert (f"LOCATION:{long_address.replace(',', chr(92) + ',')}\\, 47000 Villeneuve"
            in lines)
    uids = [line for line in lines if line.startswith("UID:")]
    assert len(set(uids)) == 2 and uids == [
        line for line in visits.ics(world.actor("worker"), plan.pk).replace("\r\n ", "")
        .split("\r\n") if line.startswith("UID:")]
    assert AuditRecord.objects.filter(action="export", object_type="day_plan",
                                      object_id=plan.pk).exists()


# --- the report --------------------------------------------------------------------------------

def test_the_report_becomes_a_home_visit_note_in_the_case_file(world: Any, office: Office
                                                               ) -> None:
    worker = world.actor("worker")
    plan = _plan(world, office, [world.household_a])
    visit = plan.visits.get()

    visits.record_report(worker, visit.pk, VisitStatus.DONE, "Logement humide ; voir la CAF.")

    visit.refresh_from_db()
    assert visit.report_note_id is not None
    note = Note.objects.get(pk=visit.report_note_id)
    assert (visit.status, note.kind, note.case_file_id) == ("done", "home_visit",
                                                            world.file_a.pk)
    notes, _ = cases.notes_of(worker, world.file_a.pk, 10, 0)
    assert notes[0].body == "Logement humide ; voir la CAF."
    with pytest.raises(ValueError, match="already reported"):
        visits.record_report(worker, visit.pk, VisitStatus.DONE, "Encore")


def test_a_report_is_refused_before_the_day_without_text_or_for_another_worker(
        world: Any, office: Office) -> None:
    worker = world.actor("worker")
    today = _plan(world, office, [world.household_a]).visits.get()
    later = _plan(world, office, [world.household_a], day=TOMORROW).visits.get()
    with pytest.raises(ValueError, match="from its day on"):
        visits.record_report(worker, later.pk, VisitStatus.DONE, "Vu")
    with pytest.raises(ValueError, match="what came of the visit"):
        visits.record_report(worker, today.pk, VisitStatus.DONE, "  ")
    with pytest.raises(Denied):
        visits.record_report(world.actor("worker.b"), today.pk, VisitStatus.DONE, "Vu")
    assert not Note.objects.filter(kind="home_visit").exists()
    assert AuditRecord.objects.filter(action="denied", object_type="day_plan",
                                      user=world.users["worker.b"]).exists()


# --- web pages ---------------------------------------------------------------------------------

def test_the_queue_page_plans_a_day_and_shows_it(world: Any, office: Office) -> None:
    near, far = _home(world, 4, "1 rue Proche"), _home(world, 4, "2 rue Loin", north_km=3)
    client = world.client("worker")
    page = client.get("/visits/").content.decode()
    assert "1 rue Proche" in page and "2 rue Loin" in page

    response = client.post("/visits/", {"day": TOMORROW.isoformat(), "row": [near.pk, far.pk],
                                        "household": [near.pk, far.pk],
                                        f"from-{far.pk}": "09:00", f"to-{far.pk}": "10:00",
                                        f"duration-{far.pk}": "30", f"from-{near.pk}": "10:00"})

    plan = DayPlan.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/visits/plans/{plan.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert page.index("2 rue Loin") < page.index("1 rue Proche")
    assert 'id="plan-data"' in page and "territory/plan.js" in page
    calendar = client.get(f"/visits/plans/{plan.pk}.ics")
    assert calendar["Content-Type"].startswith("text/calendar")
    assert calendar.content.decode().count("BEGIN:VEVENT") == 2


def test_the_queue_page_names_what_cannot_fit_and_keeps_the_other_choices(
        world: Any, office: Office) -> None:
    near, far = _home(world, 4, "1 rue Proche"), _home(world, 4, "2 rue Lointaine", north_km=30)
    response = world.client("worker").post("/visits/", {
        "day": TOMORROW.isoformat(), "row": [near.pk, far.pk], "household": [near.pk, far.pk],
        f"from-{far.pk}": "08:30", f"to-{far.pk}": "09:15", f"duration-{far.pk}": "30"})

    page = response.content.decode()
    assert response.status_code == 200 and not DayPlan.objects.exists()
    assert "2 rue Lointaine" in page.split('class="messages"')[1].split("</ul>")[0]
    assert f'value="{near.pk}" id="h{near.pk}" checked' in page
    assert f'value="{far.pk}" id="h{far.pk}">' in page  # unticked, its window kept
    assert f'name="from-{far.pk}" value="08:30"' in page


def test_more_rows_of_the_queue_come_as_a_fragment(world: Any, office: Office) -> None:
    for n in range(3):
        _home(world, 4, f"{n} rue Suite")
    response = world.client("worker").get("/visits/?offset=2", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page and page.count('name="household"') == 1


def test_the_report_page_writes_the_note(world: Any, office: Office) -> None:
    visit = _plan(world, office, [world.household_a]).visits.get()
    client = world.client("worker")
    assert "Logement" not in client.get(f"/visits/{visit.pk}/report/").content.decode()
    response = client.post(f"/visits/{visit.pk}/report/",
                           {"status": "done", "body": "Logement réparé."})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE and visit.report_note_id is not None


# --- API ---------------------------------------------------------------------------------------

def _api(world: Any, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiToken.issue(world.users[name])}"}


def test_the_api_lists_due_visits_and_plans_a_day(world: Any, office: Office) -> None:
    near, far = _home(world, 4, "1 rue Proche"), _home(world, 4, "2 rue Loin", north_km=3)
    client, headers = world.client("worker"), _api(world, "worker")

    due = client.get("/api/v1/visits/due", headers=headers).json()
    assert due["count"] == 2 and {i["household_id"] for i in due["items"]} == {near.pk, far.pk}
    assert due["items"][0]["level"] == 4 and due["items"][0]["overdue_days"] == 0

    response = client.post("/api/v1/visits/plans", content_type="application/json",
                           headers=headers, data=json.dumps({
                               "day": TOMORROW.isoformat(),
                               "visits": [{"household_id": near.pk, "not_before": "10:00"},
                                          {"household_id": far.pk, "not_before": "09:00",
                                           "not_after": "10:00", "duration_minutes": 30}]}))
    assert response.status_code == 201, response.content
    plan = response.json()
    assert [v["household_id"] for v in plan["visits"]] == [far.pk, near.pk]
    assert plan["visits"][0]["departure"] > plan["visits"][0]["arrival"]
    assert plan["office"]["name"] == office.name

    read = client.get(f"/api/v1/visits/plans/{plan['id']}", headers=headers).json()
    assert read["visits"] == plan["visits"]
    refused = client.get(f"/api/v1/visits/plans/{plan['id']}", headers=_api(world, "worker.b"))
    assert refused.status_code == 403


def test_the_api_answers_422_naming_the_visits_that_cannot_fit(world: Any, office: Office
                                                               ) -> None:
    near, far = _home(world, 4, "1 rue Proche"), _home(world, 4, "2 rue Lointaine", north_km=30)
    response = world.client("worker").post(
        "/api/v1/visits/plans", content_type="application/json", headers=_api(world, "worker"),
        data=json.dumps({"day": TOMORROW.isoformat(), "visits": [
            {"household_id": near.pk},
            {"household_id": far.pk, "not_before": "08:30", "not_after": "09:15",
             "duration_minutes": 30}]}))
    assert response.status_code == 422
    body = response.json()
    assert "2 rue Lointaine" in body["detail"]
    assert [o["household_id"] for o in body["left_out"]] == [far.pk]
    assert not DayPlan.objects.exists()


@pytest.mark.django_db
def test_an_administrator_sets_a_teams_office_in_the_admin(world: Any) -> None:
    client = world.client("admin")
    response = client.post("/admin/territory/office/add/", {
        "team": world.team_a2.pk, "name": "Antenne Nord", "address": "1 place de la Mairie",
        "latitude": "44.64", "longitude": "0.51", "opens": "08:30", "closes": "17:30"})
    assert response.status_code == 302, response.content[:500]
    assert Office.objects.get(team=world.team_a2).name == "Antenne Nord"
