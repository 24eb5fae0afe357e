"""The operating point: the score threshold behind the ``flagged`` decision, chosen for precision.

The shipped model carries a precision-vs-threshold curve measured on out-of-fold scores of
development simulator seeds (``scoring/train.py``) and, for a ladder of precision targets, the lowest
threshold from which the curve stayed at or above the target. ``--target-precision P`` takes the
threshold of the rung ``P`` (a target between rungs takes the next stricter rung); the decision
records what precision and recall that threshold reached on the curve, and what it was measured on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import polars as pl

from distillguard.errors import UsageError
from distillguard.scoring.model import ScoreModel
from distillguard.scoring.peers import PeerGate

#: a wrongly suspended customer is real harm: the default favours precision
DEFAULT_TARGET_PRECISION = 0.999
#: used only when a model ships no validated thresholds
FALLBACK_THRESHOLD = 0.5
#: an account with fewer requests is never flagged, whatever its score: a share of one or two requests
#: ("100% single-turn") is not a behaviour an analyst can check, and a model fitted on first days
#: scores such accounts high (docs/benchmarks.md, ninth session)
MIN_FLAG_REQUESTS = 3


def flag(score: pl.Expr, threshold: pl.Expr, requests: pl.Expr) -> pl.Expr:
    """Whether an account is flagged: its score reaches its threshold and it sent enough requests."""
    return (score >= threshold) & (requests >= MIN_FLAG_REQUESTS)


def too_few_text(scored: pl.DataFrame) -> pl.DataFrame:
    """``account_id, text`` for accounts whose score reached their threshold on too few requests
    (``scored`` has ``score``, ``threshold`` and ``interactions``)."""
    reached = pl.col("score") >= pl.col("threshold")
    few = scored.filter(reached & (pl.col("interactions") < MIN_FLAG_REQUESTS))
    text = pl.concat_str([
        pl.lit("not flagged: the score reaches the threshold on only "), pl.col("interactions").cast(pl.Utf8),
        pl.when(pl.col("interactions") == 1).then(pl.lit(" request")).otherwise(pl.lit(" requests")),
        pl.lit(f" (an account is judged from {MIN_FLAG_REQUESTS} requests on)"),
    ])
    return few.select("account_id", text=text)


@dataclass(frozen=True)
class OperatingPoint:
    target_precision: float | None
    threshold: float
    how: str
    #: precision and recall of this threshold on the model's development curve (None when unknown)
    measured_precision: float | None = None
    measured_recall: float | None = None
    measured_on: dict = field(default_factory=dict)
    #: thresholds for accounts seen only a few days, shortest history first: ``max_days``,
    #: ``threshold`` and the ``precision``/``recall`` measured for that history length
    #: (:mod:`distillguard.scoring.history`); longer histories use ``threshold``
    by_history: tuple[dict, ...] = ()
    #: the model's peer gate (:mod:`distillguard.scoring.peers`): ``neighbours`` and ``min_score``; None: off
    peer_gate: dict | None = None

    @property
    def gate(self) -> PeerGate | None:
        return PeerGate.from_dict(self.peer_gate)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["by_history"] = list(self.by_history)
        return d

    def account_threshold(self, days: pl.Expr) -> pl.Expr:
        """The threshold that applies to an account seen ``days`` days (see ``by_history``)."""
        return self.by_days(days, "threshold", self.threshold).cast(pl.Float64)

    def by_days(self, days: pl.Expr, name: str, longer: object) -> pl.Expr:
        """Field ``name`` of the ``by_history`` entry an account seen ``days`` days falls in; ``longer``
        for histories beyond them."""
        out = pl.lit(longer)
        for h in reversed(self.by_history):
            out = pl.when(days <= h["max_days"]).then(pl.lit(h[name])).otherwise(out)
        return out


def history_points(model: ScoreModel, rung: float, floors: dict | None = None) -> tuple[dict, ...]:
    """Per history bucket, the threshold of precision ``rung`` on that bucket's curve (buckets without
    a curve, or whose curve never reached the rung, are left to the main threshold), raised to
    ``floors[bucket]`` where given (the look-alike guard)."""
    h = model.history or {}
    out = []
    for b in h.get("buckets", []):
        t = h.get("thresholds", {}).get(str(b), {}).get(str(rung))
        if t is None or t >= 1.0:
            continue
        t = max(t, float((floors or {}).get(str(b), 0.0)))
        below = [p for p in h["curves"][str(b)] if p["threshold"] <= t + 1e-12]
        pt = max(below, key=lambda p: p["threshold"]) if below else None
        out.append({
            "max_days": int(b),
            "threshold": float(t),
            "precision": pt["precision"] if pt else None,
            "recall": pt["recall"] if pt else None,
        })
    return tuple(out)


def curve_point(model: ScoreModel, threshold: float) -> dict | None:
    """The curve point at the largest recorded threshold not above ``threshold`` (None without a curve)."""
    below = [p for p in model.curve if p["threshold"] <= threshold + 1e-12]
    if not below:
        return None
    return max(below, key=lambda p: p["threshold"])


def choose_operating_point(
    model: ScoreModel, threshold: float | None = None, target_precision: float | None = None,
    peer_gate: bool = True,
) -> OperatingPoint:
    """An explicit ``threshold`` wins; else the model's validated threshold for ``target_precision``.
    The model's peer gate applies to either (``peer_gate=False``: not at all)."""
    gate = (model.guard or {}).get("peer_gate") if peer_gate else None
    op = _choose(model, threshold, target_precision)
    return dataclasses.replace(op, peer_gate=gate, how=op.how + gate_how(PeerGate.from_dict(gate)))


def gate_how(gate: PeerGate | None) -> str:
    """The peer gate in words, for the operating point's ``how``."""
    if gate is None:
        return ""
    return (f"; a flag also needs the {gate.neighbours} accounts whose evidence is closest to score "
            f"{gate.min_score:.2f} on average (peer gate)")


def _choose(
    model: ScoreModel, threshold: float | None, target_precision: float | None
) -> OperatingPoint:
    if threshold is not None and target_precision is not None:
        raise UsageError("give either --threshold or --target-precision, not both")
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--threshold must be in [0, 1], got {threshold}")
        pt = curve_point(model, threshold)
        return OperatingPoint(
            None,
            float(threshold),
            "threshold given by the user",
            pt["precision"] if pt else None,
            pt["recall"] if pt else None,
            model.measured_on,
        )
    tp = DEFAULT_TARGET_PRECISION if target_precision is None else float(target_precision)
    if not 0.0 < tp < 1.0:
        raise UsageError(f"--target-precision must be in (0, 1), got {tp}")
    rungs = sorted((float(k), v) for k, v in model.thresholds.items())
    if not rungs:
        return OperatingPoint(
            tp, FALLBACK_THRESHOLD, f"no validated thresholds in the model; default {FALLBACK_THRESHOLD}"
        )
    stricter = [(p, t) for p, t in rungs if p >= tp - 1e-12]
    if not stricter:
        best = max(p for p, _ in rungs)
        raise UsageError(
            f"--target-precision {tp:g} is stricter than any validated rung of the model (best: {best:g}); "
            "give --threshold instead"
        )
    p, t = min(stricter)
    if t >= 1.0:
        raise UsageError(f"no threshold reached precision {p:g} on the model's development curve")
    g = model.guard or {}
    guarded = bool(g) and abs(p - float(g.get("rung", 0.0))) < 1e-12 and float(g.get("threshold", 1.0)) < 1.0
    rung_t = t
    if guarded:
        t = max(t, float(g["threshold"]))
    pt = curve_point(model, t)
    origin = "default" if target_precision is None else "requested"
    measured = ""
    if guarded and t > rung_t:
        measured = (
            f"; raised to {t:.3f} by the look-alike guard (the lowest at which at most "
            f"{g['run_share']:.0%} of {g['runs']} calibration scans"
            + (f", and {g['scenario_runs']} of any one scenario's," if "scenario_runs" in g else "")
            + f" flagged over {g['group_rate']:.1%} of a legitimate group)"
        )
    if pt:
        measured += f"; precision {pt['precision']:.4f}, recall {pt['recall']:.4f} at {t:.3f}"
    early = history_points(model, p, g.get("by_history") if guarded else None)
    if early:
        measured += "; accounts seen for fewer days: " + ", ".join(
            f"up to {h['max_days']} d {h['threshold']:.3f}" for h in early
        ) + " (the same precision measured on such histories"
        measured += ", held up by the guard)" if guarded else ")"
    return OperatingPoint(
        tp,
        float(t),
        f"{origin} target precision {tp:g}: threshold {rung_t:.3f} is the lowest from which out-of-fold "
        f"development scores stayed at precision >= {p:g}{measured} ({model.trained_on})",
        pt["precision"] if pt else None,
        pt["recall"] if pt else None,
        model.measured_on,
        early,
    )
