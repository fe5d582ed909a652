"""Rules about the holdout schedule against the world it follows (docs/data.md, holdout/): real
returns and cleaning outcomes. One function per rule, named for it; each protects what the replay
(``allocation/state.py``, ``realized_schedule``) reads from holdout/.

Every rule skips silently when a table or column it needs is absent or unusable: that was already
reported, and a cascade of follow-on problems would hide the real one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocation.data.tablecheck import ProblemLog, as_mask, show
from allocation.data.tableset import TableSet, is_in, lookup
from allocation.domain import UnitState

__all__ = [
    "holdout_cleaning_cycles_have_no_gaps",
    "holdout_returns_every_outstanding_rental",
    "returning_units_arrive_when_units_say",
]


def holdout_returns_every_outstanding_rental(ts: TableSet, log: ProblemLog) -> None:
    """Hard: holdout/returns has one row per outstanding rental, none for returned ones, and each
    row's unit_id is the unit of its rental.

    The replay finds a with_customer unit's real arrival through its rental; a rental the holdout
    does not list would stay out past the horizon, silently.
    """
    returns = ts.get("holdout/returns", "rental_id")
    rentals = ts.get("rentals", "rental_id", "returned_on")
    if returns is None or rentals is None:
        return
    file = ts.files["holdout/returns"]
    ids = returns["rental_id"]
    with_unit = ts.tables["holdout/returns"].usable("unit_id") and ts.tables["rentals"].usable("unit_id")
    rental = lookup(ids, rentals, "rental_id", ["returned_on", "unit_id"] if with_unit else ["returned_on"])
    log.rows(file, "rental_id", rental["returned_on"].notna(), "this rental was already returned", values=ids)
    outstanding = rentals["returned_on"].isna().to_numpy() & ~ts.tables["rentals"].failed["returned_on"]
    pending = rentals["rental_id"][outstanding]
    absent = pending[~is_in(pending, ids)]
    log.items(file, "rental_id", absent, lambda rental: f"no return for outstanding rental {show(rental)}")
    if not with_unit:
        return
    theirs = rental["unit_id"]
    other = as_mask(theirs.notna().to_numpy() & (theirs.to_numpy() != returns["unit_id"].to_numpy()))
    log.rows(
        file,
        "unit_id",
        other,
        "is not the unit of its rental",
        detail=lambda pos: (
            f"is not the unit of rental {show(ids.iloc[pos])}: rentals says {show(theirs.iloc[pos])}"
            f" (got {show(returns['unit_id'].iloc[pos])})"
        ),
    )


def returning_units_arrive_when_units_say(ts: TableSet, log: ProblemLog) -> None:
    """Hard: for a unit that is ``returning``, holdout/returns gives the day units.due_back gives.

    A returning unit is on its way back with a known arrival day: the planner and the replay both
    take it from ``units.due_back``, so that is the one that counts; a holdout that says otherwise
    would describe a different world from the one that was planned.
    """
    returns = ts.get("holdout/returns", "unit_id", "returned_on")
    units = ts.get("units", "unit_id", "state", "due_back")
    if returns is None or units is None:
        return
    returning = units[units["state"] == UnitState.RETURNING]
    unit = lookup(returns["unit_id"], returning, "unit_id", ["due_back"])
    due = unit["due_back"]
    differs = as_mask(due.notna().to_numpy() & returns["returned_on"].notna().to_numpy())
    differs &= due.to_numpy() != returns["returned_on"].to_numpy()
    log.rows(
        ts.files["holdout/returns"],
        "returned_on",
        differs,
        "must be the due_back of the returning unit in units",
        detail=lambda pos: (
            f"must be {show(due.iloc[pos])}, the due_back of returning unit {show(returns['unit_id'].iloc[pos])}"
            f" in units, which counts (got {show(returns['returned_on'].iloc[pos])})"
        ),
    )


def holdout_cleaning_cycles_have_no_gaps(ts: TableSet, log: ProblemLog) -> None:
    """Hard: each unit's cycles in holdout/cleaning are 0, 1, ... with none skipped.

    A unit may list any number of cycles, none included: the replay takes a cleaning whose cycle
    is not listed as a success (``Schedule.fails_at``). So a skipped cycle, or cycles numbered
    from 1, would shift every outcome onto the wrong cleaning without anyone noticing.
    """
    cleaning = ts.get("holdout/cleaning", "unit_id", "cycle")
    if cleaning is None:
        return
    listed = as_mask(cleaning["unit_id"].notna() & cleaning["cycle"].notna())
    if not listed.any():
        return
    codes, names = pd.factorize(cleaning["unit_id"][listed])
    count = np.bincount(codes, minlength=len(names))
    top = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(top, codes, cleaning["cycle"][listed].to_numpy(dtype=np.int64))
    # Cycles are >= 0: fewer rows than the highest cycle plus one means one is skipped. (A repeated
    # cycle, refused already, could hide a gap; the folder is refused either way.)
    gaps = np.flatnonzero(count - 1 < top)  # not count < top + 1: top may be 2**63 - 1
    log.items(
        ts.files["holdout/cleaning"],
        "cycle",
        pd.Series(gaps),
        lambda i: (
            f"unit {show(names[i])} lists {count[i]} of cycles 0..{top[i]}: cycles start at 0 with none skipped"
            " (a cleaning whose cycle is not listed succeeds)"
        ),
    )
