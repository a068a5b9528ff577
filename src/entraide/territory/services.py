"""The territory's domain as plain functions, one section per capability: views and API
handlers of the welfare map (and of the directory and visits) call these, never the models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Min
from django.utils.translation import gettext as _

from entraide.cases.models import CaseStatus
from entraide.org.models import Role, Team, Territory, User
from entraide.org.services import organisation_of
from entraide.people.models import Household
from entraide.people.services import members_of
from entraide.screening.leads import waiting_lead_of
from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor
from entraide.telecare.services import open_alert_count

from . import crisis, layers
from .models import CrisisLevel

# --- the welfare map --------------------------------------------------------------------

# Shown while a household's level has not been computed yet (no refresh since it appeared).
UNKNOWN_COLOUR = "#6b7686"


@dataclass(frozen=True)
class MapPage:
    """What the map page needs besides its layers: what it draws, its filters, its area."""

    shows_households: bool  # False: counts per commune only
    territories: list[Territory]
    teams: list[Team]
    extent: tuple[float, float, float, float] | None  # west, south, east, north


def shows_households(user: User) -> bool:
    """Workers and team leads see their households as points; managers see counts."""
    return user.role in policy.FILE_ROLES


def map_territories(user: User) -> list[Territory]:
    """The territories an agent's map covers: their own, or every one of the organisation."""
    if user.territory_id is not None:
        return list(Territory.objects.filter(pk=user.territory_id))
    organisation_id = organisation_of(user)
    if organisation_id is None:
        return []
    return list(Territory.objects.filter(organisation_id=organisation_id).order_by("code"))


def map_page(actor: Actor) -> MapPage:
    """Refuse agents who have no map; otherwise the filters that make sense for them and
    the area their map opens on (where their territories' households live)."""
    user = actor.user
    policy.guard_role(actor, policy.can_see_map(user), "map")
    territories = map_territories(user)
    if user.role == Role.SOCIAL_WORKER:
        teams = [] if user.team_id is None else list(Team.objects.filter(pk=user.team_id))
    else:
        teams = list(Team.objects.filter(territory__in=territories)
                     .select_related("territory").order_by("territory__code", "name"))
    corners = (Household.objects.filter(territory__in=territories, anonymised_at__isnull=True,
                                        latitude__isnull=False, longitude__isnull=False)
               .aggregate(west=Min("longitude"), south=Min("latitude"),
                          east=Max("longitude"), north=Max("latitude")))
    extent = None
    if corners["west"] is not None:
        extent = (corners["west"], corners["south"], corners["east"], corners["north"])
    return MapPage(shows_households(user), territories, teams, extent)


def commune_layer(actor: Actor) -> dict[str, Any]:
    """Commune boundaries of the agent's territory (all of them without one): geography,
    no personal data, drawn so that the map reads without tiles."""
    user = actor.user
    policy.guard_role(actor, policy.can_see_map(user), "map")
    return layers.communes(None if user.territory_id is None else [user.territory_id])


@dataclass(frozen=True)
class HouseholdSummary:
    """What a click on a household shows: its level and why, who lives there, and where to
    go next."""

    household_id: int
    level: int | None  # None until its level is first computed
    label: str
    colour: str
    reasons: list[str]
    address: str
    postcode: str
    commune: str
    members: list[str]
    open_alerts: int
    team: str
    lead_id: int | None  # its waiting lead, when sent to the agent's team or territory
    case_file_id: int | None  # its open case file, when the agent may read it


def household_summary(actor: Actor, household_id: int) -> HouseholdSummary:
    """The summary of a household on the agent's map (refused and audited otherwise);
    each reading is one audit record."""
    household = policy.guard_map_household(actor, household_id)
    user = actor.user
    level = CrisisLevel.objects.select_related("team").filter(household=household).first()
    if level is None:
        shown: dict[str, Any] = {"level": None, "label": _("Not computed yet"),
                                 "colour": UNKNOWN_COLOUR, "reasons": []}
    else:
        shown = crisis.summary(level.level, level.reasons)
    lead = waiting_lead_of(actor, household.pk)
    case_file = (policy.readable_case_files(user)
                 .filter(household=household, status=CaseStatus.OPEN)
                 .order_by("-opened_at").values_list("pk", flat=True).first())
    summary = HouseholdSummary(
        household_id=household.pk, level=shown["level"], label=shown["label"],
        colour=shown["colour"], reasons=shown["reasons"], address=household.address,
        postcode=household.postcode, commune=household.commune,
        members=[str(person) for person in members_of(household)],
        open_alerts=open_alert_count(household.pk),
        team=str(level.team) if level is not None and level.team is not None else "",
        lead_id=lead, case_file_id=case_file)
    policy.record(actor, AuditAction.READ, "household", household.pk, household.pk,
                  detail="map summary")
    return summary
