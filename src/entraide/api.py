"""The JSON API under /api/v1/: token auth, error mapping, and the routers of each app."""

from __future__ import annotations

from typing import Any

import pydantic
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as InvalidInput
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import HttpBearer

from entraide.api_contract import (
    field_path,
    invalid_body,
    refuse_unstorable_text,
    responses,
)
from entraide.concurrency import StaleEdit
from entraide.org.models import ApiToken


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>` as issued by POST /api/v1/auth/token."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = (ApiToken.objects.select_related("user")
                 .filter(key_hash=ApiToken.digest(token)).first())
        if found is None or not found.user.is_active:
            return None
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        request.user = found.user
        return found.user


api = NinjaAPI(
    title="Entraide API",
    version="1",
    description="Case files under professional secrecy. Every call is checked against "
    "need-to-know and audited, exactly as in the web interface.",
    auth=BearerToken(),
    urls_namespace="api",
    docs_url=None,  # Swagger UI would load from a CDN; the schema is at openapi.json
)
api.add_decorator(refuse_unstorable_text)


class TokenIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)


class TokenOut(Schema):
    token: str


@api.post("/auth/token", auth=None, response=responses({200: TokenOut}, 400, 401, 422),
          tags=["auth"])
def issue_token(request: HttpRequest, credentials: TokenIn) -> tuple[int, dict[str, str]]:
    """Exchange a username and password for a bearer token."""
    user = authenticate(request, username=credentials.username, password=credentials.password)
    if user is None:
        return 401, {"detail": "Unknown username or wrong password."}
    return 200, {"token": ApiToken.issue(user)}  # type: ignore[arg-type]


@api.exception_handler(PermissionDenied)
def on_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


@api.exception_handler(StaleEdit)
def on_stale(request: HttpRequest, exc: StaleEdit) -> HttpResponse:
    changes = [{"field": c.field, "stored": str(c.stored), "submitted": str(c.submitted)}
               for c in exc.changes]
    return api.create_response(
        request,
        {"detail": str(exc), "current_version": exc.current_version, "changes": changes},
        status=409,
    )


@api.exception_handler(ValidationError)
def on_invalid_fields(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Input refused by a schema: each field at fault by the name the client sent it under."""
    errors = [(field_path(e["loc"]), str(e["msg"])) for e in exc.errors]
    return api.create_response(request, invalid_body(errors), status=422)


@api.exception_handler(InvalidInput)
def on_invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    """Input refused by a service, field by field where it names them."""
    if not hasattr(exc, "error_dict"):
        return api.create_response(request, invalid_body([], " ".join(exc.messages)),
                                   status=422)
    errors = [(field, str(m)) for field, messages in exc.message_dict.items() for m in messages]
    return api.create_response(request, invalid_body(errors), status=422)


@api.exception_handler(ValueError)
def on_invalid(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, invalid_body([], str(exc)), status=422)


@api.exception_handler(pydantic.ValidationError)
def on_broken_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """An answer that does not match its own schema is the server's fault (a ValueError too,
    but never the client's 422)."""
    raise exc


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(
        request, {"detail": "Send a valid token: Authorization: Bearer <token>."}, status=401
    )


def _mount() -> None:
    from entraide.cases.api import router as cases_router
    from entraide.people.api import router as people_router
    from entraide.secrecy.api import router as secrecy_router
    from entraide.telecare.api import router as telecare_router
    from entraide.territory import api as map_api
    from entraide.territory import directory_api, visit_api

    api.add_router("/", people_router)
    api.add_router("/", cases_router)
    api.add_router("/", secrecy_router)
    api.add_router("/", telecare_router)
    api.add_router("/", map_api.router)
    api.add_router("/", directory_api.router)
    api.add_router("/", visit_api.router)


_mount()
