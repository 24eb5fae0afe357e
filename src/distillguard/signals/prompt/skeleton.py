"""Template skeleton fingerprints: what stays the same when a template is filled in.

Computed on the word tokens of the context (masked text: filled-in values replaced by placeholders:
numbers, quoted spans, code blocks, inline code, URLs, e-mails, LaTeX, list runs; punctuation
dropped; filler words removed, ``context.FILLER``). Templates live at the ends of a prompt (a fixed
instruction injected before or after the question), so the skeleton only reads the first and last
:data:`SKELETON_WORDS` words: whatever is filled into the middle of a long prompt does not change it.

A fingerprint is an order-aware hash of a word sequence computed in numpy from the word hashes:
the wrapping sum, over the words of the window, of ``mix64(word_hash ^ slot_salt[position])``,
mixed once more. Equal word sequences give equal fingerprints; a changed, added, removed or moved
word changes it (up to 64-bit collisions). It is computed once per distinct prompt, no string is
built or hashed per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import GOLD, PromptContext, Tokens, mix64

#: words of the head and tail fingerprints
EDGE_WORDS = 8
#: words read at each end for the skeleton
SKELETON_WORDS = 16


def _salts(seed: int, tag: int, k: int) -> np.ndarray:
    """``k`` position salts for fingerprint ``tag`` under ``seed``."""
    with np.errstate(over="ignore"):
        base = np.uint64(seed) * GOLD + np.uint64(tag) * np.uint64(0x632BE59BD9B4E019)
        return mix64(base + np.arange(1, k + 1, dtype=np.uint64) * GOLD)


def sequence_fp(tok: Tokens, parts: list[tuple[np.ndarray, np.ndarray]], seed: int, tag: int) -> np.ndarray:
    """Fingerprint per distinct prompt of the words selected by ``parts``.

    Each part is ``(selected, slot)``: a boolean mask over the tokens and each token's slot (its
    position in the fingerprinted sequence; parts must use disjoint slot ranges).
    """
    acc = np.zeros(len(tok.count), dtype=np.uint64)
    for sel, slot in parts:
        idx = np.flatnonzero(sel)
        if not idx.size:
            continue
        salts = _salts(seed, tag, int(slot[idx].max()) + 1)
        v = mix64(tok.hashes[idx] ^ salts[slot[idx]])
        row = tok.row[idx]  # ascending: the selected words of one prompt are contiguous
        bounds = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        with np.errstate(over="ignore"):
            acc[row[bounds]] += np.add.reduceat(v, bounds)
    with np.errstate(over="ignore"):
        return mix64(acc ^ _salts(seed, tag + 1000, 1)[0])


@register
class TemplateSkeleton(PromptSignal):
    """Template skeleton fingerprint of a prompt, robust to filled-in values.

    ``skeleton`` (uint64) hashes the first and last 16 words of the masked, filler-free prompt
    (numbers, quoted spans, code, URLs, e-mails, LaTeX and list runs replaced by placeholders);
    ``head_fp`` and ``tail_fp`` (uint64) hash its first and last 8 words, so a fixed instruction
    injected before or after every question shows as one shared head or tail across many prompts.
    Null for a prompt with no words. Hashes are seeded with the batch seed.
    """

    id = "prompt.template_skeleton"
    requires = ("prompt",)
    outputs = ("skeleton", "head_fp", "tail_fp")

    def values(self, ctx: PromptContext):
        tok = ctx.tokens
        seed = ctx.seed
        head = tok.pos < EDGE_WORDS
        tail = tok.rpos < EDGE_WORDS
        skel_head = tok.pos < SKELETON_WORDS
        skel_tail = tok.rpos < SKELETON_WORDS
        fps = {
            "skeleton": sequence_fp(
                tok, [(skel_head, tok.pos), (skel_tail, tok.rpos + SKELETON_WORDS)], seed, 0
            ),
            "head_fp": sequence_fp(tok, [(head, tok.pos)], seed, 1),
            "tail_fp": sequence_fp(tok, [(tail, tok.rpos)], seed, 2),
        }
        empty = (tok.count == 0)[ctx.shape_inverse]
        return {
            name: pa.array(fp[ctx.shape_inverse], type=pa.uint64(), mask=empty) for name, fp in fps.items()
        }
