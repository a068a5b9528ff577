"""The welfare map: crisis levels and their rules, communes, the service directory, offices,
visit frequencies and the day plans of social workers."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from entraide.cases.models import CaseFile
from entraide.org.models import Organisation, Team, Territory
from entraide.people.models import Household


class CrisisColour(models.IntegerChoices):
    """Levels of crisis, 1 to 4, as the map colours them."""

    STABLE = 1, _("Stable")
    WATCH = 2, _("To watch")
    DIFFICULTY = 3, _("Difficulty")
    CRISIS = 4, _("Crisis")


# Colours chosen to stay apart for the common colour blindnesses; the number is always shown.
LEVEL_COLOURS = {1: "#1a9850", 2: "#fdae61", 3: "#f46d43", 4: "#a50026"}


class Signal(models.TextChoices):
    OPEN_ALERT = "open_alert", _("Open telecare alert (threshold: severity)")
    SCREENING_SCORE = "screening_score", _("Screening score of a waiting lead (threshold: score)")
    ASSESSMENT = "assessment", _("Case-file assessment (threshold: highest domain level)")
    OVERDUE_ACTIONS = "overdue_actions", _("Overdue plan actions (threshold: how many)")


class CrisisRule(models.Model):
    """When a household's signal reaches `threshold`, its level is at least `level`.

    Managers edit these rules; a household's level is the highest level any rule gives it,
    and every rule that fired is shown as a reason beside the colour.
    """

    signal = models.CharField(_("signal"), max_length=16, choices=Signal.choices)
    threshold = models.FloatField(_("counts from"))
    level = models.PositiveSmallIntegerField(
        _("level"), choices=CrisisColour.choices,
        validators=[MinValueValidator(1), MaxValueValidator(4)])
    reason = models.CharField(_("reason shown"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("signal", "threshold")
        verbose_name = _("crisis rule")

    def __str__(self) -> str:
        return f"{self.get_signal_display()} ≥ {self.threshold:g} → {self.level}"


class CrisisLevel(models.Model):
    """A household's current level and why, kept in step with its alerts, leads and case file
    so that the map reads one row per household."""

    household = models.OneToOneField(Household, primary_key=True, on_delete=models.CASCADE,
                                     related_name="crisis")
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="+",
                                  db_index=False)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", db_index=False,
                             help_text="The team of its open case file, or of its waiting lead.")
    level = models.PositiveSmallIntegerField(choices=CrisisColour.choices, default=1)
    reasons = models.JSONField(default=list, blank=True,
                               help_text="[{signal, level, text}], highest level first.")
    open_alert = models.BooleanField(default=False)
    waiting_lead = models.BooleanField(default=False)
    followed = models.BooleanField(default=False, help_text="Has an open case file.")
    # The household's coordinates, copied so that a map view reads one table through one index.
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            # A map view: one territory's or one team's households within a bounding box.
            models.Index(fields=["territory", "longitude", "latitude", "team", "level"],
                         name="crisis_territory_view"),
            models.Index(fields=["team", "longitude", "latitude", "level"],
                         name="crisis_team_view"),
        ]


class Commune(models.Model):
    """A commune (or a Korean dong) and its boundary, drawn even when no tiles load."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="communes")
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    boundary = models.JSONField(help_text="GeoJSON Polygon or MultiPolygon geometry.")
    derived = models.BooleanField(
        default=False, help_text="Drawn around its households' addresses, not imported.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["territory", "code"],
                                               name="commune_code_unique")]

    def __str__(self) -> str:
        return self.name


class ServiceCategory(models.TextChoices):
    PUBLIC = "public", _("Public service")
    ASSOCIATION = "association", _("Association")
    HEALTH = "health", _("Health")
    CITIZEN = "citizen", _("Citizen activity")


class Service(models.Model):
    """A public or associative service, or a citizen activity, that households can be sent to."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE,
                                     related_name="services")
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=12, choices=ServiceCategory.choices)
    needs = models.JSONField(_("needs covered"), default=list,
                             help_text="Case-file domains it helps with (housing, income…).")
    description = models.TextField(_("description"), blank=True)
    eligibility = models.TextField(_("who can come"), blank=True)
    opening_hours = models.CharField(_("opening hours"), max_length=300, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    commune = models.CharField(_("commune"), max_length=100, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("website"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("service")

    def __str__(self) -> str:
        return self.name


class Office(models.Model):
    """Where a team's day of visits starts and ends."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="office")
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=200)
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    opens = models.TimeField(_("day starts"), default="08:30")
    closes = models.TimeField(_("day ends"), default="17:30")

    def __str__(self) -> str:
        return self.name


class VisitFrequency(models.Model):
    """The policy table: how many home visits a month a household at this level needs."""

    level = models.PositiveSmallIntegerField(_("level"), choices=CrisisColour.choices,
                                             unique=True)
    visits_per_month = models.DecimalField(_("visits per month"), max_digits=4,
                                           decimal_places=1)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("level",)
        verbose_name = _("visit frequency")


class DayPlan(models.Model):
    """A worker's day of home visits: the chosen visits in the order the solver found."""

    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="day_plans")
    day = models.DateField(_("day"))
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    starts_at = models.TimeField(_("leave the office"))
    ends_at = models.TimeField(_("back at the office by"))
    travel_minutes = models.PositiveIntegerField(default=0)
    distance_m = models.PositiveIntegerField(default=0)
    back_at = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-day",)
        indexes = [models.Index(fields=["worker", "day"])]


class VisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    MISSED = "missed", _("Nobody home")
    CANCELLED = "cancelled", _("Cancelled")


class Visit(models.Model):
    """One home visit of a day plan; its report becomes a note in the case file."""

    plan = models.ForeignKey(DayPlan, on_delete=models.CASCADE, related_name="visits")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="+")
    case_file = models.ForeignKey(CaseFile, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    position = models.PositiveSmallIntegerField()
    window_start = models.TimeField(_("not before"))
    window_end = models.TimeField(_("not after"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=45)
    arrival = models.TimeField(_("arrival"))
    status = models.CharField(_("status"), max_length=10, choices=VisitStatus.choices,
                              default=VisitStatus.PLANNED)
    report_note_id = models.BigIntegerField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("plan", "position")
        indexes = [models.Index(fields=["household", "status"])]
