"""`entraide retention apply [--dry-run]`: anonymise closed case files past their retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from entraide.secrecy import rights


class Command(BaseCommand):
    help = ("apply: anonymise the households whose case files were closed more than "
            "ENTRAIDE_RETENTION_CLOSED_YEARS years ago (members' identity, street address, "
            "clear texts; their key is shredded so notes become unreadable). Prints the plan "
            "first; --dry-run prints it and changes nothing.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["apply"])
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what would be anonymised; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        plan = rights.retention_plan(timezone.now())
        for item in plan:
            self.stdout.write(item.describe())
        due = [item for item in plan if item.to_anonymise]
        households = {item.household_id for item in due}
        self.stdout.write(
            f"Total: {len(due)} case files to anonymise ({len(households)} households), "
            f"{len(plan) - len(due)} kept; retention {rights.retention_years()} years.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        applied = rights.apply_retention(rights.system_actor(), plan)
        self.stdout.write(self.style.SUCCESS(
            f"{len(applied)} case files anonymised "
            f"({len({item.household_id for item in applied})} households)."))
        if skipped := len(due) - len(applied):
            self.stdout.write(self.style.WARNING(
                f"{skipped} case files skipped: reopened or changed since the plan was made."))
