"""The access matrix: every web route and API operation × every role × own/other territory.

Adding a route or an API operation without its row here makes
`test_every_route_has_a_row` fail: deciding who may call it is part of adding it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from entraide.api import api
from entraide.cases import services as cases
from entraide.org.models import ApiToken
from entraide.screening.models import Lead, ScreeningRun
from entraide.telecare import services as telecare
from entraide.telecare.engine import Engine, Message

from ..access import (
    FILE,
    HOME,
    IDENTITY,
    PUBLIC,
    ROLES,
    Row,
    Targets,
    _api,
    _const,
    _file,
    _obj,
    roles,
)
from ..factories import PersonFactory
from ..territory import access_directory, access_map, access_rules, access_visits

# Apps with many routes keep their rows beside their tests: (web rows, API rows, targets).
ROW_MODULES = (access_map, access_rules, access_directory, access_visits)

def _targets(world: Any) -> Targets:
    t = Targets(world)
    sides = ((True, world.file_a, "worker"), (False, world.file_b, "worker.b"))
    for own, case_file, agent in sides:
        actor = world.actor(agent)
        goal = cases.add_goal(actor, case_file.pk, "housing", "Garder le logement")
        t.objects[("file", own)] = case_file
        t.objects[("household", own)] = case_file.household
        t.objects[("person", own)] = world.person_a if own else world.person_b
        t.objects[("twin", own)] = PersonFactory(household=case_file.household)
        t.objects[("note", own)] = cases.add_note(actor, case_file.pk, "interview", "Loyer payé")
        t.objects[("goal", own)] = goal
        t.objects[("action", own)] = cases.add_action(actor, goal.pk, "Dossier FSL", None, None)
        t.objects[("referral", own)] = cases.add_referral(actor, case_file.pk, "CCAS", "Aide")
        t.objects[("installation", own)] = telecare.create_installation(
            case_file.household, t("person", own), code=f"home-{'a' if own else 'b'}",
            devices=[("smoke", "smoke", None)])
    run = ScreeningRun.objects.create(households=2, leads=2)
    for own, case_file in ((True, world.file_a), (False, world.file_b)):
        t.objects[("lead", own)] = Lead.objects.create(
            run=run, household=case_file.household, territory=case_file.household.territory,
            team=case_file.team, score=12, scorecard=12,
            explanation=[{"indicator": "energie.coupure", "label": "Coupure", "value": 1}])
    now = timezone.now()
    Engine().process([Message(f"entraide/home-{side}/smoke", b'{"smoke": true}', now)
                      for side in "ab"])
    for own in (True, False):
        t.objects[("alert", own)] = t("installation", own).alerts.get()
    for module in ROW_MODULES:
        module.add_targets(t)
    return t


WEB: dict[str, Row] = {
    "login": Row("GET", _const("/login/"), PUBLIC),
    "logout": Row("POST", _const("/logout/"), PUBLIC),
    "set_language": Row("POST", _const("/i18n/setlang/"), PUBLIC,
                        lambda t, own: {"language": "en"}),
    "admin:*": Row("GET", _const("/admin/"), roles("admin")),
    "api:openapi-json": Row("GET", _const("/api/v1/openapi.json"), PUBLIC),
    "cases:home": Row("GET", _const("/"), PUBLIC),
    "cases:caseload": Row("GET", _const("/caseload/"), roles("worker", "lead")),
    "cases:household": Row("GET", _obj("households", "household"), IDENTITY),
    "cases:emergency_access": Row(
        "POST", _obj("households", "household", "emergency/"), roles("worker", "lead"),
        lambda t, own: {"reason": "Appel des pompiers : personne inconsciente"}),
    "org:notices": Row("GET", _const("/notices/"), PUBLIC),
    "cases:timeline": Row("GET", _file("timeline/?page=2"), FILE),
    "cases:new_note": Row("POST", _file("notes/new/"), FILE,
                          lambda t, own: {"kind": "interview", "body": "Entretien"}),
    "cases:assessment": Row("POST", _file("assessment/"), FILE,
                            lambda t, own: {"housing_level": "3", "housing_comment": ""}),
    "cases:plan": Row("GET", _file("plan/"), FILE),
    "cases:edit_case_file": Row("GET", _file("edit/"), FILE),
    "cases:new_referral": Row("POST", _file("referrals/new/"), FILE,
                              lambda t, own: {"service": "PMI", "reason": "Suivi"}),
    "cases:correct_note": Row("GET", _obj("notes", "note", "correct/"), FILE),
    "cases:goal_status": Row("POST", _obj("goals", "goal", "status/"), FILE,
                             lambda t, own: {"version": 1, "status": "achieved"}),
    "cases:new_action": Row("POST", _obj("goals", "goal", "actions/new/"), FILE,
                            lambda t, own: {"title": "Appeler la CAF"}),
    "cases:edit_action": Row("GET", _obj("actions", "action", "edit/"), FILE),
    "cases:referral_status": Row("POST", _obj("referrals", "referral", "status/"), FILE,
                                 lambda t, own: {"version": 1, "status": "accepted"}),
    "cases:search": Row("GET", _const("/search/?q=loyer"), roles("worker", "lead")),
    "cases:overview": Row("GET", _const("/overview/"), roles("lead", "manager")),
    "cases:monitoring": Row("GET", _const("/monitoring/"), roles("operator")),
    "people:reception": Row("GET", _const("/reception/?q=Lefevre"),
                            roles("reception", "worker", "lead")),
    "people:new_member": Row("GET", _obj("households", "household", "members/new/"), IDENTITY),
    "people:log_visit": Row("POST", _obj("households", "household", "visits/new/"), IDENTITY,
                            lambda t, own: {"visit-reason": "Dossier CAF"}),
    "people:edit_household": Row("POST", _obj("households", "household", "edit/"), IDENTITY,
                                 lambda t, own: {"version": 1, "address": "2 rue Neuve",
                                                 "postcode": "47000", "commune": "Agen"}),
    "people:new_consent": Row("POST", _obj("persons", "person", "consents/new/"), IDENTITY,
                              lambda t, own: {"purpose": "sms", "given": "yes"}),
    "people:edit_person": Row("GET", _obj("persons", "person", "edit/"), IDENTITY),
    "people:merge": Row("POST", _const("/persons/merge/"), IDENTITY,
                        lambda t, own: {"keep": t("person", own).pk,
                                        "duplicate": t("twin", own).pk}),
    "telecare:console": Row("GET", _const("/telecare/"), roles("operator")),
    "telecare:stream": Row("GET", _const("/telecare/stream/?once=1"), roles("operator")),
    "telecare:alert": Row("GET", _obj("telecare/alerts", "alert"), HOME),
    "telecare:acknowledge": Row("POST", _obj("telecare/alerts", "alert", "acknowledge/"),
                                roles("operator")),
    "telecare:dispatch": Row("POST", _obj("telecare/alerts", "alert", "dispatch/"),
                             roles("operator"), lambda t, own: {"to": "M. Petit, voisin"}),
    "telecare:resolve": Row("POST", _obj("telecare/alerts", "alert", "resolve/"),
                            roles("operator"), lambda t, own: {"outcome": "false_alarm"}),
    "telecare:installation": Row("GET", _obj("telecare/installations", "installation"), HOME),
    # Both homes are equipped already: the own side answers 409 with a link to it.
    "telecare:equip": Row("GET", lambda t, own: "/telecare/installations/new/?household="
                          f"{t('household', own).pk}", HOME),
    "telecare:edit": Row("POST", _obj("telecare/installations", "installation", "edit/"), HOME,
                         lambda t, own: {"active": "on", "devices-TOTAL_FORMS": "1",
                                         "devices-INITIAL_FORMS": "0",
                                         "devices-0-code": "door", "devices-0-kind": "door",
                                         "contacts-TOTAL_FORMS": "0",
                                         "contacts-INITIAL_FORMS": "0"}),
    # Leads name households nobody follows yet: only the team sent to see them.
    "screening:leads": Row("GET", _const("/screening/?status=all"), roles("worker", "lead")),
    "screening:lead": Row("POST", _obj("screening/leads", "lead"), FILE,
                          lambda t, own: {"outcome": "not_in_need"}),
    "screening:runs": Row("GET", _const("/screening/runs/"), roles("lead", "manager", "dpo")),
    "screening:scorecard": Row("POST", _const("/screening/scorecard/"), roles("lead")),
    "secrecy:audit": Row("GET", _const("/audit/"), roles("dpo")),
    "secrecy:persons": Row("GET", _const("/dpo/persons/?q=Lefevre"), roles("dpo")),
    "secrecy:person_export": Row("GET", _obj("dpo/persons", "person", "export/"), roles("dpo")),
    "secrecy:person_export_json": Row("GET", _obj("dpo/persons", "person", "export.json"),
                                      roles("dpo")),
    "secrecy:person_erase": Row("POST", _obj("dpo/persons", "person", "erase/"), roles("dpo"),
                                lambda t, own: {"reason": "Demande écrite", "confirm": "on"}),
}

for _module in ROW_MODULES:
    WEB.update(_module.web_rows())

# Routes that are not pages: the API's own root (no personal data, answers 404).
NOT_PAGES = {"api:api-root"}


def _person() -> dict[str, Any]:
    return {"first_name": "Léo", "last_name": "Nguyen", "birth_date": "2001-02-03"}


API: dict[str, Row] = {
    "POST /api/v1/auth/token": Row("POST", _const("/api/v1/auth/token"), PUBLIC,
                                   lambda t, own: {"username": "x", "password": "y"}),
    "GET /api/v1/persons": Row("GET", _const("/api/v1/persons?q=Lefevre"),
                               roles("reception", "worker", "lead")),
    "GET /api/v1/persons/{person_id}": Row(
        "GET", _api(lambda t, o: f"/persons/{t('person', o).pk}"), IDENTITY),
    "PATCH /api/v1/persons/{person_id}": Row(
        "PATCH", _api(lambda t, o: f"/persons/{t('person', o).pk}"), IDENTITY,
        lambda t, own: {"version": 1, "phone": "0600000000"}),
    "GET /api/v1/households": Row("GET", _const("/api/v1/households"),
                                  roles("reception", "worker", "lead")),
    "POST /api/v1/households": Row(
        "POST", _const("/api/v1/households"), roles("reception", "worker", "lead"),
        lambda t, own: {"person": _person(), "reason": "Première venue",
                        "address": {"address": "1 rue Pasteur", "postcode": "47000",
                                    "commune": "Agen"}}),
    "GET /api/v1/households/{household_id}": Row(
        "GET", _api(lambda t, o: f"/households/{t('household', o).pk}"), IDENTITY),
    "PATCH /api/v1/households/{household_id}": Row(
        "PATCH", _api(lambda t, o: f"/households/{t('household', o).pk}"), IDENTITY,
        lambda t, own: {"version": 1, "commune": "Agen"}),
    "POST /api/v1/households/{household_id}/members": Row(
        "POST", _api(lambda t, o: f"/households/{t('household', o).pk}/members"), IDENTITY,
        lambda t, own: {"person": _person(), "relationship": "child"}),
    "GET /api/v1/case-files/{case_file_id}": Row(
        "GET", _api(lambda t, o: f"/case-files/{t('file', o).pk}"), FILE),
    "PATCH /api/v1/case-files/{case_file_id}": Row(
        "PATCH", _api(lambda t, o: f"/case-files/{t('file', o).pk}"), FILE,
        lambda t, own: {"version": 1, "status": "open"}),
    "GET /api/v1/case-files/{case_file_id}/timeline": Row(
        "GET", _api(lambda t, o: f"/case-files/{t('file', o).pk}/timeline"), FILE),
    "GET /api/v1/case-files/{case_file_id}/notes": Row(
        "GET", _api(lambda t, o: f"/case-files/{t('file', o).pk}/notes"), FILE),
    "POST /api/v1/case-files/{case_file_id}/notes": Row(
        "POST", _api(lambda t, o: f"/case-files/{t('file', o).pk}/notes"), FILE,
        lambda t, own: {"kind": "phone_call", "body": "Appel"}),
    "POST /api/v1/notes/{note_id}/corrections": Row(
        "POST", _api(lambda t, o: f"/notes/{t('note', o).pk}/corrections"), FILE,
        lambda t, own: {"version_no": 1, "body": "Loyer payé le 5"}),
    "GET /api/v1/notes/{note_id}/versions": Row(
        "GET", _api(lambda t, o: f"/notes/{t('note', o).pk}/versions"), FILE),
    "GET /api/v1/case-files/{case_file_id}/assessments": Row(
        "GET", _api(lambda t, o: f"/case-files/{t('file', o).pk}/assessments"), FILE),
    "POST /api/v1/case-files/{case_file_id}/assessments": Row(
        "POST", _api(lambda t, o: f"/case-files/{t('file', o).pk}/assessments"), FILE,
        lambda t, own: {"levels": [{"domain": "income", "level": 2}]}),
    "GET /api/v1/case-files/{case_file_id}/plan": Row(
        "GET", _api(lambda t, o: f"/case-files/{t('file', o).pk}/plan"), FILE),
    "POST /api/v1/case-files/{case_file_id}/goals": Row(
        "POST", _api(lambda t, o: f"/case-files/{t('file', o).pk}/goals"), FILE,
        lambda t, own: {"domain": "health", "title": "Accès aux soins"}),
    "PATCH /api/v1/goals/{goal_id}": Row(
        "PATCH", _api(lambda t, o: f"/goals/{t('goal', o).pk}"), FILE,
        lambda t, own: {"version": 1, "status": "achieved"}),
    "POST /api/v1/goals/{goal_id}/actions": Row(
        "POST", _api(lambda t, o: f"/goals/{t('goal', o).pk}/actions"), FILE,
        lambda t, own: {"title": "Rendez-vous CPAM"}),
    "PATCH /api/v1/actions/{action_id}": Row(
        "PATCH", _api(lambda t, o: f"/actions/{t('action', o).pk}"), FILE,
        lambda t, own: {"version": 1, "status": "done"}),
    "POST /api/v1/case-files/{case_file_id}/referrals": Row(
        "POST", _api(lambda t, o: f"/case-files/{t('file', o).pk}/referrals"), FILE,
        lambda t, own: {"service": "Mission locale", "reason": "Emploi"}),
    "PATCH /api/v1/referrals/{referral_id}": Row(
        "PATCH", _api(lambda t, o: f"/referrals/{t('referral', o).pk}"), FILE,
        lambda t, own: {"version": 1, "status": "accepted"}),
    "POST /api/v1/case-files/{case_file_id}/emergency-access": Row(
        "POST", _api(lambda t, o: f"/case-files/{t('file', o).pk}/emergency-access"),
        roles("worker", "lead"),
        lambda t, own: {"reason": "Appel des pompiers : personne inconsciente"}),
    "GET /api/v1/search": Row("GET", _const("/api/v1/search?q=loyer"), roles("worker", "lead")),
    "GET /api/v1/audit": Row("GET", _const("/api/v1/audit"), roles("dpo")),
    "GET /api/v1/persons/{person_id}/export": Row(
        "GET", _api(lambda t, o: f"/persons/{t('person', o).pk}/export"), roles("dpo")),
    "POST /api/v1/telecare/readings": Row(  # gateways only: agents' tokens are refused
        "POST", _const("/api/v1/telecare/readings"), {},
        lambda t, own: {"readings": [{"device": "smoke", "smoke": True}]}),
    "GET /api/v1/telecare/alerts": Row("GET", _const("/api/v1/telecare/alerts"),
                                       roles("operator")),
    "POST /api/v1/telecare/alerts/{alert_id}/acknowledge": Row(
        "POST", _api(lambda t, o: f"/telecare/alerts/{t('alert', o).pk}/acknowledge"),
        roles("operator")),
    "POST /api/v1/telecare/alerts/{alert_id}/resolve": Row(
        "POST", _api(lambda t, o: f"/telecare/alerts/{t('alert', o).pk}/resolve"),
        roles("operator"), lambda t, own: {"outcome": "false_alarm"}),
    "POST /api/v1/persons/{person_id}/erasure": Row(
        "POST", _api(lambda t, o: f"/persons/{t('person', o).pk}/erasure"), roles("dpo"),
        lambda t, own: {"reason": "Demande écrite"}),
}


for _module in ROW_MODULES:
    API.update(_module.api_rows())


def _web_route_names(patterns: list[Any], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = ":".join(filter(None, [namespace, p.namespace or ""])) if p.namespace \
                else namespace
            names |= _web_route_names(p.url_patterns, inner)
        elif isinstance(p, URLPattern):
            names.add(f"{namespace}:{p.name}" if namespace else str(p.name))
    return names


def _api_operations() -> set[str]:
    schema = api.get_openapi_schema()
    return {f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops}


def test_every_route_has_a_row() -> None:
    web = _web_route_names(get_resolver().url_patterns)
    admin = {n for n in web if n.startswith("admin:")}
    api_routes = {n for n in web if n.startswith("api:")} - {"api:openapi-json", "api:api-root"}
    pages = web - admin - api_routes - NOT_PAGES
    assert pages | {"admin:*"} == set(WEB), "web routes without a row, or rows without a route"
    assert _api_operations() == set(API), "API operations without a row, or rows without one"


def _allowed(response: Any) -> bool:
    status = response.status_code
    if status == 403 or (status == 302 and "next=" in response.get("Location", "")):
        return False  # refused, or sent to log in as someone allowed
    if status in (200, 201, 302, 400, 401, 409, 422):
        # 401 on the token endpoint means "reached, wrong password": access itself was allowed.
        return True
    raise AssertionError(f"unexpected status {status}: {response.content[:300]!r}")


def _call(client: Client, row: Row, targets: Targets, own: bool, headers: dict[str, str],
          as_json: bool) -> Any:
    url = row.url(targets, own)
    data = row.data(targets, own) if row.data else {}
    if row.method == "GET":
        return client.get(url, headers=headers)
    if as_json:
        return client.generic(row.method, url, data=json.dumps(data),
                              content_type="application/json", headers=headers)
    return client.post(url, data, headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(WEB))
def test_web_access(world: Any, route: str, role: str) -> None:
    row = WEB[route]
    targets = _targets(world)
    expected = row.expected.get(role, (False, False))
    for own, allowed in zip((True, False), expected, strict=True):
        response = _call(world.client(role), row, targets, own, {}, as_json=False)
        assert _allowed(response) == allowed, (route, role, "own" if own else "other",
                                               response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(API))
def test_api_access(world: Any, operation: str, role: str) -> None:
    row = API[operation]
    targets = _targets(world)
    token = ApiToken.issue(world.users[role])
    headers = {"Authorization": f"Bearer {token}"}
    expected = row.expected.get(role, (False, False))
    for own, allowed in zip((True, False), expected, strict=True):
        response = _call(Client(), row, targets, own, headers, as_json=True)
        assert _allowed(response) == allowed, (operation, role, "own" if own else "other",
                                               response.status_code, response.content[:200])


@pytest.mark.django_db
@pytest.mark.parametrize("operation", sorted(set(API) - {"POST /api/v1/auth/token"}))
def test_api_refuses_calls_without_a_valid_token(world: Any, operation: str) -> None:
    row = API[operation]
    targets = _targets(world)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = _call(Client(), row, targets, True, headers, as_json=True)
        assert response.status_code == 401, (operation, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(set(WEB) - {"login", "set_language", "logout",
                                                     "api:openapi-json"}))
def test_anonymous_visitors_are_sent_to_login(world: Any, route: str) -> None:
    row = WEB[route]
    response = _call(Client(), row, _targets(world), True, {}, as_json=False)
    assert response.status_code == 302 and "login/?next=" in response["Location"], route

