"""The account score: a logistic model over account signals and the features of the account's cluster.

``score = sigmoid(intercept + sum_i w_i x_i)`` with every ``x_i`` in [0, 1]. Each term ``w_i x_i``
is the signal's contribution, which is what the reasons print. The weights ship as data
(``model.json`` for scans with a public-dataset index, ``model-noindex.json`` for scans without one,
fitted by :mod:`distillguard.scoring.train` on simulator seeds kept apart from the test seeds);
without them a documented hand-set model is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import polars as pl

from distillguard.accounts.signals import ACCOUNT_SIGNALS
from distillguard.campaigns.features import CLUSTER_FEATURES

FEATURES: tuple[str, ...] = tuple(s.id for s in ACCOUNT_SIGNALS) + tuple(CLUSTER_FEATURES)

#: hand-set model used when no fitted model ships: a cluster must share content and look like harvesting
_HAND = {
    "intercept": -9.0,
    "weights": {
        "account.cot_share": 1.5,
        "account.fixed_instruction": 1.0,
        "account.capability_focus": 1.5,
        "account.capability_breadth": 0.5,
        "account.template_concentration": 0.5,
        "account.single_turn": 0.5,
        "account.output_demand": 0.5,
        "account.round_the_clock": 0.5,
        "account.quiet_volume": 0.8,
        "account.model_pivot": 1.0,
        "account.fresh_account": 0.8,
        "account.unverified_self_serve": 0.5,
        "account.ip_rotation": 0.8,
        "cluster.size": 1.5,
        "cluster.content_sharing": 2.0,
        "cluster.infra_sharing": 0.8,
        "cluster.signup_burst": 0.5,
        "cluster.cot_share": 1.0,
        "cluster.capability_focus": 1.5,
        "cluster.quiet": 1.0,
        "cluster.fresh": 0.5,
        "cluster.unverified": 0.5,
        "cluster.template_reuse": 0.5,
    },
    "thresholds": {"0.99": 0.6, "0.98": 0.5, "0.95": 0.4, "0.9": 0.3},
    "trained_on": "hand-set weights (no fitted model shipped)",
}


@dataclass(frozen=True)
class ScoreModel:
    intercept: float
    weights: dict[str, float]
    #: target precision (as str) -> threshold achieving it on the validation seeds
    thresholds: dict[str, float] = field(default_factory=dict)
    trained_on: str = ""
    #: precision/recall of ``score >= threshold`` on out-of-fold development scores (see ``train.py``)
    curve: tuple[dict, ...] = ()
    #: what the curve was measured on (scenarios and seeds, account counts, how the scores were made)
    measured_on: dict = field(default_factory=dict)
    #: operating points for accounts seen only a few days (see :mod:`distillguard.scoring.history`):
    #: ``buckets`` (largest observed days of each), per bucket ``thresholds`` and ``curve``, ``measured_on``
    history: dict = field(default_factory=dict)
    #: thresholds that hold the default rung up so that look-alike groups stay unflagged on calibration
    #: scans (see :mod:`distillguard.scoring.guard`): ``threshold``, ``by_history`` and what was measured
    guard: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "intercept": self.intercept,
            "weights": self.weights,
            "thresholds": self.thresholds,
            "curve": list(self.curve),
            "measured_on": self.measured_on,
            "trained_on": self.trained_on,
            **({"history": self.history} if self.history else {}),
            **({"guard": self.guard} if self.guard else {}),
        }


#: the shipped models: fitted on scans with a public-dataset index, and on scans without one
MODEL_FILES = {True: "model.json", False: "model-noindex.json"}


def load_model(path: str | None = None, *, dataset_index: bool = False) -> ScoreModel:
    """A model file at ``path``, else the shipped fitted model for scans with a public-dataset index
    (``scoring/model.json``) or without one (``scoring/model-noindex.json``: the dataset signals are
    null there, so a model fitted with them would under-score), else the hand-set one."""
    if path is not None:
        with open(path) as fh:
            d = json.load(fh)
    else:
        try:
            res = resources.files("distillguard.scoring").joinpath(MODEL_FILES[dataset_index])
            d = json.loads(res.read_text())
        except FileNotFoundError:
            d = _HAND
    return ScoreModel(
        float(d["intercept"]),
        {k: float(v) for k, v in d["weights"].items()},
        {str(k): float(v) for k, v in d.get("thresholds", {}).items()},
        d.get("trained_on", ""),
        tuple(d.get("curve", ())),
        dict(d.get("measured_on", {})),
        dict(d.get("history", {})),
        dict(d.get("guard", {})),
    )


def design_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The model's inputs as a float matrix (missing signals count as 0: no evidence)."""
    cols = [
        pl.col(f).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) if f in frame.columns else pl.lit(0.0)
        for f in FEATURES
    ]
    return frame.select(cols).to_numpy().astype(np.float64)


def score_accounts(frame: pl.DataFrame, model: ScoreModel) -> pl.DataFrame:
    """``account_id``, ``score`` and one ``contrib:<feature>`` column per feature (w_i x_i)."""
    x = design_matrix(frame)
    w = np.array([model.weights.get(f, 0.0) for f in FEATURES])
    contrib = x * w
    z = model.intercept + contrib.sum(axis=1)
    s = 1.0 / (1.0 + np.exp(-z))
    out = {"account_id": frame["account_id"], "score": s}
    for i, f in enumerate(FEATURES):
        out[f"contrib:{f}"] = contrib[:, i]
    return pl.DataFrame(out)
