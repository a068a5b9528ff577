"""Optimistic concurrency: a save based on an old version is refused, never overwritten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.http import Http404, QueryDict
from django.utils.translation import gettext as _

from entraide.secrecy.sealed import seal_changes, sealed_fields

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class FieldChange:
    """A field whose stored value differs from what the agent submitted."""

    field: str
    label: str
    stored: Any
    submitted: Any


class StaleEdit(Exception):
    """Someone saved the record after the agent opened it; nothing was written."""

    def __init__(self, current: Any, current_version: int, submitted_version: int,
                 changes: list[FieldChange]):
        self.current = current
        self.current_version = current_version
        self.submitted_version = submitted_version
        self.changes = changes
        super().__init__(
            _(
                "This record was changed by someone else after you opened it "
                "(now version %(now)s, you had version %(yours)s). Your changes were not "
                "saved: check the differences below and save again."
            )
            % {"now": current_version, "yours": submitted_version}
        )


def _label(model: type[models.Model], name: str) -> str:
    if (sealed := sealed_fields(model).get(name)) is not None:
        return str(sealed.verbose_name or name)
    field = model._meta.get_field(name.removesuffix("_id"))
    return str(getattr(field, "verbose_name", name))


def save_if_current(model: type[M], pk: int, version: int, changes: dict[str, Any]) -> M:
    """Apply changes only if the stored version is still `version`; raise StaleEdit otherwise."""
    required = [name for name, value in changes.items()
                if value is None and not getattr(model._meta.get_field(name), "null", True)]
    if required:  # the database would refuse it: say which field, before writing anything
        raise ValidationError({name: _("This field is required.") for name in required})
    with transaction.atomic():
        columns = dict(changes)
        if sealed_fields(model).keys() & changes.keys():
            row = model._default_manager.filter(pk=pk).first()
            if row is None:
                raise Http404(_("This record no longer exists."))
            columns = seal_changes(row, changes)
        updated = model._default_manager.filter(pk=pk, version=version).update(
            **columns, version=F("version") + 1
        )
        try:
            current = model._default_manager.get(pk=pk)
        except model.DoesNotExist:  # type: ignore[attr-defined]
            raise Http404(_("This record no longer exists.")) from None
    if not updated:
        differing = [
            FieldChange(name, _label(model, name), getattr(current, name), value)
            for name, value in changes.items()
            if getattr(current, name) != value
        ]
        raise StaleEdit(current, current.version, version, differing)  # type: ignore[attr-defined]
    return current


def resubmittable(data: QueryDict, stale: StaleEdit, field: str = "version") -> QueryDict:
    """What the agent submitted, now based on the current version: saving it again works."""
    data = data.copy()
    data[field] = str(stale.current_version)
    return data
