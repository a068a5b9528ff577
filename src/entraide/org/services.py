"""Who works where: agents that can be named referent or action owner."""

from __future__ import annotations

from entraide.org.models import Role, Team, User


def assignable_agents(team: Team) -> list[tuple[int, str]]:
    """Agents of a team's territory who may follow a file, as form choices."""
    agents = User.objects.filter(
        territory_id=team.territory_id, is_active=True,
        role__in=[Role.SOCIAL_WORKER, Role.TEAM_LEAD],
    ).order_by("last_name", "first_name")
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
