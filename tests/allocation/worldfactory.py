"""A tiny, hand-made, fully consistent world for contract tests: every rule of docs/data.md holds.

Plan date 2026-06-01, horizon 21 days (to 2026-06-21). Two sites, three SKUs, six units (one in
every state, two with customers), three customers in two zones; rentals returned and outstanding;
a reservation beyond the horizon; a holdout with returns for every outstanding rental and delays
for every reservation in the horizon. Tests break exactly one thing and expect exactly one problem.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from allocation.domain import Holdout, World

PLAN_DATE = dt.date(2026, 6, 1)
HORIZON_DAYS = 21

# The dtypes of this world once loaded (every loaded world has them; the code relies on exactly these).
LOADED_DTYPES: dict[str, dict[str, str]] = {
    "sites": {"site_id": "str", "name": "str"},
    "stations": {
        "station_id": "str",
        "site_id": "str",
        "kind": "str",
        "capacity_per_day": "int64",
        "processing_days": "int64",
        "failure_rate": "float64",
    },
    "lanes": {
        "origin": "str",
        "destination": "str",
        "kind": "str",
        "days": "int64",
        "cost_per_unit": "float64",
    },
    "skus": {
        "sku_id": "str",
        "style_id": "str",
        "size": "str",
        "category": "str",
        "rental_value": "float64",
        "retail_value": "float64",
        "color": "str",
    },
    "units": {
        "unit_id": "str",
        "sku_id": "str",
        "site_id": "str",
        "state": "str",
        "due_back": "datetime64[ns]",
        "wear_count": "int64",
        "rental_id": "str",
    },
    "customers": {"customer_id": "str", "zone": "str"},
    "reservations": {
        "reservation_id": "str",
        "customer_id": "str",
        "sku_id": "str",
        "event_date": "datetime64[ns]",
        "rental_days": "int64",
        "zone": "str",
        "value": "float64",
        "priority": "int64",
        "booked_on": "datetime64[ns]",
    },
    "rentals": {
        "rental_id": "str",
        "unit_id": "str",
        "sku_id": "str",
        "customer_id": "str",
        "zone": "str",
        "site_id": "str",
        "ship_date": "datetime64[ns]",
        "event_date": "datetime64[ns]",
        "due_back": "datetime64[ns]",
        "rental_days": "int64",
        "returned_on": "datetime64[ns]",
        "delay_days": "Int64",
        "cleaning_failed": "boolean",
    },
    "bookings": {
        "booking_id": "str",
        "customer_id": "str",
        "sku_id": "str",
        "zone": "str",
        "booked_on": "datetime64[ns]",
        "event_date": "datetime64[ns]",
        "rental_days": "int64",
    },
    "holdout/returns": {"rental_id": "str", "unit_id": "str", "returned_on": "datetime64[ns]"},
    "holdout/delays": {"reservation_id": "str", "delay_days": "int64"},
    "holdout/cleaning": {"unit_id": "str", "cycle": "int64", "failed": "bool"},
    "holdout/disruptions": {"station_id": "str", "date": "datetime64[ns]", "capacity_per_day": "int64"},
}
LOADED_DTYPES["holdout/bookings"] = LOADED_DTYPES["reservations"]


def _ids(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="str")


def _dates(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")


def _ints(*values: int) -> pd.Series:
    return pd.Series(values, dtype="int64")


def make_world() -> World:
    """A fresh copy of the tiny world (tests may mutate it freely)."""
    sites = pd.DataFrame({"site_id": _ids("S1", "S2"), "name": _ids("Brooklyn", "Newark")})
    stations = pd.DataFrame(
        {
            "station_id": _ids("CL-1", "WH-1", "SH-1", "CL-2", "WH-2", "SH-2"),
            "site_id": _ids("S1", "S1", "S1", "S2", "S2", "S2"),
            "kind": _ids(*(["cleaning", "warehouse", "shipping"] * 2)),
            "capacity_per_day": _ints(40, 60, 50, 30, 45, 40),
            "processing_days": _ints(2, 0, 0, 1, 0, 0),
            "failure_rate": pd.Series([0.03, 0.0, 0.0, 0.05, 0.0, 0.0], dtype="float64"),
        }
    )
    lanes = pd.DataFrame(
        {
            "origin": _ids("S1", "S2", "S1", "S1", "S2"),
            "destination": _ids("S2", "S1", "Z1", "Z2", "Z2"),
            "kind": _ids("transfer", "transfer", "ship", "ship", "ship"),
            "days": _ints(1, 1, 2, 3, 1),
            "cost_per_unit": pd.Series([2.5, 2.5, 9.0, 11.0, 8.0], dtype="float64"),
        }
    )
    skus = pd.DataFrame(
        {
            "sku_id": _ids("K1", "K2", "K3"),
            "style_id": _ids("ST1", "ST1", "ST2"),
            "size": _ids("4", "6", "M"),
            "category": _ids("dress", "dress", "gown"),
            "rental_value": pd.Series([80.0, 80.0, 150.0], dtype="float64"),
            "retail_value": pd.Series([400.0, 400.0, 1200.0], dtype="float64"),
            "color": _ids("red", "red", "navy"),  # an extra column: kept as is
        }
    )
    units = pd.DataFrame(
        {
            "unit_id": _ids("U1", "U2", "U3", "U4", "U5", "U6"),
            "sku_id": _ids("K1", "K1", "K2", "K2", "K3", "K3"),
            "site_id": _ids("S1", "S2", "S1", "S1", "S2", "S2"),
            "state": _ids("with_customer", "returning", "cleaning", "ready", "retired", "with_customer"),
            "due_back": _dates("2026-06-05", "2026-06-02", "2026-06-02", None, None, "2026-06-01"),
            "wear_count": _ints(3, 5, 7, 1, 40, 2),
            "rental_id": _ids("R2", "R5", None, None, None, "R3"),
        }
    )
    customers = pd.DataFrame({"customer_id": _ids("C1", "C2", "C3"), "zone": _ids("Z1", "Z2", "Z2")})
    reservations = pd.DataFrame(
        {
            "reservation_id": _ids("V1", "V2", "V3"),
            "customer_id": _ids("C1", "C2", "C3"),
            "sku_id": _ids("K1", "K3", "K2"),
            "event_date": _dates("2026-06-06", "2026-06-12", "2026-06-25"),
            "rental_days": _ints(4, 8, 4),
            "zone": _ids("Z1", "Z2", "Z2"),
            "value": pd.Series([80.0, 240.0, 80.0], dtype="float64"),
            "priority": _ints(0, 1, 0),
            "booked_on": _dates("2026-05-10", "2026-05-20", "2026-06-01"),
        }
    )
    rentals = pd.DataFrame(
        {
            "rental_id": _ids("R1", "R2", "R3", "R4", "R5"),
            "unit_id": _ids("U4", "U1", "U6", "U3", "U2"),
            "sku_id": _ids("K2", "K1", "K3", "K2", "K1"),
            "customer_id": _ids("C1", "C2", "C3", "C1", "C3"),
            "zone": _ids("Z1", "Z2", "Z2", "Z1", "Z2"),
            "site_id": _ids("S1", "S1", "S2", "S1", "S2"),
            "ship_date": _dates("2026-04-28", "2026-05-26", "2026-05-22", "2026-05-20", "2026-05-24"),
            "event_date": _dates("2026-04-30", "2026-05-29", "2026-05-23", "2026-05-22", "2026-05-25"),
            "due_back": _dates("2026-05-06", "2026-06-05", "2026-06-01", "2026-05-28", "2026-05-30"),
            "rental_days": _ints(4, 4, 8, 4, 4),
            "returned_on": _dates("2026-05-07", None, None, "2026-05-28", None),
            "delay_days": pd.array([1, None, None, 0, None], dtype="Int64"),
            "cleaning_failed": pd.array([False, None, None, True, None], dtype="boolean"),
        }
    )
    bookings = pd.DataFrame(
        {
            "booking_id": _ids("B1", "B2", "B3"),
            "customer_id": _ids("C1", "C2", "C3"),
            "sku_id": _ids("K2", "K1", "K3"),
            "zone": _ids("Z1", "Z2", "Z2"),
            "booked_on": _dates("2026-04-10", "2026-05-01", "2026-05-02"),
            "event_date": _dates("2026-04-30", "2026-05-29", "2026-05-23"),
            "rental_days": _ints(4, 4, 8),
        }
    )
    holdout = Holdout(
        returns=pd.DataFrame(
            {
                "rental_id": _ids("R2", "R3", "R5"),
                "unit_id": _ids("U1", "U6", "U2"),
                "returned_on": _dates("2026-06-06", "2026-06-02", "2026-06-02"),
            }
        ),
        delays=pd.DataFrame({"reservation_id": _ids("V1", "V2", "H1"), "delay_days": _ints(0, 2, 1)}),
        cleaning=pd.DataFrame(
            {
                "unit_id": _ids("U3", "U2", "U4", "U1"),
                "cycle": _ints(0, 0, 0, 0),
                "failed": pd.Series([False, True, False, False], dtype="bool"),
            }
        ),
        bookings=pd.DataFrame(
            {
                "reservation_id": _ids("H1"),
                "customer_id": _ids("C2"),
                "sku_id": _ids("K2"),
                "event_date": _dates("2026-06-15"),
                "rental_days": _ints(4),
                "zone": _ids("Z2"),
                "value": pd.Series([80.0], dtype="float64"),
                "priority": _ints(0),
                "booked_on": _dates("2026-06-03"),
            }
        ),
        disruptions=pd.DataFrame(
            {
                "station_id": _ids("CL-1", "SH-2"),
                "date": _dates("2026-06-03", "2026-06-10"),
                "capacity_per_day": np.array([20, 10], dtype=np.int64),
            }
        ),
    )
    return World(
        plan_date=PLAN_DATE,
        horizon_days=HORIZON_DAYS,
        sites=sites,
        stations=stations,
        lanes=lanes,
        skus=skus,
        units=units,
        customers=customers,
        reservations=reservations,
        rentals=rentals,
        bookings=bookings,
        holdout=holdout,
        meta={"plan_date": PLAN_DATE.isoformat(), "horizon_days": HORIZON_DAYS, "scale": "test", "seed": 0},
    )
