"""Per-prompt signals: one module per signal family.

Every signal here is a :class:`~distillguard.signals.prompt.base.PromptSignal`: it reads the shared
:class:`~distillguard.signals.prompt.context.PromptContext` (lower-cased windows, masked text, word
lists, the distinct-window index: work done once per batch) and returns its output columns. The
batch entry point that runs them all is :func:`distillguard.features.prompt_features`.
"""

from distillguard.signals.prompt import (  # noqa: F401  (importing registers the signals)
    capability,
    cot,
    dataset_item,
    dataset_shape,
    near_duplicate,
    skeleton,
    system,
)
from distillguard.signals.prompt.base import PromptSignal, prompt_signals
from distillguard.signals.prompt.context import PromptContext

__all__ = ["PromptContext", "PromptSignal", "prompt_signals"]
