"""Forms of the case file."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import (
    ActionStatus,
    CaseStatus,
    Domain,
    GoalStatus,
    Level,
    NoteKind,
    ReferralStatus,
)


class NoteForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=NoteKind.choices)
    body = forms.CharField(label=_("Text"), max_length=20000,
                           widget=forms.Textarea(attrs={"rows": 6}))
    sensitive = forms.BooleanField(
        label=_("Sensitive (health, violence, minors): only me and the referent can read it"),
        required=False)


class CorrectionForm(NoteForm):
    version_no = forms.IntegerField(widget=forms.HiddenInput)


class AssessmentForm(forms.Form):
    """One level and comment per domain; a domain left empty keeps its previous level."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        choices = [("", "—"), *Level.choices]
        for value, label in Domain.choices:
            self.fields[f"{value}_level"] = forms.TypedChoiceField(
                label=label, choices=choices, coerce=int, required=False, empty_value=None)
            self.fields[f"{value}_comment"] = forms.CharField(
                label=_("Comment on %(domain)s") % {"domain": label}, max_length=1000,
                required=False)

    def levels(self) -> dict[str, tuple[int, str]]:
        return {d: (self.cleaned_data[f"{d}_level"], self.cleaned_data[f"{d}_comment"])
                for d in Domain.values if self.cleaned_data.get(f"{d}_level")}

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not any(data.get(f"{d}_level") for d in Domain.values):
            raise forms.ValidationError(_("Give a level for at least one domain."))
        return data

    def rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"{d}_level"], self[f"{d}_comment"]) for d in Domain.values]


class GoalForm(forms.Form):
    domain = forms.ChoiceField(label=_("Domain"), choices=Domain.choices)
    title = forms.CharField(label=_("Goal"), max_length=300)


class GoalStatusForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(label=_("Status"), choices=GoalStatus.choices)


class ActionForm(forms.Form):
    title = forms.CharField(label=_("Action"), max_length=300)
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False,
                                   empty_value=None)
    due_date = forms.DateField(label=_("Due date"), required=False,
                               widget=forms.DateInput(attrs={"type": "date"}))


class ActionEditForm(ActionForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(label=_("Status"), choices=ActionStatus.choices)


class ReferralForm(forms.Form):
    service = forms.CharField(label=_("Service"), max_length=200)
    reason = forms.CharField(label=_("Reason"), max_length=1000)


class ReferralStatusForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(label=_("Status"), choices=ReferralStatus.choices)


class CaseFileForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    referent = forms.TypedChoiceField(label=_("Referent"), coerce=int, required=False,
                                      empty_value=None)
    status = forms.ChoiceField(label=_("Status"), choices=CaseStatus.choices)


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Words or name"), min_length=2, max_length=200)
