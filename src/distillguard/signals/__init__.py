"""Signals: small registered units of evidence (see ``base.py``)."""

from distillguard.signals.base import REGISTRY, Signal, register, unavailable_signals

__all__ = ["REGISTRY", "Signal", "register", "unavailable_signals"]
