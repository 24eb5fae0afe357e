"""Cheap per-prompt facts: system-prompt fingerprint, prompt length, coarse script-based language."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import PromptContext, hash_series, rx

#: characters of the prompt read for the language guess
LANG_CHARS = 400

_SCRIPTS = {
    "kana": r"[\p{Hiragana}\p{Katakana}]",
    "hangul": r"\p{Hangul}",
    "han": r"\p{Han}",
    "cyrillic": r"\p{Cyrillic}",
    "arabic": r"\p{Arabic}",
    "latin": r"\p{Latin}",
}
#: function words of Latin-script languages (lower case, whole words)
_LATIN_WORDS = {
    "en": r"\b(?:the|and|is|are|of|to|you|what|how|with|for|this|that|in)\b",
    "es": r"\b(?:el|los|las|es|que|de|por|para|con|una|qué|cómo|del|y)\b",
    "fr": r"\b(?:le|les|est|une|des|du|et|que|pour|avec|qui|je|vous|dans)\b",
    "de": r"\b(?:der|die|das|und|ist|nicht|ein|eine|mit|ich|sie|wie|für|zu)\b",
    "pt": r"\b(?:o|os|as|é|não|uma|um|do|da|com|para|que|como|em)\b",
}


@register
class SystemFingerprint(PromptSignal):
    """System prompt fingerprint: stable hash of the normalised system prompt.

    ``system_fp`` (uint64) is the xxhash64 (seeded with the batch seed) of the system prompt
    lower-cased with whitespace collapsed; null when there is no (or an empty) system prompt. Many
    accounts sharing one rare system prompt is a tie between them.
    """

    id = "prompt.system_fingerprint"
    requires = ("system",)
    outputs = ("system_fp",)

    def values(self, ctx: PromptContext):
        # once per distinct system prompt (an application sends the same one with every request)
        norm = ctx.system_u.to_frame("s").select(
            pl.col("s").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars().alias("s")
        )["s"]
        h = hash_series(norm, ctx.seed * 3 + 7).to_numpy()
        empty = (norm == "").to_numpy()
        inv = ctx.system_inverse
        return {"system_fp": pa.array(h[inv], type=pa.uint64(), mask=empty[inv])}


@register
class PromptBasics(PromptSignal):
    """Prompt length in characters and a coarse, script-based language guess.

    ``prompt_chars`` (int32) is the prompt length in characters; ``prompt_lang`` one of en, es,
    fr, de, pt (Latin script, decided by function words, en when none match), zh, ja, ko, ru, ar
    (by script share over the first 400 characters), ``other``, or null for an empty prompt.
    """

    id = "prompt.basics"
    requires = ("prompt",)
    outputs = ("prompt_chars", "prompt_lang")

    def values(self, ctx: PromptContext):
        chars = pa.array(ctx.prompt_chars.to_numpy(), type=pa.int32())
        if not ctx.wants("prompt_lang"):  # (the language guess is most of the cost)
            return {"prompt_chars": chars, "prompt_lang": pa.nulls(ctx.n, pa.string())}
        # once per distinct prompt, scattered back to the rows at the end
        head = ctx.lower_u.str.head(LANG_CHARS)
        n = len(head)
        lang = np.full(n, "other", dtype=object)
        flags = head.to_frame("h").select(
            pl.col("h").str.contains(r"[^\x00-\x7f]").fill_null(False).alias("non_ascii"),
            pl.col("h").str.contains(r"[a-z]").fill_null(False).alias("ascii_letter"),
        )
        ascii_only = ~flags["non_ascii"].to_numpy()
        latin = ascii_only & flags["ascii_letter"].to_numpy()
        rest = np.flatnonzero(~ascii_only)
        if rest.size:
            sub = head.gather(rest).to_frame("h")
            counts = sub.select(
                [pl.col("h").str.count_matches(p).alias(k) for k, p in _SCRIPTS.items()]
                + [pl.col("h").str.count_matches(r"\p{L}").alias("_letters")]
            )
            tot = np.maximum(counts["_letters"].fill_null(0).to_numpy(), 1).astype(np.float64)
            share = {k: counts[k].fill_null(0).to_numpy() / tot for k in _SCRIPTS}
            lang[rest] = np.select(
                [
                    share["kana"] >= 0.1,
                    share["hangul"] >= 0.2,
                    share["han"] >= 0.2,
                    share["cyrillic"] >= 0.3,
                    share["arabic"] >= 0.3,
                ],
                ["ja", "ko", "zh", "ru", "ar"],
                default="other",
            )
            latin[rest] = (lang[rest] == "other") & (share["latin"] >= 0.5)
        rows = np.flatnonzero(latin)
        if rows.size:
            # "at least two English function words": a match of two (stops at the second one)
            two = rx(_LATIN_WORDS["en"] + r"(?s:.*?)" + _LATIN_WORDS["en"])
            en2 = head.gather(rows).str.contains(two).to_numpy()
            lang[rows] = "en"
            unsure = rows[~en2]
            if unsure.size:
                sub = head.gather(unsure).to_frame("h")
                codes = list(_LATIN_WORDS)
                votes = sub.select(
                    [pl.col("h").str.count_matches(rx(_LATIN_WORDS[k])).alias(k) for k in codes]
                )
                mat = np.vstack([votes[k].to_numpy() for k in codes])
                lang[unsure] = np.array(codes, dtype=object)[np.argmax(mat, axis=0)]
        lang[(head == "").to_numpy()] = None
        lang = lang[ctx.prompt_inverse]
        return {
            "prompt_chars": chars,
            "prompt_lang": pa.array(lang, type=pa.string()),
        }
