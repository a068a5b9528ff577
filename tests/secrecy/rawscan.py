"""Running the service in its own process against a real database, then reading the raw bytes
it left: the SQLite files, or a dump of a PostgreSQL database made for the test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_URL = os.environ.get("ENTRAIDE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[2]


def postgres_answers() -> bool:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def entraide(data_dir: Path, database_url: str | None, *args: str) -> str:
    """Run `entraide ARGS` as the service would, on this data dir and database; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"ENTRAIDE_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "entraide.settings"})
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "entraide.cli", *args], env=env, check=True,
                          cwd=ROOT, capture_output=True, text=True).stdout


def sqlite_bytes(data_dir: Path) -> bytes:
    """The database file and its journals, as a copy or a backup would take them."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("entraide.sqlite3*")))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards; yields its URL."""
    name = f"entraide_scan_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_dump(url: str) -> bytes:
    return subprocess.run(["pg_dump", "--data-only", url], check=True, capture_output=True).stdout
