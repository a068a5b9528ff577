"""The migration that seals the free texts of existing files: run on a seeded database whose
texts are in clear, it leaves them readable through the models, sealed in the file, and the
audit trail's chain intact."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .rawscan import entraide, sqlite_bytes
from .test_demo_scan import _situation_texts

BEFORE = ["cases", "0003_alter_timelineevent_kind"], ["secrecy", "0002_audit_chain"]

AUDITED_READS = """
from entraide.org.models import User
from entraide.secrecy import policy
actor = policy.Actor(User.objects.get(username="worker"), reason="Relecture avant synthèse")
for household_id in range(1, 21):
    policy.record(actor, "read", "case_file", household_id, household_id)
"""

READ_BACK = """
import json
from entraide.cases.models import Action, Goal, ReceptionEntry, Referral
print(json.dumps({
    "goals": sorted(g.title for g in Goal.objects.select_related("case_file")),
    "actions": sorted(a.title for a in Action.objects.select_related("goal__case_file")),
    "receptions": sorted(r.reason for r in ReceptionEntry.objects.all()),
    "referrals": sorted(f"{r.service}|{r.reason}"
                        for r in Referral.objects.select_related("case_file")),
}))
"""


def _clear_texts(db: sqlite3.Connection) -> dict[str, list[str]]:
    return {
        "goals": sorted(t for (t,) in db.execute("SELECT title FROM cases_goal")),
        "actions": sorted(t for (t,) in db.execute("SELECT title FROM cases_action")),
        "receptions": sorted(t for (t,) in db.execute("SELECT reason FROM cases_receptionentry")),
        "referrals": sorted(f"{s}|{r}" for s, r in db.execute(
            "SELECT service, reason FROM cases_referral")),
    }


def test_sealing_existing_rows_keeps_every_text_and_the_audit_chain(tmp_path: Path) -> None:
    entraide(tmp_path, None, "migrate", "--no-input", "-v", "0")
    entraide(tmp_path, None, "seed", "--households", "60", "--seed", "3")
    for app, migration in BEFORE:  # back to the schema of a database from before sealing
        entraide(tmp_path, None, "migrate", app, migration, "--no-input", "-v", "0")
    # Kept open while the migration runs, as a service still reading would keep it.
    reader = sqlite3.connect(tmp_path / "entraide.sqlite3")
    before = _clear_texts(reader)
    assert len(before["goals"]) > 20 and len(before["receptions"]) > 60
    entraide(tmp_path, None, "shell", "-c", AUDITED_READS)

    entraide(tmp_path, None, "migrate", "--no-input", "-v", "0")

    after = json.loads(entraide(tmp_path, None, "shell", "-c", READ_BACK).strip().splitlines()[-1])
    assert after == before
    verified = entraide(tmp_path, None, "audit", "verify")  # exits 1 on a broken chain
    assert "intact: 2" in verified  # 20 reads, then nothing more was written in the chain
    raw = sqlite_bytes(tmp_path)  # the reader still open: the log was not dropped on close
    reader.close()
    found = [t for t in _situation_texts() if t.encode() in raw]
    assert not found, f"left in clear by the migration: {found[:5]}"
