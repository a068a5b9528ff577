"""The organisation: territories, teams, agents and their roles, API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organisation(models.Model):
    """A département, a CCAS or a welfare centre: the owner of the case files."""

    name = models.CharField(_("name"), max_length=200)

    def __str__(self) -> str:
        return self.name


class Territory(models.Model):
    """A part of the organisation's area, served by its own teams."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT,
                                     related_name="territories")
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("territory")
        verbose_name_plural = _("territories")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "code"], name="territory_code_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A team of social workers in one territory; case files are assigned to teams."""

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("team")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    RECEPTION = "reception", _("Reception")
    SOCIAL_WORKER = "social_worker", _("Social worker")
    TEAM_LEAD = "team_lead", _("Team lead")
    MANAGER = "manager", _("Manager")
    OPERATOR = "operator", _("Monitoring operator")
    DPO = "dpo", _("Data protection officer")
    ADMINISTRATOR = "administrator", _("Administrator")


class User(AbstractUser):
    """An agent of the organisation, with one role and the team or territory it works in."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.RECEPTION)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="members")
    territory = models.ForeignKey(
        Territory, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )

    def save(self, *args: object, **kwargs: object) -> None:
        # A team member's territory is the team's: one source of truth for the policy.
        if self.team is not None:
            self.territory_id = self.team.territory_id
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ApiToken(models.Model):
    """A bearer token for an API client; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User) -> str:
        """Create a token for a user and return its clear value, shown once."""
        key = secrets.token_urlsafe(32)
        cls.objects.create(user=user, key_hash=cls.digest(key))
        return key
