"""Keyed lexical watermark on served response text (applied after generation).

Why this design: a provider cannot see a suspect model's weights, only its outputs. A model trained on
our responses copies their word choices, including the arbitrary ones. So wherever a response could say
either of two equivalent things (``don't``/``do not``, ``for example``/``for instance``), we let a keyed
pseudo-random function choose, conditioned on the previous word. Without the key the choices look like
ordinary style; with it, a tester can count how often a text agrees with the key (see :mod:`.detect`).

The choice depends on (key, previous word, pair), so the same context always gets the same variant: a
student model learns it as a regular habit, and repeated boilerplate does not count twice in the test.
Per-account marking uses ``HMAC(master key, account id)`` as the key, so a suspect model can be traced
to the account whose responses it was trained on.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from distillguard.provenance.pairs import PAIRS
from distillguard.provenance.scanner import count_words, scan

KEY_BYTES = 32
_ACCOUNT_LABEL = b"distillguard-provenance-account\x00"
_CACHE_LIMIT = 1 << 16


def account_key(master: bytes, account_id: str) -> bytes:
    """The key that marks one account's responses: HMAC-SHA256(master, label + account id)."""
    return hmac.digest(master, _ACCOUNT_LABEL + account_id.encode("utf-8"), hashlib.sha256)


def keyed_bit(key: bytes, context: str, pair: int) -> int:
    """The variant (0 or 1) the key chooses for ``pair`` after ``context``: one HMAC-SHA256 bit."""
    msg = context.encode("utf-8") + b"\x1f" + PAIRS[pair].id.encode("ascii")
    return hmac.digest(key, msg, hashlib.sha256)[0] & 1


def _recase(source: str, form: str, curly: bool) -> str:
    """``form`` (lower case) written with the capitalisation and apostrophe style of ``source``."""
    if curly:
        form = form.replace("'", "\u2019")
    src_words = source.split()
    if len(src_words) > 1 and all(w[:1].isupper() for w in src_words):
        return " ".join(w[:1].upper() + w[1:] for w in form.split(" "))
    if source[:1].isupper():
        form = form[:1].upper() + form[1:]
    if form.startswith(("i ", "i'", "i\u2019")) and source[:1] == "I":
        form = "I" + form[1:]
    return form


@dataclass(frozen=True)
class MarkResult:
    """A marked text and what marking did to it."""

    text: str
    words: int  # words outside protected spans
    occurrences: int  # pair occurrences the guards let through
    changed: int  # occurrences rewritten to the other variant
    changed_words: int  # words of the original text those rewrites replaced


class Watermarker:
    """Marks response text with a secret key (32 random bytes: ``distillguard provenance keygen``)."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("a watermark key needs at least 16 bytes")
        self.key = key
        self._keys: dict[str, bytes] = {}
        self._bits: dict[tuple[bytes, str, int], int] = {}

    def key_for(self, account_id: str | None) -> bytes:
        """The key for one account (derived from the master key), or the master key itself."""
        if account_id is None:
            return self.key
        k = self._keys.get(account_id)
        if k is None:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            k = self._keys[account_id] = account_key(self.key, account_id)
        return k

    def _bit(self, key: bytes, context: str, pair: int) -> int:
        cached = self._bits.get((key, context, pair))
        if cached is None:
            if len(self._bits) >= _CACHE_LIMIT:
                self._bits.clear()
            cached = self._bits[(key, context, pair)] = keyed_bit(key, context, pair)
        return cached

    def mark(self, text: str, account_id: str | None = None) -> str:
        """``text`` with every applicable pair occurrence written as the key chooses."""
        return self._mark(text, account_id, count=False).text

    def mark_with_stats(self, text: str, account_id: str | None = None) -> MarkResult:
        """:meth:`mark`, with counts of what changed (for the "share of words changed" report)."""
        return self._mark(text, account_id, count=True)

    def _mark(self, text: str, account_id: str | None, count: bool) -> MarkResult:
        key = self.key_for(account_id)
        out: list[str] = []
        pos = occurrences = changed = changed_words = 0
        for occ in scan(text):
            if not occ.applies:
                continue
            occurrences += 1
            want = self._bit(key, occ.context, occ.pair)
            if want == occ.variant:
                continue
            source = text[occ.start : occ.end]
            pair = PAIRS[occ.pair]
            form = pair.b if want else pair.a
            out.append(text[pos : occ.start])
            out.append(_recase(source, form, "\u2019" in source))
            pos = occ.end
            changed += 1
            changed_words += len(source.split())
        if not changed:
            marked = text
        else:
            out.append(text[pos:])
            marked = "".join(out)
        return MarkResult(marked, count_words(text) if count else 0, occurrences, changed, changed_words)
