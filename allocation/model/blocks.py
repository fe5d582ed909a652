"""Which SKU each column of the allocation LP belongs to: the block structure the decomposition uses.

Every family of rows in ``allocation.model.rules`` is per SKU (balances, reservations: one SKU each)
except the capacities shared by all SKUs at a site-day (and any rule that spans SKUs, such as
transfers per lane-day), so with columns labelled by SKU the solver finds those few rows as the
linking rows by itself (``solvers.decompose.block_structure``).
"""

from __future__ import annotations

import numpy as np

from allocation.model.layout import Layout
from allocation.model.snapshot import PlanningInput

__all__ = ["column_blocks", "idle_point"]


def column_blocks(inp: PlanningInput, lay: Layout) -> np.ndarray:
    """Local SKU of every column, in the layout's order (I, D, C, X, Y, TR)."""
    per_kst = np.repeat(np.arange(lay.K, dtype=np.int64), lay.S * lay.T)
    return np.concatenate(
        [
            per_kst,
            per_kst,
            per_kst,
            np.asarray(inp.cand_sku, dtype=np.int64),
            np.asarray(inp.protect.sku, dtype=np.int64),
            np.asarray(lay.tr_k, dtype=np.int64),
        ]
    )


def idle_point(inp: PlanningInput, lay: Layout) -> np.ndarray:
    """The plan that does nothing tonight: no shipment, cleaning, transfer or unit held back; stock
    only accumulates (ready units arriving, returns coming back dirty). It satisfies every row of
    one SKU and uses none of the shared capacity, so the decomposition can start its master from
    it instead of spending a first round of group solves on it."""
    x = np.zeros(lay.n)
    ready = inp.ready0[:, :, None] + np.cumsum(inp.ready_in, axis=2)
    dirty = inp.dirty0[:, :, None] + np.cumsum(inp.dirty_in, axis=2)
    x[lay.off_I : lay.off_D] = ready.ravel()
    x[lay.off_D : lay.off_C] = dirty.ravel()
    return x
