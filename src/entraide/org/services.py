"""Who works where: agents that can be named referent or action owner."""

from __future__ import annotations

from django.db.models import QuerySet

from entraide.org.models import Organisation, Role, Team, Territory, User


def agents_who_may_follow(team: Team) -> QuerySet[User]:
    """Agents of a team's territory who may follow its files (referent, action owner)."""
    return User.objects.filter(territory_id=team.territory_id, is_active=True,
                               role__in=[Role.SOCIAL_WORKER, Role.TEAM_LEAD])


def assignable_agents(team: Team) -> list[tuple[int, str]]:
    """Agents of a team's territory who may follow a file, as form choices."""
    agents = agents_who_may_follow(team).order_by("last_name", "first_name")
    return [(a.pk, a.get_full_name() or a.get_username()) for a in agents]


def landing_url(user: User) -> str:
    """The page an agent starts on, chosen by role."""
    landing: dict[str, str] = {
        Role.RECEPTION: "/reception/",
        Role.SOCIAL_WORKER: "/caseload/",
        Role.TEAM_LEAD: "/caseload/",
        Role.MANAGER: "/overview/",
        Role.OPERATOR: "/telecare/",
        Role.DPO: "/audit/",
        Role.ADMINISTRATOR: "/admin/",
    }
    return landing.get(user.role, "/login/")


def organisation_of(user: User) -> int | None:
    """The organisation an agent works for: their territory's, or for agents without a
    territory (managers, DPO…) the organisation of this installation."""
    if user.territory_id:
        return Territory.objects.values_list("organisation_id", flat=True).get(
            pk=user.territory_id)
    return Organisation.objects.order_by("pk").values_list("pk", flat=True).first()
