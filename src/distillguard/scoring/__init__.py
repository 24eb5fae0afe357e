"""Account scores, the operating point and the reasons."""

from distillguard.scoring.model import FEATURES, ScoreModel, load_model, score_accounts
from distillguard.scoring.operating_point import OperatingPoint, choose_operating_point
from distillguard.scoring.reasons import account_reasons

__all__ = [
    "FEATURES",
    "OperatingPoint",
    "ScoreModel",
    "account_reasons",
    "choose_operating_point",
    "load_model",
    "score_accounts",
]
