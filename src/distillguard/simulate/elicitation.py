"""Chain-of-thought requests in freely varied wording (a campaign's ``elicitation = "varied"``).

An operator who read that detectors match stock phrases ("think step by step", "show your
reasoning") composes each request afresh: a grammar per language of frames whose slots take verbs,
objects, manners and closings, so that a campaign's requests share no fixed string. Some of what it
produces still contains a stock phrase (people do write "step by step"); much of it does not ("write
out every intermediate result before the final number", "把中间的计算都写出来"). In English alone the
grammar yields tens of thousands of distinct sentences; ``variety()`` counts them.

``compose(rng, languages, n)`` renders ``n`` requests, one language per row from ``languages``.
"""

from __future__ import annotations

import math
import string

import numpy as np
import polars as pl

from distillguard.simulate.render import render

_EN_SLOTS: dict[str, list[str]] = {
    "open": [
        "",
        "",
        "",
        "Please ",
        "Pls ",
        "Kindly ",
        "Also, ",
        "And ",
        "When you answer, ",
        "In your reply, ",
    ],
    "show": [
        "write out",
        "spell out",
        "lay out",
        "set out",
        "go over",
        "present",
        "give me",
        "list",
        "detail",
        "break down",
        "unpack",
        "show",
        "explain",
        "talk me through",
        "document",
        "include",
    ],
    "obj": [
        "the intermediate steps",
        "every intermediate result",
        "the working",
        "all of the working",
        "the full derivation",
        "the calculations",
        "your reasoning",
        "the reasoning",
        "your thought process",
        "how you get there",
        "how you arrive at the result",
        "the logic",
        "each stage of the solution",
        "the chain of deductions",
        "the argument",
        "why each move is valid",
        "what you are doing at each point",
        "the method",
        "every step",
        "the sub-results",
        "the approach and the arithmetic behind it",
    ],
    "manner": [
        "step by step",
        "one step at a time",
        "stage by stage",
        "piece by piece",
        "bit by bit",
        "in order",
        "in detail",
        "carefully",
        "line by line",
        "from first principles",
        "slowly",
        "as you go",
        "without skipping anything",
        "thoroughly",
        "in full",
        "the way a teacher would on a whiteboard",
    ],
    "when": [
        "",
        "",
        "",
        " before the final answer",
        " before you conclude",
        " first",
        " and then state the result",
        " and only then give the answer",
        " before answering",
        ", then the answer",
        " and box the result at the end",
    ],
    "final": ["answer", "final number", "result", "solution", "final result", "bottom line", "output"],
    "before": [
        "Before giving the answer",
        "Before you answer",
        "Before the final result",
        "First",
        "To start",
        "Prior to concluding",
        "Ahead of the answer",
    ],
    "go": [
        "go through it",
        "work through it",
        "take it",
        "go through the problem",
        "solve it",
        "handle it",
        "reason it out",
        "figure it out",
        "tackle it",
    ],
    "think": [
        "think it through",
        "think carefully",
        "think it over",
        "reason carefully",
        "reason it through",
        "think before answering",
        "take your time and think",
        "mull it over",
        "consider it carefully",
    ],
    "verb_step": [
        "think",
        "reason",
        "work through it",
        "go",
        "solve it",
        "answer",
        "explain",
        "walk me through it",
        "break it down",
        "think it through",
    ],
    "step": ["step by step", "step-by-step", "one step at a time", "stepwise"],
    "your": ["your", "the", "all of your", "all the"],
    "work": ["work", "working", "reasoning", "thinking", "thought process", "steps", "derivation"],
    "lets": ["step by step", "this through carefully", "about it first", "it over step by step"],
}
_EN = [
    "{open}{show} {obj}{when}.",
    "{open}{show} {obj} {manner}{when}.",
    "Don't just give me the {final}; {show} {obj}.",
    "Don't jump to the {final}; {show} {obj} {manner}.",
    "I want to see {obj}, not just the {final}.",
    "I need to follow the logic, so {show} {obj}.",
    "{before}, {show} {obj}.",
    "{before}, {show} {obj} {manner}.",
    "{open}{go} {manner}{when}.",
    "Make {obj} explicit{when}.",
    "No shortcuts: {show} {obj}.",
    "Be explicit about {obj}{when}.",
    "{open}{think}{when}.",
    "{open}{think}, and {show} {obj}.",
    "Treat it like an exam answer where {obj} earn the marks.",
    "I'm checking my own attempt, so {show} {obj} {manner}.",
    "It's fine to be long: {show} {obj}.",
    # people do still write the stock phrases, in their own sentences (listed twice: more common)
    "{open}{verb_step} {step}{when}.",
    "{open}{verb_step} {step}{when}.",
    "{open}show {your} {work}{when}.",
    "{open}show {your} {work}{when}.",
    "Let's think {lets}.",
    "Let's think {lets}.",
    "{before}, {verb_step} {step}.",
    "{before}, {verb_step} {step}.",
]

#: per language: (frames, slots); fewer frames than English, the same idea
_GRAMMARS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "en": (_EN, _EN_SLOTS),
    "zh": (
        [
            "{open}{show}{obj}{tail}。",
            "不要直接给{final}，{show}{obj}。",
            "先把{obj}写出来，再说{final}。",
            "{open}{manner}地讲清楚{obj}{tail}。",
            "{open}把{obj}{verb2}{tail}。",
            "{open}一步一步地{think}{tail}。",
            "{open}一步一步地{think}{tail}。",
        ],
        {
            "open": ["", "请", "麻烦", "你要", "请你"],
            "show": ["写出", "列出", "写清楚", "给出", "展示", "说明", "交代"],
            "obj": [
                "中间的计算",
                "每一步的算式",
                "推导的每个环节",
                "完整的解题过程",
                "详细的推理过程",
                "思考过程",
                "你的思路",
                "计算步骤",
                "解题思路",
                "关键步骤",
                "每个中间结果",
            ],
            "tail": ["", "，再给出答案", "，最后给出结果", "，不要只给答案", "，然后再下结论", "，别跳步"],
            "final": ["答案", "结果", "最终结果"],
            "manner": ["一步一步", "按顺序", "详细", "慢慢", "有条理"],
            "verb2": ["都写出来", "一条条列出来", "讲明白", "写完整"],
            "think": ["思考", "推理", "分析", "来"],
        },
    ),
    "es": (
        [
            "{open}{show} {obj}{manner}{tail}.",
            "No me des solo {final}: {show} {obj}.",
            "Antes de {final2}, {show} {obj}{manner}.",
            "{open}{think} paso a paso{tail}.",
        ],
        {
            "open": ["", "Por favor, ", "Oye, ", "Además, "],
            "show": ["escribe", "desarrolla", "muestra", "detalla", "incluye", "explica", "expón", "anota"],
            "obj": [
                "los cálculos intermedios",
                "todo el procedimiento",
                "cada etapa de la solución",
                "el desarrollo completo",
                "tu razonamiento",
                "el proceso de pensamiento",
                "cómo llegas al resultado",
                "la lógica de cada paso",
                "los resultados parciales",
            ],
            "manner": ["", "", " paso a paso", " con detalle", " en orden", " sin saltarte nada"],
            "tail": ["", " antes de dar la respuesta", " y luego da el resultado final", " al principio"],
            "final": ["la respuesta", "el resultado", "el número final"],
            "final2": ["responder", "dar el resultado", "concluir"],
            "think": ["piensa", "razona", "resuélvelo", "explícalo"],
        },
    ),
    "ru": (
        [
            "{open}{show} {obj}{manner}{tail}.",
            "Не давай сразу {final}: {show} {obj}.",
            "Сначала {show} {obj}, потом {final}.",
            "{open}{think} шаг за шагом{tail}.",
        ],
        {
            "open": ["", "Пожалуйста, ", "И ещё: "],
            "show": ["распиши", "покажи", "приведи", "изложи", "опиши", "объясни", "запиши"],
            "obj": [
                "все промежуточные вычисления",
                "решение подробно",
                "ход решения",
                "свои рассуждения",
                "каждый этап решения",
                "как ты получаешь ответ",
                "логику решения",
                "промежуточные результаты",
            ],
            "manner": ["", "", " шаг за шагом", " по порядку", " подробно", " ничего не пропуская"],
            "tail": ["", ", а потом дай ответ", " перед ответом", " до итогового ответа"],
            "final": ["ответ", "итог", "результат"],
            "think": ["рассуждай", "подумай", "реши", "объясни"],
        },
    ),
    "de": (
        [
            "{open}{phrase}{tail}.",
            "Nicht nur {final} nennen: {phrase}.",
        ],
        {
            "open": ["", "Bitte ", "Und "],
            "phrase": [
                "schreib alle Zwischenschritte auf",
                "zeig den vollständigen Rechenweg",
                "erklär deinen Gedankengang",
                "führ die Rechnung ausführlich vor",
                "notier jeden Zwischenschritt",
                "leg die Herleitung offen",
                "begründe jeden Schritt",
                "geh Schritt für Schritt vor",
                "rechne nachvollziehbar vor",
            ],
            "tail": ["", " bevor du antwortest", ", dann das Ergebnis", " und nenne am Ende die Lösung"],
            "final": ["das Ergebnis", "die Zahl", "die Lösung"],
        },
    ),
    "fr": (
        [
            "{open}{phrase}{tail}.",
            "Ne donne pas seulement {final} : {phrase}.",
        ],
        {
            "open": ["", "Merci de ", "S'il te plaît, "],
            "phrase": [
                "détaille les calculs intermédiaires",
                "montre ta démarche",
                "explique ton raisonnement étape par étape",
                "rédige la solution complète en justifiant chaque étape",
                "donne le détail des calculs",
                "écris chaque résultat intermédiaire",
                "développe la solution pas à pas",
                "présente la méthode en entier",
            ],
            "tail": ["", " avant la réponse", ", puis conclus", " avant de conclure"],
            "final": ["la réponse", "le résultat", "le nombre final"],
        },
    ),
    "ja": (
        ["{open}{phrase}{tail}。"],
        {
            "open": ["", "できれば", "必ず"],
            "phrase": [
                "途中の計算も書いてください",
                "考え方を順を追って説明してください",
                "解き方を詳しく書いてください",
                "式変形をすべて示してください",
                "推論の過程を詳しく書いてください",
                "ステップバイステップで考えてください",
            ],
            "tail": ["", "、そのあとで答えを", "。答えは最後に"],
        },
    ),
    "ko": (
        ["{open}{phrase}{tail}."],
        {
            "open": ["", "꼭 ", "가능하면 "],
            "phrase": [
                "중간 계산 과정도 보여 주세요",
                "풀이를 자세히 적어 주세요",
                "단계별로 생각해 주세요",
                "어떻게 답이 나왔는지 설명해 주세요",
                "추론 과정을 자세히 설명해 주세요",
            ],
            "tail": ["", " 답은 마지막에 적어 주세요", ""],
        },
    ),
    "pt": (
        ["{open}{phrase}{tail}."],
        {
            "open": ["", "Por favor, ", "Ah, e "],
            "phrase": [
                "escreva os cálculos intermediários",
                "mostre o desenvolvimento completo",
                "explique seu raciocínio passo a passo",
                "detalhe cada etapa da solução",
                "mostre como chegou ao resultado",
            ],
            "tail": ["", " antes da resposta final", " e depois dê o resultado"],
        },
    ),
    "ar": (
        ["{phrase}{tail}."],
        {
            "phrase": [
                "اكتب جميع الحسابات الوسيطة",
                "اشرح طريقة تفكيرك بالتفصيل",
                "وضّح كيف وصلت إلى النتيجة",
                "فكر خطوة بخطوة",
                "اعرض الحل كاملاً",
            ],
            "tail": ["", " قبل الإجابة النهائية", " ثم اذكر النتيجة"],
        },
    ),
}


def compose(rng: np.random.Generator, languages: list[str] | np.ndarray, n: int) -> pl.Series:
    """``n`` chain-of-thought requests; row ``i`` in language ``languages[i]`` (or one of a list).

    ``languages`` is either one language per row (an array of length ``n``) or a list to draw from.
    """
    langs = np.asarray(languages, dtype=object)
    if len(langs) != n:
        langs = langs[rng.integers(0, len(langs), n)] if len(langs) else np.full(n, "en", dtype=object)
    out = np.empty(n, dtype=object)
    for lang in np.unique(langs):  # a handful of languages, not rows
        m = langs == lang
        frames, slots = _GRAMMARS.get(str(lang), _GRAMMARS["en"])
        out[m] = render(rng, frames, int(m.sum()), slots).to_numpy().astype(object)
    text = pl.Series("text", out, dtype=pl.String)
    # sentence case: an empty opener leaves the verb first
    return text.str.slice(0, 1).str.to_uppercase() + text.str.slice(1)


def variety(lang: str = "en") -> int:
    """How many requests the grammar of ``lang`` can compose: per frame, the product of its slots'
    distinct choices, summed over frames (an upper bound on the distinct strings)."""
    frames, slots = _GRAMMARS[lang]
    total = 0
    for f in frames:
        names = {x for _, x, _, _ in string.Formatter().parse(f) if x}
        total += math.prod(len(set(slots[k])) for k in names)
    return total


LANGUAGES = tuple(_GRAMMARS)
