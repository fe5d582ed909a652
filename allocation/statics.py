"""Integer-indexed arrays of a world: what planning and replay look up on their hot paths.

Tables name things by string ids; the model and the replay index them by position. ``Statics`` does
that translation once per world (sites, zones, SKUs, units, reservations -> 0..n-1) so nothing
downstream joins strings per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError, LaneKind, StationKind, World

__all__ = ["Statics"]


def _index(values: pd.Series, universe: pd.Index, what: str) -> np.ndarray:
    pos = universe.get_indexer(pd.Index(values))
    if (pos < 0).any():
        missing = pd.Series(values)[pos < 0].iloc[0]
        raise ClosetflowError(f"unknown {what} {missing!r}")
    return np.asarray(pos, dtype=np.int64)


@dataclass
class Statics:
    """Positions and per-index facts of one world; day indexes are relative to the plan date."""

    horizon: int
    site_ids: pd.Index
    zone_ids: pd.Index
    sku_ids: pd.Index
    unit_ids: pd.Index
    ship_days: np.ndarray  # (sites, zones); a huge number where no lane exists
    ship_cost: np.ndarray  # (sites, zones)
    transfer_days: np.ndarray  # (sites, sites); 0 on the diagonal, huge where no lane exists
    transfer_cost: np.ndarray  # (sites, sites)
    nearest_site: np.ndarray  # (zones,)
    clean_cap: np.ndarray  # (sites,) planned units/day
    clean_days: np.ndarray  # (sites,)
    clean_fail: np.ndarray  # (sites,) planned failure share
    ship_cap: np.ndarray  # (sites,)
    pick_cap: np.ndarray  # (sites,) warehouse picks/day
    station_ids: dict[tuple[str, int], str]  # (kind, site) -> station_id
    sku_value: np.ndarray  # (skus,)
    unit_sku: np.ndarray  # (units,)
    unit_site: np.ndarray  # (units,)
    reservations: pd.DataFrame  # known + (when a holdout is there) new bookings, in one index space
    res_sku: np.ndarray
    res_zone: np.ndarray
    res_event: np.ndarray  # event day
    res_booked: np.ndarray  # booking day (<= 0 for reservations known on the plan date)
    res_days: np.ndarray  # rental days
    res_value: np.ndarray
    res_priority: np.ndarray
    res_known: np.ndarray  # bool: known on the plan date
    plan_date: dt.date | None = None  # day 0 (business rules name calendar days)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @property
    def n_skus(self) -> int:
        return len(self.sku_ids)

    @property
    def n_res(self) -> int:
        return len(self.reservations)

    def ship_by(self, res: np.ndarray, site: np.ndarray | int) -> np.ndarray:
        """Latest day a unit can leave ``site`` and still be with the customer on the event date."""
        return np.asarray(self.res_event[res] - self.ship_days[site, self.res_zone[res]], dtype=np.int64)

    @classmethod
    def from_world(cls, world: World, *, include_new_bookings: bool = True) -> Statics:
        """Index a world. New bookings from the holdout are appended after the known reservations."""
        sites = pd.Index(world.sites["site_id"].astype(str))
        lanes = world.lanes
        ship = lanes[lanes["kind"] == LaneKind.SHIP]
        zones = pd.Index(sorted(ship["destination"].astype(str).unique()))
        big = 10_000
        ship_days = np.full((len(sites), len(zones)), big, dtype=np.int64)
        ship_cost = np.zeros((len(sites), len(zones)))
        si = _index(ship["origin"].astype(str), sites, "site")
        zi = _index(ship["destination"].astype(str), zones, "zone")
        ship_days[si, zi] = ship["days"].to_numpy()
        ship_cost[si, zi] = ship["cost_per_unit"].to_numpy()
        tr = lanes[lanes["kind"] == LaneKind.TRANSFER]
        transfer_days = np.full((len(sites), len(sites)), big, dtype=np.int64)
        np.fill_diagonal(transfer_days, 0)
        transfer_cost = np.zeros((len(sites), len(sites)))
        ta = _index(tr["origin"].astype(str), sites, "site")
        tb = _index(tr["destination"].astype(str), sites, "site")
        transfer_days[ta, tb] = tr["days"].to_numpy()
        transfer_cost[ta, tb] = tr["cost_per_unit"].to_numpy()
        nearest = np.lexsort((ship_cost, ship_days), axis=0)[0]

        st = world.stations
        station_site = _index(st["site_id"].astype(str), sites, "site")
        caps: dict[str, np.ndarray] = {}
        station_ids: dict[tuple[str, int], str] = {}
        for kind in StationKind:
            arr = np.zeros(len(sites), dtype=np.int64)
            mask = (st["kind"] == kind).to_numpy()
            np.add.at(arr, station_site[mask], st["capacity_per_day"].to_numpy()[mask])
            caps[kind] = arr
            for sid, s in zip(st["station_id"].to_numpy()[mask], station_site[mask], strict=True):
                station_ids[(str(kind), int(s))] = str(sid)
        cl = st[st["kind"] == StationKind.CLEANING]
        clean_days = np.ones(len(sites), dtype=np.int64)
        clean_fail = np.zeros(len(sites))
        cs = _index(cl["site_id"].astype(str), sites, "site")
        clean_days[cs] = np.maximum(1, cl["processing_days"].to_numpy())
        clean_fail[cs] = cl["failure_rate"].to_numpy()

        skus = pd.Index(world.skus["sku_id"].astype(str))
        units = world.units
        res = world.reservations.assign(_known=True)
        if include_new_bookings and world.holdout is not None and len(world.holdout.bookings):
            res = pd.concat([res, world.holdout.bookings.assign(_known=False)], ignore_index=True)
        res = res.reset_index(drop=True)
        plan = pd.Timestamp(world.plan_date)
        return cls(
            horizon=world.horizon_days,
            site_ids=sites,
            zone_ids=zones,
            sku_ids=skus,
            unit_ids=pd.Index(units["unit_id"].astype(str)),
            ship_days=ship_days,
            ship_cost=ship_cost,
            transfer_days=transfer_days,
            transfer_cost=transfer_cost,
            nearest_site=np.asarray(nearest, dtype=np.int64),
            clean_cap=caps[StationKind.CLEANING],
            clean_days=clean_days,
            clean_fail=clean_fail,
            ship_cap=caps[StationKind.SHIPPING],
            pick_cap=caps[StationKind.WAREHOUSE],
            station_ids=station_ids,
            sku_value=world.skus["rental_value"].to_numpy(dtype=float),
            unit_sku=_index(units["sku_id"].astype(str), skus, "SKU"),
            unit_site=_index(units["site_id"].astype(str), sites, "site"),
            reservations=res,
            res_sku=_index(res["sku_id"].astype(str), skus, "SKU"),
            res_zone=_index(res["zone"].astype(str), zones, "zone"),
            res_event=(pd.to_datetime(res["event_date"]) - plan).dt.days.to_numpy(dtype=np.int64),
            res_booked=(pd.to_datetime(res["booked_on"]) - plan).dt.days.to_numpy(dtype=np.int64),
            res_days=res["rental_days"].to_numpy(dtype=np.int64),
            res_value=res["value"].to_numpy(dtype=float),
            res_priority=res["priority"].to_numpy(dtype=np.int64),
            res_known=res["_known"].to_numpy(dtype=bool),
            plan_date=world.plan_date,
        )
