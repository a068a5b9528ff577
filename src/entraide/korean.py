"""Korean words for search and duplicate detection: particles and endings taken off.

Korean glues particles and endings to its words ("체납이", "연체된", "김민수씨가"), so the same
word is written many ways. A morphological analyser (Kiwi, whose model ships inside the
`kiwipiepy_model` package: nothing is downloaded) cuts each word into morphemes; search keeps
the content ones (nouns, roots, verb and adjective stems), names keep everything but the
particles and honorifics. It is loaded once per process, and only for text with Hangul, so
French text never pays for it.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")

# Morphemes that carry the meaning of a text (Sejong tags as Kiwi gives them).
CONTENT_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "VV", "VA", "XR", "SL", "SH", "SN"})
# Bound nouns that only carry grammar or politeness ("것", "수", "씨", "님").
BOUND_STOPWORDS = frozenset({"것", "수", "등", "때", "데", "씨", "님", "분", "쪽", "번", "중"})
# What follows a name when it is typed in a sentence or politely: 씨, 님, 선생님, 어르신...
HONORIFICS = frozenset({"씨", "님", "선생", "선생님", "어르신", "여사", "군", "양", "옹"})

_lock = threading.Lock()


def has_hangul(text: str) -> bool:
    return HANGUL.search(text) is not None


@functools.lru_cache(maxsize=1)
def _analyser() -> Any:
    from kiwipiepy import Kiwi  # imported here: about 1 s and 100 MB, only when Korean comes

    return Kiwi()


def _morphemes(text: str) -> list[tuple[str, str]]:
    with _lock:  # one analyser per process; its calls are not documented as thread-safe
        return [(token.form, token.tag) for token in _analyser().tokenize(text)]


def terms(text: str) -> set[str]:
    """The content morphemes of the Hangul words of a text ("연체된 관리비" -> 연체, 관리비)."""
    return {form.casefold() for form, tag in _morphemes(text)
            if tag in CONTENT_TAGS and has_hangul(form) and form not in BOUND_STOPWORDS}


@functools.lru_cache(maxsize=4096)
def name_forms(text: str) -> tuple[str, ...]:
    """A typed Korean name without spaces, as typed and with particles and honorifics taken
    off ("김민수씨가" -> 김민수씨가, 김민수). Both are kept: the analyser may read the last
    syllable of an unusual name as a particle."""
    compact = "".join(text.split())
    tokens = _morphemes(text)
    # Only from the end: "양" or "이" at the start of a name is a family name.
    while tokens and (tokens[-1][1].startswith(("J", "E", "S")) or tokens[-1][0] in HONORIFICS):
        tokens.pop()
    kept = "".join(form for form, _ in tokens)
    return tuple(dict.fromkeys(f for f in (compact, kept) if f))


def syllable_pairs(name: str) -> set[str]:
    """Each pair of neighbouring syllables of a name: one typo leaves most of them intact."""
    return {name[i:i + 2] for i in range(len(name) - 1)}
