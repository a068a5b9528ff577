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

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hmac.new(index_key(), b"entraide screening link key v1", hashlib.sha256).digest()


def normalise(kind: str, value: str) -> str:
    """The form both sides agree on: an identifier without spaces, dots or dashes, upper
    case; an address as its folded words ("12, Rue de l'Église" -> "12 rue de l eglise")."""
    if kind == KeyKind.IDENTIFIER:
        return _NOT_ALNUM.sub("", value.upper())
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


def address_of(address: str, postcode: str, commune: str) -> str:
    """A household's address as providers send it: street, postcode and commune."""
    return f"{address} {postcode} {commune}"
