"""`entraide person export ID`: everything held on a person, for a rights request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from entraide.secrecy import rights


class Command(BaseCommand):
    help = ("export ID: everything held on a person (identity, households, case files with "
            "every note in clear, visits, consents, who accessed their file), as JSON or a "
            "printable HTML page. Acts as the system DPO account; the export is audited.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export"])
        parser.add_argument("person_id", type=int)
        parser.add_argument("--format", choices=["json", "html"], default="json")
        parser.add_argument("--output", help="File to write (readable by its owner only); "
                            "standard output if not given.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = rights.export_person(rights.system_actor(), options["person_id"])
        except (Http404, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if options["format"] == "json":
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        else:
            text = rights.render_export_html(data)
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        path = Path(options["output"])
        path.touch(mode=0o600)
        path.write_text(text, encoding="utf-8")
        self.stderr.write(f"Everything held on person {options['person_id']} written to {path}.")
