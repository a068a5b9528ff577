"""`entraide territory refresh|communes|demo`: the welfare map's chores."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from entraide.org.models import Organisation, Territory
from entraide.territory import communes, crisis, demo


class Command(BaseCommand):
    help = "Welfare map chores: crisis levels, commune boundaries, demo offices and services."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        refresh = sub.add_parser("refresh", help="Recompute every household's crisis level "
                                                 "(daily: actions fall overdue with no event).")
        refresh.add_argument("--every-minutes", type=float,
                             help="Keep running, recomputing this often.")
        boundaries = sub.add_parser("communes", help="Import commune boundaries from GeoJSON, "
                                                     "or draw missing ones around addresses.")
        boundaries.add_argument("--geojson", type=Path, help="A FeatureCollection of polygons.")
        boundaries.add_argument("--territory", help="Code of the territory they belong to.")
        boundaries.add_argument("--code-field", default="code")
        boundaries.add_argument("--name-field", default="name")
        sub.add_parser("demo", help="Offices, drawn communes, services and levels for the demo.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "refresh":
            self._refresh(options["every_minutes"])
        elif action == "communes":
            self._communes(options)
        else:
            from entraide.territory.demo_services import seed_services

            offices = demo.seed_offices()
            drawn = communes.derive()
            organisation = Organisation.objects.order_by("pk").first()
            services = seed_services(organisation) if organisation else 0
            levels = crisis.refresh()
            self.stdout.write(f"Welfare map: {offices} offices, {drawn} communes drawn, "
                              f"{services} services added, {levels} crisis levels.")

    def _refresh(self, every_minutes: float | None) -> None:
        while True:
            started = time.monotonic()
            count = crisis.refresh()
            self.stdout.write(f"{count} crisis levels computed in "
                              f"{time.monotonic() - started:.1f} s.")
            if every_minutes is None:
                return
            time.sleep(every_minutes * 60)

    def _communes(self, options: dict[str, Any]) -> None:
        if options["geojson"] is None:
            self.stdout.write(f"{communes.derive()} communes drawn around their addresses.")
            return
        try:
            territory = Territory.objects.get(code=options["territory"] or "")
        except Territory.DoesNotExist:
            raise CommandError("Give --territory CODE: the territory these communes belong "
                               "to.") from None
        try:
            report = communes.import_geojson(options["geojson"], territory.pk,
                                             options["code_field"], options["name_field"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{report.kept} communes kept, {len(report.refused)} refused.")
        for reason in report.refused:
            self.stdout.write(f"  refused: {reason}")
