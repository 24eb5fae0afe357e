"""Capability category: which capability of the model a request exercises.

A fixed vocabulary (:data:`CAPABILITIES`). Each category has a table of patterns (lower case,
multilingual where cheap); the evidence for a category is ``1 - (1 - per_hit) ** hits`` over its
pattern hits, task categories (what to do with the text: grade it, rewrite it, translate it ...)
get a small precedence over domain categories (what the text is about) at equal evidence, and the
category with the most evidence wins. ``agentic_coding`` needs both code evidence and agent
evidence (tools offered, or tool/agent vocabulary); ``tool_use`` is agent evidence without code.
A request with no evidence for any category is ``general_chat`` with score 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal, hits_to_score, noisy_or
from distillguard.signals.prompt.context import PromptContext, rx

#: The fixed vocabulary of ``capability`` (documented in ``features.PROMPT_FEATURES``).
CAPABILITIES: tuple[str, ...] = (
    "math_reasoning",
    "coding",
    "agentic_coding",
    "tool_use",
    "rubric_grading",
    "reasoning_articulation",
    "safe_rewrite",
    "data_generation",
    "translation",
    "summarization",
    "creative_writing",
    "general_chat",
)

#: category -> (regex over lower-cased system + prompt, evidence per hit)
PATTERNS: dict[str, tuple[str, float]] = {
    "math_reasoning": (
        r"\\(?:frac|dfrac|boxed|sqrt|sum|int|cdot|times|leq?|geq?|pi|theta|alpha|binom|log|sin|cos|mathbf|mathrm)\b"
        r"|\b(?:solve|calculate|compute|evaluate|simplify|prove|factor(?:ize)?|differentiate|integrate)\b"
        r"|\bfind (?:the|all|a) (?:value|values|sum|number|area|volume|probability|remainder|smallest|"
        r"largest|"
        r"greatest|least|minimum|maximum|roots?|solutions?|integers?|length|radius|perimeter)\b"
        r"|\bhow (?:many|much)\b"
        r"|\bwhat is the (?:sum|product|value|probability|remainder|area|total|difference)\b"
        r"|\b(?:equations?|integers?|polynomials?|probability|theorem|derivative|integral|triangle|percent(?:age)?|"
        r"remainder|divisible|prime|fraction|ratio|arithmetic|geometry|algebra|calculus)\b"
        r"|解方程|计算|求解|方程|概率|整数|余数|вычисли|уравнени|calcula|ecuaci|résou|équation|berechne|gleichung"
        r"|計算|方程式|계산|방정식",
        0.3,
    ),
    "coding": (
        r"```|\bdef \w+\s*\(|\bfunction\s+\w+\s*\(|#include|\bpublic (?:static )?\w+|\bconsole\.log\b"
        r"|\bimport \w+"
        r"|\breturn\b|=>|\b\w+\(\)"
        r"|\b(?:python|javascript|typescript|java|c\+\+|c#|golang|rust|ruby|php|kotlin|swift|scala|sql"
        r"|html|css|"
        r"bash|shell script|react|django|flask|node\.?js|pandas|numpy|regex|jquery)\b"
        r"|\b(?:code|coding|function|functions|class|method|algorithm|compile|compiler|debug|bug|program"
        r"|script|"
        r"api|snippet|implement|implementation|refactor|unit tests?|variable|array|linked list|stack trace|"
        r"exception|runtime|syntax)\b"
        r"|代码|函数|程序|编程|код|функци|програм|código|función|programa|fonction|コード|関数|プログラム|코드|함수",
        0.3,
    ),
    "tool_use": (
        r"\b(?:tool_calls?|function_call|tool_use|tool calls?|available tools|available functions"
        r"|call (?:a|the) tool"
        r"|use (?:the|a|these) tools?|you have access to (?:the following )?(?:tools|functions)|agent"
        r"|agents|agentic)\b"
        r"|(?m:^\s*(?:thought|action|action input|observation)\s*:)"
        r"|\"(?:name|parameters|arguments|function)\"\s*:|\breact\b(?: framework| loop| agent| pattern)"
        r"|\b(?:terminal|shell command|run the tests|pull request|repository|repo|codebase|file system"
        r"|edit the file|"
        r"apply the patch|git (?:diff|commit|push|checkout)|browse|web search|search the web)\b",
        0.35,
    ),
    "rubric_grading": (
        r"\brubric\b|\bgrad(?:e|ing) (?:the|this|each|following|an?)\b|\bscore (?:the|this|each|following)\b"
        r"|\brate (?:the|this|each|following|how)\b|\bon a scale (?:of|from)\b|\bscale of \S+ to\b"
        r"|\b(?:evaluate|assess|judge) (?:the|this|each) (?:quality|response|answer|responses|answers|output|"
        r"completion|helpfulness|correctness)\b|\bwhich (?:response|answer|output|assistant) is better\b"
        r"|\b(?:assistant|response|answer) [ab]\b|\[\[[ab]\]\]|\breward model\b|\bas a judge\b"
        r"|\bimpartial judge\b"
        r"|\bscoring criteria\b|\bevaluation criteria\b|\bpreference\b|\bgive (?:it )?a score\b|\bscore:\s"
        r"|评分|打分|оцени|puntúa|califica|note de \S+ à|bewerte|採点|評価して|채점|점수",
        0.45,
    ),
    "reasoning_articulation": (
        r"\barticulat\w*\b|\binternal reasoning\b|\breasoning behind\b|\brationale (?:behind|for)\b"
        r"|\bexplain (?:the|your) (?:reasoning|rationale|thought process|thinking)\b"
        r"|\bwhy (?:this|the) (?:response|answer|output) is\b|\bjustify (?:the|this|your) (?:answer"
        r"|response)\b"
        r"|\b(?:reconstruct|reveal|describe) (?:the|your) (?:reasoning|thought process|thinking)\b"
        r"|\bthought process\b|解释.{0,6}推理|推理过程|ход рассуждени|razonamiento detrás",
        0.5,
    ),
    "safe_rewrite": (
        r"\b(?:rewrite|rephrase|reformulate|paraphrase|reword|transform|convert|turn)\b[^\n]{0,80}"
        r"\b(?:safe|safer|harmless|appropriate|non[- ]?harmful|benign|compliant|acceptable|inoffensive"
        r"|neutral|"
        r"policy[- ]compliant|sanitized?|censored|innocuous)\b"
        r"|\b(?:sanitize|detoxify|defang)\b|\bsensitive (?:question|topic|request|prompt)s?\b"
        r"|\bmake (?:it|this|the \w+) (?:safe|harmless|appropriate)\b|安全(?:的)?(?:版本|改写)|改写成安全",
        0.5,
    ),
    "data_generation": (
        r"\b(?:generate|create|write|produce|give me|come up with|list|provide|make|brainstorm)\s+(?:me\s+)?"
        r"(?:\d+|a list of|a set of|a dataset of|ten|twenty|fifty|a hundred|several|multiple|many|some)\s+"
        r"(?:\w+\s+){0,3}(?:examples|questions|instructions|prompts|samples|tasks|problems|pairs|sentences|"
        r"conversations|dialogues|dialogs|variations|items|entries|data points|records|queries|test cases)\b"
        r"|\b(?:synthetic|training|fine[- ]?tuning|instruction[- ]tuning) (?:data|dataset|examples|set)\b"
        r"|\bdataset\b|\bjsonl\b|生成.{0,6}(?:个|条).{0,6}(?:问题|例子|样本|数据)|сгенерируй|genera \d+",
        0.45,
    ),
    "translation": (
        r"\btranslat\w*\b|\binto (?:english|chinese|french|spanish|german|japanese|korean|russian|arabic"
        r"|portuguese|"
        r"italian|hindi|turkish|dutch|polish|vietnamese)\b|翻译|翻訳|번역|перевед|перевод|tradu[cz]|übersetz",
        0.6,
    ),
    "summarization": (
        r"\bsummar\w*\b|\btl;?dr\b|\bkey (?:points|takeaways)\b|\bcondense\b|\bin (?:one|two|three|a few) "
        r"(?:sentences?|bullet points|words)\b|\bgist\b|总结|摘要|概括|резюм|кратко изложи|要約|요약|résum"
        r"|zusammenfass",
        0.55,
    ),
    "creative_writing": (
        r"\b(?:poem|poems|poetry|story|stories|haiku|song|lyrics|limerick|novel|fiction|sonnet"
        r"|screenplay|rap|"
        r"short story|fairy tale|fable|narrative|plot|character|characters|dialogue|joke|jokes|slogan"
        r"|tagline|"
        r"essay|blog post|speech|verse)\b|诗|故事|小说|стих|рассказ"
        r"|poema|cuento|poème|histoire|gedicht|geschichte"
        r"|詩|物語|시를|이야기",
        0.35,
    ),
}

#: extra evidence groups tested with ``contains`` (patterns that match often: counting them is slow)
EXTRA: dict[str, tuple[tuple[str, float], ...]] = {
    "math_reasoning": ((r"\$[^$\n]+\$", 0.3), (r"\d\s*[-+*/^=×÷]\s*\d|\d%|\d %", 0.2)),
}

#: task categories take precedence over domain categories at equal evidence
TASK_CATEGORIES = (
    "rubric_grading",
    "reasoning_articulation",
    "safe_rewrite",
    "data_generation",
    "translation",
    "summarization",
)
TASK_PRECEDENCE = 1.25
#: The capability of a request is what its user text asks for. A system prompt frames it (a grader's
#: rubric, a tool list) but also carries boilerplate about *how* to answer (a chain-of-thought
#: meta-prompt talks of "summarizing findings" on every request): its evidence for a category counts
#: one hit at most, at this weight, except for agent/tool evidence, which system prompts define.
SYSTEM_WEIGHT = 0.5
SYSTEM_FULL = frozenset({"tool_use"})
#: evidence that tools were offered (``tools > 0``)
TOOLS_EVIDENCE = 0.8


@register
class Capability(PromptSignal):
    """Capability category of a request, from a fixed vocabulary, with the strength of its evidence.

    ``capability`` is one of ``CAPABILITIES`` (math_reasoning, coding, agentic_coding, tool_use,
    rubric_grading, reasoning_articulation, safe_rewrite, data_generation, translation,
    summarization, creative_writing, general_chat); ``capability_score`` in [0, 1] is the evidence
    for the chosen category (0 for general_chat: no evidence for anything else). Reads the
    lower-cased prompt, and the system prompt with less weight (one hit per category at half
    strength; tool/agent evidence in full); the optional ``tools`` column adds agent evidence.
    """

    id = "prompt.capability"
    requires = ("prompt",)
    outputs = ("capability", "capability_score")

    def values(self, ctx: PromptContext):
        names = list(PATTERNS)
        counts_p, counts_s = ctx.evaluate_apart(
            [pl.col("text").str.count_matches(rx(PATTERNS[c][0])).alias(c) for c in names]
        )
        extra_p, extra_s = ctx.evaluate_apart(
            [
                pl.col("text").str.contains(rx(p)).alias(f"{c}{i}")
                for c, groups in EXTRA.items()
                for i, (p, _) in enumerate(groups)
            ]
        )
        ev = {}
        for c in names:
            own = hits_to_score(counts_p[c].to_numpy(), PATTERNS[c][1])
            sys_hits = counts_s[c].to_numpy()
            if c not in SYSTEM_FULL:  # the system prompt frames the request: one hit, discounted
                sys_ev = SYSTEM_WEIGHT * hits_to_score(np.minimum(sys_hits, 1), PATTERNS[c][1])
            else:
                sys_ev = hits_to_score(sys_hits, PATTERNS[c][1])
            ev[c] = noisy_or(own, sys_ev)
        for c, groups in EXTRA.items():
            ev[c] = noisy_or(
                ev[c],
                *[extra_p[f"{c}{i}"].to_numpy() * w for i, (_, w) in enumerate(groups)],
                *[extra_s[f"{c}{i}"].to_numpy() * w * SYSTEM_WEIGHT for i, (_, w) in enumerate(groups)],
            )
        agent = ev.pop("tool_use")
        if ctx.tools is not None:
            agent = 1.0 - (1.0 - agent) * np.where(ctx.tools > 0, 1.0 - TOOLS_EVIDENCE, 1.0)
        code = ev["coding"]
        both = (code > 0) & (agent > 0)
        # code + agent evidence: agentic coding, stronger than either alone
        ev["agentic_coding"] = np.where(both, 1.0 - (1.0 - code) * (1.0 - agent), 0.0)
        ev["tool_use"] = np.where(code > 0, 0.0, agent)
        ev["coding"] = np.where(both, 0.0, code)
        order = [c for c in CAPABILITIES if c != "general_chat"]
        raw = np.vstack([ev[c] for c in order])
        weight = np.array([TASK_PRECEDENCE if c in TASK_CATEGORIES else 1.0 for c in order])[:, None]
        best = np.argmax(raw * weight, axis=0)
        score = raw[best, np.arange(ctx.n)] if ctx.n else np.zeros(0)
        cap = np.array(order, dtype=object)[best] if ctx.n else np.zeros(0, dtype=object)
        cap = np.where(score > 0, cap, "general_chat")
        return {
            "capability": pa.array(cap, type=pa.string()),
            "capability_score": pa.array(np.clip(score, 0, 1).astype(np.float32), type=pa.float32()),
        }
