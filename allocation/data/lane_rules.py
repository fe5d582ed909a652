"""Rules about lanes and whether booked events can be reached in time (docs/data.md, lanes and
reservations). One function per rule, named for it.

Decided and documented, but deliberately not rules: a reservation's zone need not be its
customer's zone (it is where the dress ships, and an event away from home is ordinary; the
planner only ever reads the reservation's zone), and a pair of sites need not have a transfer
lane (the model and the replay simply never move units along a lane that does not exist).

Every rule skips silently when a table or column it needs is absent or unusable: that was already
reported, and a cascade of follow-on problems would hide the real one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from allocation.data.tablecheck import ProblemLog, as_mask, show
from allocation.data.tableset import FAR_DAYS, TableSet, days_after, lookup
from allocation.domain import LaneKind

__all__ = ["reservations_can_ship_in_time", "transfer_lanes_join_two_sites"]


def transfer_lanes_join_two_sites(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a transfer lane's destination is another site than its origin.

    The model reads a site's own position in the transfer matrix as "no move" (0 days); a lane
    from a site to itself would overwrite that and offer transfers that go nowhere but cost.
    """
    lanes = ts.get("lanes", "origin", "destination", "kind")
    if lanes is None:
        return
    loop = as_mask((lanes["kind"] == LaneKind.TRANSFER) & (lanes["origin"] == lanes["destination"]))
    log.rows(
        ts.files["lanes"],
        "destination",
        loop,
        "a transfer lane joins two different sites",
        values=lanes["destination"],
    )


def _fastest_ship_days(ts: TableSet) -> pd.DataFrame | None:
    """Per zone, the fewest ship days from any site (``zone``, ``days``), or None if unusable."""
    lanes = ts.get("lanes", "destination", "kind", "days")
    if lanes is None:
        return None
    ship = lanes.loc[lanes["kind"] == LaneKind.SHIP, ["destination", "days"]].dropna()
    fastest = ship.groupby("destination", sort=False)["days"].min().clip(upper=FAR_DAYS)
    return pd.DataFrame({"zone": fastest.index.astype("str"), "days": fastest.to_numpy(dtype=np.float64)})


def _too_late(frame: pd.DataFrame, days: np.ndarray, first: str) -> Callable[[int], str]:
    def detail(pos: int) -> str:
        return (
            f"no site can ship it in time: the fastest ship lane to zone {show(frame['zone'].iloc[pos])}"
            f" takes {int(days[pos])} days, so it would have to leave before {first}"
            f" (got {show(frame['event_date'].iloc[pos])})"
        )

    return detail


def reservations_can_ship_in_time(ts: TableSet, log: ProblemLog) -> None:
    """Hard: some site can ship each reservation (and holdout booking) in time: the fastest ship
    lane to its zone, leaving on the plan date or later, and not before it is booked, reaches the
    zone by the event date (``event_date - days >= max(plan_date, booked_on)``).

    The planner drops a reservation no site can ship in time from its open set without a word
    (``allocation/model/snapshot.py``), so the plan would neither fill it nor list it unfilled.
    One that can no longer ship belongs to history (bookings), not to what is planned.
    """
    fastest = _fastest_ship_days(ts)
    if fastest is None or ts.plan_date is None:
        return
    # Reservations are known on the plan date; a holdout booking can ship once it is booked.
    for key, start_column in (("reservations", None), ("holdout/bookings", "booked_on")):
        frame = ts.get(key, "zone", "event_date", *([start_column] if start_column else []))
        if frame is None:
            continue
        days = lookup(frame["zone"], fastest, "zone", ["days"])["days"].to_numpy(dtype=np.float64)
        start = np.zeros(len(frame))
        if start_column is not None:  # a missing booked_on (reported elsewhere) counts as the plan date
            start = np.fmax(days_after(frame[start_column], ts.plan_date), 0.0)
        # NaN (an unknown zone or a missing date) is never late, nor is an event before the start:
        # those are reported by other rules, and one problem per mistake reads best.
        event = days_after(frame["event_date"], ts.plan_date)
        late = (event - days < start) & (event >= start)
        first = "its booked_on" if start_column else f"the plan date {show(ts.plan_date)}"
        log.rows(
            ts.files[key],
            "event_date",
            late,
            f"no site can ship it in time (it would have to leave before {first})",
            detail=_too_late(frame, days, first),
        )
