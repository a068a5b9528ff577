"""`entraide keys status|rotate`: the master keys that wrap the households' data keys."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from entraide.secrecy import crypto


class Command(BaseCommand):
    help = ("status: which master keys wrap how many data keys. rotate: re-wrap every data "
            "key under a new master key (resumes an interrupted rotation).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "rotate"])
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--retire", action="store_true",
                            help="After rotating, delete the key files no longer in use.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status()
            return
        from_env = bool(os.environ.get("ENTRAIDE_MASTER_KEY"))
        ring = crypto.keyring()
        pending = set(crypto.master_key_ids_in_use()) - {ring.current_id}
        if not pending:
            if from_env:
                raise CommandError(
                    "Every data key is already wrapped by ENTRAIDE_MASTER_KEY. To rotate, set "
                    "ENTRAIDE_MASTER_KEY to a new key and ENTRAIDE_PREVIOUS_MASTER_KEYS to the "
                    "old one, then run this again.")
            new_id = crypto.new_master_key_file()
            self.stdout.write(f"New master key {new_id} is now current.")
        else:
            self.stdout.write(f"Resuming: {len(pending)} earlier master key(s) still in use.")

        def progress(done: int, total: int) -> None:
            self.stderr.write(f"  re-wrapped {done}/{total} data keys")

        count = crypto.rotate(batch_size=options["batch_size"], after_batch=progress)
        self.stdout.write(self.style.SUCCESS(
            f"{count} data keys re-wrapped under {crypto.keyring().current_id}; "
            "earlier master keys are no longer needed."))
        if options["retire"] and not from_env:
            for path in crypto.retire_unused_key_files():
                self.stdout.write(f"Deleted {path}")

    def _status(self) -> None:
        ring = crypto.keyring()
        counts = Counter(crypto.master_key_ids_in_use(counted=True))
        self.stdout.write(f"current master key: {ring.current_id}")
        for key_id, n in sorted(counts.items()):
            mark = " (current)" if key_id == ring.current_id else ""
            self.stdout.write(f"  {key_id}{mark}: {n} data keys")
