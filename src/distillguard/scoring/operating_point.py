"""The operating point: the score threshold behind the ``flagged`` decision, chosen for precision."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from distillguard.errors import UsageError
from distillguard.scoring.model import ScoreModel

DEFAULT_TARGET_PRECISION = 0.99


@dataclass(frozen=True)
class OperatingPoint:
    target_precision: float | None
    threshold: float
    how: str

    def to_dict(self) -> dict:
        return asdict(self)


def choose_operating_point(
    model: ScoreModel, threshold: float | None = None, target_precision: float | None = None
) -> OperatingPoint:
    """An explicit ``threshold`` wins; else the model's validated threshold for ``target_precision``.

    The model records, for a ladder of precision targets, the lowest threshold that reached the
    target on its validation seeds; a target between rungs takes the next stricter rung.
    """
    if threshold is not None and target_precision is not None:
        raise UsageError("give either --threshold or --target-precision, not both")
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--threshold must be in [0, 1], got {threshold}")
        return OperatingPoint(None, float(threshold), "threshold given by the user")
    tp = DEFAULT_TARGET_PRECISION if target_precision is None else float(target_precision)
    if not 0.0 < tp < 1.0:
        raise UsageError(f"--target-precision must be in (0, 1), got {tp}")
    rungs = sorted((float(k), v) for k, v in model.thresholds.items())
    if not rungs:
        return OperatingPoint(tp, 0.5, "no validated thresholds in the model; default 0.5")
    stricter = [(p, t) for p, t in rungs if p >= tp - 1e-12]
    p, t = min(stricter) if stricter else max(rungs)
    origin = "default" if target_precision is None else "requested"
    return OperatingPoint(
        tp,
        float(t),
        f"{origin} target precision {tp:g}: threshold {t:.3f} reached precision {p:g} on the scorer's "
        f"validation data ({model.trained_on})",
    )
