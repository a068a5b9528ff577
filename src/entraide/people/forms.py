"""Forms of the reception desk."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ConsentPurpose, Household, Person, Relationship


class CandidateSearchForm(forms.Form):
    q = forms.CharField(label=_("Name (first and last, any order)"), min_length=2, max_length=200)
    birth_date = forms.DateField(label=_("Birth date (if known)"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))


def _check_birth_date(value: dt.date | None) -> dt.date | None:
    if value and (value > dt.date.today() or value.year < 1900):
        raise forms.ValidationError(_("A birth date must be between 1900 and today."))
    return value


class PersonForm(forms.ModelForm):
    identity_number = forms.CharField(
        label=_("Identity number (social security, ID card)"), max_length=30, required=False,
        help_text=_("Stored encrypted."))

    class Meta:
        model = Person
        fields = ["first_name", "last_name", "birth_date", "sex", "phone", "email"]
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def clean_birth_date(self) -> dt.date | None:
        return _check_birth_date(self.cleaned_data.get("birth_date"))


class PersonEditForm(PersonForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class AddressForm(forms.Form):
    address = forms.CharField(label=_("Address"), max_length=200)
    postcode = forms.RegexField(label=_("Postcode"), regex=r"^[0-9A-Za-z -]{3,10}$",
                                error_messages={"invalid": _("Enter a valid postcode.")})
    commune = forms.CharField(label=_("Commune"), max_length=100)
    latitude = forms.FloatField(label=_("Latitude (optional)"), required=False,
                                min_value=-90, max_value=90)
    longitude = forms.FloatField(label=_("Longitude (optional)"), required=False,
                                 min_value=-180, max_value=180)


class IntakeReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the visit"), max_length=300)


class MemberForm(PersonForm):
    relationship = forms.ChoiceField(label=_("Relationship"), choices=Relationship.choices)

    class Meta(PersonForm.Meta):
        pass


class MergeForm(forms.Form):
    keep = forms.IntegerField(widget=forms.HiddenInput)
    duplicate = forms.IntegerField(widget=forms.HiddenInput)


class HouseholdForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Household
        fields = ["address", "postcode", "commune", "latitude", "longitude"]


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Purpose"), choices=ConsentPurpose.choices)
    given = forms.TypedChoiceField(label=_("Answer"), coerce=lambda v: v == "yes",
                                   choices=[("yes", _("Agrees")),
                                            ("no", _("Refuses or withdraws"))])
