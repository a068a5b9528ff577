"""The JSON API keeps its contract under a fuzzer.

Schemathesis reads /api/v1/openapi.json and calls every operation in-process, through the WSGI
application, on the test database: a seeded world (tests/secrecy/test_access_matrix.py's
objects, own and other territory) with agents' bearer tokens. Most generated cases are pointed
at objects that exist (real ids in the path, in owner and household fields, and the stored
version), so that the fuzzer gets past 404 and 409 into the handlers. Every response
must be no 5xx, a documented status, of the documented content type, with a body that matches
the schema documented for its status; and what a request wrote must not point at nothing.

Repeatable: Hypothesis is derandomized and cases are aimed by their own content; bounded: a
fixed number of examples per operation.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import IntegrityError, close_old_connections, connection, models, transaction
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from entraide.api import api
from entraide.cases.models import Action, CaseFile, Goal, Note, Referral
from entraide.org.models import ApiToken, User
from entraide.people.models import Household, Person
from entraide.telecare.models import Alert, Gateway
from entraide.territory.models import DayPlan
from entraide.wsgi import application

from .secrecy.test_access_matrix import _targets

# Per operation and agent, beside schemathesis's coverage cases: 1 to 1.5 minutes for the
# file per database on 2 cores. API_FUZZ_EXAMPLES=300 searches deeper, by hand.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)

# Which records an id names, by the name of the parameter or field that carries it, and the
# lookup from such a record to its territory: the agents under test work in territory A.
NAMED_BY: dict[str, tuple[type[models.Model], str]] = {
    "person_id": (Person, "household__territory"),
    "household_id": (Household, "territory"),
    "case_file_id": (CaseFile, "household__territory"),
    "note_id": (Note, "case_file__household__territory"),
    "goal_id": (Goal, "case_file__household__territory"),
    "action_id": (Action, "goal__case_file__household__territory"),
    "referral_id": (Referral, "case_file__household__territory"),
    "alert_id": (Alert, "installation__household__territory"),
    "plan_id": (DayPlan, "worker__territory"),
    "owner_id": (User, "territory"), "referent_id": (User, "territory"),
}
# The record whose version a PATCH (or a note correction) is based on, by path parameter.
VERSIONED = {"person_id": Person, "household_id": Household, "case_file_id": CaseFile,
             "goal_id": Goal, "action_id": Action, "referral_id": Referral}
OWN_TERRITORY = "A"


def _ids(name: str, own: bool) -> list[int]:
    model, territory = NAMED_BY[name]
    records = model._default_manager.order_by("pk")
    if own:
        records = records.filter(**{f"{territory}__code": OWN_TERRITORY})
    return list(records.values_list("pk", flat=True))


def _aimed(value: Any, name: str, rng: random.Random, odds: float) -> Any:
    """The generated value or, at these odds, the id of a record of its kind that exists:
    mostly one of the agents' own territory, sometimes any (outside need-to-know)."""
    # Path parameters of the coverage phase come as text: "0" names an id as 0 does.
    is_id = value is None or (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isascii() and value.isdigit())
    if name not in NAMED_BY or not is_id or rng.random() >= odds:
        return value
    ids = _ids(name, own=rng.random() < 0.8)
    return rng.choice(ids) if ids else value


def _aimed_body(body: Any, rng: random.Random) -> Any:
    if isinstance(body, list):
        return [_aimed_body(item, rng) for item in body]
    if not isinstance(body, dict):
        return body
    return {key: _aimed(value, key, rng, 0.5) if key in NAMED_BY else _aimed_body(value, rng)
            for key, value in body.items()}


def _current_version(path: dict[str, Any], field: str) -> int | None:
    for name, value in path.items():
        if isinstance(value, bool) or not isinstance(value, int):
            continue  # no record is named so
        if field == "version" and name in VERSIONED:
            return VERSIONED[name]._default_manager.filter(pk=value).values_list(
                "version", flat=True).first()
        if field == "version_no" and name == "note_id":
            note = Note.objects.filter(pk=value).first()
            return None if note is None else Note.objects.filter(
                models.Q(pk=note.thread_id) | models.Q(first_id=note.thread_id),
                is_current=True).values_list("version_no", flat=True).first()
    return None


def aim(case: Any) -> None:
    """Point most cases at records that exist now, with their stored version, so that they
    get past 404 and 409 into the handlers.

    Done on every case, from schemathesis's coverage phase as well as from its fuzzing, with
    choices drawn from the case's own content: the same case is aimed the same way each run.
    """
    seed = repr((case.operation.label, case.path_parameters, case.query, case.body))
    rng = random.Random(zlib.crc32(seed.encode(errors="backslashreplace")))
    if case.path_parameters:
        case.path_parameters = {k: _aimed(v, k, rng, 0.9)
                                for k, v in case.path_parameters.items()}
    if case.query:
        case.query = {k: _aimed(v, k, rng, 0.5) for k, v in case.query.items()}
    body = _aimed_body(case.body, rng)
    if isinstance(body, dict) and case.path_parameters:
        for field in ("version", "version_no"):
            stored = _current_version(case.path_parameters, field)
            if field in body and stored is not None and rng.random() < 0.9:
                body[field] = stored
    if body != case.body:
        case.body = body


@pytest.fixture
def tokens(world: Any) -> Iterator[dict[str, str]]:
    """Bearer tokens of the world's agents and of a gateway, on a world with every kind of
    object. The WSGI handler must not close the test's connection around each request (as
    Django's test client, it leaves it open)."""
    targets = _targets(world)
    tokens = {name: ApiToken.issue(user) for name, user in world.users.items()}
    tokens["gateway"] = Gateway.issue(targets("installation", True), "fuzz")
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield tokens
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schemathesis.check
def references_hold(ctx: Any, response: Any, case: Any) -> None:
    """What the request wrote points at records that exist. The database checks foreign keys
    at commit, which the test's transaction never reaches: a dangling id would be a 500 in
    production and only a teardown error here, without the request that caused it."""
    try:
        connection.check_constraints()
    except IntegrityError as dangling:
        raise AssertionError(f"The request left a dangling reference: {dangling}") from None


def _call(case: Any, token: str) -> None:
    aim(case)
    # A failing example is undone, so that the next ones start from a sound world.
    savepoint = transaction.savepoint()
    try:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                               checks=[*CHECKS, references_hold])
    except BaseException:
        transaction.savepoint_rollback(savepoint)
        raise
    transaction.savepoint_commit(savepoint)


FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                # One seeded world per operation, shared by its examples: on purpose.
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


@schema.parametrize()
@FUZZ
def test_every_operation_keeps_its_contract_for_a_social_worker(case: Any,
                                                                tokens: dict[str, str]) -> None:
    gateway = case.operation.path.endswith("/telecare/readings")
    _call(case, tokens["gateway" if gateway else "worker"])


@schema.parametrize()
@FUZZ
def test_every_operation_keeps_its_contract_for_a_team_lead(case: Any,
                                                            tokens: dict[str, str]) -> None:
    _call(case, tokens["lead"])


@schema.include(tag="telecare").parametrize()
@FUZZ
def test_telecare_operations_keep_their_contract_for_an_operator(
        case: Any, tokens: dict[str, str]) -> None:
    _call(case, tokens["operator"])


@schema.include(tag="secrecy").parametrize()
@FUZZ
def test_audit_and_rights_operations_keep_their_contract_for_the_dpo(
        case: Any, tokens: dict[str, str]) -> None:
    _call(case, tokens["dpo"])


def _operations_with_a_body() -> list[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items()
                  for method, op in ops.items() if "requestBody" in op)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), _operations_with_a_body())
def test_a_body_that_is_not_json_is_refused_with_a_documented_400(
        world: Any, method: str, path: str) -> None:
    documented = api.get_openapi_schema()["paths"][path][method.lower()]["responses"]
    url = path.replace("{", "").replace("}", "")
    for name in NAMED_BY:
        url = url.replace(name, "1")
    token = ApiToken.issue(world.users["worker"])
    response = Client().generic(method, url, data="{not json", content_type="application/json",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 401, 403), response.content
    assert str(response.status_code) in {str(code) for code in documented}
    assert isinstance(response.json()["detail"], str)
