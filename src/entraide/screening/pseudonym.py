"""Pseudonymous link keys: how a feed record finds its household without its identifier.

A provider's file names a person by an identifier (a social security number, a customer
number shared under the legal basis) or a home by its address. On import that value is
normalised and replaced by a keyed HMAC (`digest`); the raw value is never stored. The
households' own keys (`LinkKey`) are computed the same way from what the service knows,
so that the two meet on the digest alone. The HMAC key is derived from the index key of
the secrecy layer, under a label of its own: a digest here is useless for the blind index
of notes, and the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from entraide.french import words
from entraide.secrecy.crypto import index_key

from .models import KeyKind

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hmac.new(index_key(), b"entraide screening link key v1", hashlib.sha256).digest()


def normalise(kind: str, value: str) -> str:
    """The form both sides agree on: an identifier as its ASCII letters and digits, upper
    case; an address as its folded words ("12, Rue de l'Église" -> "12 rue de l eglise")."""
    if kind == KeyKind.IDENTIFIER:
        return _NOT_ALNUM.sub("", value).upper()
    if kind == KeyKind.ADDRESS:
        return " ".join(words(value))
    raise ValueError(f"unknown key kind {kind!r}")


def digest(kind: str, value: str) -> str:
    """The link digest of a raw identifier or address (64 hex characters); empty when
    nothing is left of the value once normalised."""
    normal = normalise(kind, value)
    if not normal:
        return ""
    return hmac.new(_key(), f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def digest_sql(kind: str, expression: str) -> str:
    """The same digest as `digest`, as a DuckDB SQL expression over a VARCHAR column, for
    whole files at once (about 2.5 million a second here against 0.7 in Python). NULL
    or empty once normalised gives ''. Addresses meet the Python digest for French and
    Korean writing (tested); for other scripts, case folding may differ in rare letters."""
    padded = _key().ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    if kind == KeyKind.IDENTIFIER:
        normal = f"upper(regexp_replace(COALESCE({expression}, ''), '[^0-9A-Za-z]', '', 'g'))"
    elif kind == KeyKind.ADDRESS:
        folded = (f"strip_accents(lower(replace(replace(replace(replace(COALESCE({expression},"
                  f" ''), 'œ', 'oe'), 'Œ', 'oe'), 'æ', 'ae'), 'Æ', 'ae')))")
        normal = f"trim(regexp_replace(replace({folded}, 'ß', 'ss'), '[^\\pL\\pN]+', ' ', 'g'))"
    else:
        raise ValueError(f"unknown key kind {kind!r}")
    mac = (f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || "
           f"encode('{kind}:' || {normal}))))")
    return f"CASE WHEN {normal} = '' THEN '' ELSE {mac} END"


def address_of(address: str, postcode: str, commune: str) -> str:
    """A household's address as providers send it: street, postcode and commune."""
    return f"{address} {postcode} {commune}"
