"""Forms of telecare: equipping a home, and its devices and contacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import apprise
from django import forms
from django.core.validators import RegexValidator
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from entraide.people.models import Person

from . import notify  # noqa: F401  (registers capture://, the scheme for trying a set-up)
from .models import Contact, ContactRelation, Device, DeviceKind, Installation
from .services import ContactLine, DeviceLine

MAX_DEVICES = 30
MAX_CONTACTS = 10


class EquipForm(forms.Form):
    resident = forms.TypedChoiceField(
        label=_("Resident"), coerce=int,
        help_text=_("The person living alone whom the sensors watch over."))
    code = forms.SlugField(
        label=_("Home code"), max_length=40, required=False,
        help_text=_("Used in MQTT topics: entraide/<code>/<device>. Left empty, one is made "
                    "up."))

    def __init__(self, *args: Any, members: Sequence[Person], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resident = cast(forms.TypedChoiceField, self.fields["resident"])
        resident.choices = [(p.pk, str(p)) for p in members]

    def clean_code(self) -> str | None:
        code: str = self.cleaned_data["code"]
        if code and Installation.objects.filter(code=code).exists():
            raise forms.ValidationError(_("Another home already has this code."))
        return code or None


class EditForm(forms.Form):
    active = forms.BooleanField(
        label=_("Home monitored"), required=False,
        help_text=_("When unticked, the home's sensors are no longer followed and raise no "
                    "alert."))


def _kept(formset: forms.BaseFormSet) -> list[forms.Form]:
    """The rows to keep: those already there and not ticked for removal, and new ones
    filled in (blank new rows are left out)."""
    return [f for f in formset.forms
            if not f.cleaned_data.get("DELETE")
            and (f in formset.initial_forms or f.has_changed())]


class DeviceForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    code = forms.SlugField(label=_("Device code"), max_length=40)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", "—"), *DeviceKind.choices])
    friendly_name = forms.CharField(label=capfirst(_("Zigbee2MQTT friendly name")),
                                    max_length=120, required=False, empty_value=None)


class BaseDeviceFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        """Each code once in the home, each Zigbee2MQTT name once among all devices."""
        if any(self.errors):
            return
        kept = _kept(self)
        listed = [f.cleaned_data["id"] for f in self.forms if f.cleaned_data.get("id")]
        names = [f.cleaned_data["friendly_name"] for f in kept if f.cleaned_data["friendly_name"]]
        taken = set(Device.objects.filter(friendly_name__in=names).exclude(pk__in=listed)
                    .values_list("friendly_name", flat=True))
        codes: set[str] = set()
        seen: set[str] = set()
        for form in kept:
            code, name = form.cleaned_data["code"], form.cleaned_data["friendly_name"]
            if code in codes:
                form.add_error("code", _("Two devices of this home have this code."))
            if name in taken:
                form.add_error("friendly_name", _(
                    "Another device already has this Zigbee2MQTT name: give each device its "
                    "own (rename it in Zigbee2MQTT if needed)."))
            elif name and name in seen:
                form.add_error("friendly_name",
                               _("Two devices of this home have this Zigbee2MQTT name."))
            codes.add(code)
            seen.add(name)

    def lines(self) -> list[DeviceLine]:
        return [DeviceLine(f.cleaned_data["code"], f.cleaned_data["kind"],
                           f.cleaned_data["friendly_name"], f.cleaned_data["id"])
                for f in _kept(self)]


phone_number = RegexValidator(r"^\+?[0-9][0-9 .()-]{1,28}$",
                              _("Enter a phone number: digits, spaces, dots or dashes."))


class ContactForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    position = forms.IntegerField(
        label=_("Order"), min_value=1, max_value=99, required=False,
        widget=forms.NumberInput(attrs={"class": "order", "inputmode": "numeric"}))
    name = forms.CharField(label=_("Name"), max_length=150)
    relation = forms.ChoiceField(label=_("Relation"),
                                 choices=[("", "—"), *ContactRelation.choices])
    # Someone else's number: the browser must not offer the agent's own.
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False,
                            validators=[phone_number],
                            widget=forms.TextInput(attrs={"inputmode": "tel",
                                                          "autocomplete": "off"}))
    notify_url = forms.CharField(
        label=_("Notification address (Apprise URL, optional)"), max_length=500,
        required=False)

    def clean_notify_url(self) -> str:
        url: str = self.cleaned_data["notify_url"].strip()
        if url and not apprise.Apprise().add(url):
            raise forms.ValidationError(_("Not an Apprise URL Entraide can use."))
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("phone") and not data.get("notify_url") and not self.errors:
            raise forms.ValidationError(_("Give a phone number or a notification address: "
                                          "a contact must be reachable."))
        return data


class BaseContactFormSet(forms.BaseFormSet):
    def lines(self) -> list[ContactLine]:
        """The contacts kept, in calling order: by the order given, then as listed."""
        kept = [(f.cleaned_data["position"] or MAX_CONTACTS * 10, index, f.cleaned_data)
                for index, f in enumerate(_kept(self))]
        return [ContactLine(data["name"], data["relation"], data["phone"], data["notify_url"],
                            data["id"]) for _position, _index, data in sorted(kept)]


def device_formset(data: Any = None, devices: Sequence[Device] = (), extra: int = 1
                   ) -> BaseDeviceFormSet:
    formset = forms.formset_factory(DeviceForm, formset=BaseDeviceFormSet, extra=extra,
                                    can_delete=True, max_num=MAX_DEVICES, validate_max=True)
    initial = [{"id": d.pk, "code": d.code, "kind": d.kind, "friendly_name": d.friendly_name}
               for d in devices]
    return cast(BaseDeviceFormSet, formset(data, initial=initial, prefix="devices"))


def contact_formset(data: Any = None, contacts: Sequence[Contact] = (), extra: int = 1
                    ) -> BaseContactFormSet:
    formset = forms.formset_factory(ContactForm, formset=BaseContactFormSet, extra=extra,
                                    can_delete=True, max_num=MAX_CONTACTS, validate_max=True)
    initial = [{"id": c.pk, "position": c.position, "name": c.name, "relation": c.relation,
                "phone": c.phone, "notify_url": c.notify_url} for c in contacts]
    return cast(BaseContactFormSet, formset(data, initial=initial, prefix="contacts"))
