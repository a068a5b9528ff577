"""French text normalisation for search and duplicate detection: accents, plurals, sounds.

Words in Hangul are handed to `entraide.korean`, which takes their particles and endings off.
Deliberately light: a stemmer that folds accents, plurals and feminine endings is what
a reception desk needs ("impayés" finds "impayé", "Lefèvre" finds "LEFEVRE"); a full
Snowball stemmer would conflate words that social workers keep apart.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from entraide import korean

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script

STOPWORDS = frozenset(
    """
    a au aux avec ce ces cette d dans de des du elle en et eu il ils j je l la le les leur
    leurs lui m ma mais me mes mme mr m. mon n ne ni nos notre nous on ou par pas pour qu que
    qui s sa se ses son sur t ta te tes toi ton tu un une vos votre vous y est sont ete etre
    a ont avait avons fait plus tres
    """.split()
)


def fold(text: str) -> str:
    """Lower-case text with accents and ligatures removed ("Zoé Lefèvre" -> "zoe lefevre")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # NFC puts back together what has no accent to lose, such as Hangul syllables.
    return unicodedata.normalize("NFC", stripped).casefold()


def words(text: str) -> list[str]:
    """Folded words of a text; apostrophes and hyphens separate words ("l'école" -> l, ecole)."""
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    """Light French stem of a folded word: plural and feminine endings removed."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("eaux"):
        return word[:-1]
    if word.endswith("aux") and len(word) > 4:
        return word[:-3] + "al"
    if word[-1] in "sx":
        word = word[:-1]
    if word.endswith("ee"):
        word = word[:-1]
    elif word.endswith("euse"):  # défectueuse -> défectueu, like défectueux
        word = word[:-2]
    return word


def terms(text: str) -> set[str]:
    """The distinct search terms of a text: stems of its words that are not stop words, and
    the content morphemes of its Korean words ("체납이" -> 체납)."""
    if not korean.has_hangul(text):
        return {stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1}
    found: set[str] = set()
    hangul: list[str] = []
    for w in words(text):
        if korean.has_hangul(w):
            hangul.append(w)
        elif w not in STOPWORDS and len(w) > 1:
            found.add(stem(w))
    if hangul:
        found |= korean.terms(" ".join(hangul))
    return found


_SOUNDS = (
    ("sch", "S"), ("ch", "S"), ("ph", "f"), ("th", "t"), ("h", ""), ("bv", "v"), ("qu", "k"),
    ("ck", "k"), ("gu", "g"), ("eau", "o"), ("au", "o"), ("ai", "e"), ("ei", "e"), ("ou", "u"),
    ("oi", "wa"), ("ce", "se"), ("ci", "si"), ("cy", "si"), ("ge", "je"), ("gi", "ji"),
    ("c", "k"), ("y", "i"), ("w", "v"), ("z", "s"), ("an", "en"), ("em", "en"), ("am", "en"),
)


@functools.lru_cache(maxsize=65536)
def phonetic(word: str) -> str:
    """A sound key for a name, equal for spellings that sound alike (Lefèvre, Lefebvre)."""
    key = "".join(c for c in fold(word) if c.isalpha())
    for written, sound in _SOUNDS:
        key = key.replace(written, sound)
    collapsed: list[str] = []
    for c in key:
        if not collapsed or collapsed[-1] != c:
            collapsed.append(c)
    key = "".join(collapsed).lower()
    while len(key) > 2 and key[-1] in "estdx":
        key = key[:-1]
    return key
