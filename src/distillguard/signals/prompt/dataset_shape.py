"""Dataset-shaped requests: prompts that look like rows of a training set being harvested.

Kinds (:data:`DATASET_KINDS`): ``rubric`` (grade/score against criteria: the model used as a reward
model), ``generate_n`` ("generate 50 examples of ..."), ``json_pairs`` (JSON records with
instruction/output, prompt/completion, question/answer, chosen/rejected keys),
``instruction_response`` (Alpaca / completion scaffolds: ``### Instruction:`` / ``### Response:``,
trailing ``Output:``, ``Definition: ... Input: ... Output:``) and ``few_shot`` (numbered
question/answer demonstrations before a final open slot).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal, hits_to_score
from distillguard.signals.prompt.context import PromptContext, rx

_KEYS = (
    r"instruction|input|output|prompt|completion|question|answer|response|chosen|rejected|context|label"
    r"|query"
)

#: kind -> (regex over lower-cased system + prompt, evidence per hit)
PATTERNS: dict[str, tuple[str, float]] = {
    "rubric": (
        r"\brubric\b|\b(?:scoring|grading|evaluation|assessment) (?:criteria|guidelines|scale)\b"
        r"|\bon a scale (?:of|from) \d+\b|\bscale of \d+ to \d+\b|\b(?:score|rating|grade) (?:of|from"
        r"|between) \d+"
        r"|\b\d+\s*(?:-|to)\s*\d+ (?:scale|points?)\b|\brate (?:the|this"
        r"|each) (?:following )?(?:response|answer|"
        r"output|completion|essay|summary)\b|\b(?:output|give|provide|return) (?:a|the|your) (?:score"
        r"|rating|grade)\b"
        r"|\[\[[ab]\]\]|\[\[\d+\]\]|\brating:\s*\[\[|\bscore:\s*\d|\bwhich (?:response|answer) is better\b",
        0.5,
    ),
    "generate_n": (
        r"\b(?:generate|create|write|produce|give me|come up with|list|provide|make|brainstorm)\s+(?:me\s+)?"
        r"(?:\d+|ten|twenty|thirty|fifty|a hundred|one hundred)\s+(?:\w+\s+){0,4}(?:examples|questions"
        r"|instructions|"
        r"prompts|samples|tasks|problems|pairs|sentences|conversations|dialogues|dialogs|variations"
        r"|items|entries|"
        r"data points|records|queries|test cases|exercises|scenarios|responses|answers|paraphrases)\b"
        r"|\b\d+ (?:diverse|different|unique|varied|new|distinct|more) (?:\w+ ){0,2}(?:examples"
        r"|questions|instructions|"
        r"prompts|tasks|problems|samples|pairs)\b|生成\s*\d+\s*(?:个|条|道)|сгенерируй\w*\s+\d+|genera\w*\s+\d+",
        0.6,
    ),
    "json_pairs": (
        r"\"(?:" + _KEYS + r")\"\s*:|'(?:" + _KEYS + r")'\s*:"
        r"|\bjsonl\b|\bjson (?:format|object|array|list)s? (?:with|containing) (?:the )?(?:keys|fields)\b"
        r"|\b(?:keys|fields) \W?(?:" + _KEYS + r")\W? and \W?(?:" + _KEYS + r")\b",
        0.35,
    ),
    "instruction_response": (
        r"###\s*(?:instruction|response|input|output)\s*:?|(?m:^\s*(?:definition|instruction"
        r"|instructions)\s*:)"
        r"|(?m:^\s*(?:output|response|answer|completion|label)\s*:\s*$)"
        r"|\bbelow is an instruction that describes\b"
        r"|(?m:^\s*(?:input|context)\s*:)",
        0.4,
    ),
    "few_shot": (
        r"(?m:^\s*(?:q|question|problem)\s*:.*\n(?:.*\n){0,12}?\s*(?:a|answer|solution)\s*:)"
        r"|(?m:^\s*(?:example|sample)\s*\d+\s*:)",
        0.3,
    ),
}

DATASET_KINDS: tuple[str, ...] = tuple(PATTERNS)

#: kinds whose every match contains one of these literals: their patterns only run on the texts that
#: hold one (one cheap literal pass instead of a regex pass over every text)
PREFILTER: tuple[str, ...] = (":", "###", "below is an instruction")
PREFILTERED_KINDS: tuple[str, ...] = ("instruction_response", "few_shot")


@register
class DatasetShape(PromptSignal):
    """Dataset-shaped request: how much the request looks like a harvested training-set row.

    ``dataset_shape`` in [0, 1] is the evidence for the strongest kind (``1 - (1 - per_hit) **
    hits`` over that kind's patterns), ``dataset_kind`` that kind (rubric, generate_n, json_pairs,
    instruction_response, few_shot) or null when nothing matched. Reads the lower-cased system
    prompt + prompt.
    """

    id = "prompt.dataset_shape"
    requires = ("prompt",)
    outputs = ("dataset_shape", "dataset_kind")

    def values(self, ctx: PromptContext):
        units = ctx.units
        full = [k for k in PATTERNS if k not in PREFILTERED_KINDS]
        unit_counts = units.to_frame("text").select(
            [pl.col("text").str.count_matches(rx(PATTERNS[k][0])).alias(k) for k in full]
        )
        counts = {
            k: ctx.combine(unit_counts[k].fill_null(0).to_numpy().astype(np.int64), "add") for k in full
        }
        cand = np.flatnonzero(units.str.contains_any(list(PREFILTER)).fill_null(False).to_numpy())
        sub = (
            units.gather(cand)
            .to_frame("text")
            .select(
                [pl.col("text").str.count_matches(rx(PATTERNS[k][0])).alias(k) for k in PREFILTERED_KINDS]
            )
        )
        for k in PREFILTERED_KINDS:
            c = np.zeros(len(units), dtype=np.int64)
            c[cand] = sub[k].fill_null(0).to_numpy()
            counts[k] = ctx.combine(c, "add")
        raw = np.vstack([hits_to_score(counts[k], w) for k, (_, w) in PATTERNS.items()])
        if ctx.n == 0:
            return {"dataset_shape": pa.array([], pa.float32()), "dataset_kind": pa.array([], pa.string())}
        best = np.argmax(raw, axis=0)
        score = raw[best, np.arange(ctx.n)]
        kind = np.where(score > 0, np.array(DATASET_KINDS, dtype=object)[best], None)
        return {
            "dataset_shape": pa.array(score.astype(np.float32), type=pa.float32()),
            "dataset_kind": pa.array(kind, type=pa.string()),
        }
