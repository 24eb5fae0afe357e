"""The prompt-level signal interface (a thin layer over :mod:`distillguard.signals.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals.base import REGISTRY, Signal

if TYPE_CHECKING:
    from distillguard.signals.prompt.context import PromptContext


class PromptSignal(Signal):
    """A signal computed per prompt from one record batch.

    Subclasses set ``id``, ``requires`` (log-format columns that must be present and not all-null),
    ``outputs`` (the columns of :data:`distillguard.features.PROMPT_FEATURES` they produce) and
    implement :meth:`values`. :meth:`compute` handles the missing-input case: when a required column
    is absent or all-null, every output is null.
    """

    level = "prompt"
    outputs: ClassVar[tuple[str, ...]] = ()

    def compute(self, ctx: PromptContext) -> dict[str, pa.Array]:
        """Output columns for the batch in ``ctx`` (each of length ``ctx.n``, same row order)."""
        from distillguard.features import PROMPT_FEATURES

        if any(not ctx.has(col) for col in self.requires):
            return {name: pa.nulls(ctx.n, PROMPT_FEATURES.field(name).type) for name in self.outputs}
        out = self.values(ctx)
        missing = set(self.outputs) - set(out)
        if missing:
            raise RuntimeError(f"{self.id}: did not produce {sorted(missing)}")
        result = {}
        for name in self.outputs:
            arr = out[name]
            typ = PROMPT_FEATURES.field(name).type
            if not isinstance(arr, pa.Array | pa.ChunkedArray):
                arr = pa.array(arr, type=typ)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if arr.type != typ:
                arr = arr.cast(typ)
            # a row without a prompt has no prompt-derived value
            if ctx.prompt_null is not None and "prompt" in self.requires:
                arr = pc.if_else(ctx.prompt_null, pa.nulls(ctx.n, typ), arr)
            result[name] = arr
        return result

    def values(self, ctx: PromptContext) -> dict[str, pa.Array | np.ndarray]:  # pragma: no cover
        raise NotImplementedError


def prompt_signals() -> list[type[PromptSignal]]:
    """Every registered prompt-level signal, in id order."""
    import distillguard.signals.prompt  # noqa: F401  (registers)

    return [cls for sid, cls in sorted(REGISTRY.items()) if cls.level == "prompt"]


def noisy_or(*scores: np.ndarray) -> np.ndarray:
    """Combine independent pieces of evidence in [0, 1]: ``1 - prod(1 - s)``."""
    acc = np.ones_like(np.asarray(scores[0], dtype=np.float64))
    for s in scores:
        acc *= 1.0 - np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return 1.0 - acc


def hits_to_score(hits: np.ndarray, per_hit: float) -> np.ndarray:
    """Graded evidence from a count of independent pattern hits: ``1 - (1 - per_hit) ** hits``."""
    return 1.0 - np.power(1.0 - per_hit, np.asarray(hits, dtype=np.float64))
