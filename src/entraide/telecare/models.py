"""Telecare: sensors in the homes of people living alone, their readings, and the alerts."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from entraide.org.models import ApiToken, Organisation, Territory
from entraide.people.models import Household, Person


class Installation(models.Model):
    """The sensors in one person's home, with the thresholds the rules apply to them."""

    code = models.SlugField(_("code"), max_length=40, unique=True,
                            help_text=_("Used in MQTT topics: entraide/<code>/<device>."))
    household = models.ForeignKey(Household, on_delete=models.PROTECT,
                                  related_name="telecare_installations")
    resident = models.ForeignKey(Person, on_delete=models.PROTECT,
                                 related_name="telecare_installations")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("active"), default=True)
    installed_at = models.DateTimeField(_("installed"))

    inactivity_floor_minutes = models.PositiveIntegerField(
        _("inactivity floor (minutes)"), default=120,
        help_text=_("Never alert on inactivity shorter than this."))
    inactivity_ceiling_minutes = models.PositiveIntegerField(
        _("inactivity ceiling (minutes)"), default=16 * 60,
        help_text=_("Always alert on inactivity longer than this, whatever the habits."))
    night_start = models.TimeField(_("night starts"), default=dt.time(23, 0))
    night_end = models.TimeField(_("night ends"), default=dt.time(6, 0))
    cold_below = models.FloatField(_("cold below (°C)"), default=16.0)
    heat_above = models.FloatField(_("heat above (°C)"), default=31.0)
    temperature_minutes = models.PositiveIntegerField(
        _("temperature out of range for (minutes)"), default=180)
    silence_minutes = models.PositiveIntegerField(
        _("device silent after (minutes)"), default=12 * 60)
    battery_low = models.PositiveSmallIntegerField(_("battery low below (%)"), default=15)
    escalation_seconds = models.PositiveIntegerField(
        _("escalate unacknowledged alerts after (seconds)"), default=120)

    profile = models.JSONField(
        default=list, blank=True,
        help_text="Learned: the longest usual stillness (minutes) starting at each hour, 0-23.")
    profile_learned_at = models.DateTimeField(null=True, blank=True)
    last_motion_at = models.DateTimeField(null=True, blank=True)
    last_door_at = models.DateTimeField(null=True, blank=True)
    climate_out_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("telecare installation")

    def __str__(self) -> str:
        return self.code


class DeviceKind(models.TextChoices):
    MOTION = "motion", _("Motion sensor")
    DOOR = "door", _("Door contact")
    CLIMATE = "climate", _("Temperature and humidity")
    SMOKE = "smoke", _("Smoke detector")
    GAS = "gas", _("Gas / CO detector")
    WATER = "water", _("Water leak sensor")
    PANIC = "panic", _("Panic button / pendant")


class Device(models.Model):
    """One sensor, known by its code in Entraide topics or its Zigbee2MQTT friendly name."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE,
                                     related_name="devices")
    code = models.SlugField(_("code"), max_length=40)
    kind = models.CharField(_("kind"), max_length=10, choices=DeviceKind.choices)
    friendly_name = models.CharField(
        _("Zigbee2MQTT friendly name"), max_length=120, null=True, blank=True, unique=True)
    label = models.CharField(_("label"), max_length=100, blank=True)
    battery = models.PositiveSmallIntegerField(_("battery (%)"), null=True, blank=True)
    link_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    state = models.JSONField(default=dict, blank=True)
    rejected_count = models.PositiveIntegerField(_("rejected messages"), default=0)

    class Meta:
        verbose_name = _("device")
        constraints = [models.UniqueConstraint(fields=["installation", "code"],
                                               name="device_code_unique")]

    def __str__(self) -> str:
        return f"{self.installation.code}/{self.code}"


class ContactRelation(models.TextChoices):
    FAMILY = "family", _("Family")
    NEIGHBOUR = "neighbour", _("Neighbour")
    CARER = "carer", _("Carer")
    SOCIAL_WORKER = "social_worker", _("Social worker")
    EMERGENCY = "emergency", _("Emergency number")


class Contact(models.Model):
    """Someone to call when an alert is not acknowledged, in the order they are listed."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE,
                                     related_name="contacts")
    position = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=150)
    relation = models.CharField(_("relation"), max_length=16, choices=ContactRelation.choices)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    notify_url = models.CharField(
        _("notification address (Apprise URL)"), max_length=500, blank=True,
        help_text=_("For example an SMS gateway or mailto:// URL; empty means: call by phone."))

    class Meta:
        ordering = ["position"]
        verbose_name = _("contact")


class NotificationChannel(models.Model):
    """Where the monitoring centre of an organisation is told about new alerts (Apprise URL)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE,
                                     related_name="notification_channels")
    label = models.CharField(_("label"), max_length=100)
    url = models.CharField(_("Apprise URL"), max_length=500)
    min_severity = models.PositiveSmallIntegerField(_("from severity"), default=3)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("notification channel")


class Gateway(models.Model):
    """A cellular gateway that posts readings over HTTP; only its token's SHA-256 is kept."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE,
                                     related_name="gateways")
    label = models.CharField(_("label"), max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    digest = staticmethod(ApiToken.digest)  # the same SHA-256 as agents' tokens

    @classmethod
    def issue(cls, installation: Installation, label: str = "") -> str:
        """Create a gateway and return its clear token, shown once."""
        token = secrets.token_urlsafe(32)
        cls.objects.create(installation=installation, label=label, token_hash=cls.digest(token))
        return token


class Metric(models.IntegerChoices):
    MOTION = 1, _("motion")
    CONTACT = 2, _("door closed")
    TEMPERATURE = 3, _("temperature")
    HUMIDITY = 4, _("humidity")
    SMOKE = 5, _("smoke")
    GAS = 6, _("gas")
    WATER_LEAK = 7, _("water leak")
    PANIC = 8, _("panic button")
    BATTERY = 9, _("battery")
    LINK_QUALITY = 10, _("link quality")


class Reading(models.Model):
    """One measured value of one device at one instant (booleans are 0 or 1)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="readings",
                               db_index=False)
    at = models.DateTimeField()
    metric = models.PositiveSmallIntegerField(choices=Metric.choices)
    value = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "at", "metric"],
                                               name="reading_once")]


class AlertCause(models.TextChoices):
    SMOKE = "smoke", _("Smoke")
    GAS = "gas", _("Gas or carbon monoxide")
    PANIC = "panic", _("Panic button pressed")
    WATER_LEAK = "water_leak", _("Water leak")
    INACTIVITY = "inactivity", _("No movement")
    DOOR_NIGHT = "door_night", _("Door opened at night")
    COLD = "cold", _("Cold home")
    HEAT = "heat", _("Heat in the home")
    SILENT = "silent", _("Device silent")
    BATTERY = "battery", _("Battery low")


class Severity(models.IntegerChoices):
    LOW = 1, _("low (technical)")
    MEDIUM = 2, _("medium")
    HIGH = 3, _("high")
    CRITICAL = 4, _("critical")


class AlertStatus(models.TextChoices):
    RAISED = "raised", _("Raised")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    DISPATCHED = "dispatched", _("Dispatched")
    RESOLVED = "resolved", _("Resolved")


class Outcome(models.TextChoices):
    FALSE_ALARM = "false_alarm", _("False alarm")
    HELP_GIVEN = "help_given", _("Help given at home")
    HOSPITAL = "hospital", _("Taken to hospital")
    DEATH = "death", _("Found dead")
    TECHNICAL = "technical", _("Technical problem fixed")
    NOTHING_NEEDED = "nothing_needed", _("All well, nothing needed")


class Alert(models.Model):
    """Something wrong in a home; one open alert per cause per installation."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE,
                                     related_name="alerts")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    cause = models.CharField(_("cause"), max_length=12, choices=AlertCause.choices)
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices)
    status = models.CharField(_("status"), max_length=12, choices=AlertStatus.choices,
                              default=AlertStatus.RAISED)
    reason = models.CharField(_("reason"), max_length=300)
    raised_at = models.DateTimeField(_("raised"))
    reading_at = models.DateTimeField(_("reading time"))
    repeats = models.PositiveIntegerField(_("repeats"), default=0)
    last_repeat_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatched_to = models.CharField(_("dispatched to"), max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    outcome_note = models.CharField(_("note"), max_length=500, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("alert")
        constraints = [models.UniqueConstraint(
            fields=["installation", "cause"], condition=~Q(status="resolved"),
            name="one_open_alert_per_cause")]
        indexes = [models.Index(fields=["status", "-severity", "raised_at"])]

    @property
    def is_open(self) -> bool:
        return self.status != AlertStatus.RESOLVED


class AlertStep(models.Model):
    """One timestamped step of an alert's life, with who took it."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField()
    step = models.CharField(max_length=20)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.PROTECT, related_name="+")
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "pk"]


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("To send")
    SENT = "sent", pgettext_lazy("notification status", "Sent")
    FAILED = "failed", _("Could not be sent")
    BY_PHONE = "by_phone", _("No address: call by phone")


class Notification(models.Model):
    """A message about an alert, to the monitoring centre's channel or to a contact."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL)
    channel = models.ForeignKey(NotificationChannel, null=True, blank=True,
                                on_delete=models.SET_NULL)
    at = models.DateTimeField()
    body = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=NotificationStatus.choices,
                              default=NotificationStatus.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)


class Rejection(models.Model):
    """Messages refused from one source for one reason, counted, with the last one's detail."""

    source = models.CharField(max_length=200, help_text="The MQTT topic or the gateway.")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="rejections")
    reason = models.CharField(max_length=20)
    count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    detail = models.CharField(max_length=300, blank=True)
    sample = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "reason"],
                                               name="rejection_source_reason")]
