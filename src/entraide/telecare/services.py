"""Telecare's domain: alerts and their lifecycle, escalation, the operator's views."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide.cases import services as cases
from entraide.people.models import Household, Person
from entraide.people.services import members_of
from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import notify, rules
from .models import (
    Alert,
    AlertStatus,
    AlertStep,
    Contact,
    Device,
    Installation,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Outcome,
    Reading,
    Rejection,
    Severity,
)

if TYPE_CHECKING:
    from .payloads import Rejected

Finding = tuple[int, int | None, dt.datetime, rules.Finding]
OPEN = ~Q(status=AlertStatus.RESOLVED)


# --- raising ---------------------------------------------------------------------------------

def raise_alerts(findings: Iterable[Finding], now: dt.datetime, repeat: bool = True) -> int:
    """Open an alert per new (installation, cause); a finding whose cause is already open
    is attached to it as a repeat. Returns how many alerts were opened."""
    grouped: dict[tuple[int, str], list[Finding]] = {}
    for found in findings:
        grouped.setdefault((found[0], found[3].cause), []).append(found)
    opened = 0
    for (installation_id, cause), group in grouped.items():
        _, device_id, at, finding = group[0]
        current = Alert.objects.filter(OPEN, installation_id=installation_id, cause=cause)
        if repeat:
            if current.update(repeats=F("repeats") + len(group), last_repeat_at=group[-1][2]):
                continue
        elif current.exists():
            continue
        try:
            with transaction.atomic():
                _open_alert(installation_id, device_id, at, finding, now)
        except IntegrityError:  # opened meanwhile by another process: attach to it
            current.update(repeats=F("repeats") + len(group), last_repeat_at=group[-1][2])
            continue
        opened += 1
    return opened


def _open_alert(installation_id: int, device_id: int | None, at: dt.datetime,
                finding: rules.Finding, now: dt.datetime) -> Alert:
    installation = Installation.objects.select_related("territory", "resident").get(
        pk=installation_id)
    escalates = finding.severity >= Severity.HIGH and installation.contacts.exists()
    alert = Alert.objects.create(
        installation=installation, device_id=device_id, cause=finding.cause,
        severity=finding.severity, reason=finding.reason[:300], raised_at=now, reading_at=at,
        next_escalation_at=now + dt.timedelta(seconds=installation.escalation_seconds)
        if escalates else None)
    AlertStep.objects.create(alert=alert, at=now, step="raised", detail=alert.reason)
    body = _message(alert, installation)
    for channel in NotificationChannel.objects.filter(
            organisation_id=installation.territory.organisation_id, active=True,
            min_severity__lte=finding.severity):
        Notification.objects.create(alert=alert, channel=channel, at=now, body=body)
    cases.record_alert(installation.household_id, alert.pk, at,
                       f"{alert.get_cause_display()} — {alert.reason}")
    return alert


def _message(alert: Alert, installation: Installation) -> str:
    resident = installation.resident
    return _("Entraide alert (%(severity)s): %(cause)s at %(name)s's home. %(reason)s") % {
        "severity": alert.get_severity_display(), "cause": alert.get_cause_display(),
        "name": f"{resident.first_name} {resident.last_name}", "reason": alert.reason}


def count_rejections(rejections: Sequence[tuple[str, int | None, Rejected, bytes, dt.datetime]]
                     ) -> None:
    """Count refused messages per source and reason, keeping the last one's detail."""
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for rejection in rejections:
        grouped.setdefault((rejection[0][:200], rejection[2].code), []).append(rejection)
    per_device: dict[int, int] = {}
    for (source, code), group in grouped.items():
        _, device_id, last, payload, at = group[-1]
        source, detail = _printable(source), _printable(last.detail)
        sample = _printable(payload[:200].decode("utf-8", "replace"))
        updated = Rejection.objects.filter(source=source, reason=code).update(
            count=F("count") + len(group), last_at=at, detail=detail, sample=sample)
        if not updated:
            Rejection.objects.create(source=source, reason=code, device_id=device_id,
                                     count=len(group), first_at=group[0][4], last_at=at,
                                     detail=detail, sample=sample)
        if device_id is not None:
            per_device[device_id] = per_device.get(device_id, 0) + len(group)
    for device_id, count in per_device.items():
        Device.objects.filter(pk=device_id).update(rejected_count=F("rejected_count") + count)


def _printable(text: str) -> str:
    """Text from a hostile message made storable and readable: control characters (NUL
    among them, which PostgreSQL refuses in text) shown escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


# --- escalation and sending ------------------------------------------------------------------

def escalate_due(now: dt.datetime) -> int:
    """Tell the next contact about each alert left unacknowledged past its delay."""
    escalated = 0
    due = (Alert.objects.select_for_update()
           .filter(status=AlertStatus.RAISED, next_escalation_at__lte=now)
           .select_related("installation__resident"))
    for alert in due:
        contacts = list(alert.installation.contacts.all())
        if alert.escalation_level >= len(contacts):
            alert.next_escalation_at = None
            alert.save(update_fields=["next_escalation_at", "updated_at"])
            continue
        contact = contacts[alert.escalation_level]
        Notification.objects.create(alert=alert, contact=contact, at=now,
                                    body=_message(alert, alert.installation))
        AlertStep.objects.create(alert=alert, at=now, step="escalated", detail=_(
            "Not acknowledged: %(name)s (%(relation)s) told") % {
            "name": contact.name, "relation": contact.get_relation_display()})
        alert.escalation_level += 1
        alert.next_escalation_at = (
            now + dt.timedelta(seconds=alert.installation.escalation_seconds)
            if alert.escalation_level < len(contacts) else None)
        alert.save(update_fields=["escalation_level", "next_escalation_at", "updated_at"])
        escalated += 1
    return escalated


def send_pending_notifications() -> int:
    """Send the notifications waiting to go; returns how many went."""
    sent = 0
    for item in (Notification.objects.filter(status=NotificationStatus.PENDING)
                 .select_related("contact", "channel", "alert")):
        url = item.channel.url if item.channel else (item.contact.notify_url
                                                     if item.contact else "")
        if not url:
            phone = item.contact.phone if item.contact else ""
            item.status, item.error = NotificationStatus.BY_PHONE, phone
        else:
            error = notify.send(url, _("Entraide alert"), item.body)
            item.status = NotificationStatus.FAILED if error else NotificationStatus.SENT
            item.error, item.sent_at = error, timezone.now()
            sent += not error
        item.save(update_fields=["status", "error", "sent_at"])
    return sent


# --- the operator's work ---------------------------------------------------------------------

SEVERITY_ORDER = ("-severity", "raised_at")


def console_alerts(actor: Actor, limit: int = 200, shown: set[int] | None = None
                   ) -> list[Alert]:
    """Open alerts the operator watches, most severe then oldest first.

    Each alert put before the operator (with the person's name) is audited once per
    `shown` set: a live console that refreshes every second records only the new ones.
    """
    policy.guard_role(actor, policy.can_monitor(actor.user), "telecare_console")
    alerts = list(
        Alert.objects.filter(OPEN, installation__in=Installation.objects.filter(
            policy.monitoring_scope(actor.user)))
        .select_related("installation__resident", "installation__household", "device")
        .order_by(*SEVERITY_ORDER)[:limit])
    shown = set() if shown is None else shown
    for alert in alerts:
        if alert.pk not in shown:
            policy.record(actor, AuditAction.READ, "telecare_alert", alert.pk,
                          alert.installation.household_id, detail="console list")
            shown.add(alert.pk)
    return alerts


def console_version(actor: Actor) -> str:
    """A fingerprint of the operator's open alerts: it changes when the console should."""
    policy.guard_role(actor, policy.can_monitor(actor.user), "telecare_console")
    scope = Alert.objects.filter(installation__in=Installation.objects.filter(
        policy.monitoring_scope(actor.user)))
    latest = scope.order_by("-updated_at").values_list("updated_at", flat=True).first()
    return f"{scope.filter(OPEN).count()}:{latest.isoformat() if latest else ''}"


@dataclass
class AlertView:
    alert: Alert
    installation: Installation
    resident: Person
    household: Household
    contacts: list[Contact]
    devices: list[Device]
    steps: list[AlertStep]
    notifications: list[Notification]


def alert_view(actor: Actor, alert_id: int) -> AlertView:
    """An alert with the person's key facts and contacts (read audited)."""
    alert = _alert(actor, alert_id)
    installation = policy.guard_installation(actor, alert.installation_id)
    policy.record(actor, AuditAction.READ, "telecare_alert", alert.pk, installation.household_id)
    return AlertView(alert, installation, installation.resident, installation.household,
                     list(installation.contacts.all()), list(installation.devices.all()),
                     list(alert.steps.select_related("by")),
                     list(alert.notifications.select_related("contact", "channel")))


def _alert(actor: Actor, alert_id: int, *, for_update: bool = False) -> Alert:
    from django.http import Http404

    queryset = Alert.objects.select_for_update() if for_update else Alert.objects.all()
    alert = queryset.filter(pk=alert_id).first()
    if alert is None:
        raise Http404(_("No alert with this number."))
    return alert


@policy.atomic
def _step(actor: Actor, alert_id: int, step: str, allowed_from: set[str],
          apply: Callable[[Alert, dt.datetime], None], detail: str = "") -> Alert:
    alert = _alert(actor, alert_id, for_update=True)
    installation = policy.guard_installation(actor, alert.installation_id, operate=True)
    if alert.status not in allowed_from:
        raise ValueError(_("This alert is already %(status)s.") % {
            "status": alert.get_status_display().lower()})
    now = timezone.now()
    apply(alert, now)
    alert.next_escalation_at = None
    alert.save()
    AlertStep.objects.create(alert=alert, at=now, step=step, by=actor.user, detail=detail[:500])
    policy.record(actor, AuditAction.UPDATE, "telecare_alert", alert.pk,
                  installation.household_id, detail=f"{step} {detail}".strip())
    if step == "resolved":
        cases.record_alert(installation.household_id, alert.pk, now,
                           _("%(cause)s resolved: %(outcome)s") % {
                               "cause": alert.get_cause_display(),
                               "outcome": alert.get_outcome_display()})
    return alert


def _take_in_hand(actor: Actor) -> Callable[[Alert, dt.datetime], None]:
    def apply(alert: Alert, now: dt.datetime) -> None:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by = now, actor.user
    return apply


def acknowledge(actor: Actor, alert_id: int) -> Alert:
    """The operator has seen the alert and takes it in hand; escalation stops."""
    return _step(actor, alert_id, "acknowledged", {AlertStatus.RAISED}, _take_in_hand(actor))


def dispatch(actor: Actor, alert_id: int, to: str) -> Alert:
    """Someone has been sent to the home (a neighbour, the worker, an ambulance…)."""
    to = to.strip()[:200]
    if not to:
        raise ValueError(_("Say who was sent."))

    def apply(alert: Alert, now: dt.datetime) -> None:
        if alert.acknowledged_at is None:
            _take_in_hand(actor)(alert, now)
        alert.status, alert.dispatched_at, alert.dispatched_to = AlertStatus.DISPATCHED, now, to

    return _step(actor, alert_id, "dispatched", {AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED},
                 apply, to)


def resolve(actor: Actor, alert_id: int, outcome: str, note: str = "") -> Alert:
    """Close the alert with what happened; the outcome shows in the case file's timeline."""
    if outcome not in Outcome.values:
        raise ValueError(_("Choose what happened."))
    note = note.strip()[:500]

    def apply(alert: Alert, now: dt.datetime) -> None:
        if alert.acknowledged_at is None:
            _take_in_hand(actor)(alert, now)
        alert.status, alert.resolved_at, alert.resolved_by = AlertStatus.RESOLVED, now, actor.user
        alert.outcome, alert.outcome_note = outcome, note

    return _step(actor, alert_id, "resolved", {AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED,
                                               AlertStatus.DISPATCHED}, apply,
                 f"{Outcome(outcome).label} {note}".strip())


def rejections(actor: Actor, limit: int = 50) -> list[Rejection]:
    """Refused messages, most recent first: what the operator should have fixed."""
    policy.guard_role(actor, policy.can_monitor(actor.user), "telecare_console")
    return list(Rejection.objects.select_related("device__installation")
                .order_by("-last_at")[:limit])


@dataclass
class InstallationView:
    installation: Installation
    devices: list[Device]
    contacts: list[Contact]
    alerts: list[Alert]
    series: dict[str, list[tuple[dt.datetime, float]]]
    since: dt.datetime


CHART_METRICS = {3: "temperature", 1: "motion", 2: "door"}


def installation_view(actor: Actor, installation_id: int, hours: int = 48) -> InstallationView:
    """A home's devices, alert history and the last days of readings (read audited)."""
    installation = policy.guard_installation(actor, installation_id)
    policy.record(actor, AuditAction.READ, "telecare_installation", installation.pk,
                  installation.household_id)
    devices = list(installation.devices.all())
    since = timezone.now() - dt.timedelta(hours=hours)
    series: dict[str, list[tuple[dt.datetime, float]]] = {n: [] for n in CHART_METRICS.values()}
    for metric, at, value in (Reading.objects.filter(
            device__in=devices, at__gte=since, metric__in=list(CHART_METRICS))
            .order_by("at").values_list("metric", "at", "value")[:20000]):
        series[CHART_METRICS[metric]].append((at, value))
    return InstallationView(installation, devices, list(installation.contacts.all()),
                            list(installation.alerts.order_by("-raised_at")[:50]), series, since)


def alert_counts(actor: Actor) -> dict[int, int]:
    """Open alerts per severity for the operator's scope."""
    policy.guard_role(actor, policy.can_monitor(actor.user), "telecare_console")
    rows = (Alert.objects.filter(OPEN, installation__in=Installation.objects.filter(
        policy.monitoring_scope(actor.user))).values("severity").annotate(n=Count("id")))
    return {row["severity"]: row["n"] for row in rows}


# --- setting homes up ------------------------------------------------------------------------

def create_installation(household: Household, resident: Person, *, code: str | None = None,
                        devices: Iterable[tuple[str, str, str | None]] = (),
                        contacts: Iterable[tuple[str, str, str, str]] = (),
                        **thresholds: Any) -> Installation:
    """A home with its devices (code, kind, Zigbee2MQTT name) and contacts
    (name, relation, phone, notification URL), in calling order."""
    installation = Installation.objects.create(
        code=code or uuid.uuid4().hex[:12], household=household, resident=resident,
        territory_id=household.territory_id, installed_at=timezone.now(), **thresholds)
    Device.objects.bulk_create(
        Device(installation=installation, code=device_code, kind=kind, friendly_name=name,
               label=device_code) for device_code, kind, name in devices)
    Contact.objects.bulk_create(
        Contact(installation=installation, position=i, name=name, relation=relation,
                phone=phone, notify_url=url)
        for i, (name, relation, phone, url) in enumerate(contacts, start=1))
    return installation


@dataclass(frozen=True)
class DeviceLine:
    """A device as an agent lists it; `pk` names one already in the home, to change."""

    code: str
    kind: str
    friendly_name: str | None = None
    pk: int | None = None


@dataclass(frozen=True)
class ContactLine:
    """A contact as an agent lists it; `pk` names one already in the home, to change."""

    name: str
    relation: str
    phone: str = ""
    notify_url: str = ""
    pk: int | None = None


class AlreadyEquipped(ValueError):
    """The household's home already has an active installation: change it, do not add one."""

    def __init__(self, installation: Installation):
        super().__init__(_("This home is already equipped with telecare (home %(code)s).")
                         % {"code": installation.code})
        self.installation = installation


def _taken() -> ValueError:
    # Another agent took the code or name between the form's check and the save.
    return ValueError(_("A code or Zigbee2MQTT name was taken meanwhile; check them and "
                        "save again."))


@dataclass
class Equipping:
    household: Household
    members: list[Person]
    current: Installation | None


def _active_installation(household: Household) -> Installation | None:
    return household.telecare_installations.filter(active=True).order_by("-pk").first()


def equipping(actor: Actor, household_id: int) -> Equipping:
    """Who may become the resident of a household's home, and its active installation if
    it has one, for an agent about to equip it (read audited)."""
    household = policy.guard_equipment(actor, household_id)
    policy.record(actor, AuditAction.READ, "household", household.pk, household.pk,
                  detail="telecare equipment")
    return Equipping(household, members_of(household), _active_installation(household))


@policy.atomic
def equip(actor: Actor, household_id: int, resident_id: int, *, code: str | None = None,
          devices: Sequence[DeviceLine] = (), contacts: Sequence[ContactLine] = ()
          ) -> Installation:
    """Equip a household's home with telecare: its devices, and its contacts in calling
    order (audited); refused if the home already has an active installation."""
    household = policy.guard_equipment(actor, household_id)
    # Locked, so that two agents equipping the same home at once do not both succeed.
    Household.objects.select_for_update().filter(pk=household.pk).first()
    current = _active_installation(household)
    if current is not None:
        raise AlreadyEquipped(current)
    resident = next((p for p in members_of(household) if p.pk == resident_id), None)
    if resident is None:
        raise ValueError(_("Choose the resident among the members of the household."))
    try:
        installation = create_installation(
            household, resident, code=code,
            devices=[(d.code, d.kind, d.friendly_name) for d in devices],
            contacts=[(c.name, c.relation, c.phone, c.notify_url) for c in contacts])
    except IntegrityError:
        raise _taken() from None
    policy.record(actor, AuditAction.CREATE, "telecare_installation", installation.pk,
                  household.pk, detail=f"devices +{len(devices)}; contacts +{len(contacts)}")
    return installation


@dataclass
class Equipment:
    installation: Installation
    devices: list[Device]
    contacts: list[Contact]


def equipment(actor: Actor, installation_id: int) -> Equipment:
    """A home's devices and contacts, for an agent who may change them (read audited)."""
    installation = policy.guard_installation(actor, installation_id)
    policy.guard_equipment(actor, installation.household_id, installation.pk)
    policy.record(actor, AuditAction.READ, "telecare_installation", installation.pk,
                  installation.household_id, detail="equipment")
    return Equipment(installation, list(installation.devices.all()),
                     list(installation.contacts.all()))


@policy.atomic
def update_equipment(actor: Actor, installation_id: int, *, active: bool,
                     devices: Sequence[DeviceLine], contacts: Sequence[ContactLine]
                     ) -> Installation:
    """Make a home's devices and contacts those listed, contacts called in the order listed:
    lines with a `pk` change that one, lines without are added, and what is not listed is
    removed (a device with its readings). Audited."""
    installation = policy.guard_installation(actor, installation_id)
    policy.guard_equipment(actor, installation.household_id, installation.pk)
    installation = Installation.objects.select_for_update().get(pk=installation.pk)
    try:
        devices_changed = _replace_devices(installation, devices)
        contacts_changed = _replace_contacts(installation, contacts)
    except IntegrityError:
        raise _taken() from None
    installation.active = active
    installation.save(update_fields=["active", "updated_at"])
    policy.record(actor, AuditAction.UPDATE, "telecare_installation", installation.pk,
                  installation.household_id,
                  detail=f"devices {devices_changed}; contacts {contacts_changed}; "
                         f"{'active' if active else 'inactive'}")
    return installation


def _check_listed(existing: dict[int, Any], lines: Sequence[DeviceLine | ContactLine],
                  message: str) -> set[int]:
    listed = {line.pk for line in lines if line.pk is not None}
    if listed - set(existing):  # removed by someone else since the form was shown
        raise ValueError(message)
    return listed


def _replace_devices(installation: Installation, lines: Sequence[DeviceLine]) -> str:
    existing = {d.pk: d for d in installation.devices.all()}
    listed = _check_listed(existing, lines, _(
        "A device listed is no longer in this home; reload the page."))
    gone = set(existing) - listed
    Device.objects.filter(pk__in=gone).delete()
    changed = []
    for line in lines:
        device = existing.get(line.pk) if line.pk is not None else None
        if device is None or (device.code, device.kind, device.friendly_name) == (
                line.code, line.kind, line.friendly_name):
            continue
        if device.label == device.code:
            device.label = line.code
        device.code, device.kind, device.friendly_name = line.code, line.kind, line.friendly_name
        changed.append(device)
    # A name may move from one device of the home to another: free them before giving them.
    Device.objects.filter(pk__in=[d.pk for d in changed]).update(friendly_name=None)
    for device in changed:
        device.save(update_fields=["code", "kind", "friendly_name", "label"])
    new = Device.objects.bulk_create(
        Device(installation=installation, code=line.code, kind=line.kind,
               friendly_name=line.friendly_name, label=line.code)
        for line in lines if line.pk is None)
    return f"+{len(new)} ~{len(changed)} -{len(gone)}"


def _replace_contacts(installation: Installation, lines: Sequence[ContactLine]) -> str:
    existing = {c.pk: c for c in installation.contacts.all()}
    listed = _check_listed(existing, lines, _(
        "A contact listed is no longer in this home; reload the page."))
    gone = set(existing) - listed
    Contact.objects.filter(pk__in=gone).delete()
    added = changed = 0
    for position, line in enumerate(lines, start=1):
        values = {"position": position, "name": line.name, "relation": line.relation,
                  "phone": line.phone, "notify_url": line.notify_url}
        contact = existing.get(line.pk) if line.pk is not None else None
        if contact is None:
            Contact.objects.create(installation=installation, **values)
            added += 1
        elif any(getattr(contact, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(contact, k, v)
            contact.save()
            changed += 1
    return f"+{added} ~{changed} -{len(gone)}"


def learn_profile(installation_id: int, now: dt.datetime, days: int = 28) -> list[int]:
    """Learn, from the last weeks of motion readings, how long this person usually stays
    still after moving at each hour of the day."""
    motions = (Reading.objects.filter(device__installation_id=installation_id, metric=1,
                                      value__gte=1, at__gte=now - dt.timedelta(days=days),
                                      at__lte=now)
               .values_list("at", flat=True).order_by("at").iterator(chunk_size=5000))
    profile = rules.learn_profile(motions)
    # Too little history yet (a new home, a demo still replaying): try again in an hour.
    learned_at = now if any(profile) else now - dt.timedelta(hours=23)
    Installation.objects.filter(pk=installation_id).update(profile=profile,
                                                            profile_learned_at=learned_at)
    return profile


def stale_profiles(now: dt.datetime, limit: int = 20) -> list[int]:
    """Installations whose habits were last learnt more than a day ago."""
    return list(Installation.objects.filter(
        Q(profile_learned_at__isnull=True) | Q(profile_learned_at__lt=now - dt.timedelta(days=1)),
        active=True).values_list("pk", flat=True)[:limit])



# --- for the welfare map ---------------------------------------------------------------------

def open_alert_severities(household_ids: Collection[int] | None = None) -> dict[int, int]:
    """The highest severity of each household's unresolved alerts (households with none are
    left out); all households when `household_ids` is None."""
    alerts = Alert.objects.filter(OPEN)
    if household_ids is not None:
        alerts = alerts.filter(installation__household_id__in=household_ids)
    return dict(alerts.values("installation__household_id")
                .annotate(top=Max("severity"))
                .values_list("installation__household_id", "top"))


def open_alert_count(household_id: int) -> int:
    """How many alerts are unresolved in the household's home."""
    return Alert.objects.filter(OPEN, installation__household_id=household_id).count()


def household_of_installation(installation_id: int) -> int | None:
    return (Installation.objects.filter(pk=installation_id)
            .values_list("household_id", flat=True).first())
