"""Free text about a household, kept encrypted in its row and read back as plain attributes.

A model declares `title = SealedText("case_file.household_id")` beside a
`title_sealed = models.TextField(blank=True)` column: setting `goal.title` seals the text with
the household's data key (secrecy.crypto, bound to this model and field), reading it unseals
it. The row itself is only ever handed out by a service that passed `secrecy.policy`, so the
attribute adds no access of its own; what it guarantees is that the database, its dumps and
its backups hold ciphertext only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


class SealedText(property):
    """A text attribute stored sealed in `<name>_sealed`, keyed by the row's household.

    `household` is the attribute path from the row to its household id
    (`"case_file.household_id"`); select the related rows with the query to avoid one query
    per row. A subclass of `property`, so that Django accepts it as a keyword of the model's
    constructor (`Goal(case_file=..., title=...)`), after the fields it depends on.
    """

    def __init__(self, household: str, verbose_name: Any = "", max_length: int | None = None):
        super().__init__()
        self.household_path = household.split(".")
        self.verbose_name = verbose_name
        self.max_length = max_length
        self.name = ""
        self.column = ""
        self.owner: type[models.Model] | None = None

    def __set_name__(self, owner: type[models.Model], name: str) -> None:
        self.name = name
        self.column = f"{name}_sealed"
        self.owner = owner

    @property
    def purpose(self) -> str:
        """What each ciphertext is bound to: renaming the model or field would make old rows
        unreadable (the model's `_meta` does not exist yet when the attribute is named)."""
        assert self.owner is not None
        return f"{self.owner._meta.app_label}.{self.owner.__name__.lower()}.{self.name}"

    def household_id(self, obj: models.Model) -> int:
        value: Any = obj
        for part in self.household_path:
            value = getattr(value, part)
        return int(value)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        stored = getattr(obj, self.column)
        cache = obj.__dict__.get(f"_clear_{self.name}")
        if cache is not None and cache[0] == stored:
            return cache[1]
        from . import crypto  # at call time: crypto's own models declare sealed texts

        clear = crypto.unseal_or_erased(self.household_id(obj), stored, self.purpose)
        obj.__dict__[f"_clear_{self.name}"] = (stored, clear)
        return clear

    def __set__(self, obj: Any, value: str) -> None:
        sealed = self.seal(obj, value)
        setattr(obj, self.column, sealed)
        obj.__dict__[f"_clear_{self.name}"] = (sealed, value)

    def seal(self, obj: models.Model, value: str | None) -> str:
        """The ciphertext of `value` for this row (whose household must be known)."""
        from . import crypto

        return crypto.seal(self.household_id(obj), value or "", self.purpose)

    def __delete__(self, obj: Any) -> None:
        raise AttributeError(f"{self.name} cannot be deleted")


def create(model: type[M], texts: Mapping[str, str], **fields: Any) -> M:
    """Insert a row whose sealed attributes are given in clear in `texts` (sealed once the
    fields they depend on, such as its case file, are set)."""
    obj = model(**fields)
    for name, value in texts.items():
        setattr(obj, name, value)
    obj.save(force_insert=True)
    return obj


def sealed_fields(model: type[models.Model] | models.Model) -> dict[str, SealedText]:
    """The sealed text attributes a model declares, by name."""
    cls = model if isinstance(model, type) else type(model)
    found: dict[str, SealedText] = {}
    for klass in reversed(cls.__mro__):
        found.update({n: v for n, v in vars(klass).items() if isinstance(v, SealedText)})
    return found


def seal_changes(instance: models.Model, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The column values for `changes` (clear texts of sealed attributes sealed for
    `instance`'s household), ready for `QuerySet.update`."""
    sealed = sealed_fields(instance)
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        if name in sealed:
            columns[sealed[name].column] = sealed[name].seal(instance, value)
        else:
            columns[name] = value
    return columns


def sealed_columns(model: type[models.Model]) -> Iterable[str]:
    """The database columns holding sealed text, for scans and exports."""
    return [field.column for field in sealed_fields(model).values()]


def seal_existing(app_label: str, model_name: str, field: str, household: str,
                  batch_size: int = 2000) -> Any:
    """A migration step that seals a clear column into its `<field>_sealed` twin.

    `household` is the ORM lookup from the row to its household id
    (`"case_file__household_id"`). Runs between adding the sealed column and removing the
    clear one; the ciphertexts are bound exactly as `SealedText` binds them.
    """
    from django.db import migrations

    purpose = f"{app_label}.{model_name}.{field}"

    def forward(apps: Any, schema_editor: Any) -> None:
        from . import crypto

        model = apps.get_model(app_label, model_name)
        rows = model.objects.exclude(**{field: ""}).order_by("pk")
        last = 0
        while batch := list(rows.filter(pk__gt=last).values_list("pk", household, field)
                            [:batch_size]):
            model.objects.bulk_update(
                [model(pk=pk, **{f"{field}_sealed": crypto.seal(int(hid), text, purpose)})
                 for pk, hid, text in batch], [f"{field}_sealed"])
            last = batch[-1][0]

    def backward(apps: Any, schema_editor: Any) -> None:
        from . import crypto

        model = apps.get_model(app_label, model_name)
        for pk, hid, sealed in (model.objects.exclude(**{f"{field}_sealed": ""})
                                .values_list("pk", household, f"{field}_sealed").iterator()):
            model.objects.filter(pk=pk).update(
                **{field: crypto.unseal_or_erased(int(hid), sealed, purpose)})

    return migrations.RunPython(forward, backward, elidable=False)
