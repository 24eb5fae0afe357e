"""Find the occurrences of the pair table in a text, the same way for marking and for testing.

Why one scanner for both: the test counts, for each place a pair occurs, whether the text used the
variant the key would have chosen there. That is only sound if the tester reads exactly the places and
contexts the marker wrote, so both walk the text with this one regular expression and these guards.
The context of an occurrence is the previous token: a lower-cased word, ``#`` for a number, the pair's
own id for a previous pair occurrence (the same whichever variant was written, so a change never moves
the context of the next occurrence), or nothing after a protected span.

Protected spans are never read or changed: fenced and indented code, inline code, TeX math (``$..$``,
``$$..$$``, ``\\(..\\)``, ``\\[..\\]``, environments), GSM8K-style calculator notes ``<<..>>``, URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from distillguard.provenance.pairs import PAIRS, Pair

_APOS = "['\u2019]"

_PROTECTED = "|".join(
    (
        r"```[\s\S]*?(?:```|\Z)",
        r"~~~[\s\S]*?(?:~~~|\Z)",
        r"(?m:^(?: {4}|\t)[^\n]*)",  # indented code (and anything indented like it: left alone)
        r"`[^`\n]*`",
        r"\$\$[\s\S]*?(?:\$\$|\Z)",
        r"\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)",  # inline math; "$5 and $3" (money) is not math
        r"\\\([\s\S]*?(?:\\\)|\Z)",
        r"\\\[[\s\S]*?(?:\\\]|\Z)",
        r"\\begin\{[^}]*\}[\s\S]*?(?:\\end\{[^}]*\}|\Z)",
        r"<<[^<>\n]*>>",
        r"<(?:code|pre)\b[\s\S]*?(?:</(?:code|pre)>|\Z)",
        r"https?://\S+",
    )
)


def _form_pattern(form: str) -> str:
    return r"[ \t]+".join(re.escape(w).replace("'", _APOS) for w in form.split(" "))


def _normal(matched: str) -> str:
    return " ".join(matched.lower().replace("\u2019", "'").split())


#: normalised form -> (index of its pair in PAIRS, variant 0 for ``a`` / 1 for ``b``)
FORMS: dict[str, tuple[int, int]] = {}
for _i, _p in enumerate(PAIRS):
    FORMS[_p.a] = (_i, 0)
    FORMS[_p.b] = (_i, 1)

#: first word of a multi-word form -> (anchored pattern of the whole form, pair index, variant), longest first
_MULTI: dict[str, list[tuple[re.Pattern[str], int, int]]] = {}
for _form in sorted(FORMS, key=len, reverse=True):
    if " " in _form:
        _MULTI.setdefault(_form.split(" ")[0], []).append(
            (re.compile(_form_pattern(_form) + r"(?![\w'\u2019])", re.IGNORECASE), *FORMS[_form])
        )
TOKEN = re.compile(
    rf"(?P<prot>{_PROTECTED})"
    r"|(?P<num>\d[\d.,]*)"
    r"|(?P<word>[A-Za-z][\w'\u2019]*)"
)
_NEXT = re.compile(r"[ \t]+([A-Za-z0-9$(][\w'\u2019]*)")
_GLUE_BEFORE = frozenset("-_/\\@#.")
_GLUE_AFTER = frozenset("-_/\\@#")
_QUOTES = frozenset("'\"\u2018\u2019\u201c\u201d")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One place where the text uses a member of a pair: ``text[start:end]`` is variant ``variant``."""

    start: int
    end: int
    pair: int
    variant: int
    context: str
    applies: bool  # False: a guard keeps this occurrence out of marking and testing


def _applies(pair: Pair, text: str, start: int, end: int, prev: str) -> bool:
    matched = text[start:end]
    letters = [c for c in matched if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return False  # SHOUTING, acronyms, SQL keywords: not prose
    if pair.only_capitalized and not matched[0].isupper():
        return False
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before in _GLUE_BEFORE or after in _GLUE_AFTER:
        return False  # part of an identifier, path, hyphenated compound
    if after == "." and end + 1 < len(text) and text[end + 1].isalnum():
        return False
    if before in _QUOTES and after in _QUOTES:
        return False  # a quoted word is mentioned, not used: changing it changes what is said
    if pair.bad_prev and prev in pair.bad_prev:
        return False
    if pair.need_next_word or pair.bad_next:
        nxt = _NEXT.match(text, end)
        if nxt is None:
            return not pair.need_next_word
        if _normal(nxt.group(1)) in pair.bad_next:
            return False
    return True


def _tokens(text: str) -> Iterator[tuple[str, int, int, int, int]]:
    """(kind, start, end, pair, variant) for each token; kind "pair" for a pair occurrence."""
    pos = 0
    search = TOKEN.search
    while True:
        m = search(text, pos)
        if m is None:
            return
        kind = m.lastgroup
        start, end = m.span()
        pos = end
        glued = start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_'\u2019")
        if kind == "word" and not glued:
            w = m.group().lower().replace("\u2019", "'")
            hit = FORMS.get(w)
            if hit is not None and " " not in w:
                yield "pair", start, end, hit[0], hit[1]
                continue
            first = w.split("'")[0]
            for pattern, i, v in _MULTI.get(first, ()):
                mm = pattern.match(text, start)
                if mm is not None:
                    pos = mm.end()
                    yield "pair", start, pos, i, v
                    break
            else:
                yield "word", start, end, -1, -1
            continue
        yield kind or "", start, end, -1, -1


def scan(text: str) -> Iterator[Occurrence]:
    """The pair occurrences of ``text`` in order, each with its context and whether it applies."""
    prev = ""
    for kind, start, end, i, v in _tokens(text):
        if kind == "word":
            prev = text[start:end].lower().replace("\u2019", "'")
        elif kind == "num":
            prev = "#"
        elif kind == "prot":
            prev = ""
        else:
            pair = PAIRS[i]
            yield Occurrence(start, end, i, v, prev, _applies(pair, text, start, end, prev))
            prev = "\x00" + pair.id


def count_words(text: str) -> int:
    """Words outside protected spans (the denominator of "share of words changed")."""
    n = 0
    for kind, start, end, _, _ in _tokens(text):
        if kind == "word":
            n += 1
        elif kind == "pair":
            n += len(text[start:end].split())
    return n
