"""Encryption at rest: envelope encryption with AES-256-GCM, and a keyed blind index.

Each household has its own 256-bit data key, stored only wrapped by a master key
(`HouseholdKey`). A ciphertext names the data key it was sealed with and is bound to its
household and field (associated data), so it cannot be moved to another row unnoticed.
Rotating the master key re-wraps the data keys; the ciphertexts themselves never change.

Search terms are replaced by a keyed HMAC (the blind index): the database holds no word of any
note, yet the same word always gives the same index entry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from .models import HouseholdKey

FORMAT = "v1"
NONCE_BYTES = 12

# What each ciphertext is bound to, besides its household (associated data).
NOTE_BODY = "note.body"
LEVEL_COMMENT = "level.comment"
IDENTITY_NUMBER = "person.identity_number"
AUDIT_REASON = "audit.reason"


class MissingKey(Exception):
    """A key needed to read or write personal data is missing; said plainly for operators."""


def key_id(key: bytes) -> str:
    """A short public name for a master key: the start of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def _decode(text: str) -> bytes:
    key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    if len(key) != 32:
        raise MissingKey("A master key must be 32 bytes, base64-encoded.")
    return key


def _encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


@dataclass(frozen=True)
class Keyring:
    """The current master key (wraps new data keys) and the earlier ones (still unwrap)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def by_id(self, wanted: str) -> bytes:
        for key in (self.current, *self.previous):
            if key_id(key) == wanted:
                return key
        raise MissingKey(f"Master key {wanted} is not configured; data keys wrapped by it cannot "
                        "be opened. Give it in ENTRAIDE_PREVIOUS_MASTER_KEYS or its key file.")


def keys_dir() -> Path:
    return Path(settings.DATA_DIR) / "keys"


def _load_keyring() -> Keyring:
    """Master keys from the environment, else from key files generated once under var/keys."""
    if env := os.environ.get("ENTRAIDE_MASTER_KEY"):
        previous = [_decode(k) for k in os.environ.get("ENTRAIDE_PREVIOUS_MASTER_KEYS", "")
                    .split(",") if k.strip()]
        return Keyring(_decode(env), tuple(previous))
    directory = keys_dir()
    current_file = directory / "current"
    if not current_file.exists():
        new_master_key_file()
    current_id = current_file.read_text().strip()
    keys = {p.stem.removeprefix("master-"): _decode(p.read_text())
            for p in directory.glob("master-*.key")}
    if current_id not in keys:
        raise MissingKey(f"The current master key file master-{current_id}.key is missing.")
    return Keyring(keys.pop(current_id), tuple(keys.values()))


def new_master_key_file() -> str:
    """Generate a master key into var/keys and make it the current one; returns its id."""
    directory = keys_dir()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = secrets.token_bytes(32)
    path = directory / f"master-{key_id(key)}.key"
    path.write_text(_encode(key))
    path.chmod(0o600)
    (directory / "current.tmp").write_text(key_id(key))
    (directory / "current.tmp").replace(directory / "current")
    keyring.cache_clear()
    return key_id(key)


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    return _load_keyring()


@lru_cache(maxsize=1)
def index_key() -> bytes:
    """The blind-index key: ENTRAIDE_INDEX_KEY, else a key file generated once under var/keys.

    It is not rotated with the master key: changing it means re-indexing every note.
    """
    if env := os.environ.get("ENTRAIDE_INDEX_KEY"):
        return _decode(env)
    path = keys_dir() / "index.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_encode(secrets.token_bytes(32)))
        path.chmod(0o600)
    return _decode(path.read_text())


def blind(term: str) -> str:
    """The blind-index entry of a search term (32 hex characters of HMAC-SHA256)."""
    return hmac.new(index_key(), term.encode(), hashlib.sha256).hexdigest()[:32]


# --- data keys -------------------------------------------------------------------------

class _DataKeyCache(dict[int, tuple[bytes, float]]):
    """Unwrapped data keys for a short while: unwrapping on every read would double its cost,
    and a key shredded by another process (erasure, retention) must stop working soon."""

    size = 20_000
    seconds = 60.0

    def get_key(self, pk: int) -> bytes | None:
        found = self.get(pk)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]


_data_keys = _DataKeyCache()


def _wrap(household_id: int, data_key: bytes, master: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, f"household:{household_id}".encode())


def _unwrap(row: HouseholdKey) -> bytes:
    master = keyring().by_id(row.master_key_id)
    wrapped = bytes(row.wrapped)
    return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                  f"household:{row.household_id}".encode())


def _remember(pk: int, data_key: bytes) -> bytes:
    if len(_data_keys) >= _data_keys.size:
        _data_keys.clear()
    _data_keys[pk] = (data_key, time.monotonic() + _data_keys.seconds)
    return data_key


def household_key(household_id: int) -> tuple[int, bytes]:
    """The household's data key (created on first use) and its id."""
    row = HouseholdKey.objects.filter(household_id=household_id).first()
    if row is None:
        data_key = secrets.token_bytes(32)
        ring = keyring()
        try:
            with transaction.atomic():
                row = HouseholdKey.objects.create(
                    household_id=household_id, wrapped=_wrap(household_id, data_key, ring.current),
                    master_key_id=ring.current_id)
        except IntegrityError:  # created meanwhile by another request: use that one
            row = HouseholdKey.objects.get(household_id=household_id)
        else:
            # Cached only once committed: a rolled-back key's id could be given out again.
            pk = row.pk
            transaction.on_commit(lambda: _remember(pk, data_key))
            return pk, data_key
    if (cached := _data_keys.get_key(row.pk)) is not None:
        return row.pk, cached
    return row.pk, _remember(row.pk, _unwrap(row))


def forget(household_id: int) -> None:
    """Crypto-shred a household: delete its data key; its ciphertexts become unreadable."""
    row = HouseholdKey.objects.filter(household_id=household_id).first()
    if row is not None:
        _data_keys.pop(row.pk, None)
        row.delete()


# --- sealing ------------------------------------------------------------------------------

def new_wrapped_key(household_id: int) -> tuple[bytes, str, bytes]:
    """A fresh data key for bulk loading: (wrapped, master key id, clear key)."""
    ring = keyring()
    data_key = secrets.token_bytes(32)
    return _wrap(household_id, data_key, ring.current), ring.current_id, data_key


def seal_with(data_key: bytes, key_pk: int, household_id: int, plaintext: str,
              field: str) -> str:
    """Encrypt with a data key already in hand: `v1$<data key id>$<base64 nonce+ct>`."""
    if plaintext == "":
        return ""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), f"{field}|{household_id}".encode())
    return f"{FORMAT}${key_pk}${base64.b64encode(nonce + sealed).decode()}"


def seal(household_id: int, plaintext: str, field: str) -> str:
    """Encrypt a text of a household for one field, with the household's data key."""
    if plaintext == "":
        return ""
    pk, data_key = household_key(household_id)
    return seal_with(data_key, pk, household_id, plaintext, field)


def unseal(household_id: int, value: str, field: str) -> str:
    """Decrypt what `seal` produced for this household and field."""
    if value == "":
        return ""
    version, pk, payload = value.split("$", 2)
    if version != FORMAT:
        raise MissingKey(f"Unknown ciphertext format {version!r}.")
    data_key = _data_keys.get_key(int(pk))
    if data_key is None:
        row = HouseholdKey.objects.filter(pk=int(pk)).first()
        if row is None:
            raise MissingKey("This data was erased: its household key no longer exists.")
        data_key = _remember(row.pk, _unwrap(row))
    raw = base64.b64decode(payload)
    return AESGCM(data_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                    f"{field}|{household_id}".encode()).decode()


def seal_if_keyed(household_id: int, plaintext: str, field: str) -> str | None:
    """Seal with the household's data key if it has one already (None otherwise): for
    records that must not bring a shredded key back to life."""
    row = HouseholdKey.objects.filter(household_id=household_id).first()
    if row is None:
        return None
    return seal(household_id, plaintext, field)


def reveal(household_id: int | None, value: str, field: str) -> str:
    """A stored text that may be sealed (new records) or clear (records from before)."""
    if household_id is None or not value.startswith(f"{FORMAT}$"):
        return value
    return unseal_or_erased(household_id, value, field)


def unseal_or_erased(household_id: int, value: str, field: str) -> str:
    """The clear text, or a mark once retention or erasure shredded the household's key."""
    try:
        return unseal(household_id, value, field)
    except MissingKey:
        # Only a deleted data key means erased; a master key missing is an outage, said loudly.
        if HouseholdKey.objects.filter(pk=int(value.split("$")[1])).exists():
            raise
        return gettext("(erased)")


# --- rotation -----------------------------------------------------------------------------

def rotate(batch_size: int = 500, after_batch: Callable[[int, int], None] | None = None) -> int:
    """Re-wrap every data key not yet under the current master key; returns how many.

    Each batch commits on its own: interrupted at any point, a new run finishes the work,
    and the service keeps reading throughout since both keys are in the keyring.
    """
    ring = keyring()
    done = 0
    remaining = HouseholdKey.objects.exclude(master_key_id=ring.current_id).count()
    while True:
        with transaction.atomic():
            batch = list(HouseholdKey.objects.exclude(master_key_id=ring.current_id)
                         .order_by("pk")[:batch_size])
            if not batch:
                return done
            for row in batch:
                row.wrapped = _wrap(row.household_id, _unwrap(row), ring.current)
                row.master_key_id = ring.current_id
            HouseholdKey.objects.bulk_update(batch, ["wrapped", "master_key_id"])
        done += len(batch)
        if after_batch is not None:
            after_batch(done, remaining)


def master_key_ids_in_use(counted: bool = False) -> list[str]:
    """Ids of the master keys wrapping data keys (one per data key when counted)."""
    ids = HouseholdKey.objects.values_list("master_key_id", flat=True)
    return list(ids if counted else ids.distinct())


def retire_unused_key_files() -> list[Path]:
    """Delete the master key files that wrap no data key any more; returns what was deleted."""
    in_use = set(master_key_ids_in_use()) | {keyring().current_id}
    retired = []
    for path in keys_dir().glob("master-*.key"):
        if path.stem.removeprefix("master-") not in in_use:
            path.unlink()
            retired.append(path)
    keyring.cache_clear()
    return retired
