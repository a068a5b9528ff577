"""`entraide bench NAME`: run benchmarks/NAME.py and print its measures as one JSON line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def benchmarks_dir() -> Path:
    """The repository's benchmarks/ folder, next to src/."""
    return Path(settings.PACKAGE_DIR).parents[1] / "benchmarks"


class Command(BaseCommand):
    help = "Run a benchmark from benchmarks/NAME.py; its arguments follow NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Benchmark file name without .py, e.g. cases.")
        parser.add_argument("args", nargs=argparse.REMAINDER,
                            help="Arguments passed to the benchmark's run().")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = benchmarks_dir()
        available = sorted(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))
        name = options["name"]
        if name not in available:
            raise CommandError(
                f"Unknown benchmark {name!r}; available: {', '.join(available) or 'none'}.",
                returncode=2,
            )
        # benchmarks/ is a package beside src/: importable once the checkout root is on the path.
        sys.path.insert(0, str(directory.parent))
        module = importlib.import_module(f"benchmarks.{name}")
        # Django hands the positional "args" option to handle() as *args.
        result = module.run(list(args))
        self.stdout.write(json.dumps(result))
