"""Behaviour of the per-prompt signals (``distillguard.features.prompt_features``).

Tables of (input, expected) per signal family, quality floors on real public corpora (held-out half,
split by a stable hash of the id; patterns were tuned on the other half only) and on generated
clause paraphrases (seeds >= 1000, never used while tuning).
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InputError, UsageError
from distillguard.features import PROMPT_FEATURES, prompt_features
from distillguard.signals.prompt.near_duplicate import band_count, lsh_params


def features(prompts, system=None, tools=None, seed=0) -> list[dict]:
    cols = {"request_id": [f"r{i}" for i in range(len(prompts))], "prompt": pa.array(prompts, pa.string())}
    if system is not None:
        cols["system"] = pa.array(system, pa.string())
    if tools is not None:
        cols["tools"] = pa.array(tools, pa.int64())
    return prompt_features(pa.table(cols), seed=seed).to_pylist()


def one(prompt, **kw) -> dict:
    kw = {k: [v] for k, v in kw.items()}
    return features([prompt], **kw)[0]


# --- chain-of-thought elicitation ----------------------------------------------------------------

COT_POSITIVE = [
    ("Let's think step by step. What is 17 * 23?", "en"),
    ("Show your reasoning before you give the final answer: is 221 prime?", "en"),
    ("请一步一步地思考：鸡兔同笼，共有35个头，94只脚，鸡和兔各有几只？", "zh"),
    ("この問題をステップバイステップで考えてください。", "ja"),
    ("이 문제를 단계별로 생각해 보세요: 12 곱하기 13은?", "ko"),
    ("Подумай шаг за шагом и реши задачу: 15 * 4 = ?", "ru"),
    ("Piensa paso a paso y resuelve el problema: 3x + 2 = 11.", "es"),
    ("Réfléchis étape par étape avant de répondre : combien font 7 × 8 ?", "fr"),
    ("Denke Schritt für Schritt nach und löse die Aufgabe: 12 + 30.", "de"),
    ("Pense passo a passo e resolva o problema: 9 vezes 7.", "pt"),
    ("فكر خطوة بخطوة ثم أجب عن السؤال: كم يساوي ٧ × ٨؟", "ar"),
    ("Ragiona passo dopo passo: quanto fa 6 per 7?", "it"),
    ("Describe your thought process in detail, then answer: why is the sky blue?", "en"),
]


@pytest.mark.parametrize(("prompt", "lang"), COT_POSITIVE)
def test_cot_multilingual(prompt, lang):
    f = one(prompt)
    assert f["cot"] >= 0.7
    assert f["cot_lang"] == lang


COT_TAGGED = [
    "Put your reasoning inside <think></think> tags, then give the answer.",
    "Answer in the format [THOUGHT] your reasoning [/THOUGHT] followed by the answer.",
    "First write your analysis in <reasoning>...</reasoning>, then the solution.",
    "Use a <scratchpad> block for your private notes before answering.",
    "<|begin_of_thought|> {thought with steps} <|end_of_thought|> Now solve: 2 + 2.",
]


@pytest.mark.parametrize("prompt", COT_TAGGED)
def test_cot_tag_demands(prompt):
    f = one(prompt)
    assert f["cot_tagged"] is True
    assert f["cot"] >= 0.6


COT_NEGATIVE = [
    "What's the capital of France?",
    "Write a haiku about autumn leaves.",
    "Can you recommend a good pizza place in Rome?",
    "How do I reset my router to factory settings?",
    "Translate 'good morning' into Spanish.",
    "Tell me a joke about cats.",
    "<div class='header'>Fix the CSS of this header</div>",
]


@pytest.mark.parametrize("prompt", COT_NEGATIVE)
def test_cot_negatives(prompt):
    f = one(prompt)
    assert f["cot"] == 0.0
    assert f["cot_lang"] is None
    assert f["cot_tagged"] is False


def test_cot_is_graded():
    strong = one("Think step by step and show your work: 3 + 4.")["cot"]
    medium = one("Give me a step-by-step guide to baking sourdough bread.")["cot"]
    weak = one("Explain why the sky is blue.")["cot"]
    assert strong > medium > weak > 0.0


def test_cot_in_system_prompt_counts():
    f = one("What is 12 * 12?", system="Always think step by step and put your reasoning in <think> tags.")
    assert f["cot"] >= 0.9 and f["cot_tagged"] and f["cot_lang"] == "en"
    assert one("What is 12 * 12?", system="You are a helpful assistant.")["cot"] == 0.0


# --- capability ------------------------------------------------------------------------------------

CAPABILITY = [
    ("Solve for x: 3x + 5 = 20.", None, "math_reasoning"),
    ("Find the remainder when 2^100 is divided by 7.", None, "math_reasoning"),
    ("Write a Python function to check whether a string is a palindrome.", None, "coding"),
    ("Why does this JavaScript code throw an exception?\n```js\nconst a = b.c;\n```", None, "coding"),
    (
        "Fix the failing unit test in the repository: run the tests in the terminal, then edit the file.",
        3,
        "agentic_coding",
    ),
    (
        "Implement the function below and call the tool to run it.\n```python\ndef f(x): pass\n```",
        2,
        "agentic_coding",
    ),
    ("What's the weather in Paris tomorrow? Use the available tools.", 2, "tool_use"),
    ("Book me a table for two tonight.", 4, "tool_use"),
    (
        "Here is a response from an AI assistant. Grade the response against the rubric and give a score "
        "from 1 to 10.",
        None,
        "rubric_grading",
    ),
    ("Which response is better, Assistant A or Assistant B? Output [[A]] or [[B]].", None, "rubric_grading"),
    (
        "Articulate the internal reasoning behind this response: 'The answer is 42.'",
        None,
        "reasoning_articulation",
    ),
    (
        "Rewrite the following sensitive question into a safe, harmless version: how do locks get picked?",
        None,
        "safe_rewrite",
    ),
    ("Generate 50 diverse instructions that could be used to train a chatbot.", None, "data_generation"),
    ("Translate the following sentence into French: I love reading on rainy days.", None, "translation"),
    (
        "Summarize this article in three sentences: The city council met on Tuesday to discuss parks.",
        None,
        "summarization",
    ),
    ("Write a short story about a dragon who learns to bake bread.", None, "creative_writing"),
    ("Compose a poem about the sea at night.", None, "creative_writing"),
    ("hi, how are you doing today?", None, "general_chat"),
    ("What do you think about the new season of that show?", None, "general_chat"),
]


@pytest.mark.parametrize(("prompt", "tools", "expected"), CAPABILITY)
def test_capability(prompt, tools, expected):
    f = one(prompt, tools=tools)
    assert f["capability"] == expected
    if expected == "general_chat":
        assert f["capability_score"] == 0.0
    else:
        assert 0.0 < f["capability_score"] <= 1.0


def test_capability_without_tools_column_still_works():
    assert one("Write a Python function that sorts a list.")["capability"] == "coding"


# --- dataset shape ---------------------------------------------------------------------------------

DATASET = [
    ("Evaluate the response using the following rubric. Output a score from 1 to 5.", "rubric"),
    ("Generate 20 examples of customer complaints about late deliveries.", "generate_n"),
    ("Create 100 different math word problems for grade school students.", "generate_n"),
    ('Return a JSON list of objects like {"instruction": "...", "output": "..."}.', "json_pairs"),
    (
        '{"prompt": "Name a fruit", "completion": "Apple"}\n{"prompt": "Name a color", "completion": "Red"}',
        "json_pairs",
    ),
    ("### Instruction:\nName three primary colors.\n\n### Response:", "instruction_response"),
    (
        "Definition: Classify the sentiment of the sentence.\nInput: I loved it.\nOutput:",
        "instruction_response",
    ),
    ("Q: What is 2 + 2?\nA: 4\nQ: What is 3 + 5?\nA: 8\nQ: What is 7 + 1?\nA:", "few_shot"),
]


@pytest.mark.parametrize(("prompt", "kind"), DATASET)
def test_dataset_shape(prompt, kind):
    f = one(prompt)
    assert f["dataset_kind"] == kind
    assert f["dataset_shape"] >= 0.3


@pytest.mark.parametrize("prompt", [*COT_NEGATIVE, "Tell me about the history of Rome.", "thanks!"])
def test_dataset_shape_negatives(prompt):
    f = one(prompt)
    assert f["dataset_shape"] == 0.0
    assert f["dataset_kind"] is None


# --- template skeleton -----------------------------------------------------------------------------

#: injected instructions longer than the skeleton window (16 words after filler removal)
PREFIX = (
    "You are an expert tutor. Read the problem below carefully, consider every constraint it states, "
    "and then solve it fully and correctly."
)
SUFFIX = "Think step by step, then put only the final answer inside a box at the very end of your reply."
LONG_A = " ".join(["the farmer sells apples and pears at the market every morning"] * 5)
LONG_B = " ".join(["a cyclist rides across the mountain pass before the storm arrives"] * 5)

SAME_SKELETON = [
    ("What is 17 times 23?", "What is 4 times 918.5?"),
    ('Translate "good morning" into French.', 'Translate "where is the train station, please" into French.'),
    (
        "Explain this code:\n```py\nprint(1)\n```\nBe brief.",
        "Explain this code:\n```js\nlet x = [1,2];\n```\nBe brief.",
    ),
    ("Summarize https://a.com/x for me.", "Summarize http://b.org/y?z=1 for me."),
    (
        "Write a reply to bob@example.com about the meeting.",
        "Write a reply to alice.w@corp.co.uk about the meeting.",
    ),
    ("Sort these: apples, pears, plums, figs, kiwis.", "Sort these: dog, cat, cow, hen."),
    ("Please summarize the text below.", "Summarize the text below"),
    ("Compute $\\frac{3}{4} + x^2$ exactly.", "Compute $\\sqrt{2}$ exactly."),
    ("List:\n- eggs\n- milk\n- flour\nThanks", "List:\n- tea\n- rice\n- salt\n- oil\nThanks"),
    (f"{PREFIX} {LONG_A} {SUFFIX}", f"{PREFIX} {LONG_B} {SUFFIX}"),
]


@pytest.mark.parametrize(("a", "b"), SAME_SKELETON)
def test_skeleton_robust_to_filled_values(a, b):
    fa, fb = features([a, b])
    assert fa["skeleton"] == fb["skeleton"]


DIFFERENT_SKELETON = [
    ("What is 17 times 23?", "What is 17 plus 23?"),
    ("Summarize the text below.", "Translate the text below."),
    (f"{PREFIX} {LONG_A} {SUFFIX}", f"{PREFIX} {LONG_A} Give only the answer."),
    ("Write a poem about the sea.", "Write a story about the sea."),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_SKELETON)
def test_skeleton_differs_across_templates(a, b):
    fa, fb = features([a, b])
    assert fa["skeleton"] != fb["skeleton"]


def test_head_and_tail_fingerprints_show_injected_instructions():
    qs = [LONG_A, LONG_B, "How many legs do 3 spiders have?"]
    head = features([f"{PREFIX} {q}" for q in qs])
    tail = features([f"{q} {SUFFIX}" for q in qs])
    assert len({f["head_fp"] for f in head}) == 1
    assert len({f["tail_fp"] for f in head}) == 3
    assert len({f["tail_fp"] for f in tail}) == 1
    assert len({f["head_fp"] for f in tail}) == 3


# --- near-duplicate signature --------------------------------------------------------------------

#: clause templates: each slot lists interchangeable clauses; "{q}" is filled with a real question
CLAUSE_TEMPLATES = [
    [
        [
            "Solve the following math problem.",
            "Please solve this math problem.",
            "Work out the math problem below.",
        ],
        [
            "Think step by step and show all of your reasoning.",
            "Reason step by step, showing your reasoning.",
            "Show your reasoning one step at a time.",
        ],
        "{q}",
        [
            "Put the final answer in a box.",
            "Write the final answer inside a box.",
            "Give the final answer boxed.",
        ],
        ["Do not skip any steps.", "Make sure no step is skipped.", "Never skip a step."],
    ],
    [
        [
            "You are grading an answer written by a student.",
            "You are a strict grader of student answers.",
            "Act as a grader for a student's answer.",
        ],
        [
            "Use the rubric below and give a score from 1 to 10.",
            "Score it from 1 to 10 following the rubric below.",
            "Following the rubric below, assign a score between 1 and 10.",
        ],
        "{q}",
        [
            "Explain the score before giving it.",
            "Justify your score first, then state it.",
            "Give your justification, then the score.",
        ],
    ],
    [
        [
            "Rewrite the question below so that it becomes safe and harmless.",
            "Turn the following question into a safe, harmless one.",
            "Make the question below harmless and safe by rewriting it.",
        ],
        "{q}",
        ["Keep the original topic.", "Stay on the original topic.", "Do not change the topic."],
        [
            "Return only the rewritten question.",
            "Output the rewritten question only.",
            "Only return the rewritten question.",
        ],
    ],
    [
        [
            "Articulate the internal reasoning behind the answer to this question.",
            "Explain the hidden reasoning that leads to the answer of this question.",
            "Describe the internal reasoning behind answering this question.",
        ],
        "{q}",
        [
            "Write the reasoning in the first person.",
            "Use the first person for the reasoning.",
            "Write your reasoning as first-person thoughts.",
        ],
    ],
]


def load_prompts(prompts_dir: Path, source: str) -> list[dict]:
    with gzip.open(prompts_dir / source / "prompts.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def held_out(rows: list[dict]) -> list[dict]:
    """The half of a corpus that was never looked at while tuning (odd crc32 of the id)."""
    return [
        r for r in rows if zlib.crc32(str(r["id"]).encode()) % 2 == 1 and isinstance(r.get("prompt"), str)
    ]


def instance(template, questions, rng) -> str:
    return " ".join(
        questions[rng.integers(len(questions))] if slot == "{q}" else slot[rng.integers(len(slot))]
        for slot in template
    )


def bands(prompts: list[str], seed: int = 0, missing: int = 0) -> np.ndarray:
    """Band keys as an (n, bands) array; a prompt without words gets ``missing`` in every band."""
    b = band_count()
    return np.array([f["nd_bands"] or [missing] * b for f in features(prompts, seed=seed)], dtype=np.uint64)


@pytest.mark.parametrize("seed", [2000, 2001])
def test_near_duplicate_paraphrases_share_bands(prompts_dir, seed):
    rng = np.random.default_rng(seed)
    questions = [r["prompt"] for r in held_out(load_prompts(prompts_dir, "gsm8k"))]
    n = 400
    t = [CLAUSE_TEMPLATES[i % len(CLAUSE_TEMPLATES)] for i in range(n)]
    a = bands([instance(t[i], questions, rng) for i in range(n)], seed=seed)
    b = bands([instance(t[i], questions, rng) for i in range(n)], seed=seed, missing=1)
    paraphrase = (a == b).any(axis=1).mean()
    other_template = (a == np.roll(b, 1, axis=0)).any(axis=1).mean()
    assert paraphrase >= 0.65, paraphrase
    assert other_template <= 0.03, other_template


def test_near_duplicate_rarely_links_unrelated_real_prompts(prompts_dir):
    rng = np.random.default_rng(2002)
    pool = []
    for source in (
        "sharegpt92k_sample_1k",
        "alpaca_eval_805",
        "natural_questions_open",
        "gsm8k",
        "code_alpaca",
    ):
        pool += [r["prompt"] for r in held_out(load_prompts(prompts_dir, source))]
    pick = rng.choice(len(pool), size=(1500, 2), replace=True)
    pick = pick[pick[:, 0] != pick[:, 1]]
    a = bands([pool[i] for i in pick[:, 0]])
    b = bands([pool[i] for i in pick[:, 1]], missing=1)
    assert (a == b).any(axis=1).mean() <= 0.04


def test_near_duplicate_identity_and_masking():
    fs = features(["What is 12 + 30? Show your work.", "What is 7 + 1000? Show your work.", "", "?!?", None])
    assert fs[0]["nd_bands"] == fs[1]["nd_bands"]
    assert len(fs[0]["nd_bands"]) == band_count()
    assert fs[2]["nd_bands"] is None and fs[3]["nd_bands"] is None and fs[4]["nd_bands"] is None


def test_lsh_parameters_are_derived_and_recorded():
    p = lsh_params()
    assert p.bands * p.rows <= p.num_perm
    assert p.describe() == PROMPT_FEATURES.metadata[b"nd_lsh"].decode()
    # a higher threshold needs more rows per band (a steeper, later S-curve)
    assert lsh_params(0.8).rows > lsh_params(0.3).rows
    with pytest.raises(ValueError, match="similarity_threshold"):
        lsh_params(1.5)


# --- real corpora: floors on shares (held-out half) ----------------------------------------------

CORPUS_FLOORS = [
    # (sources, predicate over a feature row, minimum share, maximum share)
    (
        ("gsm8k", "hendrycks_math", "qwen25math_eval_reasoning"),
        lambda f: f["capability"] == "math_reasoning",
        0.8,
        1,
    ),
    (("humaneval", "mbpp", "code_alpaca"), lambda f: f["capability"] in ("coding", "agentic_coding"), 0.7, 1),
    (
        (
            "sharegpt92k_sample_1k",
            "alpaca_eval_805",
            "natural_questions_open",
            "hh_rlhf_harmless_base_test",
            "openassistant_eval_prompts",
        ),
        lambda f: f["cot"] >= 0.5,
        0,
        0.03,
    ),
    (
        ("sharegpt92k_sample_1k", "alpaca_eval_805", "natural_questions_open", "hh_rlhf_harmless_base_test"),
        lambda f: f["dataset_shape"] >= 0.5,
        0,
        0.05,
    ),
    (
        ("natural_questions_open", "hh_rlhf_harmless_base_test"),
        lambda f: f["capability"] == "general_chat",
        0.8,
        1,
    ),
    (("natural_instructions_v1_gpt3_prompts",), lambda f: f["dataset_shape"] >= 0.3, 0.9, 1),
    (("natural_questions_open", "alpaca_eval_805"), lambda f: f["prompt_lang"] == "en", 0.9, 1),
]


@pytest.mark.parametrize(("sources", "predicate", "lo", "hi"), CORPUS_FLOORS)
def test_real_corpora_shares(prompts_dir, sources, predicate, lo, hi):
    rows = []
    for source in sources:
        rows += held_out(load_prompts(prompts_dir, source))
    rows = rows[:6000]
    share = np.mean([predicate(f) for f in features([r["prompt"] for r in rows])])
    assert lo <= share <= hi, share


# --- batch contract --------------------------------------------------------------------------------


def test_row_features_do_not_depend_on_the_batch():
    prompts = [p for p, _ in COT_POSITIVE] + COT_TAGGED + COT_NEGATIVE + [p for p, _ in DATASET] + [None, ""]
    together = features(prompts)
    alone = [features([p])[0] for p in prompts]
    for a, b in zip(together, alone, strict=True):
        assert {k: v for k, v in a.items() if k != "request_id"} == {
            k: v for k, v in b.items() if k != "request_id"
        }


def test_output_schema_order_and_chunked_input():
    table = pa.concat_tables(
        [
            pa.table(
                {"request_id": ["a", "b"], "prompt": pa.array(["x y", "Solve 2+2."], pa.large_string())}
            ),
            pa.table({"request_id": ["c"], "prompt": pa.array(["Think step by step."], pa.large_string())}),
        ]
    )
    out = prompt_features(table)
    assert out.schema.equals(PROMPT_FEATURES, check_metadata=False)
    assert out.column("request_id").to_pylist() == ["a", "b", "c"]
    assert prompt_features(table.slice(0, 0)).num_rows == 0
    rb = table.combine_chunks().to_batches()[0]
    assert prompt_features(rb).equals(out)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pa.table({"prompt": ["x"]}), "request_id"),
        (pa.table({"request_id": ["a"], "prompt": [3]}), "prompt"),
    ],
)
def test_bad_input_is_a_clear_error(table, message):
    with pytest.raises(InputError, match=message):
        prompt_features(table)


def test_missing_optional_columns_give_nulls_not_errors():
    out = prompt_features(pa.table({"request_id": ["a"], "prompt": ["Write a poem."]})).to_pylist()[0]
    assert out["system_fp"] is None and out["capability"] == "creative_writing"
    out = prompt_features(pa.table({"request_id": ["a"]})).to_pylist()[0]
    assert out["request_id"] == "a" and all(v is None for k, v in out.items() if k != "request_id")


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_similarity_threshold_is_a_stated_parameter(threshold):
    table = pa.table({"request_id": ["a", "b"], "prompt": ["Solve this: 2 + 2.", "Write a poem about rain."]})
    out = prompt_features(table, similarity_threshold=threshold)
    params = lsh_params(threshold)
    assert out.schema.metadata[b"nd_lsh"].decode() == params.describe()
    assert [len(v) for v in out.column("nd_bands").to_pylist()] == [band_count(threshold)] * 2
    assert band_count(threshold) == 2 * params.bands


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2, 3.0])
def test_similarity_threshold_out_of_range_is_a_usage_error(threshold):
    with pytest.raises(UsageError, match="similarity_threshold"):
        prompt_features(pa.table({"request_id": ["a"], "prompt": ["x"]}), similarity_threshold=threshold)


def test_huge_prompt_reads_bounded_windows():
    question = (
        "Think step by step. " + "lorem ipsum dolor sit amet " * 200_000 + " Put the answer in <think> tags."
    )
    f = one(question)
    assert f["prompt_chars"] == len(question)
    assert f["cot"] >= 0.9 and f["cot_tagged"]
    assert f["head_fp"] == one("Think step by step. lorem ipsum dolor sit amet lorem ipsum")["head_fp"]


REACT_SYSTEM = (
    "Answer the following questions as best you can. You have access to the following tools:\n\n"
    "search: look things up\ncalculator: do math\n\nUse the following format:\n\n"
    "Question: the input question\n"
    "Thought: you should always think about what to do\nAction: the action to take\nAction Input: the input\n"
    "Observation: the result\nFinal Answer: the answer"
)
FEW_SHOT_COT = (
    "Q: There are 15 trees in the grove. Workers plant more; now there are 21. How many did they plant?\n"
    "A: There are 15 trees originally, then 21, so 21 - 15 = 6. The answer is 6.\n\n"
    "Q: If there are 3 cars and 2 more arrive, how many cars are there?\nA: 3 + 2 = 5. The answer is 5.\n\n"
    "Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\nA:"
)


@pytest.mark.parametrize(
    ("prompt", "system", "tools", "expected"),
    [
        # an app backend with a ReAct system prompt: tool use, no reasoning demand, no dataset shape
        (
            "Who won the 2018 world cup?",
            REACT_SYSTEM,
            2,
            {"capability": "tool_use", "cot": 0.0, "dataset_kind": None},
        ),
        # an evaluation harness with GSM8K few-shot CoT: worked examples, not an instruction
        (FEW_SHOT_COT, None, 0, {"capability": "math_reasoning", "cot": 0.0, "dataset_kind": "few_shot"}),
        # a power user: a strong CoT request, but no tag demand and nothing dataset-shaped
        (
            "think step by step: should I refinance my mortgage?",
            None,
            0,
            {"cot_tagged": False, "dataset_kind": None},
        ),
    ],
)
def test_look_alikes_give_evidence_not_verdicts(prompt, system, tools, expected):
    f = one(prompt, system=system, tools=tools)
    for key, value in expected.items():
        assert f[key] == value, key


# --- computed once per distinct string: the shortcuts give the same answers ------------------------

#: (system, prompt): a row's pattern signals combine what its system prompt and its prompt say
SYSTEM_AND_PROMPT = [
    ("Always think step by step.", "What is 12 * 12?"),
    ("Put your reasoning in <think></think> tags.", "Solve for x: 3x + 5 = 20."),
    ("You grade answers. Use the rubric below and output a score from 1 to 10.", "Answer: Paris."),
    ("You are a coding agent. Use the tools provided.", "Fix the failing test in the repository."),
    ("Réfléchis étape par étape.", "Combien font 7 × 8 ?"),
    ("", "Translate 'good morning' into Spanish."),
    ("Be terse.", 'Generate 20 examples of customer complaints as JSON with keys "input" and "output".'),
]
PATTERN_COLUMNS = ("cot", "cot_lang", "cot_tagged", "capability", "dataset_shape")


@pytest.mark.parametrize(("system", "prompt"), SYSTEM_AND_PROMPT)
def test_system_prompt_read_apart_matches_the_joined_text(system, prompt):
    apart = one(prompt, system=system)
    joined = one(f"{system}\n{prompt}")
    assert {k: apart[k] for k in PATTERN_COLUMNS} == {k: joined[k] for k in PATTERN_COLUMNS}
    # a system prompt's capability evidence is discounted (see the next test), never inflated
    assert apart["capability_score"] <= joined["capability_score"] + 1e-6


#: a chain-of-thought meta-prompt (its boilerplate says "summarizing" and "solution" on every request)
COT_META_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking "
    "process. This requires engaging in a comprehensive cycle of analysis, summarizing, exploration, "
    "reassessment, reflection. In the Thought section, detail your reasoning, summarizing relevant findings; "
    "in the Solution section present the final solution. Now, try to solve the following question:"
)


@pytest.mark.parametrize(
    ("system", "prompt", "capability"),
    [
        (
            COT_META_SYSTEM,
            "Tom has 12 apples and eats 5. How many apples are left?",
            "math_reasoning",
        ),
        (COT_META_SYSTEM, "Write a python function that reverses a linked list.", "coding"),
        (COT_META_SYSTEM, "Write a short poem about the sea.", "creative_writing"),
        # the system prompt still frames a request whose own text says nothing: a grader's rubric
        (
            "You grade answers. Use the rubric below and output a score from 1 to 10.",
            "Answer: Paris.",
            "rubric_grading",
        ),
        # and tools defined in the system prompt count in full
        (
            "You are an agent. Tools: search(query), calculator(expr). Use a tool when needed.",
            "Who won?",
            "tool_use",
        ),
    ],
)
def test_capability_is_what_the_user_text_asks_for(system, prompt, capability):
    assert one(prompt, system=system)["capability"] == capability


LONG_TEXT = "The committee reviewed the quarterly report and its appendix in detail. " * 20

NUMBER_VARIANTS = [
    ["What is 12 + 30? Show your work.", "What is 7 + 1000? Show your work.", "What is 7 + 1000?"],
    [f"Item 5: {LONG_TEXT} Total 12.", f"Item 12345: {LONG_TEXT} Total 1.", f"Item 5: {LONG_TEXT} Total 12."],
    [f"{LONG_TEXT} {LONG_TEXT} see 1", f"{LONG_TEXT} {LONG_TEXT} see 123456789", "see 4 and 5"],
]


@pytest.mark.parametrize("prompts", NUMBER_VARIANTS)
def test_prompts_differing_in_numbers_give_what_each_gives_alone(prompts):
    together = features(prompts)
    for p, f in zip(prompts, together, strict=True):
        alone = features([p])[0]
        assert {k: v for k, v in f.items() if k != "request_id"} == {
            k: v for k, v in alone.items() if k != "request_id"
        }


@pytest.mark.parametrize("seed", [0, 7, 123456789])
def test_window_digest_is_the_minimum_of_its_stem_digests(seed):
    import rensa

    from distillguard.signals.prompt.near_duplicate import NUM_PERM, stem_digests

    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 2**63, size=40, dtype=np.int64).astype(np.uint64)
    per_token = stem_digests(tokens, NUM_PERM, seed)
    for lo, hi in [(0, 1), (0, 8), (5, 13), (0, 40)]:
        ref = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            tokens[lo:hi], np.array([0, hi - lo], dtype=np.uint64), NUM_PERM, seed
        ).to_rows()[0]
        assert per_token[lo:hi].min(axis=0).tolist() == list(ref)


@pytest.mark.parametrize(
    ("flag", "lengths", "expected"),
    [
        ([1, 0, 1, 1], [4], [0, 1, 1, 2]),
        ([1, 1, 0, 1, 1], [2, 0, 3], [0, 1, 0, 0, 1]),
        ([0, 0, 1], [1, 2], [0, 0, 0]),
        ([], [0, 0], []),
    ],
)
def test_segment_rank_counts_flagged_items_before_each_in_its_segment(flag, lengths, expected):
    from distillguard.signals.prompt.context import segment_rank

    flag = np.array(flag, dtype=bool)
    lengths = np.array(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    row = np.repeat(np.arange(len(lengths)), lengths)
    assert segment_rank(flag, starts, row).tolist() == expected
