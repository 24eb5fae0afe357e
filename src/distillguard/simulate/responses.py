"""Short synthetic answers for the ``response`` column (``simulate --responses``).

A response is a bounded stand-in (at most ``MAX_CHARS`` characters), not a real model answer and not
``output_tokens`` long, shaped like what the request asked for, so that a detector reading responses
sees what a provider would see:

- a request that demands reasoning inside tags (a campaign's injected instruction, a lab's ``<think>``
  instruction, an OpenThoughts-style system prompt) is answered with the reasoning inside exactly those
  tags, then the final answer in the demanded form (``<answer>``, ``<final>``, ``SOLUTION:``,
  ``\\boxed{}``);
- a plain step-by-step demand (any language) or a chain-of-thought output gets numbered steps and a
  final answer;
- JSON graders get a small JSON verdict, completions a code snippet, agents a tool call, the rest a
  chat reply;
- requests that did not succeed (``status`` error / rate_limited) have no response.

Everything is vectorised (one rendered template per class, then a ``when/then`` chain).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distillguard.simulate.render import ints, render
from distillguard.simulate.text import ITEMS, TOPICS

MAX_CHARS = 300

#: (marker in the request, opening tag, closing tag); checked in order, first match wins
TAGS: list[tuple[str, str, str]] = [
    ("<reasoning>", "<reasoning>", "</reasoning>"),
    ("[[THOUGHT]]", "[[THOUGHT]]", "[[/THOUGHT]]"),
    ("begin_of_thought", "<|begin_of_thought|>", "<|end_of_thought|>"),
    ("<think>", "<think>", "</think>"),
]
#: (marker in the request, how the final answer is written); first match wins, else "Final answer: N"
FINALS: list[tuple[str, str]] = [
    ("<answer>", "<answer>{n}</answer>"),
    ("<final>", "<final>{n}</final>"),
    ("SOLUTION:", "SOLUTION: {n}"),
    ("begin_of_solution", "<|begin_of_solution|> {n} <|end_of_solution|>"),
    ("\\boxed", "\\boxed{{{n}}}"),
    ("'Answer:'", "Answer: {n}"),
    ("The answer is N", "The answer is {n}."),
]
COT_MARKERS = (
    r"(?i)step[ -]by[ -]step|reasoning|thought process|chain of thought|逐步|一步一步|推理|шаг|рассужд|"
    r"paso a paso|razona|schritt für schritt|étape par étape|ステップ|推論|단계|추론|passo a passo|خطوة"
)

STEPS = [
    "Step 1: restate the problem: we need the value asked for. Step 2: the known quantities are {a} and {b}. "
    "Step 3: combine them to get {s}. Step 4: check the units and the edge cases; nothing changes. ",
    "First, identify what is given: {a} {item} and a rate of {b}. Next, set up the relation and solve for "
    "the unknown. Multiplying gives {p}; subtracting the remainder leaves {s}. Let me double-check: "
    "consistent. ",
    "Let me think. If x is the unknown, the condition gives {a}x = {p}. So x = {b}. Wait, re-check the "
    "second condition: it also holds. Therefore the result follows. ",
]
CHAT = [
    "Sure! In short, {topic} comes down to a few key ideas. Here are the main points, with an example for "
    "each.",
    "Great question. Here's a quick overview of {topic}, then some practical tips you can use today.",
    "Here you go - a shorter version, with the main idea first and the details after.",
    "Happy to help. Could you tell me a bit more about what you need? Meanwhile, here is a first draft.",
    "Thanks for reaching out! I've checked that for you: order #{a}{b} is on its way and should arrive "
    "within {b} days.",
]
JSON = [
    '{{"score": {d}, "rationale": "The response is mostly correct but misses one point."}}',
    '{{"label": "billing"}}',
    '{{"vendor": "Acme Logistics", "total": {a}.{b}, "date": "2026-05-{d}"}}',
    "B\nResponse B answers the question directly and is better supported.",
    '{{"correctness": {d}, "clarity": 2, "overall": {d}}}',
]
CODE = [
    "```python\ndef solve(nums, k):\n    seen = {{0: 1}}\n    total = count = 0\n    for x in nums:\n"
    "        total = (total + x) % k\n        count += seen.get(total, 0)\n        seen[total] = "
    "seen.get(total, 0) + 1\n    return count\n```",
    "SELECT c.country, SUM(o.total) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id "
    "GROUP BY c.country ORDER BY revenue DESC;",
    "    return sorted(set(items), key=items.index)[:{b}]",
]
AGENT = [
    '{{"tool": "read_file", "arguments": {{"path": "src/app/main.py"}}}}',
    '{{"tool": "run_tests", "arguments": {{"selector": "tests/test_api.py"}}}}',
    '{{"tool": "run_shell", "arguments": {{"cmd": "git diff --stat", "timeout": {b}}}}}',
    "DONE: the tests pass now ({a} passed). I changed two files; see the diff above.",
]


def _contains(text: pl.Series, needle: str) -> np.ndarray:
    return text.str.contains(needle, literal=True).to_numpy()


def synthesize(
    rng: np.random.Generator,
    prompt: pl.Series,
    system: pl.Series,
    out_kind: np.ndarray,
    status: np.ndarray,
) -> pl.Series:
    """One short answer per request (null where the request did not succeed)."""
    r = len(prompt)
    text = pl.DataFrame({"s": system.fill_null(""), "p": prompt}).select(
        pl.concat_str(["s", "p"], separator="\n")
    )[:, 0]
    slots = {
        "a": ints(2, 99),
        "b": ints(2, 40),
        "d": ints(1, 9),
        "p": ints(100, 3000),
        "s": ints(10, 200),
        "n": ints(2, 500),
        "item": ITEMS,
        "topic": TOPICS,
    }
    n_val = pl.Series(rng.integers(2, 500, r)).cast(pl.String)
    steps = render(rng, STEPS, r, slots)
    final = render(rng, ["Final answer: {n}"], r, {"n": n_val}).to_numpy().astype(object)
    for marker, tmpl in reversed(FINALS):  # first match wins: apply in reverse so earlier ones overwrite
        m = _contains(text, marker)
        if m.any():
            final = np.where(m, render(rng, [tmpl], r, {"n": n_val}).to_numpy().astype(object), final)
    tag_open = np.full(r, None, dtype=object)
    tag_close = np.full(r, None, dtype=object)
    for marker, o, c in reversed(TAGS):
        m = _contains(text, marker)
        tag_open[m], tag_close[m] = o, c
    tagged = np.not_equal(tag_open, None)
    cot = (out_kind == "cot") | text.str.contains(COT_MARKERS).to_numpy()
    df = pl.DataFrame(
        {
            "steps": steps,
            "final": pl.Series(final, dtype=pl.String),
            # (as lists: polars takes an object array whose first values are all None for objects,
            # and cannot cast that: a day whose first requests demand no tags)
            "open": pl.Series(tag_open.tolist(), dtype=pl.String),
            "close": pl.Series(tag_close.tolist(), dtype=pl.String),
            "chat": render(rng, CHAT, r, slots),
            "json": render(rng, JSON, r, slots),
            "code": render(rng, CODE, r, slots),
            "agent": render(rng, AGENT, r, slots),
            "tagged": tagged,
            "cot": cot,
            "kind": pl.Series(np.asarray(out_kind, dtype=object).astype(str)),
            "ok": pl.Series(np.asarray(status, dtype=object) == "ok"),
        }
    )
    body = (
        pl.when(pl.col("tagged"))
        .then(pl.concat_str(["open", "steps", "close", pl.lit(" "), "final"]))
        .when(pl.col("cot"))
        .then(pl.concat_str(["steps", "final"]))
        .when(pl.col("kind") == "json")
        .then(pl.col("json"))
        .when(pl.col("kind").is_in(["completion", "short"]))
        .then(pl.col("code"))
        .when(pl.col("kind") == "agent")
        .then(pl.col("agent"))
        .otherwise(pl.col("chat"))
    )
    # keep the closing tag and final answer when a long body must be cut
    out = df.select(
        pl.when(pl.col("ok"))
        .then(
            pl.when(body.str.len_chars() <= MAX_CHARS)
            .then(body)
            .otherwise(
                pl.when(pl.col("tagged"))
                .then(
                    pl.concat_str(
                        [
                            pl.col("open"),
                            pl.col("steps").str.slice(
                                0,
                                MAX_CHARS
                                - pl.col("open").str.len_chars()
                                - pl.col("close").str.len_chars()
                                - pl.col("final").str.len_chars()
                                - 2,
                            ),
                            pl.col("close"),
                            pl.lit(" "),
                            pl.col("final"),
                        ]
                    )
                )
                .otherwise(body.str.slice(0, MAX_CHARS))
            )
        )
        .alias("response")
    )[:, 0]
    return out
