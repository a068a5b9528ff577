"""Blind-spot screening: the feeds of public data, their imports, the runs and their leads.

The feed values themselves are not rows of this database: they are kept as Parquet files
under ENTRAIDE_SCREENING_DIR (`feeds.py`), keyed by pseudonymous link digests, so that the
same pipeline reads them on one machine (DuckDB) or on Spark. This database keeps what
people configure (sources, indicators, scorecard points), the reports of imports, and
the runs with their leads and outcomes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from entraide.org.models import Team, Territory
from entraide.people.models import Household


class KeyKind(models.TextChoices):
    """What a provider shares to say whose record it is."""

    IDENTIFIER = "identifier", _("Identifier of a person (e.g. social security number)")
    ADDRESS = "address", _("Postal address of the home")


class Source(models.Model):
    """A feed of public data: who provides it, on what legal basis, kept how long."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    provider = models.CharField(_("provider"), max_length=200)
    key_kind = models.CharField(_("linked by"), max_length=12, choices=KeyKind.choices)
    key_column = models.CharField(_("key column"), max_length=60,
                                  help_text=_("Column of the file holding the identifier or "
                                              "the address; it is never stored."))
    period_column = models.CharField(_("period column"), max_length=60, default="period",
                                     help_text=_("Column holding the month (YYYY-MM)."))
    refresh_days = models.PositiveIntegerField(_("refresh period (days)"), default=60)
    legal_basis = models.TextField(_("legal basis"))
    retention_days = models.PositiveIntegerField(_("retention (days)"), default=365)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("data source")

    def __str__(self) -> str:
        return self.name


class IndicatorKind(models.TextChoices):
    FLAG = "flag", _("yes or no (1/0)")
    AMOUNT = "amount", _("amount in euros")
    COUNT = "count", _("count")
    DAYS = "days", _("days")


class Indicator(models.Model):
    """One column of a feed, and what it is worth on the scorecard."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="indicators")
    code = models.SlugField(_("code"), max_length=60)
    label = models.CharField(_("label"), max_length=200)
    kind = models.CharField(_("kind"), max_length=8, choices=IndicatorKind.choices)
    minimum = models.FloatField(_("lowest valid value"), default=0)
    maximum = models.FloatField(_("highest valid value"), null=True, blank=True)
    # The scorecard: `points` when the value reaches `threshold`; team leads edit both.
    threshold = models.FloatField(_("counts from"), default=1)
    points = models.IntegerField(_("points"), default=0)
    explanation = models.CharField(_("in plain words"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("indicator")
        constraints = [models.UniqueConstraint(fields=["source", "code"],
                                               name="indicator_code_unique")]
        ordering = ["source", "code"]

    def __str__(self) -> str:
        return f"{self.source.code}.{self.code}"


class Import(models.Model):
    """One file imported into a feed, with its report."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(_("file"), max_length=300)
    file_sha256 = models.CharField(max_length=64)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_kept = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rows_unlinked = models.PositiveIntegerField(
        default=0, help_text="Kept lines whose key matches no household yet.")
    ignored_columns = models.JSONField(default=list, blank=True,
                                       help_text="Columns of the file that nothing reads.")
    unchanged = models.BooleanField(default=False, help_text="The same data was there already.")
    error = models.TextField(blank=True, help_text="Why the whole file was refused, if it was.")

    class Meta:
        verbose_name = _("import")
        ordering = ["-started_at"]


class RejectedRow(models.Model):
    """A line of an imported file that was not kept, and why (never the line's content:
    it holds the raw identifier)."""

    import_run = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="rejected")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["line"]


class LinkKey(models.Model):
    """A household's pseudonymous key for linking feed records (keyed HMAC of an identifier
    of one of its members, or of its normalised address)."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE,
                                  related_name="screening_keys")
    kind = models.CharField(max_length=12, choices=KeyKind.choices)
    digest = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "digest"],
                                               name="link_key_unique")]


class ScreeningRun(models.Model):
    """One screening of every household: its figures, evaluation and bias report."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    engine = models.CharField(max_length=10, default="duckdb")
    households = models.PositiveIntegerField(default=0)
    leads = models.PositiveIntegerField(default=0)
    threshold = models.FloatField(default=0)
    model = models.CharField(max_length=12, default="scorecard",
                             help_text="Which score chose the leads: scorecard or learned.")
    evaluation = models.JSONField(default=dict, blank=True)
    bias = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]


class Outcome(models.TextChoices):
    CASE_OPENED = "case_opened", _("Contacted: a case file was opened")
    NOT_IN_NEED = "not_in_need", _("Contacted: not in need")
    REFUSED = "refused", _("Contacted: help refused")
    UNREACHABLE = "unreachable", _("Unreachable")


class Lead(models.Model):
    """A household a run thinks may need help, sent to its territory's team: a prompt for a
    worker to go and see, never a decision."""

    run = models.ForeignKey(ScreeningRun, on_delete=models.CASCADE, related_name="lead_set")
    household = models.ForeignKey(Household, on_delete=models.CASCADE,
                                  related_name="screening_leads")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="screening_leads")
    score = models.FloatField()
    scorecard = models.FloatField()
    learned = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=list,
                                   help_text="[{indicator, label, value, weight}], most first.")
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "household"],
                                               name="one_lead_per_run")]
        indexes = [models.Index(fields=["territory", "outcome"])]
