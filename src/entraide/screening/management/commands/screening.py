"""`entraide screening purge|...`: the screening chores."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from entraide.screening import services


class Command(BaseCommand):
    help = "Screening chores: imports, synthetic feeds, runs, purge of what is past retention."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("purge", help="Delete feed months past their source's retention.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _purge(self, options: dict[str, Any]) -> None:
        for source, periods in services.purge().items():
            self.stdout.write(f"{source}: {', '.join(periods) or 'nothing'} deleted")
