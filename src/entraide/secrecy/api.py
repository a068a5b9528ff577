"""API for the data protection officer: the audit trail and the rights of the person."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from entraide.api_contract import OFFSET, responses

from . import policy, rights

router = Router(tags=["secrecy"])


class AuditOut(Schema):
    id: int
    at: dt.datetime
    username: str
    role: str
    action: str
    object_type: str
    object_id: int | None
    household_id: int | None
    channel: str
    ip: str | None
    reason: str
    detail: str

    @staticmethod
    def resolve_reason(record: Any) -> str:
        return str(record.reason_text)


class AuditPage(Schema):
    items: list[AuditOut]
    count: int


class AuditFilters(Schema):
    username: str | None = None
    household_id: int | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


@router.get("/audit", response=responses({200: AuditPage}, 401, 403, 422))
def audit(request: HttpRequest, filters: Query[AuditFilters], limit: int = Query(50, ge=1, le=500),
          offset: int = OFFSET) -> dict[str, Any]:
    """Who read or changed what, when and from where (DPO only; the query is itself audited)."""
    rows, total = policy.audit_log(policy.Actor.from_request(request, "api"), filters.dict(),
                                   limit, offset)
    return {"items": rows, "count": total}


@router.get("/persons/{person_id}/export",
            response=responses({200: dict[str, Any]}, 401, 403, 404, 422))
def person_export(request: HttpRequest, person_id: int) -> dict[str, Any]:
    """Everything held on a person, with who accessed their file (DPO only; audited)."""
    return rights.export_person(policy.Actor.from_request(request, "api"), person_id)


class ErasureIn(Schema):
    reason: str = Field(max_length=500)


class ErasureOut(Schema):
    person_id: int
    erased_at: dt.datetime
    household_key_shredded: bool


@router.post("/persons/{person_id}/erasure",
             response=responses({200: ErasureOut}, 400, 401, 403, 404, 422))
def person_erasure(request: HttpRequest, person_id: int, body: ErasureIn) -> rights.Erasure:
    """Erase a person's identity on request; the reason is required and audited (DPO only)."""
    return rights.erase_person(policy.Actor.from_request(request, "api"), person_id, body.reason)
