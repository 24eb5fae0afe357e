"""Does a model trained on watermarked responses carry the watermark? A small end-to-end experiment.

Real response text from the shared corpora (GSM8K answer rationales, the GPT-3 outputs of Natural
Instructions v1, P3 completions; ``shared/data/prompts``) is split into train and held-out. The training
responses are marked with a key (:class:`distillguard.provenance.Watermarker`), and two students are
trained on (a) 100% marked responses, (b) unmarked responses, (c) 10% marked + 90% unmarked, (d) 1%
marked: a word trigram language model with backoff, and a small neural one (``--neural-model``: a
word-level GRU, or a neural n-gram model over the previous three words; a capped vocabulary, PyTorch on
one CPU core; the optional ``experiment`` extra; (d) is trigram only).

The suspect (a student) is queried two ways: N texts it generates freely (temperature 1, seeded), and N
prefix probes: the last words of an unmarked served response just before a place where a keyed choice
would be made, which the suspect continues for a few words. Both are tested against the key with
:func:`distillguard.provenance.detect` (the reference binomial test) and with
:func:`distillguard.provenance.detect.detect_weighted`, whose natural shares come from the unmarked
training responses (the provider's responses before marking). Held-out real texts (never marked) are
tested too, as a control. Repeated for ``--keys`` keys (a new key, new 10%/1% draws, new samples each
time). Also measured: the share of words marking changes, a meaning check on every marked response (the
text between the places is unchanged and every change swaps one listed equivalent for the other), and
the latency of marking ~1,000-character responses.

    PYTHONPATH=src python benchmarks/provenance_experiment.py            # both students
    PYTHONPATH=src python benchmarks/provenance_experiment.py --no-neural  # no PyTorch needed
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import json
import math
import os
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from distillguard.provenance import Watermarker, detect, observe
from distillguard.provenance.detect import Observations, detect_weighted, observe_continuations
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
PREFIX_TOKENS = 12  # words of a probe prompt
CONTINUATION_TOKENS = 6  # words the suspect writes after it
PAIR_WORDS = frozenset(
    v for p in PAIRS for f in (p.a, p.b) for w in f.split(" ") for v in (w, w.capitalize())
)


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

    name = "trigram"

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

    def _total(self, key: object, counts: Counter) -> int:
        return self._table(key, counts)[1][-1]

    def _generate(self, rng: random.Random, w1: str, w2: str, max_tokens: int) -> list[str]:
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
        return out

    def sample(self, n: int, seed: str, max_tokens: int = 120) -> list[str]:
        rng = random.Random(seed)
        return [detokenize(self._generate(rng, "<s>", "<s>", max_tokens)) for _ in range(n)]

    def continue_(self, prefixes: list[list[str]], k: int, seed: str) -> list[list[str]]:
        rng = random.Random(seed)
        out = []
        for p in prefixes:
            ctx = ["<s>", "<s>", *p][-2:]
            out.append(self._generate(rng, ctx[0], ctx[1], k))
        return out


def _int_seed(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:7], "big")


def _torch():
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "the neural student needs PyTorch, which is not installed: install the optional extra with\n"
            "    pip install -c constraints.txt -e '.[experiment]'\n"
            "(constraints.txt pins the CPU-only build), or run with --no-neural for the trigram student only"
        ) from None
    torch.set_num_threads(1)
    return torch


class GRUStudent:
    """A small word-level neural language model (one GRU layer, adaptive softmax over a capped
    vocabulary that always keeps the pair words), trained from scratch on one CPU core and sampled with
    temperature 1. Out-of-vocabulary words are <unk> in training and never sampled."""

    name = "neural"

    def __init__(self, texts: list[str], seed: int, vocab: int = 8000, emb: int = 64, hidden: int = 192,
                 epochs: int = 2, seq: int = 48, batch: int = 64, lr: float = 3e-3):
        torch = self.torch = _torch()
        toks = self._vocabulary(texts, vocab)
        stream = []
        for t in toks:
            stream.append(0)
            stream.extend(self.stoi.get(w, 1) for w in t)
        stream.append(0)
        data = torch.tensor(stream)
        chunks = (len(data) - 1) // seq
        x = data[: chunks * seq].view(chunks, seq)
        y = data[1 : chunks * seq + 1].view(chunks, seq)
        torch.manual_seed(seed)
        v = len(self.itos)
        self.emb = torch.nn.Embedding(v, emb)
        self.rnn = torch.nn.GRU(emb, hidden, batch_first=True)
        self.out = torch.nn.AdaptiveLogSoftmaxWithLoss(hidden, v, cutoffs=[1000, 3000], div_value=4.0)
        params = [*self.emb.parameters(), *self.rnn.parameters(), *self.out.parameters()]
        def loss_of(idx):
            h, _ = self.rnn(self.emb(x[idx]))
            return self.out(h.reshape(-1, hidden), y[idx].reshape(-1)).loss

        self.losses = self._fit(params, loss_of, chunks, epochs, batch, lr, clip=1.0)
        self.tokens = len(stream)

    def _fit(
        self, params, loss_of, n: int, epochs: int, batch: int, lr: float, clip: float | None
    ) -> list[float]:
        """Adam with a one-cycle schedule over ``epochs`` shuffled passes of ``n`` examples in batches;
        ``loss_of(indices)`` is a batch's loss. Returns the loss of every step."""
        torch = self.torch
        opt = torch.optim.Adam(params, lr=lr)
        steps = epochs * ((n + batch - 1) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
        losses = []
        for _ in range(epochs):
            perm = torch.randperm(n)
            for i in range(0, n, batch):
                loss = loss_of(perm[i : i + batch])
                opt.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                sched.step()
                losses.append(loss.item())
        return losses

    def _vocabulary(self, texts: list[str], vocab: int) -> list[list[str]]:
        """Sets ``itos``/``stoi`` (the ``vocab`` most frequent words, always with the pair words);
        returns the texts' tokens."""
        toks = [TOKEN.findall(t) for t in texts]
        cnt = Counter(w for t in toks for w in t)
        itos = ["</s>", "<unk>"] + [w for w, _ in cnt.most_common(vocab - 2)]
        have = set(itos)
        extra = sorted(w for w in PAIR_WORDS if w in cnt and w not in have)
        self.itos = itos[: vocab - len(extra)] + extra
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        return toks

    def _advance(self, cur, state):
        """The hidden state after reading words ``cur`` (one per row) and the state to carry on."""
        o, state = self.rnn(self.emb(cur)[:, None], state)
        return o[:, 0], state

    def _step(self, h, gen):
        """Sample the next word for each row from hidden states ``h`` (temperature 1, Gumbel-max,
        the head first, then the chosen tail cluster only; <unk> never chosen)."""
        torch = self.torch
        ad = self.out

        def gumbel_argmax(logits):
            u = torch.rand(logits.shape, generator=gen).clamp_(1e-12, 1.0)
            return (logits - torch.log(-torch.log(u))).argmax(-1)

        head = ad.head(h)
        head[:, 1] = -math.inf
        c = gumbel_argmax(head)
        nxt = c.clone()
        for i, tail in enumerate(ad.tail):
            rows = (c == ad.shortlist_size + i).nonzero()[:, 0]
            if len(rows):
                nxt[rows] = ad.cutoffs[i] + gumbel_argmax(tail(h[rows]))
        return nxt

    def _run(self, start, state, steps: int, gen, stop: bool):
        torch = self.torch
        n = len(start)
        cur, out = start, torch.zeros(n, steps, dtype=torch.long)
        lens = torch.full((n,), steps)
        alive = torch.ones(n, dtype=torch.bool)
        for t in range(steps):
            h, state = self._advance(cur, state)
            cur = self._step(h, gen)
            out[:, t] = cur
            ended = alive & (cur == 0)
            lens[ended] = t
            alive &= cur != 0
            if stop and not alive.any():
                break
        return [[self.itos[j] for j in row[: int(m)]] for row, m in zip(out.tolist(), lens, strict=True)]

    def sample(self, n: int, seed: str, max_tokens: int = 120, batch: int = 2000) -> list[str]:
        torch = self.torch
        gen = torch.Generator().manual_seed(_int_seed(seed))
        out: list[str] = []
        with torch.no_grad():
            for i in range(0, n, batch):
                m = min(batch, n - i)
                out += [detokenize(t) for t in self._run(torch.zeros(m, dtype=torch.long), None, max_tokens,
                                                         gen, True)]
        return out

    def continue_(self, prefixes: list[list[str]], k: int, seed: str, batch: int = 2000) -> list[list[str]]:
        torch = self.torch
        width = max(len(p) for p in prefixes)
        gen = torch.Generator().manual_seed(_int_seed(seed))
        out: list[list[str]] = []
        with torch.no_grad():
            for i in range(0, len(prefixes), batch):
                rows = prefixes[i : i + batch]
                ids = torch.tensor([[0] * (width - len(p)) + [self.stoi.get(w, 1) for w in p] for p in rows])
                _, state = self.rnn(self.emb(ids[:, :-1]))
                out += self._run(ids[:, -1], state, k, gen, False)
        return out


class NgramNetStudent(GRUStudent):
    """A neural n-gram language model (Bengio et al., 2003): the embeddings of the previous ``order``
    words, concatenated, through one tanh layer into the same adaptive softmax and vocabulary as the
    GRU. It sees exactly the context a keyed choice depends on (the previous word), which a short GRU
    training mixes with the whole history; trained on one CPU core in minutes."""

    name = "neural"

    def __init__(self, texts: list[str], seed: int, vocab: int = 8000, emb: int = 64, hidden: int = 384,
                 epochs: int = 4, order: int = 3, batch: int = 512, lr: float = 3e-3):
        torch = self.torch = _torch()
        toks = self._vocabulary(texts, vocab)
        stream = [0] * order  # every text starts after `order` end markers
        for t in toks:
            stream.extend(self.stoi.get(w, 1) for w in t)
            stream.extend([0] * order)
        data = torch.tensor(stream)
        ctx = data.unfold(0, order, 1)[:-1]  # the `order` words before each position
        y = data[order:]
        keep = y != 1  # <unk> is never a target: it is never sampled either
        ctx, y = ctx[keep], y[keep]
        torch.manual_seed(seed)
        v = len(self.itos)
        self.order, self.hidden = order, hidden
        self.emb = torch.nn.Embedding(v, emb)
        self.mix = torch.nn.Sequential(torch.nn.Linear(order * emb, hidden), torch.nn.Tanh())
        self.out = torch.nn.AdaptiveLogSoftmaxWithLoss(hidden, v, cutoffs=[1000, 3000], div_value=4.0)
        params = [*self.emb.parameters(), *self.mix.parameters(), *self.out.parameters()]
        self.losses = self._fit(params, lambda idx: self.out(self._h(ctx[idx]), y[idx]).loss, len(y), epochs,
                                batch, lr, clip=None)
        self.tokens = len(stream)

    def _h(self, ctx):
        return self.mix(self.emb(ctx).flatten(1))

    def _advance(self, cur, state):
        torch = self.torch
        if state is None:  # a text's start: the end markers it was trained after
            state = torch.zeros(len(cur), self.order - 1, dtype=torch.long)
        ctx = torch.cat([state, cur[:, None]], 1)[:, -self.order :]
        return self._h(ctx), ctx

    def continue_(self, prefixes: list[list[str]], k: int, seed: str, batch: int = 2000) -> list[list[str]]:
        torch = self.torch
        gen = torch.Generator().manual_seed(_int_seed(seed))
        out: list[list[str]] = []
        with torch.no_grad():
            for i in range(0, len(prefixes), batch):
                rows = prefixes[i : i + batch]
                ids = torch.tensor([([0] * self.order + [self.stoi.get(w, 1) for w in p])[-self.order:]
                                    for p in rows])
                out += self._run(ids[:, -1], ids[:, :-1], k, gen, False)
        return out


NEURAL = {"gru": GRUStudent, "ngram": NgramNetStudent}
DEFAULT_EPOCHS = {"gru": 2, "ngram": 4}


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




def probe_prefixes(texts: list[str], seed: str, width: int = PREFIX_TOKENS) -> list[list[str]]:
    """The last ``width`` words before each applicable pair occurrence of ``texts`` (unmarked), shuffled:
    prompts that a suspect continues right where a keyed choice would be made."""
    out = []
    for text in texts:
        for occ in scan(text):
            if occ.applies:
                toks = TOKEN.findall(text[: occ.start])[-width:]
                if toks:
                    out.append(toks)
    random.Random(seed).shuffle(out)
    return out


def ask_probes(student, prefixes: list[list[str]], n: int, seed: str) -> Observations:
    """``n`` probes (cycling through ``prefixes``), each continued by ``CONTINUATION_TOKENS`` words."""
    asked = [prefixes[i % len(prefixes)] for i in range(n)]
    conts = student.continue_(asked, CONTINUATION_TOKENS, seed)
    prompts, tails = [], []
    for p, c in zip(asked, conts, strict=True):
        prompt = detokenize(p)
        prompts.append(prompt)
        tails.append(detokenize(p + c)[len(prompt) :])
    return observe_continuations(prompts, tails)


def _seed(*parts: object) -> str:
    return "-".join(map(str, parts))


def main() -> None:
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=5, help="keys (repetitions) for the trigram student")
    ap.add_argument("--neural-keys", type=int, default=3, help="keys for the neural student")
    ap.add_argument("--sizes", default="200,1000,5000,20000", help="numbers of generated texts tested")
    ap.add_argument("--neural-sizes", default="1000,5000", help="the same for the neural student")
    ap.add_argument("--probes", default="1000,5000,20000", help="numbers of prefix probes tested")
    ap.add_argument("--epochs", type=int, default=None,
                    help="the neural student's training epochs (default: GRU 2, n-gram net 4)")
    ap.add_argument("--neural-model", choices=("gru", "ngram"), default="gru",
                    help="the neural student: a word GRU, or a neural n-gram model (previous 3 words)")
    ap.add_argument("--no-neural", action="store_true", help="the trigram student only (no PyTorch needed)")
    ap.add_argument("--quick", action="store_true", help="2 keys each, smaller N, 1 epoch (~5 minutes)")
    ap.add_argument("--neural-conditions", default="100,0,10",
                    help="the neural student's training conditions, as percent marked (100, 0, 10)")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    if args.quick:
        args.keys, args.neural_keys, args.epochs = 2, 2, 1
        args.sizes, args.neural_sizes, args.probes = "1000,5000", "1000", "1000,5000"
    if not args.no_neural:
        _torch()  # fail now, with the install hint, not after the trigram runs
    sizes = {"trigram": [int(s) for s in args.sizes.split(",")],
             "neural": [int(s) for s in args.neural_sizes.split(",")]}
    probe_sizes = [int(s) for s in args.probes.split(",") if s.strip() and int(s) > 0]
    texts = load_responses()
    rng = random.Random(args.seed)
    rng.shuffle(texts)
    n_probe = len(texts) // 5
    probe, train = texts[:n_probe], texts[n_probe:]
    print(f"responses: {len(texts):,} ({len(train):,} train, {len(probe):,} held out), "
          f"{sum(map(len, train)) / len(train):.0f} chars on average")
    reference = observe(train)  # the provider's responses before marking: never marked, so key-free
    prefixes = probe_prefixes(train, _seed("prefixes", args.seed))
    print(f"reference: {len(reference.all_places):,} places in the unmarked training responses; "
          f"{len(prefixes):,} probe prefixes ({PREFIX_TOKENS} words before a place, "
          f"continued for {CONTINUATION_TOKENS} words)")

    conditions = ("100% marked", "unmarked", "10% marked", "1% marked", "held-out real text")
    res: dict[tuple, list[float]] = defaultdict(list)  # (student, protocol, test, cond, n) -> p-values
    places: dict[tuple, list[int]] = defaultdict(list)  # (student, protocol, cond, n) -> places tested
    timing: dict[str, float] = defaultdict(float)

    def record(student: str, protocol: str, cond: str, n: int, obs: Observations, key: bytes) -> None:
        res[(student, protocol, "detect", cond, n)].append(detect(obs, key).p_value)
        res[(student, protocol, "weighted", cond, n)].append(detect_weighted(obs, key, reference).p_value)
        places[(student, protocol, cond, n)].append(len(obs.all_places))

    students = [("trigram", args.keys, conditions[:4])]
    if not args.no_neural:
        by_percent = {"100": conditions[0], "0": conditions[1], "10": conditions[2]}
        wanted = [c.strip() for c in args.neural_conditions.split(",")]
        if unknown := [c for c in wanted if c not in by_percent]:
            ap.error(f"--neural-conditions: {', '.join(unknown)} not among 100, 0, 10")
        students.append(("neural", args.neural_keys, tuple(by_percent[c] for c in wanted)))
    students = [s for s in students if s[1] > 0]
    for rep in range(max(s[1] for s in students)):
        key = random.Random(f"{args.seed}-{rep}").randbytes(32)
        wm = Watermarker(key)
        t0 = time.perf_counter()
        marked_all = [wm.mark_with_stats(t) for t in train]
        if rep == 0:
            _marking_report(train, marked_all, key, time.perf_counter() - t0)
        marked = [m.text for m in marked_all]
        draw = random.Random(f"draw-{args.seed}-{rep}")
        corpora = {
            "100% marked": marked,
            "unmarked": train,
            "10% marked": [m if draw.random() < 0.10 else t for t, m in zip(train, marked, strict=True)],
            "1% marked": [m if draw.random() < 0.01 else t for t, m in zip(train, marked, strict=True)],
        }
        for name, reps, conds in students:
            if rep >= reps:
                continue
            for cond in conds:
                t0 = time.perf_counter()
                lm = TrigramLM(corpora[cond]) if name == "trigram" else NEURAL[args.neural_model](
                    corpora[cond], seed=rep, epochs=args.epochs or DEFAULT_EPOCHS[args.neural_model])
                timing[f"{name} training"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                gen = lm.sample(max(sizes[name]), _seed("sample", args.seed, rep, cond))
                for n in sizes[name]:
                    record(name, "texts", cond, n, observe(gen[:n]), key)
                timing[f"{name} texts"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                for n in probe_sizes:
                    record(name, "probes", cond, n, ask_probes(lm, prefixes, n, _seed("probe", args.seed, rep,
                                                                                      cond)), key)
                timing[f"{name} probes"] += time.perf_counter() - t0
                if name == "neural":
                    print(f"  neural student, {cond}: {lm.tokens:,} training tokens, loss "
                          f"{statistics.mean(lm.losses[-50:]):.2f} at the end")
        if rep < args.keys:
            held_n = min(len(probe), max(sizes["trigram"]))
            held = random.Random(f"probe-{args.seed}-{rep}").sample(probe, held_n)
            for n in sizes["trigram"]:
                if n <= len(held):
                    record("trigram", "texts", conditions[-1], n, observe(held[:n]), key)
        print(f"key {rep + 1} done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    tests = {"detect": "detect (binomial on majority variants)",
             "weighted": "detect_weighted with the unmarked reference (analytic bound)"}
    for name, reps, conds in students:
        for protocol in ("texts", "probes"):
            ns = sizes[name] if protocol == "texts" else probe_sizes
            if not ns:
                continue
            rows = conds + ((conditions[-1],) if protocol == "texts" and name == "trigram" else ())
            what = "generated texts" if protocol == "texts" else "prefix probes"
            for test, title in tests.items():
                _table(f"{name} student, N {what}, {title}: p over {reps} keys, median [min-max]", ns, rows,
                       {(c, n): res[(name, protocol, test, c, n)] for c in rows for n in ns},
                       {(c, n): places[(name, protocol, c, n)] for c in rows for n in ns}
                       if test == "detect" else None)
    print()
    print("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items())
          + f"; total {time.perf_counter() - t_start:.0f} s")


def _marking_report(train: list[str], marked_all: list, key: bytes, seconds: float) -> None:
    words = sum(m.words for m in marked_all)
    changed = sum(m.changed_words for m in marked_all)
    occ = sum(m.occurrences for m in marked_all)
    n_changed = sum(m.changed for m in marked_all)
    bad, by_pair = 0, Counter()
    for t, m in zip(train, marked_all, strict=True):
        ok, ch = meaning_check(t, m.text)
        bad += not ok
        by_pair += ch
    print(f"marking the training set: {seconds:.1f} s; {occ:,} places, {n_changed:,} rewritten; "
          f"{changed:,} of {words:,} words changed ({changed / words:.2%}); "
          f"responses touched: {sum(m.changed > 0 for m in marked_all) / len(train):.1%}")
    print(f"meaning check: {len(train) - bad:,} of {len(train):,} marked responses differ from the "
          f"original only by swaps within listed pairs ({bad} violations)")
    print("most frequent changes:", ", ".join(f"{k} {v}" for k, v in by_pair.most_common(12)))
    lat = latency(train, key)
    print(f"mark latency on {lat['responses']} responses of {lat['mean_chars']:.0f} chars: "
          f"{lat['warm_us']:.0f} us warm, {lat['cold_us']:.0f} us cold")


def _table(
    title: str, sizes: list[int], conditions: tuple[str, ...], pvals: dict, places: dict | None
) -> None:
    print()
    print(title)
    print("| student trained on | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for cond in conditions:
        cells = []
        for n in sizes:
            ps = pvals[(cond, n)]
            if not ps:
                cells.append("(too few texts)")
                continue
            cell = f"{statistics.median(ps):.2g} [{min(ps):.2g}-{max(ps):.2g}]"
            if places is not None:
                cell += f", {statistics.median(places[(cond, n)]):.0f} places"
            cells.append(cell)
        print(f"| {cond} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
