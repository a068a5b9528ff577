"""`entraide seed`: fill the database with a synthetic département to demonstrate Entraide."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from entraide.cases import demo


class Command(BaseCommand):
    help = "Create a synthetic département: agents, demo logins, households and case histories."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--households", type=int, default=5000,
                            help="Number of households to create (default 5000).")
        parser.add_argument("--seed", type=int, default=42,
                            help="Random seed; the same seed gives the same département.")

    def handle(self, *args: Any, **options: Any) -> None:
        if demo.is_seeded():
            self.stdout.write("The database is already seeded: the demo logins exist.")
            self._print_logins()
            return
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            self.stderr.write(f"  {done}/{total} households ({elapsed:.1f} s)")

        counts = demo.seed(options["households"], options["seed"], progress=progress)
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{n} {label.split('.')[-1]}" for label, n in sorted(counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Seeded in {elapsed:.1f} s: {summary}."))
        self._print_logins()

    def _print_logins(self) -> None:
        """Print the demo accounts table and their shared password."""
        rows = [("username", "role", "territory"), *demo.demo_logins()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        self.stdout.write("")
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        self.stdout.write(f"\nPassword for every account: {demo.DEMO_PASSWORD}")
