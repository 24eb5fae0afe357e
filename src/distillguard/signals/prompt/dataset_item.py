"""Public-dataset items: the prompt carries a verbatim item of a known public dataset.

Matched against the dataset index given to the scan (``--dataset-index``, built by ``distillguard
index build``; see :mod:`distillguard.dataset_index`); without one the outputs are null.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.signals.base import register
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.context import PromptContext


@register
class DatasetItem(PromptSignal):
    """Public-dataset item: which item of the dataset index the prompt contains, whatever wraps it.

    ``dataset_item`` is the item's number in the index (null when the prompt holds none, or no index
    was given) and ``dataset_cover`` the share of the best-matching item's word shingles found in the
    prompt (an item counts from half). Computed once per distinct prompt.
    """

    id = "prompt.dataset_item"
    requires = ("prompt",)
    option = "--dataset-index"
    outputs = ("dataset_item", "dataset_cover")

    def values(self, ctx: PromptContext):
        index = ctx.dataset_index
        if index is None or ctx.n == 0:
            return {"dataset_item": pa.nulls(ctx.n, pa.uint32()),
                    "dataset_cover": pa.nulls(ctx.n, pa.float32())}
        item_u, cover_u = index.match(ctx.prompt_u)
        item = item_u[ctx.prompt_inverse]
        cover = cover_u[ctx.prompt_inverse]
        return {
            "dataset_item": pa.array(np.where(item >= 0, item, 0).astype(np.uint32), mask=item < 0),
            "dataset_cover": pa.array(cover.astype(np.float32)),
        }
