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
from scipy.stats import binom

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
    counts: dict[tuple[str, int], list[int]] = {}
    occurrences = 0
    for text in texts:
        for occ in scan(text):
            if occ.applies:
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


def detect_weighted(texts: Iterable[str] | Observations, key: bytes, sims: int = 20_000) -> Detection:
    """A more sensitive test for texts where only a small share follows the key (a student trained on a
    mix of marked and unmarked responses). Experimental; :func:`detect` is the reference test.

    Why: a model trained on 10% marked text mostly keeps the natural choice at each place, so the
    majority vote of :func:`detect` rarely flips; what moves is the *share* of the keyed variant. This
    statistic is ``T = sum_p w_p s_p`` with ``s_p = +1`` where the key picks variant b (else -1) and
    ``w_p = b_p - r_k n_p``: the place's excess of variant b over its pair's share ``r_k`` across all
    places. The weights depend on the texts only, so under the null ``T`` is a sum of fixed weights with
    independent fair signs; its p-value is a randomised Monte Carlo rank over ``sims`` sign draws
    (exactly uniform under the null; never below ``1 / (sims + 1)``).
    """
    obs = texts if isinstance(texts, Observations) else observe(texts)
    n = len(obs.all_places)
    if n == 0:
        return Detection(1.0, 0.0, 0, 0, obs.occurrences, 0, "no places")
    bits = np.fromiter((keyed_bit(key, c, p) for c, p in obs.all_places), dtype=np.int8, count=n)
    pairs = np.array([p for _, p in obs.all_places])
    uses = obs.counts.sum(axis=1)
    b_total = np.bincount(pairs, weights=obs.counts[:, 1], minlength=len(PAIRS))
    n_total = np.bincount(pairs, weights=uses, minlength=len(PAIRS))
    rate = b_total[pairs] / np.maximum(n_total[pairs], 1)
    w = obs.counts[:, 1] - rate * uses
    t = float(w @ (2 * bits - 1))
    digest = hmac.digest(key, b"distillguard-weighted\x00" + obs.digest, hashlib.sha256)
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    above = ties = 0
    for start in range(0, sims, 1000):
        k = min(1000, sims - start)
        sim = (2 * rng.integers(0, 2, size=(k, n), dtype=np.int8) - 1) @ w
        above += int((sim > t + 1e-9).sum())
        ties += int((np.abs(sim - t) <= 1e-9).sum())
    p = (above + rng.random() * (ties + 1)) / (sims + 1)
    sd = float(np.sqrt(w @ w))
    z = t / sd if sd else 0.0
    matches = int(((w > 0) == (bits == 1))[w != 0].sum())
    explanation = (
        f"weighted test over {n} places ({obs.occurrences} occurrences): T = {t:.1f}, z = {z:+.2f};"
        f" randomised Monte Carlo p = {p:.3g} ({sims:,} sign draws)"
    )
    return Detection(p, math.log10(p), n, matches, obs.occurrences, 0, explanation)


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
]
