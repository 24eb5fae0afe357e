"""Test whether a suspect model's texts carry our watermark.

Why this test is exact: each distinct (context, pair) place is one draw of the keyed function. A text
written without the key agrees with that draw with probability exactly 1/2, independently across
distinct places, so the number of agreements is Binomial(n, 1/2) under the null hypothesis. Counting a
place twice would break the independence (the same draw, seen again), so places are deduplicated: a
place seen several times counts once, with the variant the texts used most often there; a place where
both variants were used equally often is dropped (the rule looks only at the texts, never at the key,
so it keeps the null distribution). The one-sided p-value is randomised,
``p = P(X > x) + U * P(X = x)`` with ``U`` uniform, which makes it exactly uniform under the null
(the discrete binomial would otherwise give conservative, lumpy p-values). ``U`` comes from an RNG
seeded by the key and the observations, so the same data and key always give the same p-value.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binom, norm

from distillguard.provenance.pairs import PAIRS
from distillguard.provenance.scanner import scan
from distillguard.provenance.watermark import account_key, keyed_bit


@dataclass(frozen=True)
class Observations:
    """The distinct (context, pair) places of some texts and the variant used at each (majority)."""

    places: tuple[tuple[str, int], ...]
    variants: np.ndarray  # uint8, one per place
    occurrences: int  # applicable occurrences read, before deduplication
    ties: int  # places dropped because both variants were used equally often
    digest: bytes  # of the observations: seeds the randomisation with the key
    all_places: tuple[tuple[str, int], ...] = ()  # every place, ties included (for :func:`detect_weighted`)
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))  # (a, b) uses

    @property
    def n(self) -> int:
        return len(self.places)


def observe(texts: Iterable[str]) -> Observations:
    """Read the applicable pair occurrences of ``texts`` and deduplicate them by place."""
    return _tally(occ for text in texts for occ in scan(text) if occ.applies)


def observe_continuations(prompts: Iterable[str], continuations: Iterable[str]) -> Observations:
    """Like :func:`observe`, for a suspect's continuations of prompts (``prompt + continuation`` is the
    text): only the occurrences that start in the continuation count, with their context read across
    the join, so a prompt ending "...because" tests what the suspect wrote after it. The prompts must
    be unmarked text: a prompt showing the keyed choice at a place could be copied by any model."""

    def occurrences():
        for prompt, cont in zip(prompts, continuations, strict=True):
            for occ in scan(prompt + cont):
                if occ.applies and occ.start >= len(prompt):
                    yield occ

    return _tally(occurrences())


def _tally(occurrences_: Iterable) -> Observations:
    counts: dict[tuple[str, int], list[int]] = {}
    occurrences = 0
    for occ in occurrences_:
        occurrences += 1
        c = counts.setdefault((occ.context, occ.pair), [0, 0])
        c[occ.variant] += 1
    places: list[tuple[str, int]] = []
    variants: list[int] = []
    ties = 0
    h = hashlib.sha256()
    for place in sorted(counts):
        a, b = counts[place]
        if a == b:
            ties += 1
            continue
        places.append(place)
        variants.append(int(b > a))
        h.update(f"{place[0]}\x1f{place[1]}\x1f{int(b > a)}\x1e".encode())
    every = sorted(counts)
    table = np.array([counts[p] for p in every], dtype=np.int64).reshape(-1, 2)
    return Observations(
        tuple(places), np.array(variants, dtype=np.uint8), occurrences, ties, h.digest(), tuple(every), table
    )


def keyed_bits(obs: Observations, key: bytes) -> np.ndarray:
    """The key's choice at each place of ``obs``."""
    return np.fromiter((keyed_bit(key, c, p) for c, p in obs.places), dtype=np.uint8, count=obs.n)


def randomized_p(matches: int, n: int, u: float) -> tuple[float, float]:
    """One-sided randomised binomial p-value ``P(X > x) + u P(X = x)``, X ~ Bin(n, 1/2), and its log10."""
    if n == 0:
        return 1.0, 0.0
    log_sf = float(binom.logsf(matches, n, 0.5))
    log_pmf = float(binom.logpmf(matches, n, 0.5))
    log_p = np.logaddexp(log_sf, math.log(u) + log_pmf) if u > 0 else log_sf
    log_p = min(0.0, float(log_p))
    return math.exp(log_p), log_p / math.log(10)


def _uniform(key: bytes, obs: Observations) -> float:
    digest = hmac.digest(key, b"distillguard-pvalue\x00" + obs.digest, hashlib.sha256)
    seed = int.from_bytes(digest[:8], "big")
    return float(np.random.default_rng(seed).random())


@dataclass(frozen=True)
class Detection:
    """The result of testing texts against one key."""

    p_value: float
    log10_p: float
    observations: int  # distinct places tested (n)
    matches: int  # places where the texts agree with the key
    occurrences: int
    ties: int
    explanation: str = ""

    def as_dict(self) -> dict:
        return {
            "p_value": self.p_value,
            "log10_p": self.log10_p,
            "observations": self.observations,
            "matches": self.matches,
            "occurrences": self.occurrences,
            "ties_dropped": self.ties,
            "explanation": self.explanation,
        }


def detect(texts: Iterable[str] | Observations, key: bytes) -> Detection:
    """Test ``texts`` (or their :func:`observe` result) against ``key``: small p = marked by this key."""
    obs = texts if isinstance(texts, Observations) else observe(texts)
    matches = int((keyed_bits(obs, key) == obs.variants).sum())
    p, log10_p = randomized_p(matches, obs.n, _uniform(key, obs))
    sd = math.sqrt(obs.n) / 2
    z = (matches - obs.n / 2) / sd if obs.n else 0.0
    explanation = (
        f"{obs.n} distinct (previous word, pair) places from {obs.occurrences} occurrences"
        f" ({obs.ties} with both variants equally often, dropped); {matches} agree with the key,"
        f" {obs.n / 2:.1f} expected without it (z = {z:+.2f}); randomised one-sided binomial p = {p:.3g}"
    )
    return Detection(p, log10_p, obs.n, matches, obs.occurrences, obs.ties, explanation)


#: Bentkus & Dzindzalieta (2015): for independent fair signs ``s`` and ``sum(w**2) = 1``,
#: ``P(sum w s >= x) <= C * P(N(0, 1) >= x)`` for every x, and no smaller constant holds.
_RADEMACHER_GAUSS_C = 1.0 / (4.0 * float(norm.sf(math.sqrt(2.0))))


def _logcosh(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def sign_sum_log_tail(w: np.ndarray, t: float) -> float:
    """An upper bound on ``log P(sum_i w_i s_i >= t)`` for fixed weights ``w`` and independent fair signs
    ``s_i = +-1``: the smaller of the Chernoff bound with the exact moment generating function,
    ``min_l exp(-l t) prod cosh(l w_i)``, and the Gaussian comparison ``3.18 P(N(0, 1) >= t / |w|)``
    (Bentkus & Dzindzalieta, Bernoulli 21, 2015). Both hold for every ``t`` and every ``w``, so the
    bound is a valid (conservative) p-value with no Monte Carlo floor."""
    w = np.asarray(w, dtype=float)
    w = w[w != 0]
    if t <= 0 or len(w) == 0:
        return 0.0
    total = float(np.abs(w).sum())
    if t > total * (1 + 1e-12):
        return -math.inf
    if t >= total * (1 - 1e-12):  # every sign has to agree: exactly 2^-m
        return -len(w) * math.log(2.0)
    var = float(w @ w)
    gauss = math.log(_RADEMACHER_GAUSS_C) + float(norm.logsf(t / math.sqrt(var)))

    def slope(lam: float) -> float:  # d/dl of sum log cosh(l w) - l t; increasing in l
        return float(w @ np.tanh(lam * w)) - t

    lo, hi = t / var, 2 * t / var  # the root is at least t / var (tanh(x) <= x)
    while slope(hi) < 0:
        lo, hi = hi, 2 * hi
    lam = float(brentq(slope, lo, hi, xtol=1e-12 * hi, rtol=1e-10))
    chernoff = float(_logcosh(lam * w).sum()) - lam * t
    return min(0.0, gauss, chernoff)


def detect_weighted(
    texts: Iterable[str] | Observations,
    key: bytes,
    reference: Iterable[str] | Observations | None = None,
    prior: float = 2.0,
) -> Detection:
    """A test for texts where only a small share follows the key (a student trained on a mix of marked
    and unmarked responses); more sensitive than :func:`detect` there, conservative under the null.

    Why: a model trained on 10% marked text mostly keeps the natural choice at each place, so the
    majority vote of :func:`detect` rarely flips; what moves is the *share* of the keyed variant. The
    statistic is ``T = sum_p w_p s_p`` over every distinct place ``p`` of the texts, with ``s_p = +1``
    where the key picks variant b (else -1) and ``w_p = (b_p - n_p q_p) / sqrt(q_p (1 - q_p))``: the
    texts' uses of variant b at the place beyond what unmarked text would give, in standard units.
    ``q_p`` is the share of variant b at that place in ``reference`` (unmarked text of the same kind:
    the provider's own responses before marking), shrunk towards the pair's share with ``prior``
    pseudo-uses; without a reference, the pair's share in ``texts`` itself (weaker: contexts differ).

    Validity: the weights depend on the texts and the reference only, so if neither was influenced by
    the key, ``T`` is a sum of fixed weights with independent fair signs, whatever the texts are. The
    p-value is an analytic upper bound on that tail (:func:`sign_sum_log_tail`): conservative, with no
    floor. **The reference must be unmarked**: marked reference text carries the key and would make
    an unmarked suspect look marked.
    """
    obs = texts if isinstance(texts, Observations) else observe(texts)
    n = len(obs.all_places)
    if n == 0:
        return Detection(1.0, 0.0, 0, 0, obs.occurrences, 0, "no places")
    bits = np.fromiter((keyed_bit(key, c, p) for c, p in obs.all_places), dtype=np.int8, count=n)
    pairs = np.array([p for _, p in obs.all_places])
    uses = obs.counts.sum(axis=1).astype(float)
    b = obs.counts[:, 1].astype(float)
    if reference is None:
        pair_b = np.bincount(pairs, weights=b, minlength=len(PAIRS))
        pair_n = np.bincount(pairs, weights=uses, minlength=len(PAIRS))
        q = (pair_b[pairs] + 0.5) / (pair_n[pairs] + 1.0)
        source = "the pair's share in these texts"
    else:
        ref = reference if isinstance(reference, Observations) else observe(reference)
        ref_pairs = np.array([p for _, p in ref.all_places], dtype=np.int64)
        pair_b = np.bincount(ref_pairs, weights=ref.counts[:, 1], minlength=len(PAIRS))
        pair_n = np.bincount(ref_pairs, weights=ref.counts.sum(axis=1), minlength=len(PAIRS))
        rate = (pair_b + 0.5) / (pair_n + 1.0)
        index = {place: i for i, place in enumerate(ref.all_places)}
        rows = np.array([index.get(place, -1) for place in obs.all_places])
        seen = rows >= 0
        rb = np.where(seen, ref.counts[np.maximum(rows, 0), 1], 0).astype(float)
        rn = np.where(seen, ref.counts[np.maximum(rows, 0)].sum(axis=1), 0).astype(float)
        q = (rb + prior * rate[pairs]) / (rn + prior)
        source = f"the reference ({int(seen.sum())} of {n} places seen there)"
    q = np.clip(q, 0.02, 0.98)
    w = (b - uses * q) / np.sqrt(q * (1 - q))
    t = float(w @ (2 * bits - 1))
    log_p = sign_sum_log_tail(w, t)
    p = math.exp(log_p)
    sd = float(np.sqrt(w @ w))
    z = t / sd if sd else 0.0
    matches = int(((w > 0) == (bits == 1))[w != 0].sum())
    explanation = (
        f"weighted test over {n} places ({obs.occurrences} occurrences), natural shares from {source}:"
        f" T = {t:.1f}, z = {z:+.2f}; p <= {p:.3g} (analytic bound on a sum of fixed weights with fair signs)"
    )
    return Detection(p, log_p / math.log(10), n, matches, obs.occurrences, 0, explanation)


@dataclass(frozen=True)
class AccountRank:
    account_id: str
    matches: int
    p_value: float
    p_holm: float  # adjusted for the number of accounts tested (Holm)


@dataclass(frozen=True)
class AccountTest:
    """Which candidate account's key best explains the texts, corrected for testing many keys."""

    best: str | None
    p_value: float  # the best account's p, Bonferroni-corrected (= its Holm-adjusted p)
    observations: int
    ranking: list[AccountRank] = field(default_factory=list)

    def as_dict(self, top: int = 10) -> dict:
        return {
            "best_account": self.best,
            "p_value": self.p_value,
            "observations": self.observations,
            "accounts_tested": len(self.ranking),
            "ranking": [vars(r) for r in self.ranking[:top]],
        }


def detect_accounts(
    texts: Iterable[str] | Observations, master_key: bytes, account_ids: Sequence[str]
) -> AccountTest:
    """Test every candidate account's key; rank them by p-value with Holm's correction."""
    obs = texts if isinstance(texts, Observations) else observe(texts)
    ids = list(dict.fromkeys(account_ids))
    rows = []
    for aid in ids:
        d = detect(obs, account_key(master_key, aid))
        rows.append((d.p_value, aid, d.matches))
    rows.sort(key=lambda r: (r[0], r[1]))
    m = len(rows)
    ranking: list[AccountRank] = []
    running = 0.0
    for i, (p, aid, matches) in enumerate(rows):
        running = max(running, min(1.0, (m - i) * p))
        ranking.append(AccountRank(aid, matches, p, running))
    if not ranking:
        return AccountTest(None, 1.0, obs.n, [])
    return AccountTest(ranking[0].account_id, ranking[0].p_holm, obs.n, ranking)


__all__ = [
    "PAIRS",
    "AccountTest",
    "Detection",
    "Observations",
    "detect",
    "detect_accounts",
    "detect_weighted",
    "observe",
    "observe_continuations",
    "sign_sum_log_tail",
]
