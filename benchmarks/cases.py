"""Case-file reads at scale: timeline, note search and intake, with bare-SQL baselines.

`entraide bench cases [--households 100000] [--queries 200] [--db var/bench-cases.sqlite3]`
seeds its own SQLite file once (never the demo database) with ~10 notes per household,
reuses it on later runs, then times each read through the services, audit record included.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Max

from entraide import french
from entraide.cases import demo
from entraide.cases.models import CaseFile, Note
from entraide.cases.services import search_notes, timeline
from entraide.org.models import User
from entraide.people import demo_names
from entraide.people.models import Household, Person
from entraide.people.services import find_candidates
from entraide.secrecy import crypto
from entraide.secrecy.policy import Actor

T = TypeVar("T")

SEED = 20_260_101
NOTES_PER_HOUSEHOLD = (1, 19)  # ~10 on average, a million notes for 100,000 households
WARMUP = 5
# The same connection options as settings.py gives a SQLite default database.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
    "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
}
BARE_TIMELINE = (
    "SELECT id, at, kind, object_id, summary FROM cases_timelineevent "
    "WHERE case_file_id = %s ORDER BY at DESC, id DESC LIMIT 21"
)
BARE_NOTES = (
    "SELECT id, case_file_id, kind, body_sealed, author_id, created_at, first_id, version_no "
    "FROM cases_note WHERE (id IN ({marks}) OR first_id IN ({marks})) AND is_current = %s"
)
BARE_SEARCH = (
    "SELECT note_id, COUNT(*) FROM cases_noteterm WHERE term IN ({marks}) "
    "GROUP BY note_id ORDER BY 2 DESC, note_id DESC LIMIT 20"
)


def say(message: str) -> None:
    """Progress for the person running the benchmark; stdout is kept for the JSON line."""
    print(message, file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    """The benchmark's own options."""
    parser = argparse.ArgumentParser(prog="entraide bench cases")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--db", type=Path, default=Path(settings.DATA_DIR) / "bench-cases.sqlite3")
    return parser.parse_args(argv)


def use_database(path: Path) -> None:
    """Point the default alias, which the services use, at the benchmark's own SQLite file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connections.close_all()
    current = connections.settings["default"]
    is_sqlite = current["ENGINE"] == "django.db.backends.sqlite3"
    connections.settings["default"] = {
        **current,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path.resolve()),
        "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
        "CONN_MAX_AGE": 0,
        "OPTIONS": current["OPTIONS"] if is_sqlite else SQLITE_OPTIONS,
    }
    with contextlib.suppress(AttributeError):  # no connection was opened yet
        del connections["default"]


def ensure_households(wanted: int, notes_per_household: tuple[int, int] = NOTES_PER_HOUSEHOLD,
                      territories: int | None = None) -> None:
    """Seed the benchmark database up to `wanted` households (in the first `territories`
    territories only, when given), or reuse what it holds."""
    have = Household.objects.count()
    if have >= wanted:
        say(f"reusing {have} households in {connection.settings_dict['NAME']}")
        return
    rng = random.Random(SEED + have)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        say(f"seeding: {done}/{total} households, {elapsed:.0f} s, "
            f"about {elapsed / done * (total - done):.0f} s left")

    department = demo.load_department() if demo.is_seeded() else demo.build_organisation(rng)
    if territories is not None:
        department = dataclasses.replace(department,
                                         territory_ids=department.territory_ids[:territories])
    demo.generate_households(rng, department, wanted - have,
                             notes_per_household=notes_per_household, progress=progress)
    say(f"seeded {wanted - have} households in {time.perf_counter() - started:.1f} s")


def search_vocabulary() -> list[str]:
    """Words social workers would search for: the note phrases' words, without stop words."""
    found: set[str] = set()
    for phrases in demo_names.NOTE_PHRASES.values():
        for phrase in phrases:
            for word in re.findall(r"[^\W\d_]{3,}", re.sub(r"\{\w+\}", " ", phrase)):
                if french.fold(word) not in french.STOPWORDS:
                    found.add(word.lower())
    return sorted(found)


def search_query(rng: random.Random, vocabulary: Sequence[str]) -> str:
    """One or two words, some typed without accents, some in the plural."""
    typed = []
    for word in rng.sample(vocabulary, rng.randint(1, 2)):
        draw = rng.random()
        if draw < 0.25:
            word = french.fold(word)
        elif draw < 0.45 and word[-1] not in "sx":
            word += "s"
        typed.append(word)
    return " ".join(typed)


def typo(rng: random.Random, name: str) -> str:
    """The name with one letter dropped, doubled or mistyped."""
    i = rng.choice([i for i, c in enumerate(name) if c.isalpha()])
    kind = rng.randrange(3)
    if kind == 0 and len(name) > 3:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    return name[:i] + rng.choice("aeioulnrst") + name[i + 1:]


def intake_queries(rng: random.Random, count: int) -> list[str]:
    """"LASTNAME Firstname" of random known persons, with a typo in half of them."""
    top = Person.objects.aggregate(top=Max("pk"))["top"] or 0
    persons = list(Person.objects.in_bulk(rng.sample(range(1, top + 1), min(top, 2 * count)))
                   .values())
    queries = []
    for person in rng.sample(persons, min(count, len(persons))):
        last = typo(rng, person.last_name) if rng.random() < 0.5 else person.last_name
        queries.append(f"{last.upper()} {person.first_name}")
    return queries


def bare_timeline(case_file_id: int) -> None:
    """The timeline's first page and its notes, in hand-written SQL."""
    with connection.cursor() as cursor:
        cursor.execute(BARE_TIMELINE, [case_file_id])
        ids = [row[3] for row in cursor.fetchall()[:20] if row[2] == "note"]
        if ids:
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(BARE_NOTES.format(marks=marks), [*ids, *ids, True])
            cursor.fetchall()


def bare_search(query: str) -> None:
    """The postings query of a note search, without the need-to-know filter."""
    terms = sorted(crypto.blind(t) for t in french.terms(query))[:12]
    if terms:
        with connection.cursor() as cursor:
            cursor.execute(BARE_SEARCH.format(marks=", ".join(["%s"] * len(terms))), terms)
            cursor.fetchall()


def timed(samples: Sequence[T], call: Callable[[T], object]) -> list[float]:
    """Milliseconds taken by `call` on each sample, after a few untimed warm-up calls."""
    for sample in samples[:WARMUP]:
        call(sample)
    durations = []
    for sample in samples[WARMUP:]:
        started = time.perf_counter()
        call(sample)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def percentile(durations: Sequence[float], share: float) -> float:
    """Nearest-rank percentile, rounded to 2 decimals."""
    ordered = sorted(durations)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 2)


def run(argv: list[str]) -> dict[str, Any]:
    """Seed or reuse the benchmark database, then time timeline, search and intake reads."""
    options = parse(argv)
    use_database(options.db)
    call_command("migrate", interactive=False, verbosity=0, stdout=sys.stderr)
    ensure_households(options.households)
    connection.close()  # measure on a fresh connection, not the seeding one's large cache

    rng = random.Random(SEED)
    count = options.queries + WARMUP
    lead = Actor(user=User.objects.get(username="lead"), ip="127.0.0.1")
    reception = Actor(user=User.objects.get(username="reception"), ip="127.0.0.1")
    readable = list(CaseFile.objects.filter(team__territory=lead.user.territory)
                    .values_list("pk", flat=True))
    files = rng.choices(readable, k=count)
    vocabulary = search_vocabulary()
    queries = [search_query(rng, vocabulary) for _ in range(count)]
    names = intake_queries(rng, count)
    say(f"timing {options.queries} samples of each read")

    timeline_ms = timed(files, lambda pk: timeline(lead, pk, 1))
    search_ms = timed(queries, lambda q: search_notes(lead, q, limit=20))
    intake_ms = timed(names, lambda q: find_candidates(reception, q))
    bare_timeline_ms = timed(files, bare_timeline)
    bare_search_ms = timed(queries, bare_search)
    return {
        "timeline_p50_ms": percentile(timeline_ms, 0.50),
        "timeline_p95_ms": percentile(timeline_ms, 0.95),
        "search_p50_ms": percentile(search_ms, 0.50),
        "search_p95_ms": percentile(search_ms, 0.95),
        "intake_p95_ms": percentile(intake_ms, 0.95),
        "baseline_timeline_p95_ms": percentile(bare_timeline_ms, 0.95),
        "baseline_search_p95_ms": percentile(bare_search_ms, 0.95),
        "households": Household.objects.count(),
        "notes": Note.objects.count(),
        "queries": options.queries,
        "db": connection.vendor,
    }
