"""Does a model trained on watermarked responses carry the watermark? A small end-to-end experiment.

Real response text from the shared corpora (GSM8K answer rationales, the GPT-3 outputs of Natural
Instructions v1, P3 completions; ``shared/data/prompts``) is split into train and probe. The training
responses are marked with a key (:class:`distillguard.provenance.Watermarker`), and a word trigram
language model with backoff (the "student") is trained on

  (a) 100% marked responses, (b) unmarked responses, (c) 10% marked + 90% unmarked, (d) 1% marked.

Each student samples N texts (seeded); :func:`distillguard.provenance.detect` tests them against the key.
The held-out probe texts (real, never marked) are tested too, as a control. Repeated for ``--reps`` keys
(a new key, a new 10%/1% draw and new samples each time). Also measured: the share of words marking
changes, a meaning check on every marked response (the text between the places is unchanged and every
change swaps one listed equivalent for the other), and the latency of marking ~1,000-character responses.

    /work/main/.venv/bin/python benchmarks/provenance_experiment.py --reps 3
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import os
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from distillguard.provenance import Watermarker, detect, observe
from distillguard.provenance.detect import detect_weighted
from distillguard.provenance.pairs import PAIRS
from distillguard.provenance.scanner import scan

REPO = Path(__file__).resolve().parents[1]
PROMPTS = Path(os.environ.get("DISTILLGUARD_SHARED", REPO.parent / "shared")) / "data" / "prompts"
SOURCES = (
    ("gsm8k", "answer"),
    ("natural_instructions_v1_gpt3_prompts", "gpt3_output"),
    ("p3_t0_templated_prompts_sample", "completion"),
)
TOKEN = re.compile(r"<<[^<>\n]*>>|[A-Za-z]+(?:['\u2019][A-Za-z]+)*|\d+(?:[.,]\d+)*|\n|\S")
NO_SPACE_BEFORE = frozenset(".,;:!?)%")
NO_SPACE_AFTER = frozenset("($\n")


def load_responses(min_chars: int = 40) -> list[str]:
    out: list[str] = []
    for name, field in SOURCES:
        path = PROMPTS / name / "prompts.jsonl.gz"
        if not path.exists():
            raise SystemExit(f"{path} not present: the experiment needs shared/data/prompts")
        with gzip.open(path, "rt") as f:
            for line in f:
                text = (json.loads(line).get(field) or "").replace("<|endoftext|>", "").strip()
                if len(text) >= min_chars:
                    out.append(text)
    return out


class TrigramLM:
    """Word trigram model with backoff for sampling: the trigram distribution when its context was seen
    (with probability c / (c + 1), c the context's count), else the bigram's likewise, else unigram."""

    def __init__(self, texts: list[str]):
        self.tri: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self.bi: dict[str, Counter] = defaultdict(Counter)
        self.uni: Counter = Counter()
        for text in texts:
            toks = ["<s>", "<s>", *TOKEN.findall(text), "</s>"]
            for i in range(2, len(toks)):
                self.tri[(toks[i - 2], toks[i - 1])][toks[i]] += 1
                self.bi[toks[i - 1]][toks[i]] += 1
                self.uni[toks[i]] += 1
        self._tables: dict[object, tuple[list[str], list[int]]] = {}

    def _table(self, key: object, counts: Counter) -> tuple[list[str], list[int]]:
        t = self._tables.get(key)
        if t is None:
            words = list(counts)
            cum = list(np.cumsum([counts[w] for w in words]).tolist())
            t = self._tables[key] = (words, cum)
        return t

    def _draw(self, key: object, counts: Counter, rng: random.Random) -> str:
        words, cum = self._table(key, counts)
        return words[bisect.bisect_right(cum, rng.random() * cum[-1])]

    def sample(self, rng: random.Random, max_tokens: int = 120) -> str:
        w1, w2 = "<s>", "<s>"
        out: list[str] = []
        for _ in range(max_tokens):
            tri = self.tri.get((w1, w2))
            bi = self.bi.get(w2)
            if tri and rng.random() < (c := self._total(("t", w1, w2), tri)) / (c + 1):
                w = self._draw(("t", w1, w2), tri, rng)
            elif bi and rng.random() < (c := self._total(("b", w2), bi)) / (c + 1):
                w = self._draw(("b", w2), bi, rng)
            else:
                w = self._draw("u", self.uni, rng)
            if w == "</s>":
                break
            out.append(w)
            w1, w2 = w2, w
        return detokenize(out)

    def _total(self, key: object, counts: Counter) -> int:
        return self._table(key, counts)[1][-1]


def detokenize(tokens: list[str]) -> str:
    parts: list[str] = []
    for i, t in enumerate(tokens):
        if i and t not in NO_SPACE_BEFORE and t != "\n" and tokens[i - 1] not in NO_SPACE_AFTER:
            parts.append(" ")
        parts.append(t)
    return "".join(parts)


def meaning_check(original: str, marked: str) -> tuple[bool, Counter]:
    """The text between the places is unchanged, the places and contexts are the same, and each change
    swaps one member of a listed pair for the other. Returns (ok, changes by pair id)."""
    a, b = list(scan(original)), list(scan(marked))
    if [(o.pair, o.context, o.applies) for o in a] != [(o.pair, o.context, o.applies) for o in b]:
        return False, Counter()
    changes: Counter = Counter()
    pa = pb = 0
    for x, y in zip(a, b, strict=True):
        if original[pa : x.start] != marked[pb : y.start]:
            return False, Counter()
        if x.variant != y.variant:
            if not x.applies:
                return False, Counter()
            changes[PAIRS[x.pair].id] += 1
        pa, pb = x.end, y.end
    return original[pa:] == marked[pb:], changes


def latency(texts: list[str], key: bytes) -> dict[str, float]:
    """Microseconds to mark one ~1,000-character response: warm (the marker's HMAC cache filled, as in
    a long-running server) and cold (a new marker per response: every keyed choice computed)."""
    resp, cur = [], ""
    for t in texts:
        cur = f"{cur}\n{t}" if cur else t
        if len(cur) >= 1000:
            resp.append(cur[:1100])
            cur = ""
        if len(resp) == 2000:
            break
    wm = Watermarker(key)
    for r in resp:
        wm.mark(r)
    t0 = time.perf_counter()
    for r in resp:
        wm.mark(r)
    warm = (time.perf_counter() - t0) / len(resp) * 1e6
    t0 = time.perf_counter()
    for r in resp:
        Watermarker(key).mark(r)
    cold = (time.perf_counter() - t0) / len(resp) * 1e6
    return {"responses": len(resp), "mean_chars": statistics.mean(map(len, resp)), "warm_us": warm,
            "cold_us": cold}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="keys (repetitions)")
    ap.add_argument("--sizes", default="50,200,1000,5000,20000", help="numbers of student texts tested")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = load_responses()
    rng = random.Random(args.seed)
    rng.shuffle(texts)
    n_probe = len(texts) // 5
    probe, train = texts[:n_probe], texts[n_probe:]
    print(f"responses: {len(texts):,} ({len(train):,} train, {len(probe):,} probe), "
          f"{sum(map(len, train)) / len(train):.0f} chars on average")

    conditions = ("100% marked", "unmarked", "10% marked", "1% marked", "probe (real, unmarked)")
    pvals: dict[tuple[str, int], list[float]] = defaultdict(list)
    wpvals: dict[tuple[str, int], list[float]] = defaultdict(list)
    places: dict[tuple[str, int], list[int]] = defaultdict(list)
    for rep in range(args.reps):
        key = random.Random(f"{args.seed}-{rep}").randbytes(32)
        wm = Watermarker(key)
        t0 = time.perf_counter()
        marked_all = [wm.mark_with_stats(t) for t in train]
        if rep == 0:
            words = sum(m.words for m in marked_all)
            changed = sum(m.changed_words for m in marked_all)
            occ = sum(m.occurrences for m in marked_all)
            n_changed = sum(m.changed for m in marked_all)
            bad, by_pair = 0, Counter()
            for t, m in zip(train, marked_all, strict=True):
                ok, ch = meaning_check(t, m.text)
                bad += not ok
                by_pair += ch
            print(f"marking the training set: {time.perf_counter() - t0:.1f} s; {occ:,} places, "
                  f"{n_changed:,} "
                  f"rewritten; {changed:,} of {words:,} words changed ({changed / words:.2%}); "
                  f"responses touched: {sum(m.changed > 0 for m in marked_all) / len(train):.1%}")
            print(f"meaning check: {len(train) - bad:,} of {len(train):,} marked responses differ from the "
                  f"original only by swaps within listed pairs ({bad} violations)")
            print("most frequent changes:", ", ".join(f"{k} {v}" for k, v in by_pair.most_common(12)))
            lat = latency(train, key)
            print(f"mark latency on {lat['responses']} responses of {lat['mean_chars']:.0f} chars: "
                  f"{lat['warm_us']:.0f} us warm, {lat['cold_us']:.0f} us cold")
        marked = [m.text for m in marked_all]
        draw = random.Random(f"draw-{args.seed}-{rep}")
        corpora = {
            "100% marked": marked,
            "unmarked": train,
            "10% marked": [m if draw.random() < 0.10 else t for t, m in zip(train, marked, strict=True)],
            "1% marked": [m if draw.random() < 0.01 else t for t, m in zip(train, marked, strict=True)],
        }
        for cond, corpus in corpora.items():
            lm = TrigramLM(corpus)
            srng = random.Random(f"sample-{args.seed}-{rep}-{cond}")
            gen = [lm.sample(srng) for _ in range(max(sizes))]
            for n in sizes:
                obs = observe(gen[:n])
                d = detect(obs, key)
                pvals[(cond, n)].append(d.p_value)
                places[(cond, n)].append(d.observations)
                wpvals[(cond, n)].append(detect_weighted(obs, key).p_value)
        prng = random.Random(f"probe-{args.seed}-{rep}")
        probe_sample = prng.sample(probe, min(len(probe), max(sizes)))
        for n in sizes:
            if n > len(probe_sample):
                continue
            obs = observe(probe_sample[:n])
            d = detect(obs, key)
            wpvals[(conditions[-1], n)].append(detect_weighted(obs, key).p_value)
            pvals[(conditions[-1], n)].append(d.p_value)
            places[(conditions[-1], n)].append(d.observations)
        print(f"rep {rep + 1}/{args.reps} done")

    title = (f"detect (binomial on majority variants): p-values against the key, {args.reps} keys; median "
             "[min-max]; places = distinct (previous word, pair) places tested, median")
    _table(title, sizes, conditions, pvals, places)
    title = (f"detect_weighted (experimental, Monte Carlo p, floor 1/20001 = 5e-05): p-values, {args.reps} "
             "keys; median [min-max]")
    _table(title, sizes, conditions, wpvals, None)


def _table(
    title: str, sizes: list[int], conditions: tuple[str, ...], pvals: dict, places: dict | None
) -> None:
    print()
    print(title)
    print("| student trained on | " + " | ".join(f"N = {n}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for cond in conditions:
        cells = []
        for n in sizes:
            ps = pvals[(cond, n)]
            if not ps:
                cells.append("(probe too small)")
                continue
            cell = f"{statistics.median(ps):.2g} [{min(ps):.2g}-{max(ps):.2g}]"
            if places is not None:
                cell += f", {statistics.median(places[(cond, n)]):.0f} places"
            cells.append(cell)
        print(f"| {cond} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
