"""API for case files: notes, assessments, plan, referrals, timeline and search."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from entraide.api_contract import OFFSET, PatchIn, absent, responses
from entraide.secrecy.policy import Actor

from . import services
from .models import (
    Action,
    ActionStatus,
    CaseStatus,
    Domain,
    Goal,
    GoalStatus,
    Note,
    NoteKind,
    Referral,
    ReferralStatus,
)

router = Router(tags=["cases"])


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "api")


class ActionOut(Schema):
    id: int
    title: str
    owner_id: int | None
    due_date: dt.date | None
    status: str
    version: int


class GoalOut(Schema):
    id: int
    domain: str
    title: str
    status: str
    version: int
    actions: list[ActionOut]

    @staticmethod
    def resolve_actions(goal: Goal) -> list[Action]:
        return list(goal.actions.all())


class ReferralOut(Schema):
    id: int
    service: str
    reason: str
    status: str
    created_at: dt.datetime
    version: int


class LevelOut(Schema):
    domain: str
    level: int
    comment: str


class CaseFileOut(Schema):
    id: int
    household_id: int
    team_id: int
    referent_id: int | None
    status: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    version: int
    levels: list[LevelOut]
    goals: list[GoalOut]
    referrals: list[ReferralOut]


class CaseFilePatch(PatchIn):
    referent_id: int | None = absent(description="An agent of the file's territory who "
                                     "may follow it; null: no referent.")
    status: CaseStatus = absent()


class NoteIn(Schema):
    kind: NoteKind
    body: str = Field(min_length=1, max_length=20000)
    sensitive: bool = Field(False, description="Health, violence, minors: only the author and "
                            "the referent read it; others see that it exists (body null).")


class CorrectionIn(Schema):
    version_no: int
    body: str = Field(min_length=1, max_length=20000)
    kind: NoteKind | None = None


class NoteOut(Schema):
    id: int
    thread_id: int
    case_file_id: int
    kind: str
    body: str | None
    sensitive: bool
    author: str
    created_at: dt.datetime
    version_no: int
    is_current: bool

    @staticmethod
    def resolve_author(note: Note) -> str:
        return note.author.get_username()


class NotePage(Schema):
    items: list[NoteOut]
    count: int


class LevelIn(Schema):
    domain: Domain
    level: int = Field(ge=1, le=4)
    comment: str = Field("", max_length=1000)


class AssessmentIn(Schema):
    levels: list[LevelIn] = Field(min_length=1, max_length=len(Domain.values))


class AssessmentOut(Schema):
    id: int
    created_at: dt.datetime
    author: str
    levels: list[LevelOut]

    @staticmethod
    def resolve_author(assessment: Any) -> str:
        return assessment.author.get_username()

    @staticmethod
    def resolve_levels(assessment: Any) -> list[Any]:
        return list(assessment.levels.all())


class AssessmentPage(Schema):
    items: list[AssessmentOut]
    count: int


class GoalIn(Schema):
    domain: Domain
    title: str = Field(min_length=1, max_length=300)


class GoalPatch(PatchIn):
    title: str = absent(min_length=1, max_length=300)
    domain: Domain = absent()
    status: GoalStatus = absent()


OWNER = "An agent of the file's territory who may follow it; null: nobody yet."


class ActionIn(Schema):
    title: str = Field(min_length=1, max_length=300)
    owner_id: int | None = Field(None, description=OWNER)
    due_date: dt.date | None = None


class ActionPatch(PatchIn):
    title: str = absent(min_length=1, max_length=300)
    owner_id: int | None = absent(description=OWNER)
    due_date: dt.date | None = absent(description="null: no due date.")
    status: ActionStatus = absent()


class ReferralIn(Schema):
    service: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class ReferralPatch(Schema):
    version: int
    status: ReferralStatus


class TimelineItemOut(Schema):
    at: dt.datetime
    kind: str
    object_id: int | None
    text: str


class TimelineOut(Schema):
    page: int
    has_next: bool
    items: list[TimelineItemOut]


class SearchHitOut(Schema):
    note: NoteOut
    matches: int


class SearchPage(Schema):
    items: list[SearchHitOut]
    count: int
    count_is_lower_bound: bool = Field(
        description="True when more notes match than were counted (the count stops at "
        f"{services.SEARCH_COUNT_CAP}).")


def _case_file_out(view: services.CaseFileView) -> dict[str, Any]:
    case_file = view.case_file
    return {
        **{f: getattr(case_file, f) for f in ("id", "household_id", "team_id", "referent_id",
                                              "status", "opened_at", "closed_at", "version")},
        "levels": list(view.levels.values()),
        "goals": view.goals,
        "referrals": view.referrals,
    }


@router.get("/case-files/{case_file_id}",
            response=responses({200: CaseFileOut}, 401, 403, 404, 422))
def get_case_file(request: HttpRequest, case_file_id: int) -> dict[str, Any]:
    return _case_file_out(services.read_case_file(_actor(request), case_file_id))


@router.patch("/case-files/{case_file_id}",
              response=responses({200: CaseFileOut}, 400, 401, 403, 404, 409, 422))
def update_case_file(request: HttpRequest, case_file_id: int, patch: CaseFilePatch
                     ) -> dict[str, Any]:
    """Change referent or status; 409 with the differences if someone saved in between."""
    actor = _actor(request)
    services.update_case_file(actor, case_file_id, patch.version, patch.changes())
    return _case_file_out(services.read_case_file(actor, case_file_id))


@router.get("/case-files/{case_file_id}/timeline",
            response=responses({200: TimelineOut}, 401, 403, 404, 422))
def get_timeline(request: HttpRequest, case_file_id: int, page: int = Query(1, ge=1, le=100000)
                 ) -> dict[str, Any]:
    """Everything that happened in the file, newest first, one page at a time."""
    result = services.timeline(_actor(request), case_file_id, page)
    return {"page": result.page, "has_next": result.has_next,
            "items": [{"at": i.at, "kind": i.kind,
                       "object_id": getattr(i.obj, "pk", None),
                       "text": services.describe(i)} for i in result.items]}


@router.get("/case-files/{case_file_id}/notes",
            response=responses({200: NotePage}, 401, 403, 404, 422))
def list_notes(request: HttpRequest, case_file_id: int, limit: int = Query(20, ge=1, le=200),
               offset: int = OFFSET) -> dict[str, Any]:
    notes, total = services.notes_of(_actor(request), case_file_id, limit, offset)
    return {"items": notes, "count": total}


@router.post("/case-files/{case_file_id}/notes",
             response=responses({201: NoteOut}, 400, 401, 403, 404, 422))
def add_note(request: HttpRequest, case_file_id: int, note: NoteIn) -> tuple[int, Note]:
    return 201, services.add_note(_actor(request), case_file_id, note.kind, note.body,
                                  sensitive=note.sensitive)


@router.post("/notes/{note_id}/corrections",
             response=responses({201: NoteOut}, 400, 401, 403, 404, 409, 422))
def correct_note(request: HttpRequest, note_id: int, correction: CorrectionIn
                 ) -> tuple[int, Note]:
    """Write the next version of a note; 409 if it was corrected since `version_no`."""
    return 201, services.correct_note(_actor(request), note_id, correction.version_no,
                                      correction.body, correction.kind)


@router.get("/notes/{note_id}/versions",
            response=responses({200: list[NoteOut]}, 401, 403, 404, 422))
def note_versions(request: HttpRequest, note_id: int) -> list[Note]:
    return services.note_history(_actor(request), note_id)


@router.get("/case-files/{case_file_id}/assessments",
            response=responses({200: AssessmentPage}, 401, 403, 404, 422))
def list_assessments(request: HttpRequest, case_file_id: int) -> dict[str, Any]:
    _, assessments = services.assessments_of(_actor(request), case_file_id)
    return {"items": assessments, "count": len(assessments)}


@router.post("/case-files/{case_file_id}/assessments",
             response=responses({201: AssessmentOut}, 400, 401, 403, 404, 422))
def add_assessment(request: HttpRequest, case_file_id: int, assessment: AssessmentIn
                   ) -> tuple[int, Any]:
    levels = {str(lv.domain): (lv.level, lv.comment) for lv in assessment.levels}
    return 201, services.assess(_actor(request), case_file_id, levels)


@router.get("/case-files/{case_file_id}/plan",
            response=responses({200: list[GoalOut]}, 401, 403, 404, 422))
def get_plan(request: HttpRequest, case_file_id: int) -> list[Goal]:
    return services.plan_of(_actor(request), case_file_id)[1]


@router.post("/case-files/{case_file_id}/goals",
             response=responses({201: GoalOut}, 400, 401, 403, 404, 422))
def add_goal(request: HttpRequest, case_file_id: int, goal: GoalIn) -> tuple[int, Goal]:
    return 201, services.add_goal(_actor(request), case_file_id, goal.domain, goal.title)


@router.patch("/goals/{goal_id}",
              response=responses({200: GoalOut}, 400, 401, 403, 404, 409, 422))
def update_goal(request: HttpRequest, goal_id: int, patch: GoalPatch) -> Goal:
    return services.update_goal(_actor(request), goal_id, patch.version, patch.changes())


@router.post("/goals/{goal_id}/actions",
             response=responses({201: ActionOut}, 400, 401, 403, 404, 422))
def add_action(request: HttpRequest, goal_id: int, action: ActionIn) -> tuple[int, Action]:
    return 201, services.add_action(_actor(request), goal_id, action.title, action.owner_id,
                                    action.due_date)


@router.patch("/actions/{action_id}",
              response=responses({200: ActionOut}, 400, 401, 403, 404, 409, 422))
def update_action(request: HttpRequest, action_id: int, patch: ActionPatch) -> Action:
    return services.update_action(_actor(request), action_id, patch.version, patch.changes())


@router.post("/case-files/{case_file_id}/referrals",
             response=responses({201: ReferralOut}, 400, 401, 403, 404, 422))
def add_referral(request: HttpRequest, case_file_id: int, referral: ReferralIn
                 ) -> tuple[int, Referral]:
    return 201, services.add_referral(_actor(request), case_file_id, referral.service,
                                      referral.reason)


@router.patch("/referrals/{referral_id}",
              response=responses({200: ReferralOut}, 400, 401, 403, 404, 409, 422))
def update_referral(request: HttpRequest, referral_id: int, patch: ReferralPatch) -> Referral:
    return services.update_referral(_actor(request), referral_id, patch.version, patch.status)


class EmergencyIn(Schema):
    reason: str = Field(min_length=1, max_length=500)


class EmergencyOut(Schema):
    case_file_id: int
    expires_at: dt.datetime


@router.post("/case-files/{case_file_id}/emergency-access",
             response=responses({201: EmergencyOut}, 400, 401, 403, 404, 422))
def emergency_access(request: HttpRequest, case_file_id: int, emergency: EmergencyIn
                     ) -> tuple[int, dict[str, Any]]:
    """Break the glass: a time-limited access outside need-to-know, audited and notified."""
    from entraide.secrecy.emergency import break_glass

    access = break_glass(_actor(request), case_file_id, emergency.reason)
    return 201, {"case_file_id": case_file_id, "expires_at": access.expires_at}


@router.get("/search", response=responses({200: SearchPage}, 401, 403, 422))
def search(request: HttpRequest, q: str = Query(..., min_length=2, max_length=200),
           limit: int = Query(20, ge=1, le=100), offset: int = OFFSET
           ) -> dict[str, Any]:
    """Notes containing the words of `q` (accents and plurals ignored), best matches first."""
    found = services.search_notes(_actor(request), q, limit, offset)
    return {"items": [{"note": h.note, "matches": h.matches} for h in found.hits],
            "count": found.count, "count_is_lower_bound": found.count_is_lower_bound}
