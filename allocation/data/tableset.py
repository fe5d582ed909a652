"""The checked tables of one data folder, and the vectorised look-ups the cross-table rules share.

The rules themselves live in :mod:`allocation.data.references` (references, dates),
:mod:`allocation.data.state_rules` (unit states, rentals and the holdout schedule) and
:mod:`allocation.data.lane_rules` (lanes and whether reservations can ship in time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from allocation.data.tablecheck import CheckedTable, ProblemLog, show

__all__ = ["FAR_DAYS", "TableSet", "days_after", "is_in", "lookup", "report_unknown"]

FAR_DAYS: Final = 1_000_000
"""Day counts (lane and processing days) are clipped here before date arithmetic: no rule cares
beyond it, and a day count near 2**63 must not overflow a sum into a plausible number."""


@dataclass
class TableSet:
    """The checked tables of one data folder, keyed ``"units"`` or ``"holdout/returns"``.

    Attributes:
        tables: Tables that could be read (missing or unreadable ones are absent).
        files: File name relative to the folder for every key in ``tables``.
        plan_date: From meta.json; ``None`` when meta.json was unusable.
        horizon_days: From meta.json; ``None`` when unusable.
    """

    tables: dict[str, CheckedTable]
    files: dict[str, str]
    plan_date: pd.Timestamp | None
    horizon_days: int | None

    def get(self, key: str, *columns: str) -> pd.DataFrame | None:
        """The table if it and all ``columns`` can be checked, else ``None``."""
        table = self.tables.get(key)
        if table is None or not table.usable(*columns):
            return None
        return table.frame

    def horizon_end(self) -> pd.Timestamp | None:
        """The last day of the horizon (inclusive), when meta.json gave both numbers."""
        if self.plan_date is None or self.horizon_days is None:
            return None
        return self.plan_date + pd.Timedelta(days=self.horizon_days - 1)


def is_in(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` for id columns, in Arrow.

    pandas' ``isin`` on its Arrow-backed ``str`` dtype converts ``known`` one Python scalar at a
    time: minutes for millions of ids. Arrow hashes both sides in C++ (about 0.3 s per million
    values probed against a million ids on a small machine). Missing values are never "in".
    """
    left = pa.array(values.astype("str"), from_pandas=True)
    right = pa.array(known.dropna().astype("str"), from_pandas=True).cast(left.type)
    hit = pc.fill_null(pc.is_in(left, value_set=right, skip_nulls=True), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def lookup(keys: pd.Series, table: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """For each of ``keys``, the ``columns`` of the first row of ``table`` whose ``key`` matches.

    Rows come back in the order of ``keys``, missing where nothing matches or the key is
    missing. Arrow finds the positions in C++ (``index_in``); no pandas index is built over
    ``table``, which costs seconds for ten million rental ids.
    """
    if len(keys) * 4 < len(table):
        # Few keys into a big table (a thousand units' rentals among millions): hashing the few
        # and probing the many is several times cheaper than hashing the table.
        table = table[is_in(table[key], keys)]
    if len(table) == 0:
        return table[columns].reindex(pd.RangeIndex(len(keys)))  # all missing
    probe = pa.array(keys.astype("str"), from_pandas=True)
    where = pc.index_in(
        probe, value_set=pa.array(table[key].astype("str"), from_pandas=True).cast(probe.type), skip_nulls=True
    )
    found = np.asarray(where.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.asarray(pc.fill_null(where, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    picked = table[columns].iloc[rows].reset_index(drop=True)
    return pd.DataFrame({c: picked[c].where(found) for c in columns})


def days_after(dates: pd.Series, day: pd.Timestamp) -> np.ndarray:
    """Whole days from ``day`` to each date, as float (NaN where a date is missing)."""
    delta = (dates - day).to_numpy(dtype="timedelta64[ns]")
    return np.where(np.isnat(delta), np.nan, delta.astype("timedelta64[D]").astype(np.float64))


def report_unknown(
    ts: TableSet, log: ProblemLog, key: str, column: str, known: pd.Series, what: str, why: str = ""
) -> None:
    """Every set value of ``key``.``column`` that is not among ``known``, as a located problem."""
    frame = ts.get(key, column)
    if frame is None:
        return
    values = frame[column]
    bad = values.notna().to_numpy() & ~is_in(values, known)
    log.rows(
        ts.files[key],
        column,
        bad,
        f"unknown {what}{why}",
        detail=lambda pos: f"unknown {what} {show(values.iloc[pos])}{why}",
    )
