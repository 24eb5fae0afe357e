"""Cheap per-prompt facts: system-prompt fingerprint, prompt length, coarse script-based language."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import PromptContext, hash_series

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
        norm = (
            ctx.series("system")
            .cast(pl.String)
            .to_frame("s")
            .select(pl.col("s").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars().alias("s"))[
                "s"
            ]
        )
        h = hash_series(norm, ctx.seed * 3 + 7)
        out = pl.select(pl.when(norm.is_null() | (norm == "")).then(None).otherwise(h)).to_series()
        return {"system_fp": out.to_arrow()}


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
        head = ctx.lower.str.head(LANG_CHARS).to_frame("h")
        counts = head.select(
            [pl.col("h").str.count_matches(p).alias(k) for k, p in _SCRIPTS.items()]
            + [pl.col("h").str.count_matches(p).alias("w_" + k) for k, p in _LATIN_WORDS.items()]
        )
        c = {k: counts[k].fill_null(0).to_numpy().astype(np.float64) for k in counts.columns}
        letters = sum(c[k] for k in _SCRIPTS)
        share = {k: np.divide(c[k], letters, out=np.zeros_like(letters), where=letters > 0) for k in _SCRIPTS}
        latin_codes = list(_LATIN_WORDS)
        votes = np.vstack([c["w_" + k] for k in latin_codes])
        latin_lang = np.array(latin_codes, dtype=object)[np.argmax(votes, axis=0)]
        lang = np.select(
            [
                letters == 0,
                share["kana"] >= 0.1,
                share["hangul"] >= 0.2,
                share["han"] >= 0.2,
                share["cyrillic"] >= 0.3,
                share["arabic"] >= 0.3,
                share["latin"] >= 0.5,
            ],
            ["other", "ja", "ko", "zh", "ru", "ar", latin_lang],
            default="other",
        ).astype(object)
        chars = ctx.prompt_chars.to_numpy()
        lang[chars == 0] = None
        return {
            "prompt_chars": pa.array(chars, type=pa.int32()),
            "prompt_lang": pa.array(lang, type=pa.string()),
        }
