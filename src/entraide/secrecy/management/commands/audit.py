"""`entraide audit verify|anchor`: check the audit trail's hash chain, print its daily anchors."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from entraide.secrecy import audit_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain, or print the anchors to keep outside the database."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("verify", help="Check every record; exit 1 naming the first broken one.")
        anchor = actions.add_parser(
            "anchor", help="Print the newest days' anchors: day, count, last hash, closed/open.")
        anchor.add_argument("--days", type=int, default=2,
                            help="How many of the newest days with records (default 2).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            result = audit_chain.verify()
            if not result.ok:
                raise CommandError(f"The audit trail is broken: {result.reason} "
                                   f"({result.records_checked} records checked before).",
                                   returncode=1)
            self.stdout.write(f"The audit trail is intact: {result.records_checked} records "
                              "checked.")
            return
        for head in audit_chain.latest_anchors(options["days"]):
            status = "closed" if head.closed else "open"
            self.stdout.write(f"{head.day.isoformat()} {head.count} {head.last_hash} {status}")
