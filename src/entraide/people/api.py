"""API for persons and households: search before create, intake, members."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from entraide.api_contract import OFFSET, PatchIn, absent, responses
from entraide.secrecy.policy import Actor

from . import services
from .models import Household, Person, Relationship, Sex

router = Router(tags=["people"])


class PersonIn(Schema):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    birth_date: dt.date | None = None
    sex: Sex = Sex.OTHER
    phone: str = Field("", max_length=30)
    email: str = Field("", max_length=200)


class PersonOut(Schema):
    id: int
    first_name: str
    last_name: str
    birth_date: dt.date | None
    sex: str
    phone: str
    email: str
    household_id: int | None
    version: int


class PersonPatch(PatchIn):
    first_name: str = absent(min_length=1, max_length=100)
    last_name: str = absent(min_length=1, max_length=100)
    birth_date: dt.date | None = absent()
    phone: str = absent(max_length=30)
    email: str = absent(max_length=200)


class CandidateOut(Schema):
    id: int
    first_name: str
    last_name: str
    birth_date: dt.date | None
    commune: str | None
    household_id: int | None
    score: float
    within_need_to_know: bool


class CandidatePage(Schema):
    items: list[CandidateOut]
    count: int


class AddressIn(Schema):
    address: str = Field(min_length=1, max_length=200)
    postcode: str = Field(min_length=1, max_length=10)
    commune: str = Field(min_length=1, max_length=100)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class IntakeIn(Schema):
    person: PersonIn
    address: AddressIn
    reason: str = Field(min_length=1, max_length=300)


class HouseholdPatch(PatchIn):
    address: str = absent(min_length=1, max_length=200)
    postcode: str = absent(min_length=1, max_length=10)
    commune: str = absent(min_length=1, max_length=100)
    latitude: float | None = absent(ge=-90, le=90)
    longitude: float | None = absent(ge=-180, le=180)


class HouseholdOut(Schema):
    id: int
    address: str
    postcode: str
    commune: str
    latitude: float | None
    longitude: float | None
    territory_id: int
    members: list[PersonOut]


class HouseholdPage(Schema):
    items: list[HouseholdOut]
    count: int


class MemberIn(Schema):
    person: PersonIn
    relationship: Relationship = Relationship.OTHER


def _household_out(household: Household, members: list[Person]) -> dict[str, object]:
    return {**{f: getattr(household, f) for f in
               ("id", "address", "postcode", "commune", "latitude", "longitude", "territory_id")},
            "members": members}


@router.get("/persons", response=responses({200: CandidatePage}, 401, 403, 422))
def search_persons(request: HttpRequest, q: str = Query(..., min_length=2, max_length=200),
                   birth_date: dt.date | None = None, limit: int = Query(10, ge=1, le=50)
                   ) -> dict[str, object]:
    """Known persons matching a name (any order, accents or typos), best score first."""
    found = services.find_candidates(Actor.from_request(request, "api"), q, birth_date, limit)
    items = [
        {"id": c.person.pk, "first_name": c.person.first_name, "last_name": c.person.last_name,
         "birth_date": c.person.birth_date,
         "commune": c.person.household.commune if c.person.household else None,
         "household_id": c.person.household_id if c.identifiable else None,
         "score": c.score, "within_need_to_know": c.identifiable}
        for c in found
    ]
    return {"items": items, "count": len(items)}


@router.get("/persons/{person_id}", response=responses({200: PersonOut}, 401, 403, 404, 422))
def get_person(request: HttpRequest, person_id: int) -> Person:
    return services.get_person(Actor.from_request(request, "api"), person_id)


@router.patch("/persons/{person_id}",
              response=responses({200: PersonOut}, 400, 401, 403, 404, 409, 422))
def update_person(request: HttpRequest, person_id: int, patch: PersonPatch) -> Person:
    """Change identity or contact; 409 with the differences if someone saved in between."""
    return services.update_person(Actor.from_request(request, "api"), person_id, patch.version,
                                  patch.changes())


@router.get("/households", response=responses({200: HouseholdPage}, 401, 403, 422))
def list_households(request: HttpRequest, limit: int = Query(20, ge=1, le=200),
                    offset: int = OFFSET) -> dict[str, object]:
    households, total = services.list_households(Actor.from_request(request, "api"), limit, offset)
    return {"items": [_household_out(h, list(h.members.all())) for h in households],
            "count": total}


@router.post("/households", response=responses({201: HouseholdOut}, 400, 401, 403, 422))
def register_household(request: HttpRequest, intake: IntakeIn) -> tuple[int, dict[str, object]]:
    """Register a new household around a person at the desk and open its case file."""
    actor = Actor.from_request(request, "api")
    household = services.register_household(actor, intake.person.dict(), intake.address.dict(),
                                             intake.reason)
    return 201, _household_out(household, services.members_of(household))


@router.get("/households/{household_id}",
            response=responses({200: HouseholdOut}, 401, 403, 404, 422))
def get_household(request: HttpRequest, household_id: int) -> dict[str, object]:
    household, members = services.household_members(Actor.from_request(request, "api"),
                                                    household_id)
    return _household_out(household, members)


@router.patch("/households/{household_id}",
              response=responses({200: HouseholdOut}, 400, 401, 403, 404, 409, 422))
def update_household(request: HttpRequest, household_id: int, patch: HouseholdPatch
                     ) -> dict[str, object]:
    """Change the address; 409 with the differences if someone saved in between."""
    actor = Actor.from_request(request, "api")
    household = services.update_household(actor, household_id, patch.version, patch.changes())
    return _household_out(household, services.members_of(household))


@router.post("/households/{household_id}/members",
             response=responses({201: PersonOut}, 400, 401, 403, 404, 422))
def add_member(request: HttpRequest, household_id: int, member: MemberIn) -> tuple[int, Person]:
    person = services.add_member(Actor.from_request(request, "api"), household_id,
                                 member.person.dict(), member.relationship)
    return 201, person
