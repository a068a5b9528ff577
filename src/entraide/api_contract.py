"""What every operation of the JSON API promises: its error bodies, partial updates, bounded
pages, local times of day, and no text that a database cannot store.

Each operation declares every status it can answer with `responses(...)`; the bodies below are
the only error shapes (tests/test_api_schema.py fuzzes the API against them)."""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Schema
from ninja.errors import ValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

# Beyond this an offset is no page anyone reads; SQLite and PostgreSQL refuse 2**63 and more.
MAX_OFFSET = 1_000_000
OFFSET = Query(0, ge=0, le=MAX_OFFSET)


def _without_offset(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise ValueError(_("give a time of day without an offset, such as 09:30"))
    return value


# A time of day on the wall clock where it happens (JSON Schema's "time" format demands an
# offset, which such a time has not).
LocalTime = Annotated[dt.time, AfterValidator(_without_offset), WithJsonSchema({
    "type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
    "description": "A time of day, local, without offset: HH:MM or HH:MM:SS."})]


class ErrorOut(Schema):
    """401, 403, 404 and 400 (a body that is not JSON): what went wrong, in words."""

    detail: str


class FieldErrorOut(Schema):
    field: str
    message: str


class InvalidOut(Schema):
    """422: the input is refused; `errors` names each field at fault (`person.first_name`,
    `visits.0.household_id`, `limit`), empty when the refusal is about the whole request."""

    detail: str
    errors: list[FieldErrorOut]


class ChangeOut(Schema):
    field: str
    stored: str
    submitted: str


class StaleOut(Schema):
    """409: someone saved the record after `version`; nothing was written."""

    detail: str
    current_version: int
    changes: list[ChangeOut]


ERROR_BODIES: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut,
                                         404: ErrorOut, 409: StaleOut, 422: InvalidOut}


def responses(success: dict[int, Any], *errors: int,
              invalid: type[Schema] = InvalidOut) -> dict[int, Any]:
    """An operation's `response=`: its success bodies and the error statuses it can answer.

    `invalid` replaces the 422 body where an operation refuses with more than InvalidOut."""
    found = {code: invalid if code == 422 else ERROR_BODIES[code] for code in errors}
    return {**success, **found}


def invalid_body(errors: list[tuple[str, str]], detail: str = "") -> dict[str, Any]:
    """A 422 body: `errors` as (field, message) pairs, `detail` their summary in words."""
    summary = "; ".join(f"{field}: {message}" for field, message in errors)
    return {"detail": detail or summary,
            "errors": [{"field": field, "message": message} for field, message in errors]}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """The dotted name of a field from a validation error's location, as a client sent it:
    ("body", "patch", "first_name") is `first_name`, ("query", "limit") is `limit`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form", "file"):
        source, parts = parts[0], parts[1:]
        if source == "body":
            parts = parts[1:]  # the handler's parameter name is not part of the JSON sent
    return ".".join(parts) or "body"


def _accepts_null(annotation: Any) -> bool:
    return annotation is None or (
        typing.get_origin(annotation) in (typing.Union, types.UnionType)
        and type(None) in typing.get_args(annotation))


def _without_defaults(schema: dict[str, Any]) -> None:
    # A field left out of a patch keeps its stored value: there is no default to document.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def absent(**constraints: Any) -> Any:
    """A field of a PatchIn that may be left out: `first_name: str = absent(max_length=100)`."""
    return Field(None, **constraints)


class PatchIn(Schema):
    """A partial update under optimistic concurrency.

    A field left out stays as it is; a field sent as null is cleared, and refused (422
    naming it) where the record cannot be without it. Declare each field `absent(...)`, with
    its real type (`first_name: str`), or `X | None` where null means "clear it" (a due
    date, an owner)."""

    model_config = ConfigDict(json_schema_extra=_without_defaults)

    version: int

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null_where_required(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if value is None and field is not None and not _accepts_null(field.annotation):
            raise PydanticCustomError(
                "null_refused", str(_("may not be null; leave it out to keep it as it is")))
        return value

    def changes(self) -> dict[str, Any]:
        """The fields sent, by name, without `version`."""
        return self.dict(exclude_unset=True, exclude={"version"})


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): no character at all
        return True
    return False


def _unstorable_at(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return path if _unstorable(value) else None
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and _unstorable(key):
            return (*path, key.encode(errors="backslashreplace").decode())
        found = _unstorable_at(item, (*path, str(key)))
        if found is not None:
            return found
    return None


def refuse_unstorable_text(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a request whose text holds a NUL character or a lone surrogate (422 naming the
    field): no field means one, and neither SQLite nor PostgreSQL can store them. Applied to
    every operation, after validation."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            found = _unstorable_at(value, (name,))
            if found is not None:
                raise ValidationError([{
                    "loc": ("body" if isinstance(value, BaseModel) else "query", *found),
                    "msg": _("may not contain a NUL character or a lone surrogate"),
                    "type": "unstorable_text"}])
        return view(request, *args, **kwargs)

    return checked
