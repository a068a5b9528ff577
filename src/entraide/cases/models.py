"""The social case file: notes, assessments, support plans, referrals and their timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from entraide.org.models import Team
from entraide.people.models import Household, Person
from entraide.secrecy.sealed import SealedText


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class CaseFile(models.Model):
    """The social file of one household, followed by a referent worker and a team."""

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="case_files")
    # Looked up through the composite indexes below, not single-column ones.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="case_files",
                             db_index=False)
    referent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="caseload", db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    opened_at = models.DateTimeField(_("opened"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("referent_id", "status", "closed_at")

    class Meta:
        indexes = [
            models.Index(fields=["referent", "status"]),
            models.Index(fields=["team", "status"]),
        ]


class ReceptionEntry(models.Model):
    """A visit or call at the reception desk: who came, why, who received them."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="receptions")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL)
    case_file = models.ForeignKey(CaseFile, null=True, blank=True, on_delete=models.CASCADE)
    reason = SealedText("household_id", _("reason"), max_length=300)
    reason_sealed = models.TextField(blank=True)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    at = models.DateTimeField(_("at"))


class NoteKind(models.TextChoices):
    INTERVIEW = "interview", _("Interview")
    PHONE_CALL = "phone_call", _("Phone call")
    HOME_VISIT = "home_visit", _("Home visit")
    EMAIL = "email", _("E-mail")
    LETTER = "letter", _("Letter")


class Note(models.Model):
    """One version of a note; notes are never edited, a correction is a new version."""

    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="notes",
                                  db_index=False)
    kind = models.CharField(_("type"), max_length=12, choices=NoteKind.choices)
    body_sealed = models.TextField(help_text="The text, encrypted with the household's key.")
    sensitive = models.BooleanField(
        _("sensitive (health, violence, minors)"), default=False,
        help_text=_("Only its author and the referent can read it; others see that it exists."))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField()
    first = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="corrections",
        help_text="The first version of this note; null on the first version itself.",
    )
    version_no = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["case_file", "is_current", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["first", "version_no"], name="note_version_unique")
        ]

    @property
    def thread_id(self) -> int:
        return self.first_id or self.pk

    _body: str | None  # set by the secrecy layer when it reveals the note to a reader

    @property
    def body(self) -> str | None:
        """The clear text, once the secrecy layer revealed it to the reader (None if hidden)."""
        try:
            return self._body
        except AttributeError:
            raise AttributeError("Note text is read through cases.services, which decrypts it "
                                 "for readers in need-to-know.") from None

    @property
    def hidden(self) -> bool:
        return self.body is None


class NoteTerm(models.Model):
    """Blind search index: one row per distinct term (as a keyed HMAC) of a current note."""

    term = models.CharField(max_length=32)
    restricted = models.BooleanField(default=False, help_text="Term of a sensitive note.")
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="terms", db_index=False)
    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="+",
                                  db_index=False)

    class Meta:
        indexes = [
            # Covers a search: one term's postings newest first, filtered by case file.
            models.Index(fields=["term", "-note", "case_file"], name="noteterm_search"),
            # Checks whether a note has another term of the query.
            models.Index(fields=["note", "term"], name="noteterm_note"),
        ]


class Domain(models.TextChoices):
    HOUSING = "housing", _("Housing")
    INCOME = "income", _("Income")
    EMPLOYMENT = "employment", _("Employment")
    HEALTH = "health", _("Health")
    FAMILY = "family", _("Family")
    ISOLATION = "isolation", _("Isolation")
    MOBILITY = "mobility", _("Mobility")
    DIGITAL = "digital", _("Digital")
    ADMINISTRATIVE = "administrative", _("Administrative")


class Level(models.IntegerChoices):
    STRENGTH = 1, _("Strength")
    FRAGILE = 2, _("Fragility")
    DIFFICULTY = 3, _("Difficulty")
    CRISIS = 4, _("Crisis")


class Assessment(models.Model):
    """A needs-and-strengths assessment at one date; earlier ones stay as history."""

    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="assessments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField()


class DomainLevel(models.Model):
    """The level of one domain in one assessment, with the worker's comment."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="levels")
    domain = models.CharField(_("domain"), max_length=16, choices=Domain.choices)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    comment_sealed = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "domain"], name="one_level_per_domain")
        ]

    _comment: str  # set by the secrecy layer when it reveals the comment to a reader

    @property
    def comment(self) -> str:
        """The clear comment, once the secrecy layer revealed it to the reader."""
        try:
            return self._comment
        except AttributeError:
            raise AttributeError("Assessment comments are read through cases.services.") from None


class GoalStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ACHIEVED = "achieved", _("Achieved")
    ABANDONED = "abandoned", _("Abandoned")


class Goal(models.Model):
    """A goal of the support plan agreed with the household."""

    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="goals")
    domain = models.CharField(_("domain"), max_length=16, choices=Domain.choices)
    title = SealedText("case_file.household_id", _("goal"), max_length=300)
    title_sealed = models.TextField(blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=GoalStatus.choices, default=GoalStatus.ACTIVE
    )
    created_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("title", "domain", "status")


class ActionStatus(models.TextChoices):
    TODO = "todo", _("To do")
    DOING = "doing", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Action(models.Model):
    """A step towards a goal, with who does it and by when."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="actions")
    title = SealedText("goal.case_file.household_id", _("action"), max_length=300)
    title_sealed = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ActionStatus.choices, default=ActionStatus.TODO
    )
    created_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("title", "owner_id", "due_date", "status")


class ReferralStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REFUSED = "refused", _("Refused")
    COMPLETED = "completed", _("Completed")


class Referral(models.Model):
    """An orientation of the household towards another service."""

    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="referrals")
    # Where a household is sent says much of its situation (an addiction centre, a shelter).
    service = SealedText("case_file.household_id", _("service"), max_length=200)
    service_sealed = models.TextField(blank=True)
    reason = SealedText("case_file.household_id", _("reason"), max_length=1000)
    reason_sealed = models.TextField(blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.SENT
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("status",)


class EventKind(models.TextChoices):
    NOTE = "note", _("Note")
    ASSESSMENT = "assessment", _("Assessment")
    GOAL = "goal", _("Goal")
    ACTION = "action", _("Action")
    REFERRAL = "referral", _("Referral")
    RECEPTION = "reception", _("Reception")
    STATUS = "status", _("Status")
    ALERT = "alert", _("Telecare alert")


class TimelineEvent(models.Model):
    """One line of a case file's timeline, pointing to the record it is about."""

    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="events",
                                  db_index=False)
    at = models.DateTimeField()
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    object_id = models.BigIntegerField()
    summary = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case_file", "-at", "-id"])]
