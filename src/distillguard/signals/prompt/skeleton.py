"""Template skeleton fingerprints: what stays the same when a template is filled in.

Computed on the masked text of the context (filled-in values replaced by placeholders: numbers,
quoted spans, code blocks, inline code, URLs, e-mails, LaTeX, list runs; punctuation dropped) with
filler words removed (``context.FILLER``). Templates live at the ends of a prompt (a fixed
instruction injected before or after the question), so the skeleton only reads the first and last
:data:`SKELETON_WORDS` words: whatever is filled into the middle of a long prompt does not change it.
"""

from __future__ import annotations

import polars as pl

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import PromptContext, hash_series

#: words of the head and tail fingerprints
EDGE_WORDS = 8
#: words read at each end for the skeleton
SKELETON_WORDS = 16


def skeleton_words(ctx: PromptContext) -> pl.Series:
    """Masked, filler-free words (the context's word view; kept as a function for the signals)."""
    return ctx.words


@register
class TemplateSkeleton(PromptSignal):
    """Template skeleton fingerprint of a prompt, robust to filled-in values.

    ``skeleton`` (uint64) hashes the first and last 16 words of the masked, filler-free prompt
    (numbers, quoted spans, code, URLs, e-mails, LaTeX and list runs replaced by placeholders);
    ``head_fp`` and ``tail_fp`` (uint64) hash its first and last 8 words, so a fixed instruction
    injected before or after every question shows as one shared head or tail across many prompts.
    Null for a prompt with no words. Hashes are xxhash64 seeded with the batch seed.
    """

    id = "prompt.template_skeleton"
    requires = ("prompt",)
    outputs = ("skeleton", "head_fp", "tail_fp")

    def values(self, ctx: PromptContext):
        words = skeleton_words(ctx)
        df = words.to_frame("w").select(
            pl.col("w").list.len().alias("len"),
            pl.col("w").list.head(EDGE_WORDS).list.join(" ").alias("head"),
            pl.col("w").list.tail(EDGE_WORDS).list.join(" ").alias("tail"),
            pl.concat_str(
                [
                    pl.col("w").list.head(SKELETON_WORDS).list.join(" "),
                    pl.lit(" \u2026 "),
                    pl.col("w").list.tail(SKELETON_WORDS).list.join(" "),
                ]
            ).alias("skel"),
        )
        empty = df["len"] == 0
        out = {}
        for name, col, seed_off in (("skeleton", "skel", 0), ("head_fp", "head", 1), ("tail_fp", "tail", 2)):
            h = hash_series(df[col], ctx.seed * 3 + seed_off)
            out[name] = pl.select(pl.when(empty).then(None).otherwise(h)).to_series().to_arrow()
        return out
