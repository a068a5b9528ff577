"""`entraide screening import|synth|keys|run|schedule|purge`: the screening chores."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from entraide.screening import imports, runs, services, synth
from entraide.secrecy.rights import system_actor


class Command(BaseCommand):
    help = "Screening chores: imports, synthetic feeds, runs, purge of what is past retention."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("purge", help="Delete feed months past their source's retention.")
        sub.add_parser("keys", help="Compute the households' link keys (each run does it too).")
        schedule = sub.add_parser("schedule", help="Run a screening every so many days, "
                                                   "forever (purge and training included).")
        schedule.add_argument("--every-days", type=float, default=60)
        schedule.add_argument("--leads-per-team", type=int, default=25)
        schedule.add_argument("--check-minutes", type=float, default=60,
                              help="How often to look whether a run is due (60).")
        feed = sub.add_parser("import", help="Import a provider's file (CSV or Parquet) into "
                                             "its source's feed, line by line.")
        feed.add_argument("source", help="Code of the data source.")
        feed.add_argument("file", type=Path, help="The CSV or Parquet file.")
        fake = sub.add_parser("synth", help="Synthetic feeds with a hidden truth, for the demo, "
                                            "tests and benchmark.")
        fake.add_argument("--households", type=int,
                          help="How many households (default: every household of the "
                               "database; required with --no-db).")
        fake.add_argument("--seed", type=int, default=42)
        fake.add_argument("--months", type=int, default=2, help="Months per source (default 2).")
        fake.add_argument("--end", help="Last month, YYYY-MM (default: last complete month).")
        fake.add_argument("--out", type=Path, help="Folder to write to.")
        fake.add_argument("--no-db", action="store_true",
                          help="Benchmark mode: population, link keys, feeds and truth as "
                               "Parquet only, nothing in the database.")
        fake.add_argument("--import", dest="import_files", action="store_true",
                          help="Import the provider files written into the feeds at once.")
        screen = sub.add_parser("run", help="Score every household and send leads to teams.")
        screen.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
        screen.add_argument("--model", choices=runs.MODELS, default="scorecard",
                            help="Which score chooses the leads.")
        screen.add_argument("--leads-per-team", type=int,
                            help="At most this many leads per team (the visits it can make).")
        screen.add_argument("--threshold", type=float,
                            help="Lowest score of a lead (default: 8 points, or a probability "
                                 "of 0.5; none with --leads-per-team).")
        screen.add_argument("--train", action="store_true",
                            help="Train a new learned model first from the recorded outcomes "
                                 "(in a demo without them, from the synthetic truth).")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _purge(self, options: dict[str, Any]) -> None:
        for source, periods in services.purge().items():
            self.stdout.write(f"{source}: {', '.join(periods) or 'nothing'} deleted")

    def _keys(self, options: dict[str, Any]) -> None:
        counts = services.refresh_link_keys(system_actor())
        self.stdout.write(f"Link keys: {counts['added']} added, {counts['removed']} removed.")

    def _schedule(self, options: dict[str, Any]) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"Screening every {options['every_days']:g} days; Ctrl-C stops.")
        while not stop.is_set():
            try:
                screening = runs.scheduled(system_actor(), timezone.now(),
                                           options["every_days"],
                                           leads_per_team=options["leads_per_team"])
            except Exception as error:  # the next check tries again; the loop goes on
                logging.getLogger(__name__).exception("scheduled screening failed")
                self.stderr.write(f"Scheduled screening failed: {error}")
            else:
                if screening is not None:
                    self.stdout.write(f"Run {screening.pk}: {screening.leads} leads.")
            finally:
                close_old_connections()
            stop.wait(options["check_minutes"] * 60)

    def _import(self, options: dict[str, Any]) -> None:
        try:
            report = imports.import_file(options["source"], options["file"])
        except imports.ImportRefused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(imports.describe(report))

    def _synth(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        if options["no_db"]:
            if not options["households"] or not options["out"]:
                raise CommandError("--no-db needs --households and --out.")
            written = synth.without_database(options["households"], options["out"],
                                             options["seed"], options["months"], options["end"])
        else:
            written = synth.with_database(options["households"], options["seed"],
                                          options["months"], options["out"], options["end"])
        self.stdout.write(f"{written.households} households ({written.in_crisis} in crisis, "
                          f"hidden in {written.truth}), {len(written.files)} files in "
                          f"{time.perf_counter() - started:.1f} s.")
        if options["import_files"] and not options["no_db"]:
            for path in written.files:
                report = imports.import_file(path.name.split("-", 1)[0], path)
                self.stdout.write(imports.describe(report))

    def _run(self, options: dict[str, Any]) -> None:
        try:
            if options["train"]:
                model = runs.train()
                self.stdout.write(f"Model {model.name} trained on {model.rows} households "
                                  f"({model.origin}).")
            screening = runs.run(system_actor(), engine_name=options["engine"],
                                 model=options["model"],
                                 leads_per_team=options["leads_per_team"],
                                 threshold=options["threshold"])
        except runs.RunRefused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(f"Run {screening.pk}: {screening.households} households scored, "
                          f"{screening.leads} leads ({screening.model}, {screening.engine}).")
        for origin in ("truth", "outcomes"):
            report = screening.evaluation.get(origin, {})
            figures = ", ".join(f"{name} {report[name]['precision_at_k']}"
                                for name in ("scorecard", "learned", "random") if name in report)
            if figures:
                self.stdout.write(f"Precision at {report['k']} ({origin}): {figures}.")
