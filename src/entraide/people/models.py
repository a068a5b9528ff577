"""Persons, the households they live in, and their consents."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from entraide.org.models import Territory


class Household(models.Model):
    """People living at one address; the unit a case file follows."""

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="households")
    address = models.CharField(_("address"), max_length=200)
    postcode = models.CharField(_("postcode"), max_length=10)
    commune = models.CharField(_("commune"), max_length=100)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    anonymised_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When retention or erasure reduced it to its commune and shredded its key.")
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("address", "postcode", "commune", "latitude", "longitude")

    def __str__(self) -> str:
        place = f"{self.postcode} {self.commune}".strip()
        return f"{self.address}, {place}" if self.address else place


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other / not stated")


class Person(models.Model):
    """One human being known to the service; merged duplicates point to the person kept."""

    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.OTHER)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    email = models.EmailField(_("e-mail"), max_length=200, blank=True)
    identity_number_sealed = models.TextField(
        blank=True, help_text="Social security or ID number, encrypted with the household's key.")
    household = models.ForeignKey(
        Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention or erasure replaced their identity.")
    version = models.PositiveIntegerField(default=1)

    EDITABLE = ("first_name", "last_name", "birth_date", "sex", "phone", "email")

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name.upper()}"

    _identity_number: str  # set by the secrecy layer when it reveals it to a reader

    @property
    def identity_number(self) -> str:
        """The clear identity number, once the secrecy layer revealed it to the reader."""
        try:
            return self._identity_number
        except AttributeError:
            raise AttributeError("Identity numbers are read through people.services.") from None


class Relationship(models.TextChoices):
    HEAD = "head", _("Head of household")
    SPOUSE = "spouse", _("Spouse or partner")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    RELATIVE = "relative", _("Other relative")
    OTHER = "other", _("Other")


class Membership(models.Model):
    """A person's place in a household over time; history is kept when people move."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    relationship = models.CharField(
        _("relationship"), max_length=10, choices=Relationship.choices, default=Relationship.OTHER
    )
    since = models.DateField(_("since"), null=True, blank=True)
    until = models.DateField(_("until"), null=True, blank=True)


class NameKey(models.Model):
    """A blocking key (prefix or sound of a name word) used to find duplicate candidates fast."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="name_keys")
    key = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["key", "person"])]


class ConsentPurpose(models.TextChoices):
    PROCESSING = "processing", _("Keeping a social file")
    SHARING = "sharing", _("Sharing with partner services")
    SMS = "sms", _("Contact by SMS")
    SENSORS = "sensors", _("Home sensors (telecare)")


class Consent(models.Model):
    """What a person agreed to or refused, when, recorded by whom; never overwritten."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    given = models.BooleanField(_("given"))
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
