"""Chain-of-thought elicitation: does the request (prompt + system prompt) ask for the reasoning?

Patterns are data: per language, three tiers of evidence (``strong``: an explicit demand to reason
step by step or to show the reasoning; ``medium``: step-by-step or reasoning-adjacent wording that
ordinary requests also use; ``weak``: "explain why"-style requests), plus a language-neutral table
of *tag demands* (reasoning forced into ``<think>...</think>``, ``<reasoning>``, ``[THOUGHT]``,
``<|begin_of_thought|>`` ...). Patterns run on the lower-cased text, so they are written in lower case.

The score is graded evidence, not a verdict: power users write "think step by step" too; the
decision is made later from accounts and cross-account structure (an instruction repeated verbatim
across thousands of accounts is what matters, see ``prompt.template_skeleton``).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import PromptContext, rx

#: evidence weight of one tier (combined across matched groups with noisy-or)
TIER_WEIGHTS = {"strong": 0.8, "medium": 0.45, "weak": 0.2}
TAG_WEIGHT = 0.7

_STEP_EN = r"step[- ]by[- ]step|one step at a time|step[- ]wise"

#: language (ISO 639-1) -> tier -> regex (lower case)
PATTERNS: dict[str, dict[str, str]] = {
    "en": {
        "strong": (
            r"\b(?:think|thinking|reason|reasoning|work|go|walk|solve|answer|explain"
            r"|break)\w*\b[^.\n]{0,40}\b(?:"
            + _STEP_EN
            + r")\b|\blet'?s think\b|\bchain[- ]of[- ]thoughts?\b|\bshow (?:all )?(?:of )?(?:your|the|its) "
            r"(?:work|working|reasoning|thinking|thought process|steps|derivation)\b"
            r"|\b(?:think|reason) (?:carefully |deeply |hard |thoroughly )?(?:about it )?before (?:you )?"
            r"(?:answer|respond|reply|giv)"
            r"|\b(?:detail|describe|explain|write out|lay out|articulate|verbalize|output) (?:\w+ ){0,2}"
            r"(?:thought|thinking|reasoning) process\b|\bsystematic (?:long )?thinking process\b"
            r"|\binternal (?:reasoning|monologue|thoughts?)\b|\breasoning trace\b"
            r"|\b(?:first|begin by) (?:think|reason)(?:ing)? (?:through|about|out loud)\b|\bthink out loud\b"
        ),
        "medium": (
            r"\b(?:" + _STEP_EN + r")\b|\bexplain (?:your|the|each) (?:reasoning|rationale|logic|steps)\b"
            r"|\b(?:reasoning|rationale) (?:behind|for)\b|\bthink (?:carefully|deeply|hard|thoroughly)\b"
            r"|\breason (?:carefully|through)\b|\bwalk (?:me )?through\b|\bjustify (?:your|each|the)\b"
        ),
        "weak": r"\bexplain why\b|\bexplain your answer\b|\bshow (?:me )?how\b|\bbe thorough\b",
    },
    "zh": {
        "strong": (
            r"一步一步|一步步(?:地)?(?:思考|推理|分析|解答|解决|推导|来)|逐步(?:思考|推理|分析|推导)|分步(?:骤)?(?:思考|推理)"
            r"|(?:写出|给出|展示|列出|说明|详细说明)(?:你的|完整的|详细的)?(?:推理|思考|思维|解题)(?:过程|步骤)"
            r"|思维链|(?:先|请先)(?:思考|推理)(?:再|后)|深入思考"
        ),
        "medium": r"逐步|分步|循序渐进|推理过程|思考过程|解题过程|详细步骤",
        "weak": r"解释(?:一下)?为什么|说明理由",
    },
    "ja": {
        "strong": (
            r"ステップ・?バイ・?ステップ(?:で|に)?(?:考え|推論|解)|段階的に(?:考え|推論|解)|一歩ずつ(?:考え|推論|解)"
            r"|(?:推論|思考|解答)(?:の)?(?:過程|プロセス|手順)を(?:示|説明|書|記述|見せ)|順を追って(?:考え|推論|説明)"
        ),
        "medium": r"ステップ・?バイ・?ステップ|段階的に|一歩ずつ|順を追って|考え方を(?:示|説明)",
        "weak": r"理由を説明",
    },
    "ko": {
        "strong": (
            r"단계별로\s*(?:생각|추론|풀|설명)|차근차근\s*(?:생각|추론|풀)|한\s*단계씩\s*(?:생각|추론|풀)"
            r"|(?:추론|사고|풀이|생각)\s*과정을\s*(?:보여|설명|적어|작성|서술)"
        ),
        "medium": r"단계별로|단계적으로|차근차근|한\s*단계씩",
        "weak": r"이유를\s*설명",
    },
    "ru": {
        "strong": (
            r"(?:подума|рассужда|реша|объясн|размышля)\w*[^.\n]{0,30}(?:шаг за шагом|пошагово|поэтапно)"
            r"|(?:покаж|опиш|изложи|распиши|объясн)\w*\s+(?:\w+\s+){0,2}(?:рассуждени"
            r"|ход (?:сво\w+ )?мысл|ход решени)"
            r"|цепочк\w+ рассуждени"
        ),
        "medium": r"шаг за шагом|пошагов|поэтапн|ход рассуждени",
        "weak": r"объясни(?:те)?,? почему",
    },
    "es": {
        "strong": (
            r"(?:piensa|pensar|razona|razonar|resuelve|resolver|explica|explicar)\w*[^.\n]{0,30}paso a paso"
            r"|(?:muestra|explica|detalla|describe|expón)\w*\s+(?:\w+\s+){0,2}(?:razonamiento"
            r"|proceso de pensamiento)"
            r"|cadena de pensamiento"
        ),
        "medium": r"paso a paso|razonamiento|piensa (?:detenidamente|con cuidado|cuidadosamente)",
        "weak": r"explica por qué",
    },
    "pt": {
        "strong": (
            r"(?:pense|pensar|raciocine|resolva|explique)\w*[^.\n]{0,30}(?:passo a passo|etapa por etapa)"
            r"|(?:mostre|explique|detalhe|descreva)\w*\s+(?:\w+\s+){0,2}(?:raciocínio|processo de pensamento)"
            r"|cadeia de pensamento"
        ),
        "medium": r"passo a passo|etapa por etapa|raciocínio|pense com cuidado",
        "weak": r"explique por que",
    },
    "fr": {
        "strong": (
            r"(?:réfléchi|raisonne|résou|explique|pense)\w*[^.\n]{0,30}(?:étape par étape|pas à pas)"
            r"|(?:montre|explique|détaille|décri|expose)\w*\s+(?:\w+\s+){0,2}(?:raisonnement|démarche)"
            r"|chaîne de pensée"
        ),
        "medium": r"étape par étape|pas à pas|raisonnement|réfléchis(?:sez)? (?:bien|attentivement)",
        "weak": r"explique(?:z)? pourquoi",
    },
    "de": {
        "strong": (
            r"(?:denk|überleg|lös|erklär|begründ)\w*[^.\n]{0,30}(?:schritt für schritt|schrittweise)"
            r"|(?:zeig|erklär|erläuter|beschreib|leg)\w*\s+(?:\w+\s+){0,2}(?:gedankengang|lösungsweg"
            r"|denkprozess"
            r"|überlegungen)|gedankenkette"
        ),
        "medium": r"schritt für schritt|schrittweise|gedankengang|denk(?:e)? (?:sorgfältig|gründlich)",
        "weak": r"erkläre?,? warum",
    },
    "it": {
        "strong": r"(?:pensa|ragiona|risolvi|spiega)\w*[^.\n]{0,30}passo (?:dopo |a )?passo"
        "|mostra il (?:tuo )?ragionamento",
        "medium": r"passo dopo passo|passo a passo|ragionamento",
        "weak": r"spiega perché",
    },
    "ar": {
        "strong": (
            r"(?:فكر|فكّر|حل|اشرح)[^.\n]{0,30}خطوة (?:ب|ل)?خطوة|(?:اشرح|وضح|بين|اعرض)\s+(?:\S+\s+){0,2}"
            r"(?:تفكيرك|استدلالك|طريقة تفكيرك|منطقك)|سلسلة (?:من )?(?:التفكير|الأفكار)"
        ),
        "medium": r"خطوة (?:ب|ل)?خطوة|خطوة خطوة|فكر بعناية",
        "weak": r"اشرح لماذا",
    },
    "hi": {
        "strong": r"(?:सोच|हल|समझा)[^।\n]{0,30}(?:चरण दर चरण|कदम दर कदम|चरणबद्ध)",
        "medium": r"चरण दर चरण|कदम दर कदम|चरणबद्ध",
        "weak": r"क्यों समझाइए",
    },
    "tr": {"strong": r"adım adım (?:düşün|çöz|açıkla)", "medium": r"adım adım", "weak": r"nedenini açıkla"},
    "nl": {
        "strong": r"(?:denk|los|leg)\w*[^.\n]{0,30}stap voor stap",
        "medium": r"stap voor stap",
        "weak": r"leg uit waarom",
    },
    "pl": {
        "strong": r"(?:pomyśl|rozwiąż|wyjaśnij)\w*[^.\n]{0,30}krok po kroku",
        "medium": r"krok po kroku",
        "weak": r"wyjaśnij dlaczego",
    },
    "vi": {
        "strong": r"(?:suy nghĩ|giải|giải thích)[^.\n]{0,30}từng bước",
        "medium": r"từng bước",
        "weak": r"giải thích tại sao",
    },
    "id": {
        "strong": r"(?:pikirkan|selesaikan"
        "|jelaskan)[^.\n]{0,30}langkah demi langkah",
        "medium": r"langkah demi langkah",
        "weak": r"jelaskan mengapa",
    },
}

_TAG_NAMES = (
    r"think|thinking|thought|thoughts|reason|reasoning|reasonings|scratchpad|scratch_pad|analysis"
    r"|rationale|cot"
    r"|inner_monologue|internal_monologue|internal_thoughts|reflection|reflect|deliberation|chain_of_thought"
)
#: demands that the reasoning go inside tags (language-neutral)
TAG_PATTERN = (
    r"<\s*/?\s*(?:" + _TAG_NAMES + r")\s*>"
    r"|<\|\s*(?:begin|end)_of_(?:thought|reasoning|thinking)\s*\|>"
    r"|\[\s*/?\s*(?:" + _TAG_NAMES + r")\s*\]"
    r"|\b(?:" + _TAG_NAMES + r")\s+(?:tags?|blocks?|section)\b"
)

_TIERS = ("strong", "medium", "weak")

#: literals that every pattern of a language needs (an Aho-Corasick prefilter: a row without any of
#: them cannot match that language's patterns, so the regexes only run on the few rows that can)
LITERALS: dict[str, tuple[str, ...]] = {
    "en": (
        "step",
        "think",
        "reason",
        "chain",
        "show",
        "thought",
        "monologue",
        "walk",
        "justify",
        "explain",
        "loud",
        "thorough",
        "rationale",
        "logic",
    ),
    "zh": ("一步", "逐步", "分步", "过程", "步骤", "思维链", "思考", "推理", "循序渐进", "为什么", "理由"),
    "ja": ("ステップ", "段階的", "一歩ずつ", "順を追って", "過程", "プロセス", "手順", "考え方", "理由"),
    "ko": ("단계", "차근차근", "과정", "이유"),
    "ru": ("шаг", "пошагов", "поэтапн", "рассуждени", "мысл", "решени", "почему"),
    "es": ("paso a paso", "razonamiento", "pensamiento", "detenidamente", "cuidado", "por qué"),
    "pt": ("passo a passo", "etapa por etapa", "raciocínio", "pensamento", "cuidado", "por que"),
    "fr": ("étape", "pas à pas", "raisonnement", "démarche", "pensée", "réfléchis", "pourquoi"),
    "de": (
        "schritt",
        "gedanken",
        "lösungsweg",
        "denkprozess",
        "überlegung",
        "sorgfältig",
        "gründlich",
        "warum",
    ),
    "it": ("passo", "ragionamento", "perché"),
    "ar": ("خطوة", "تفكير", "استدلال", "منطق", "الأفكار", "بعناية", "لماذا"),
    "hi": ("चरण", "कदम", "क्यों"),
    "tr": ("adım adım", "nedenini"),
    "nl": ("stap voor stap", "waarom"),
    "pl": ("krok po kroku", "dlaczego"),
    "vi": ("từng bước", "tại sao"),
    "id": ("langkah demi langkah", "mengapa"),
}
TAG_LITERALS: tuple[str, ...] = (
    "think",
    "thought",
    "reason",
    "scratch",
    "analysis",
    "rationale",
    "cot",
    "monologue",
    "reflect",
    "deliberation",
)
ALL_LITERALS: tuple[str, ...] = tuple(
    sorted({x for lits in LITERALS.values() for x in lits} | set(TAG_LITERALS))
)
assert list(LITERALS) == list(PATTERNS), "LITERALS and PATTERNS list the same languages in the same order"
_TAG_BIT = 1 << len(PATTERNS)
#: bit of a matched tag demand in the per-text hit masks (bits below it: language * 3 + tier)
_TAG_HIT = 1 << (3 * len(PATTERNS))
#: literal -> bit mask of the languages (bit i: i-th of PATTERNS) and tag table (_TAG_BIT) needing it
_LITERAL_BITS: dict[str, int] = {
    lit: sum(1 << i for i, lits in enumerate(LITERALS.values()) if lit in lits)
    | (_TAG_BIT if lit in TAG_LITERALS else 0)
    for lit in ALL_LITERALS
}


def literal_masks(text: pl.Series) -> np.ndarray:
    """Per text, the OR of :data:`_LITERAL_BITS` over the literals it contains (one Aho-Corasick pass)."""
    found = text.str.extract_many(list(ALL_LITERALS), overlapping=True).rechunk().to_arrow()
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    offsets = found.offsets.to_numpy().astype(np.int64)
    flat = pl.Series(found.flatten(), dtype=pl.String)
    bits = flat.replace_strict(
        list(_LITERAL_BITS), list(_LITERAL_BITS.values()), return_dtype=pl.Int64
    ).to_numpy()
    out = np.zeros(len(offsets) - 1, dtype=np.int64)
    if bits.size:
        row = np.repeat(np.arange(len(out)), np.diff(offsets))
        bounds = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        out[row[bounds]] = np.bitwise_or.reduceat(bits, bounds)
    return out


@register
class CotElicitation(PromptSignal):
    """Chain-of-thought elicitation: how strongly prompt + system prompt demand visible reasoning.

    ``cot`` in [0, 1] is the noisy-or of the matched evidence groups (per language: strong 0.8,
    medium 0.45, weak 0.2; a demand for reasoning tags 0.7), ``cot_lang`` the ISO 639-1 code of the
    strongest matched pattern (null when none, or when only a tag demand matched), ``cot_tagged``
    whether the request demands reasoning inside tags such as ``<think>...</think>``,
    ``<reasoning>`` or ``[THOUGHT]``. Patterns cover en, zh, ja, ko, ru, es, pt, fr, de, it, ar,
    hi, tr, nl, pl, vi, id. Evidence, not a verdict: power users and evaluation harnesses ask for
    step-by-step reasoning too.
    """

    id = "prompt.cot_elicitation"
    requires = ("prompt",)
    outputs = ("cot", "cot_lang", "cot_tagged")

    def values(self, ctx: PromptContext):
        # each distinct prompt and each distinct system prompt is read once: per text unit, one bit
        # per matched (language, tier) and one for a tag demand, OR-ed per row at the end
        units = ctx.units
        bits = np.zeros(len(units), dtype=np.int64)
        # one Aho-Corasick pass finds every literal present; each language's regexes then run
        # only on the texts holding one of its literals
        present = literal_masks(units)
        tag_rows = np.flatnonzero(present & _TAG_BIT)
        if tag_rows.size:
            hit = units.gather(tag_rows).str.contains(rx(TAG_PATTERN)).to_numpy()
            bits[tag_rows[hit]] |= _TAG_HIT
        for li, tiers in enumerate(PATTERNS.values()):
            rows = np.flatnonzero(present & (1 << li))
            if not rows.size:
                continue
            hits = (
                units.gather(rows)
                .to_frame("t")
                .select([pl.col("t").str.contains(rx(tiers[tier])).alias(tier) for tier in _TIERS])
            )
            for ti, tier in enumerate(_TIERS):
                bits[rows[hits[tier].to_numpy()]] |= 1 << (li * len(_TIERS) + ti)
        # score, language and tag flag per distinct combination of matched bits (a few hundred)
        combos, inv = np.unique(ctx.combine(bits, "or"), return_inverse=True)
        keep = np.ones(len(combos), dtype=np.float64)  # prod(1 - w) over matched groups
        tagged = (combos & _TAG_HIT) != 0
        keep *= np.where(tagged, 1.0 - TAG_WEIGHT, 1.0)
        lang = np.full(len(combos), None, dtype=object)
        best_w = np.zeros(len(combos))
        for li, code in enumerate(PATTERNS):
            for ti, tier in enumerate(_TIERS):
                h = (combos & (1 << (li * len(_TIERS) + ti))) != 0
                w = TIER_WEIGHTS[tier]
                keep *= np.where(h, 1.0 - w, 1.0)
                better = h & (w > best_w)
                best_w[better] = w
                lang[better] = code
        inv = inv.reshape(-1)
        return {
            "cot": pa.array((1.0 - keep[inv]).astype(np.float32), type=pa.float32()),
            "cot_lang": pa.array(lang[inv], type=pa.string()),
            "cot_tagged": pa.array(tagged[inv], type=pa.bool_()),
        }
