"""Substitutes for the reservations tonight's plan cannot fill, from item embeddings.

A planner who cannot ship the dress a customer booked calls her with an offer: a dress that
customers with the same taste rent, in the same size, with a unit on the shelf tonight. The item
embeddings (`forecasting.embeddings.ItemEmbeddings`, BPR matrix factorisation) are learned from
the world's own rental history (customer x SKU), so "same taste" is what this business's customers
show, not a catalogue attribute. Only SKUs of the booked size with a ready unit the plan does not
ship are offered; at most ``k`` per reservation, nearest first.

What this does not claim: on the public RTR data the embeddings' hold-out-users recall does not
beat popularity (`forecasting/embedding_eval.py`), so the ranking is a suggestion for a planner,
not a measured improvement; the plan itself never substitutes.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from allocation.domain import World

__all__ = ["COLUMNS", "spare_units", "suggest_substitutes"]

COLUMNS: Final = ["reservation_id", "sku_id", "substitute_id", "similarity", "rank", "spare"]
EPOCHS: Final = 15  # a nightly fit on the job's rentals: early stopping usually ends it sooner


def spare_units(world: World, shipped_unit_ids: pd.Series) -> pd.Series:
    """Ready units per SKU that tonight's plan does not ship (the only ones a substitute can use)."""
    units = world.units
    ready = units["state"].astype(str) == "ready"
    free = ready & ~units["unit_id"].astype(str).isin(set(shipped_unit_ids.astype(str)))
    return units.loc[free, "sku_id"].astype(str).value_counts()


def suggest_substitutes(world: World, unfilled: pd.DataFrame, shipped_unit_ids: pd.Series, k: int = 3) -> pd.DataFrame:
    """Up to ``k`` substitutes per unfilled reservation (``COLUMNS``); empty when none is possible.

    ``unfilled`` has ``reservation_id`` and ``sku_id``. Embeddings are fitted on the world's
    rentals (customer_id x sku_id) only when there is something to suggest for.
    """
    empty = pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in zip(COLUMNS, [str, str, str, float, int, int], strict=True)}
    )
    if unfilled.empty or world.rentals.empty:
        return empty
    from forecasting.embeddings import ItemEmbeddings  # torch: imported only when there is work

    spare = spare_units(world, shipped_unit_ids)
    size = world.skus.set_index(world.skus["sku_id"].astype(str))["size"].astype(str)
    model = ItemEmbeddings(epochs=EPOCHS).fit(world.rentals, user_col="customer_id", item_col="sku_id")
    wanted = unfilled.assign(sku_id=unfilled["sku_id"].astype(str), size=lambda f: f["sku_id"].map(size))
    frames = []
    for sz, group in wanted.groupby("size", sort=True):
        available = {sku: int(n) for sku, n in spare.items() if size.get(sku) == sz}
        skus = [s for s in group["sku_id"].unique() if s in set(model.item_ids_.astype(str))]
        if not available or not skus:
            continue
        subs = model.substitutes(skus, available=available, k=k)
        subs = subs[subs["substitute_id"].astype(str) != subs["item_id"].astype(str)]
        frames.append(group[["reservation_id", "sku_id"]].merge(subs, left_on="sku_id", right_on="item_id"))
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True)
    out["substitute_id"] = out["substitute_id"].astype(str)
    return out[COLUMNS].sort_values(["reservation_id", "rank"], kind="stable").reset_index(drop=True)
