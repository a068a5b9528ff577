"""Keep crisis levels in step: when an alert, a lead, an assessment, a plan action or a case
file changes, the household's level is recomputed once the change is committed."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from entraide.cases.models import Action, Assessment, CaseFile
from entraide.people.models import Household
from entraide.screening.models import Lead, ScreeningRun
from entraide.telecare.models import Alert

log = logging.getLogger(__name__)


def refresh_later(household_ids: Collection[int]) -> None:
    """Recompute these households' levels after the current transaction commits; a failure
    is logged and never undoes the change that caused it."""
    from . import crisis

    ids = [i for i in household_ids if i is not None]
    if ids:
        transaction.on_commit(lambda: crisis.refresh(ids), robust=True)


@receiver(post_save, sender=Alert)
def _alert(sender: Any, instance: Alert, **kwargs: Any) -> None:
    from entraide.telecare.services import household_of_installation

    household_id = household_of_installation(instance.installation_id)
    if household_id is not None:
        refresh_later([household_id])


@receiver(post_save, sender=Lead)
def _lead(sender: Any, instance: Lead, **kwargs: Any) -> None:
    refresh_later([instance.household_id])


@receiver(post_save, sender=ScreeningRun)
def _run(sender: Any, instance: ScreeningRun, created: bool, **kwargs: Any) -> None:
    # Leads are bulk-created beside the run, in the same transaction: read them at commit.
    if created:
        run_id = instance.pk

        def refresh_run() -> None:
            from . import crisis

            crisis.refresh(list(Lead.objects.filter(run_id=run_id)
                                .values_list("household_id", flat=True)))

        transaction.on_commit(refresh_run, robust=True)


@receiver(post_save, sender=Assessment)
def _assessment(sender: Any, instance: Assessment, **kwargs: Any) -> None:
    refresh_later([CaseFile.objects.values_list("household_id", flat=True)
                   .get(pk=instance.case_file_id)])


@receiver(post_save, sender=Action)
def _action(sender: Any, instance: Action, **kwargs: Any) -> None:
    refresh_later(list(CaseFile.objects.filter(goals__actions=instance)
                       .values_list("household_id", flat=True)))


@receiver(post_save, sender=CaseFile)
def _case_file(sender: Any, instance: CaseFile, **kwargs: Any) -> None:
    refresh_later([instance.household_id])


@receiver(post_save, sender=Household)
def _household(sender: Any, instance: Household, created: bool, **kwargs: Any) -> None:
    # A move changes where the household shows on the map.
    refresh_later([instance.pk])
