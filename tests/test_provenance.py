"""Keyed watermarks on responses (distillguard.provenance): marking, the test, per-account keys, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kstest

from distillguard.provenance import Watermarker, account_key, detect, detect_accounts, observe
from distillguard.provenance.pairs import PAIRS
from distillguard.provenance.scanner import scan

KEYS = [bytes([i]) * 32 for i in range(1, 9)]

PROSE = [
    "It is clear that we do not know the answer. For example, I cannot buy the large car because "
    "it is not cheap; moreover, they are usually sold out. Therefore we will not try again.",
    "You are right: there is a simpler way. First of all, calculate the total. Maybe someone "
    "bought it already, and everyone wanted to help, although it was almost too late.",
    "She doesn't think it is large. He is going to buy it anyway; that is what he wants to do.",
]


def _gsm8k(prompts_dir: Path, n: int, offset: int = 0) -> list[str]:
    path = prompts_dir / "gsm8k" / "prompts.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line)["answer"] for line in f]
    return rows[offset : offset + n]


def _skeleton(text: str) -> tuple[str, list[tuple[int, str, bool]]]:
    """``text`` with pair occurrences cut out, and (pair, context, applies) of each occurrence."""
    parts, occs, pos = [], [], 0
    for o in scan(text):
        parts.append(text[pos : o.start])
        occs.append((o.pair, o.context, o.applies))
        pos = o.end
    parts.append(text[pos:])
    return "\x00".join(parts), occs


def test_marking_is_deterministic_per_key_and_differs_across_keys() -> None:
    outs = [[Watermarker(k).mark(t) for t in PROSE] for k in KEYS]
    assert outs[0] == [Watermarker(KEYS[0]).mark(t) for t in PROSE]
    assert len({tuple(o) for o in outs}) == len(KEYS)  # 8 keys, 8 different markings


@pytest.mark.parametrize("text", PROSE)
def test_every_change_is_a_listed_equivalence_and_marking_is_stable(text: str) -> None:
    for key in KEYS:
        marked = Watermarker(key).mark(text)
        assert _skeleton(marked) == _skeleton(text)  # same text between places, same places and contexts
        assert Watermarker(key).mark(marked) == marked
        d = detect([marked], key)
        assert d.matches == d.observations > 0  # the tester reads back exactly what the marker wrote


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Run `it is large` then it is done.", "`it is large`"),
        ("```\nif x: do not buy\n```\nIt is done, it is fine.", "```\nif x: do not buy\n```"),
        ("We have $it is large$ and it is clear.", "$it is large$"),
        ("So 48/2 = <<48/2=24>>24 and it is 24 clips.", "<<48/2=24>>24"),
        ("It is 3.5 and it is 1,000 in total, it is 7.", "3.5 and"),
        ("See https://example.com/it-is-large and it is large.", "https://example.com/it-is-large"),
    ],
)
def test_protected_spans_and_numbers_are_never_changed(text: str, kept: str) -> None:
    changed = 0
    for key in KEYS:
        marked = Watermarker(key).mark(text)
        assert kept in marked
        assert re.findall(r"\d[\d.,]*", marked) == re.findall(r"\d[\d.,]*", text)
        changed += marked != text
    assert changed > 0  # the prose around them is still marked


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("It is raining today.", ("It is ", "It's ")),
        ("Do not touch it.", ("Do not ", "Don't ")),
        ("For example, this.", ("For example,", "For instance,")),
        ("I am here now.", ("I am ", "I'm ")),
        ("Therefore it holds.", ("Therefore ", "Thus ")),
    ],
)
def test_capitalisation_is_preserved(text: str, starts: tuple[str, str]) -> None:
    seen = {Watermarker(k).mark(text).split(" ")[0] for k in KEYS * 2}
    outs = {Watermarker(k).mark(text) for k in KEYS}
    assert all(o.startswith(starts) for o in outs), outs
    assert all(s[:1].isupper() for s in seen)


@pytest.mark.parametrize(
    "text",
    [
        "I know what it is.",  # a contraction cannot end a clause
        "Yes, they are.",
        "It's been a while.",  # "it has been": never expanded to "it is been"
        "The purchase was late.",  # noun after a determiner
        "DO NOT SHOUT.",
        "a big-endian machine",
        "the word 'large' here",
        "Let us know.",
    ],
)
def test_guarded_places_are_left_alone(text: str) -> None:
    assert {Watermarker(k).mark(text) for k in KEYS} == {text}


def test_pair_table_size() -> None:
    assert 80 <= len(PAIRS) <= 150


def test_marked_text_is_detected_at_tiny_p(prompts_dir: Path) -> None:
    texts = _gsm8k(prompts_dir, 300)  # 300 GSM8K answers
    key = KEYS[0]
    marked = [Watermarker(key).mark(t) for t in texts]
    d = detect(marked, key)
    assert d.observations >= 100
    assert d.matches == d.observations
    assert d.p_value < 1e-20, d.explanation
    assert detect(marked, KEYS[1]).p_value > 1e-3  # another key sees nothing special
    assert detect(marked[:20], key).p_value < 0.01  # even 20 answers


def test_p_value_is_uniform_under_the_null(prompts_dir: Path) -> None:
    obs = observe(_gsm8k(prompts_dir, 500))  # unmarked real text
    assert obs.n > 150
    rng = np.random.default_rng(17)
    ps = [detect(obs, rng.bytes(32)).p_value for _ in range(1000)]
    assert kstest(ps, "uniform").pvalue > 0.01
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.08


def test_sign_sum_tail_bound_is_never_below_the_exact_tail() -> None:
    from itertools import product

    from scipy.stats import binom

    from distillguard.provenance.detect import sign_sum_log_tail

    rng = np.random.default_rng(3)
    for _ in range(60):
        w = rng.exponential(size=int(rng.integers(1, 11))) * rng.choice([1.0, 20.0])
        sums = np.array([w @ np.array(s) for s in product((-1, 1), repeat=len(w))])
        for t in [*sums, *rng.uniform(-1, w.sum() + 1, 4)]:
            exact = float(np.mean(sums >= t - 1e-9))
            assert np.exp(sign_sum_log_tail(w, t)) >= exact - 1e-12, (w, t)
    # not vacuous: 400 equal weights at z = 3 (exact tail 1.5e-3), and far in the tail
    exact = float(binom.sf(229, 400, 0.5))  # sum >= 60 <=> at least 230 of 400 signs are +1
    bound = np.exp(sign_sum_log_tail(np.ones(400), 60.0))
    assert exact <= bound < 4 * exact
    far = float(binom.sf(299, 400, 0.5))  # sum >= 200: z = 10, exact 1e-24
    assert far <= np.exp(sign_sum_log_tail(np.ones(400), 200.0)) < 100 * far


def test_weighted_test_is_conservative_under_the_null_and_detects_partial_marks(prompts_dir: Path) -> None:
    from distillguard.provenance.detect import detect_weighted

    texts = _gsm8k(prompts_dir, 500, offset=2000)
    reference = observe(_gsm8k(prompts_dir, 2000, offset=3000))  # other unmarked answers of the same kind
    obs = observe(texts)
    rng = np.random.default_rng(5)
    for ref in (None, reference):
        ps = np.array([detect_weighted(obs, rng.bytes(32), ref).p_value for _ in range(1000)])
        assert kstest(ps, "uniform", alternative="greater").pvalue > 0.01  # never smaller than uniform
        assert np.mean(ps < 0.05) <= 0.06 and np.mean(ps < 0.01) <= 0.015
        assert np.mean(ps < 0.3) > 0.05  # conservative (~9% under 0.3), but not stuck at 1
    key = KEYS[3]
    marked = [Watermarker(key).mark(t) for t in texts]
    assert detect_weighted(marked, key, reference).p_value < 1e-12
    # a fifth of the answers marked, the rest left as they were
    pool = _gsm8k(prompts_dir, 2000, offset=6000)
    mixed = [Watermarker(key).mark(t) if i % 5 == 0 else t for i, t in enumerate(pool)]
    assert detect_weighted(mixed, key, reference).p_value < 1e-3
    assert detect_weighted(mixed, KEYS[4], reference).p_value > 1e-3  # another key sees nothing


def test_continuations_count_only_what_the_suspect_wrote() -> None:
    from distillguard.provenance.detect import observe_continuations

    prompts = ["We do not know it, because", "Therefore we stop. Then"]
    conts = [" it is late, therefore we go home.", " it's over."]
    obs = observe_continuations(prompts, conts)
    ids = {(ctx, PAIRS[p].id) for ctx, p in obs.all_places}
    assert ids == {("because", "it-be"), ("late", "therefore"), ("then", "it-be")}
    assert obs.occurrences == 3  # "do not" and "Therefore" in the prompts are not the suspect's
    assert obs.counts.sum() == 3


def test_repeated_text_does_not_inflate_evidence() -> None:
    key = KEYS[0]
    once = detect([PROSE[0]], key)
    many = detect([PROSE[0]] * 50, key)
    assert (many.observations, many.matches, many.p_value) == (once.observations, once.matches, once.p_value)


def test_per_account_test_names_the_account_among_1000(prompts_dir: Path) -> None:
    master = KEYS[2]
    accounts = [f"acct-{i:04d}" for i in range(1000)]
    texts = _gsm8k(prompts_dir, 150, offset=1000)
    wm = Watermarker(master)
    marked = [wm.mark(t, "acct-0421") for t in texts]
    assert wm.key_for("acct-0421") == account_key(master, "acct-0421")
    res = detect_accounts(marked, master, accounts)
    assert res.best == "acct-0421"
    assert res.p_value < 1e-6  # Holm-corrected for 1,000 keys
    assert res.ranking[1].p_holm > 0.01
    assert detect(marked, master).p_value > 1e-3  # the master key itself was not used


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from distillguard.cli import run; run()", "provenance", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "wm.key"
    assert _run("keygen", "--out", str(key)).returncode == 0
    assert key.stat().st_mode & 0o777 == 0o600
    again = _run("keygen", "--out", str(key))
    assert again.returncode == 2 and "already exists" in again.stderr
    rows = [{"id": i, "response": PROSE[i % 3] + f" Item {i}.", "account_id": f"a{i % 2}"} for i in range(30)]
    src = tmp_path / "served.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "marked.jsonl"
    p = _run("mark", str(src), str(out), "--key-file", str(key), "--per-account", "--json")
    assert p.returncode == 0, p.stderr
    assert 0 < json.loads(p.stdout)["share_of_words_changed"] < 0.5
    marked = [json.loads(line) for line in out.read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "response"} for r in marked] == [
        {k: v for k, v in r.items() if k != "response"} for r in rows
    ]
    again = _run("mark", str(src), str(out), "--key-file", str(key))
    assert again.returncode == 2 and "already exists" in again.stderr
    only_a1 = tmp_path / "a1.jsonl"
    only_a1.write_text("".join(json.dumps(r) + "\n" for r in marked if r["account_id"] == "a1"))
    ids = tmp_path / "accounts.txt"
    ids.write_text("a0\na1\na2\n")
    t = _run("test", str(only_a1), "--key-file", str(key), "--accounts", str(ids), "--json")
    assert t.returncode == 0, t.stderr
    doc = json.loads(t.stdout)
    assert "p_value" in doc and doc["accounts"]["best_account"] == "a1"
    assert doc["accounts"]["ranking"][0]["matches"] == doc["accounts"]["observations"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"response": "ok"}\nnot json\n', "line 2"),
        ('{"id": 1}\n', "'response' missing"),
        ('{"response": 3}\n', "not a string"),
        ("[1, 2]\n", "line 1"),
    ],
)
def test_cli_bad_input_exits_2_without_traceback(tmp_path: Path, content: str, needle: str) -> None:
    key = tmp_path / "wm.key"
    key.write_text(os.urandom(32).hex())
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    runs = [("mark", str(src), str(out), "--key-file", str(key))]
    if needle == "line 2":  # (each run costs a second or two: the test command once)
        runs.append(("test", str(src), "--key-file", str(key)))
    for args in runs:
        p = _run(*args)
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr
        assert "in.jsonl" in p.stderr and needle in p.stderr
    assert not out.exists() and sorted(q.name for q in tmp_path.iterdir()) == ["in.jsonl", "wm.key"]


def test_cli_probes_pick_the_prompts_with_most_places_and_read_gzip(tmp_path: Path) -> None:
    rows = [
        {"request_id": "r1", "prompt": "p1", "response": "It is fine. We do not know. Therefore it is so."},
        {"request_id": "r2", "prompt": "p2", "response": "Seven."},
        {"request_id": "r3", "prompt": "p3", "response": "It is fine."},
        {"request_id": "r4", "prompt": "p1", "response": "Yes."},  # a repeated prompt counts once
    ]
    src = tmp_path / "served.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "probes.jsonl"
    p = _run("probes", str(src), str(out), "--n", "5")
    assert p.returncode == 0, p.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["prompt"] for g in got] == ["p1", "p3"]
    assert got[0]["request_id"] == "r1"
    assert got[0]["places_in_served_answer"] > got[1]["places_in_served_answer"]
    again = _run("probes", str(src), str(out))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_cli_weighted_test_with_an_unmarked_reference(tmp_path: Path, prompts_dir: Path) -> None:
    key = tmp_path / "wm.key"
    key.write_text(os.urandom(32).hex())
    texts = _gsm8k(prompts_dir, 300, offset=4000)
    wm = Watermarker(bytes.fromhex(key.read_text()))
    suspect, ref = tmp_path / "suspect.jsonl", tmp_path / "before.jsonl"
    suspect.write_text("".join(json.dumps({"response": wm.mark(t)}) + "\n" for t in texts))
    before = _gsm8k(prompts_dir, 1500, offset=5000)  # other answers, unmarked
    ref.write_text("".join(json.dumps({"response": t}) + "\n" for t in before))
    p = _run("test", str(suspect), "--key-file", str(key), "--reference", str(ref), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["weighted"]["p_value"] < 1e-6 and doc["weighted"]["observations"] > 100
    bad = _run("test", str(suspect), "--key-file", str(key), "--reference", str(suspect))
    assert bad.returncode == 2 and "before marking" in bad.stderr
