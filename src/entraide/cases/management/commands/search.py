"""`entraide search reindex`: recompute the notes' blind index (after a change to how words
are cut into terms, such as Korean particles), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from entraide.cases import services
from entraide.secrecy.rights import system_actor


def progress_file() -> Path:
    return Path(settings.DATA_DIR) / "search-reindex.progress"


class Command(BaseCommand):
    help = "Search index maintenance."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        reindex = actions.add_parser(
            "reindex", help="Recompute every current note's search terms; a run stopped "
                            "midway resumes where it stopped.")
        reindex.add_argument("--batch", type=int, default=500,
                             help="Notes per committed batch (default 500).")
        reindex.add_argument("--restart", action="store_true",
                             help="Start again from the first note, ignoring progress kept.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = progress_file()
        after = 0 if options["restart"] or not path.exists() else int(path.read_text() or 0)
        if after:
            self.stdout.write(f"Resuming after note {after}.")

        def keep(done: services.Reindexed) -> None:
            path.write_text(str(done.last_note_id))

        done = services.reindex_notes(system_actor(), after, options["batch"], keep)
        path.unlink(missing_ok=True)
        self.stdout.write(f"Search index rebuilt: {done.notes} notes, "
                          f"{done.korean} with Korean words.")
