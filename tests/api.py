"""Shared by API tests: a client with an agent's token, and the check that an answer is the
one the OpenAPI schema documents for its operation and status."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from django.test import Client

from entraide.api import api
from entraide.org.models import ApiToken, User


def client_of(user: User) -> Client:
    """A client sending `user`'s bearer token."""
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(user)}"})


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    """A JSON request; the response."""
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, data=json.dumps(body), content_type="application/json")


def assert_documented(method: str, path: str, response: Any) -> None:
    """The response's status is documented for the operation, and its body matches the
    schema documented for that status."""
    openapi = api.get_openapi_schema()
    answers = openapi["paths"][path][method.lower()]["responses"]
    documented = {str(code): answer for code, answer in answers.items()}
    status = str(response.status_code)
    assert status in documented, f"{status} is not documented: {sorted(documented)}"
    schema = documented[status]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for(
        {**schema, "components": json.loads(json.dumps(openapi["components"]))})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, errors
