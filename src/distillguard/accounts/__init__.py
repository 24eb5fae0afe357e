"""Per-account behaviour: aggregates over the staged interactions and the registered account signals."""

from distillguard.accounts.features import TARGET_CAPABILITIES, account_features
from distillguard.accounts.signals import ACCOUNT_SIGNALS, AccountSignal, account_signal_values

__all__ = [
    "ACCOUNT_SIGNALS",
    "TARGET_CAPABILITIES",
    "AccountSignal",
    "account_features",
    "account_signal_values",
]
