"""Substitutes for the reservations tonight's plan cannot fill, from item embeddings.

A planner who cannot ship the dress a customer booked calls her with an offer: a dress that
customers with the same taste rent, in the same size, with a unit on the shelf tonight. The item
embeddings (`forecasting.embeddings.ItemEmbeddings`, BPR matrix factorisation) are learned from
the world's own rental history (customer x SKU) in the forecast step (`sku_vectors`, kept in
forecasts.npz), so "same taste" is what this business's customers show, not a catalogue
attribute. The project step then only ranks (`suggest_substitutes`, numpy): SKUs of the booked
size with a ready unit the plan does not ship, at most ``k`` per reservation, nearest first.

What this does not claim: on the public RTR data the embeddings' hold-out-users recall does not
beat popularity (`forecasting/embedding_eval.py`), so the ranking is a suggestion for a planner,
not a measured improvement; the plan itself never substitutes.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from allocation.domain import World

__all__ = ["COLUMNS", "DIM", "sku_vectors", "spare_units", "suggest_substitutes"]

COLUMNS: Final = ["reservation_id", "sku_id", "substitute_id", "similarity", "rank", "spare"]
DIM: Final = 32  # embedding floats per SKU
EPOCHS: Final = 15  # a nightly fit on the job's rentals: early stopping usually ends it sooner


def sku_vectors(world: World) -> np.ndarray:
    """Unit-length item embeddings per SKU, in the order of ``world.skus`` (SKUs x DIM, float32).

    A SKU never rented has a row of zeros (no taste to compare: never offered, never matched);
    with rentals of fewer than two SKUs every row is zero.
    """
    skus = world.skus["sku_id"].astype(str)
    out = np.zeros((len(skus), DIM), dtype=np.float32)
    if world.rentals["sku_id"].astype(str).nunique() < 2:
        return out
    from forecasting.embeddings import ItemEmbeddings  # torch: imported by the step that fits

    model = ItemEmbeddings(dim=DIM, epochs=EPOCHS).fit(world.rentals, user_col="customer_id", item_col="sku_id")
    pos = pd.Index(model.item_ids_.astype(str)).get_indexer(pd.Index(skus))
    out[pos >= 0] = model.vectors_[pos[pos >= 0]]
    return out


def spare_units(world: World, shipped_unit_ids: pd.Series) -> pd.Series:
    """Ready units per SKU that tonight's plan does not ship (the only ones a substitute can use)."""
    units = world.units
    ready = units["state"].astype(str) == "ready"
    free = ready & ~units["unit_id"].astype(str).isin(set(shipped_unit_ids.astype(str)))
    return units.loc[free, "sku_id"].astype(str).value_counts()


def _empty() -> pd.DataFrame:
    dtypes = [str, str, str, float, np.int64, np.int64]
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(COLUMNS, dtypes, strict=True)})


def suggest_substitutes(
    world: World, unfilled: pd.DataFrame, shipped_unit_ids: pd.Series, vectors: np.ndarray, k: int = 3
) -> pd.DataFrame:
    """Up to ``k`` substitutes per unfilled reservation (``COLUMNS``); empty when none is possible.

    ``unfilled`` has ``reservation_id`` and ``sku_id``; ``vectors`` is `sku_vectors`' output for
    this world. Similarity is the cosine of the two SKUs' embeddings.
    """
    if unfilled.empty:
        return _empty()
    skus = pd.Index(world.skus["sku_id"].astype(str))
    size = world.skus["size"].astype(str).to_numpy()
    known = np.abs(vectors).sum(axis=1) > 0
    spare = spare_units(world, shipped_unit_ids).reindex(skus, fill_value=0).to_numpy()
    want = skus.get_indexer(pd.Index(unfilled["sku_id"].astype(str)))
    frames = []
    for row in np.unique(want[want >= 0]):
        cands = np.flatnonzero((size == size[row]) & (spare > 0) & known & (np.arange(len(skus)) != row))
        if not known[row] or len(cands) == 0:
            continue
        sim = vectors[cands] @ vectors[row]
        top = np.argsort(-sim, kind="stable")[:k]
        res = unfilled.loc[want == row, "reservation_id"].astype(str).to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "reservation_id": np.repeat(res, len(top)),
                    "sku_id": skus[row],
                    "substitute_id": np.tile(skus[cands[top]].to_numpy(), len(res)),
                    "similarity": np.tile(sim[top].astype(float), len(res)),
                    "rank": np.tile(np.arange(1, len(top) + 1), len(res)),
                    "spare": np.tile(spare[cands[top]], len(res)),
                }
            )
        )
    if not frames:
        return _empty()
    out = pd.concat(frames, ignore_index=True)
    return out[COLUMNS].sort_values(["reservation_id", "rank"], kind="stable").reset_index(drop=True)
