"""Rules about where each unit is on the plan date and what its rentals say (docs/data.md, units and
rentals). One function per rule, named for it; each protects an assumption of the replay
(``allocation/state.py``) or the planner (``allocation/model/snapshot.py``), named in its docstring.

Every rule skips silently when a table or column it needs is absent or unusable: that was already
reported, and a cascade of follow-on problems would hide the real one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocation.data.tablecheck import ProblemLog, as_mask, show
from allocation.data.tableset import FAR_DAYS, TableSet, days_after, is_in, lookup
from allocation.domain import StationKind, UnitState

__all__ = [
    "rental_outcome_matches_return",
    "unit_dates_fit_their_state",
    "unit_state_requirements",
    "unit_with_customer_is_on_its_rental",
]

# States whose unit is back (or coming back) and not yet through its cleaning: the outcome of the
# cleaning after its last rental is not known on the plan date.
_CLEANING_PENDING = (UnitState.RETURNING, UnitState.CLEANING)


def unit_state_requirements(ts: TableSet, log: ProblemLog) -> None:
    """Hard: due_back is set unless a unit is ready or retired; rental_id when with_customer.

    The replay reads ``due_back`` as the arrival day of a returning unit and the ready day of one
    in cleaning, and finds a with_customer unit's real return through its rental.
    """
    units = ts.get("units", "state", "due_back", "rental_id")
    if units is None:
        return
    table, file = ts.tables["units"], ts.files["units"]
    state = units["state"]
    in_loop = state.isin([UnitState.WITH_CUSTOMER, UnitState.RETURNING, UnitState.CLEANING])
    log.rows(file, "due_back", in_loop & table.missing("due_back"), "required unless ready or retired")
    out = (state == UnitState.WITH_CUSTOMER).to_numpy()
    log.rows(file, "rental_id", out & table.missing("rental_id"), "required when with_customer")


def unit_with_customer_is_on_its_rental(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a with_customer unit's rental is outstanding (no returned_on) and is of that unit."""
    units = ts.get("units", "unit_id", "state", "rental_id")
    rentals = ts.get("rentals", "rental_id", "unit_id", "returned_on")
    if units is None or rentals is None:
        return
    out = np.flatnonzero((units["state"] == UnitState.WITH_CUSTOMER).to_numpy() & units["rental_id"].notna())
    # Missing where the id is unknown (reported elsewhere).
    rental = lookup(units["rental_id"].iloc[out], rentals, "rental_id", ["unit_id", "returned_on"])
    returned = np.zeros(len(units), dtype=bool)
    returned[out] = rental["returned_on"].notna().to_numpy()
    file = ts.files["units"]
    log.rows(
        file,
        "rental_id",
        returned,
        "with_customer, but its rental has a returned_on",
        values=units["rental_id"],
    )
    other = np.zeros(len(units), dtype=bool)
    other[out] = as_mask(
        rental["unit_id"].notna().to_numpy() & (rental["unit_id"].to_numpy() != units["unit_id"].iloc[out].to_numpy())
    )
    log.rows(
        file,
        "rental_id",
        other,
        "with_customer, but its rental is of another unit",
        values=units["rental_id"],
    )


def _cleaning_days(ts: TableSet, sites: pd.Series) -> np.ndarray | None:
    """processing_days of the cleaning station at each of ``sites`` (NaN where there is none)."""
    stations = ts.get("stations", "site_id", "kind", "processing_days")
    if stations is None:
        return None
    cleaning = stations[stations["kind"] == StationKind.CLEANING]
    days = lookup(sites, cleaning, "site_id", ["processing_days"])["processing_days"]
    return np.asarray(days.astype("float64").clip(upper=FAR_DAYS).to_numpy(), dtype=np.float64)


def unit_dates_fit_their_state(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a returning unit arrives on or after the plan date; a unit in cleaning is ready after
    the plan date, at most ``processing_days - 1`` days after it.

    The replay takes a returning unit's ``due_back`` as the day it arrives dirty and a cleaning
    unit's as the morning it is ready; both lie ahead. A unit already back and waiting for a
    cleaning slot is ``returning`` with ``due_back`` = the plan date; one whose cleaning is done by
    the plan date is ``ready``. A cleaning in progress started by the day before the plan date
    (day 0 is the first day the plan decides), so it ends within the site's processing days.
    """
    units = ts.get("units", "state", "due_back", "site_id")
    if units is None or ts.plan_date is None:
        return
    file, day = ts.files["units"], show(ts.plan_date)
    state = units["state"]
    ahead = days_after(units["due_back"], ts.plan_date)
    returning = (state == UnitState.RETURNING).to_numpy()
    log.rows(
        file,
        "due_back",
        returning & (ahead < 0),
        f"a returning unit arrives on or after the plan date {day}"
        " (one already back and waiting to be cleaned: due_back = the plan date)",
        values=units["due_back"],
    )
    cleaning = (state == UnitState.CLEANING).to_numpy()
    log.rows(
        file,
        "due_back",
        cleaning & (ahead <= 0),
        f"a unit in cleaning is ready after the plan date {day} (one ready by then is `ready`)",
        values=units["due_back"],
    )
    rows = np.flatnonzero(cleaning & (ahead > 0))
    proc = _cleaning_days(ts, units["site_id"].iloc[rows])
    if proc is None:
        return
    longest = np.full(len(units), np.nan)
    longest[rows] = proc - 1
    late = ahead > longest  # NaN (not cleaning, or no cleaning station: reported elsewhere) is never late
    log.rows(
        file,
        "due_back",
        late,
        "a unit in cleaning is ready at most processing_days - 1 days after the plan date",
        detail=lambda pos: (
            f"a unit in cleaning is ready at most processing_days - 1 = {int(longest[pos])} days after the plan"
            f" date {day}: its cleaning started by the day before (got {show(units['due_back'].iloc[pos])})"
        ),
    )


def _last_rental_of_pending_units(ts: TableSet, rentals: pd.DataFrame) -> np.ndarray:
    """Rows of ``rentals`` that are the latest rental (by ship_date) of a unit still returning or
    in cleaning on the plan date."""
    units = ts.get("units", "unit_id", "state")
    last = np.zeros(len(rentals), dtype=bool)
    if units is None or not ts.tables["rentals"].usable("unit_id", "ship_date"):
        return last
    pending = units["unit_id"][units["state"].isin(_CLEANING_PENDING)]
    theirs = rentals.loc[is_in(rentals["unit_id"], pending), ["unit_id", "ship_date"]]
    latest = theirs.sort_values(["unit_id", "ship_date"], kind="stable").drop_duplicates("unit_id", keep="last")
    last[latest.index.to_numpy()] = True  # tables carry a RangeIndex: labels are positions
    return last


def rental_outcome_matches_return(ts: TableSet, log: ProblemLog) -> None:
    """Hard: delay_days and cleaning_failed are empty while outstanding and set once returned;
    delay_days equals ``returned_on - due_back`` in days, clipped at 0.

    The late-return and cleaning-failure models learn from returned rentals; an empty outcome
    would silently drop a rental from what they learn. One exception: the last rental of a unit
    still returning or in cleaning on the plan date may leave cleaning_failed empty, since that
    cleaning has not finished (its outcome is the unit's cycle 0 in holdout/cleaning).
    """
    rentals = ts.get("rentals", "returned_on", "due_back", "delay_days", "cleaning_failed")
    if rentals is None:
        return
    table, file = ts.tables["rentals"], ts.files["rentals"]
    outstanding = rentals["returned_on"].isna() & ~table.failed["returned_on"]
    for column in ("delay_days", "cleaning_failed"):
        early = outstanding & rentals[column].notna()
        log.rows(file, column, early, "must be empty while outstanding (no returned_on)", values=rentals[column])
    returned = rentals["returned_on"].notna().to_numpy()
    log.rows(file, "delay_days", returned & table.missing("delay_days"), "required once returned_on is set")
    unknown = returned & table.missing("cleaning_failed")
    if unknown.any():  # the usual folder has every outcome; only then look for units still in cleaning
        unknown &= ~_last_rental_of_pending_units(ts, rentals)
    log.rows(
        file,
        "cleaning_failed",
        unknown,
        "required once returned_on is set (empty only for the last rental of a unit still returning or in cleaning)",
    )
    expected = (rentals["returned_on"] - rentals["due_back"]).dt.days.clip(lower=0)
    wrong = expected.notna() & rentals["delay_days"].notna() & (rentals["delay_days"] != expected)
    log.rows(
        file,
        "delay_days",
        wrong,
        "must be returned_on - due_back in days, clipped at 0",
        detail=lambda pos: (
            f"must be returned_on - due_back in days, clipped at 0: {int(expected.iloc[pos])}"
            f" (got {show(rentals['delay_days'].iloc[pos])})"
        ),
    )
