"""Cost of secrecy: notes encrypted and blind-indexed per second, and search over a million
encrypted notes against the same search over plaintext terms (the previous issue's index).

`entraide bench secrecy [--households 100000] [--queries 200] [--notes 2000]` reuses the
database of `entraide bench cases` (seeding it if needed). For the baseline it builds, once, a
copy of the blind index with the plaintext terms put back (the benchmark knows the vocabulary
the notes were written from) and runs the very same search code against it.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from benchmarks import cases as bench_cases
from entraide import french
from entraide.cases import services
from entraide.cases.models import CaseFile, Note
from entraide.org.models import User
from entraide.people import demo_names
from entraide.secrecy import crypto
from entraide.secrecy.policy import Actor

PLAIN_TABLE = "bench_plain_noteterm"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entraide bench secrecy")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--db", type=Path, default=Path(settings.DATA_DIR) / "bench-cases.sqlite3")
    return parser.parse_args(argv)


def vocabulary_terms() -> set[str]:
    """Every search term the demo notes can contain."""
    found: set[str] = set()
    for phrases in demo_names.NOTE_PHRASES.values():
        for phrase in phrases:
            for amount in ("150", "300", "1200"):
                found |= french.terms(phrase.format(amount=amount, months="trois",
                                                    org=" ".join(demo_names.NOTE_ORGS)))
    for titles in demo_names.GOAL_TITLES.values():
        for title in titles:
            found |= french.terms(title)
    return found


def ensure_plain_index() -> None:
    """The blind index with its plaintext terms put back, built once in the bench database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=%s",
                       [PLAIN_TABLE])
        if cursor.fetchone():
            return
        bench_cases.say("building the plaintext copy of the index for the baseline")
        cursor.execute("CREATE TEMP TABLE term_map (blind TEXT PRIMARY KEY, plain TEXT)")
        cursor.executemany("INSERT OR IGNORE INTO term_map VALUES (%s, %s)",
                           [(crypto.blind(t), t) for t in vocabulary_terms()])
        # Same columns, same row order, same indexes as the blind index: only the terms differ.
        cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (id INTEGER PRIMARY KEY, term TEXT NOT NULL, "
                       "note_id BIGINT NOT NULL, case_file_id BIGINT NOT NULL, "
                       "restricted BOOL NOT NULL)")
        cursor.execute(
            f"INSERT INTO {PLAIN_TABLE} SELECT n.id, m.plain, n.note_id, "  # noqa: S608
            "n.case_file_id, n.restricted FROM cases_noteterm n "
            "JOIN term_map m ON m.blind = n.term ORDER BY n.id")
        cursor.execute(f"CREATE INDEX {PLAIN_TABLE}_search ON {PLAIN_TABLE} "
                       "(term, note_id DESC, case_file_id)")
        cursor.execute(f"CREATE INDEX {PLAIN_TABLE}_note ON {PLAIN_TABLE} (note_id, term)")


def _swap(first: str, second: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {first} RENAME TO bench_swap")
        cursor.execute(f"ALTER TABLE {second} RENAME TO {first}")
        cursor.execute(f"ALTER TABLE bench_swap RENAME TO {second}")


@contextlib.contextmanager
def plaintext_index() -> Iterator[None]:
    """Run the search code against the plaintext copy: same queries, terms not blinded."""
    blind = crypto.blind
    _swap("cases_noteterm", PLAIN_TABLE)
    crypto.blind = lambda term: term  # type: ignore[assignment]
    try:
        yield
    finally:
        crypto.blind = blind  # type: ignore[assignment]
        _swap("cases_noteterm", PLAIN_TABLE)


def notes_per_second(worker: User, count: int) -> float:
    """Notes written through the service: sealed, blind-indexed, stored and audited."""
    rng = random.Random(7)
    files = list(CaseFile.objects.filter(referent=worker).values_list("pk", flat=True)[:50])
    phrases = [p for ps in demo_names.NOTE_PHRASES.values() for p in ps]
    actor = Actor(user=worker, ip="127.0.0.1")
    texts = [" ".join(rng.sample(phrases, 3)).format(amount="250", months="deux", org="CAF")
             for _ in range(count)]
    started = time.perf_counter()
    for i, text in enumerate(texts):
        services.add_note(actor, files[i % len(files)], "interview", text)
    return count / (time.perf_counter() - started)


def run(argv: list[str]) -> dict[str, Any]:
    """Seed or reuse the cases benchmark database, then measure writing and searching."""
    options = parse(argv)
    bench_cases.use_database(options.db)
    call_command("migrate", interactive=False, verbosity=0)
    bench_cases.ensure_households(options.households)
    ensure_plain_index()
    connection.close()

    rng = random.Random(bench_cases.SEED)
    lead = Actor(user=User.objects.get(username="lead"), ip="127.0.0.1")
    vocabulary = bench_cases.search_vocabulary()
    queries = [bench_cases.search_query(rng, vocabulary)
               for _ in range(options.queries + bench_cases.WARMUP)]
    def search(query: str) -> object:
        return services.search_notes(lead, query, limit=20)

    # Both indexes are searched once untimed first: the figures compare index structures, not
    # which one the page cache happened to hold.
    bench_cases.timed(queries, search)
    search_ms = bench_cases.timed(queries, search)
    with plaintext_index():
        bench_cases.timed(queries, search)
        plain_ms = bench_cases.timed(queries, search)
    written = notes_per_second(User.objects.get(username="worker"), options.notes)
    search_p95 = bench_cases.percentile(search_ms, 0.95)
    plain_p95 = bench_cases.percentile(plain_ms, 0.95)
    return {
        "notes_per_s": round(written, 1),
        "search_p50_ms": bench_cases.percentile(search_ms, 0.50),
        "search_p95_ms": search_p95,
        "baseline_search_p50_ms": bench_cases.percentile(plain_ms, 0.50),
        "baseline_search_p95_ms": plain_p95,
        "ratio_p95": round(search_p95 / plain_p95, 2) if plain_p95 else None,
        "notes": Note.objects.count(),
        "households": options.households,
        "queries": options.queries,
        "db": connection.vendor,
    }
