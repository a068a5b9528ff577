"""Ids an agent sends to choose an object (an action's owner, a file's referent), checked
against the choices offered: one refusal naming the field whether the id names nothing or
something out of the agent's reach, so that a refusal never tells what exists."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _


def chosen_id(choices: QuerySet[Any], pk: int | None, field: str) -> int | None:
    """`pk` if it is one of `choices` (None stays None: nothing chosen); refused otherwise."""
    if pk is not None and not choices.filter(pk=pk).exists():
        raise ValidationError({field: _("%(id)s is not one of the choices here.") % {"id": pk}})
    return pk
