"""The physical state of every unit during a replay, and the schedule of what really happens.

``ExecState`` is what a warehouse system would show on a morning: where each unit is and in which
state. ``Schedule`` is the truth the replay plays against (real return days, cleaning outcomes,
realized capacities); policies never read it, except the hindsight policy, whose whole point is to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError, StationKind, UnitState, World
from allocation.statics import Statics

__all__ = ["ExecState", "Schedule", "U", "initial_state", "realized_schedule"]


class U(IntEnum):
    """Unit states inside a replay (finer than ``UnitState``: dirty and in-transfer are separate)."""

    OUT = 0  # with a customer or on its way back
    DIRTY = 1  # back at its site, waiting for cleaning
    CLEANING = 2
    READY = 3
    TRANSIT = 4  # moving between sites
    REPAIR = 5  # failed cleaning: out for the rest of the horizon
    RETIRED = 6


@dataclass
class Schedule:
    """What really happens after the plan date, indexed like ``Statics``."""

    arrival: np.ndarray  # (units,) real arrival day of units out on the plan date; -1 otherwise
    res_delay: np.ndarray  # (reservations,) days late the customer would return the unit
    fails: np.ndarray  # (units, cycles) outcome of the unit's n-th cleaning after the plan date
    clean_cap: np.ndarray  # (sites, horizon) realized capacity
    ship_cap: np.ndarray
    pick_cap: np.ndarray

    def fails_at(self, units: np.ndarray, cycle: np.ndarray) -> np.ndarray:
        """Cleaning outcome of ``units`` at their ``cycle``; cycles past the drawn ones succeed."""
        inside = cycle < self.fails.shape[1]
        out = np.zeros(len(units), dtype=bool)
        out[inside] = self.fails[units[inside], cycle[inside]]
        return out


def _capacity(
    statics: Statics, kind: StationKind, planned: np.ndarray, disruptions: pd.DataFrame, plan: pd.Timestamp
) -> np.ndarray:
    cap = np.repeat(planned[:, None], statics.horizon, axis=1).astype(np.int64)
    if len(disruptions):
        by_station = {sid: s for (k, s), sid in statics.station_ids.items() if k == str(kind)}
        day = (pd.to_datetime(disruptions["date"]) - plan).dt.days.to_numpy()
        for sid, d, c in zip(disruptions["station_id"], day, disruptions["capacity_per_day"], strict=True):
            if sid in by_station and 0 <= d < statics.horizon:
                cap[by_station[sid], d] = int(c)
    return cap


def realized_schedule(world: World, statics: Statics) -> Schedule:
    """The holdout schedule as arrays. Raises if the world has no holdout."""
    if world.holdout is None:
        raise ClosetflowError("this data folder has no holdout/ schedule: validation needs one")
    h = world.holdout
    plan = pd.Timestamp(world.plan_date)
    n_units = len(statics.unit_ids)
    arrival = np.full(n_units, -1, dtype=np.int64)
    units = world.units
    out = (units["state"] == UnitState.WITH_CUSTOMER).to_numpy()
    ret = h.returns.set_index("rental_id")["returned_on"]
    rid = units.loc[out, "rental_id"].astype(str)
    back = pd.to_datetime(ret.reindex(rid).to_numpy())
    days = (back - plan).days.to_numpy()
    # A rental the holdout does not list stays out past the horizon.
    arrival[np.nonzero(out)[0]] = np.where(np.isnan(days.astype(float)), 10_000, days).astype(np.int64)
    returning = (units["state"] == UnitState.RETURNING).to_numpy()
    arrival[returning] = (pd.to_datetime(units.loc[returning, "due_back"]) - plan).dt.days.to_numpy()

    delays = h.delays.set_index("reservation_id")["delay_days"]
    res_delay = delays.reindex(statics.reservations["reservation_id"].astype(str)).fillna(0).to_numpy(np.int64)
    cyc = h.cleaning
    n_cycles = int(cyc["cycle"].max()) + 1 if len(cyc) else 1
    fails = np.zeros((n_units, n_cycles), dtype=bool)
    if len(cyc):
        ui = statics.unit_ids.get_indexer(pd.Index(cyc["unit_id"].astype(str)))
        ok = ui >= 0
        fails[ui[ok], cyc["cycle"].to_numpy()[ok]] = cyc["failed"].to_numpy(dtype=bool)[ok]
    return Schedule(
        arrival=arrival,
        res_delay=res_delay,
        fails=fails,
        clean_cap=_capacity(statics, StationKind.CLEANING, statics.clean_cap, h.disruptions, plan),
        ship_cap=_capacity(statics, StationKind.SHIPPING, statics.ship_cap, h.disruptions, plan),
        pick_cap=_capacity(statics, StationKind.WAREHOUSE, statics.pick_cap, h.disruptions, plan),
    )


@dataclass
class ExecState:
    """Unit-level state of a replay on the morning of ``day`` (arrays indexed like ``Statics``)."""

    day: int
    state: np.ndarray  # U codes
    site: np.ndarray  # where the unit is, or the site it returns/moves to
    when: np.ndarray  # OUT: real arrival day; CLEANING: ready day; TRANSIT: arrival day
    due: np.ndarray  # OUT: the day it is due back if on time
    pmf_row: np.ndarray  # OUT: row of the delay distribution (-1: arrival known, e.g. returning)
    cycle: np.ndarray  # cleanings started since the plan date (the one in progress included)
    dirty_since: np.ndarray
    res_filled: np.ndarray  # (reservations,) bool
    res_unit: np.ndarray  # (reservations,) unit shipped, -1
    res_site: np.ndarray
    res_ship_day: np.ndarray
    log: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def units_in(self, code: U) -> np.ndarray:
        return np.nonzero(self.state == code)[0]


def initial_state(world: World, statics: Statics, schedule: Schedule | None) -> ExecState:
    """Unit states on the morning of the plan date, before day 0's arrivals."""
    units = world.units
    plan = pd.Timestamp(world.plan_date)
    n = len(units)
    st = units["state"].to_numpy()
    state = np.full(n, U.READY, dtype=np.int8)
    due = np.full(n, -1, dtype=np.int64)
    has_due = units["due_back"].notna().to_numpy()
    due[has_due] = (pd.to_datetime(units.loc[has_due, "due_back"]) - plan).dt.days.to_numpy()
    when = np.full(n, -1, dtype=np.int64)
    pmf_row = np.full(n, -1, dtype=np.int64)
    out = st == UnitState.WITH_CUSTOMER
    returning = st == UnitState.RETURNING
    cleaning = st == UnitState.CLEANING
    state[out | returning] = U.OUT
    pmf_row[out] = np.nonzero(out)[0]  # outstanding units use rows 0..units-1 of the delay matrix
    state[cleaning] = U.CLEANING
    state[st == UnitState.RETIRED] = U.RETIRED
    when[cleaning] = due[cleaning]
    when[returning] = due[returning]
    if schedule is not None:
        when[out] = schedule.arrival[out]
    n_res = statics.n_res
    return ExecState(
        day=0,
        state=state,
        site=statics.unit_site.copy(),
        when=when,
        due=due,
        pmf_row=pmf_row,
        cycle=np.zeros(n, dtype=np.int64),
        dirty_since=np.full(n, -1, dtype=np.int64),
        res_filled=np.zeros(n_res, dtype=bool),
        res_unit=np.full(n_res, -1, dtype=np.int64),
        res_site=np.full(n_res, -1, dtype=np.int64),
        res_ship_day=np.full(n_res, -1, dtype=np.int64),
    )
