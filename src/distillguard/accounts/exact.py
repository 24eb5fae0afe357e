"""Order-independent float aggregates.

A parallel engine adds the rows of a group in whatever order its threads meet them, so a plain float
``sum`` can differ in the last bit from one run to the next (and a last bit can move a score across
a threshold or change a tie). :func:`exact_sum` rounds every term to a fixed precision and adds
integers, which is exact and so independent of the order; the result differs from the float sum by
at most ``rows x PRECISION / 2``. Written as an ibis expression, so it runs on any backend.
"""

from __future__ import annotations

import ibis.expr.types as ir

#: the fixed precision of :func:`exact_sum` (terms are rounded to a multiple of it)
PRECISION = 1e-12
_SCALE = 1.0 / PRECISION


def exact_sum(x: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.FloatingScalar:
    """``sum(x)`` (rounded to :data:`PRECISION` per term) that is the same whatever the row order.

    Terms must be finite and ``|sum| < 9e6`` (int64 range at this precision)."""
    fixed = (x.cast("float64") * _SCALE).round().cast("int64")
    return fixed.sum(where=where).cast("float64") / _SCALE
