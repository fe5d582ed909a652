"""Pandera contracts for every table of a data folder (docs/data.md), one schema per table.

Each schema fixes the column names, the dtype every loaded table has, whether a column may be
missing a value, id uniqueness and the single-column value rules. Rules that need another column,
another table or the plan date (``due_back`` required unless ready, references, event dates on or
after the plan date) live in :mod:`allocation.data.references`.

Dtypes a loaded table has (what the rest of the code may rely on):

* ids and labels: ``str`` (pandas' default string dtype; missing = NaN)
* dates: ``datetime64[ns]``, always at midnight; missing = NaT where a column allows it
* whole numbers: ``int64``, or ``Int64`` (nullable) where a column allows missing values
* amounts and rates: ``float64``
* flags: ``bool``, or ``boolean`` (nullable) where a column allows missing values

Extra columns are allowed and kept as read. ``coerce=True`` lets ``schema.validate`` do lossless
conversions of typed frames (int32 -> int64, datetime64[us] -> [ns]); files are read through
:func:`allocation.data.io.load_world`, which parses CSV text itself and reports each bad cell.
"""

from __future__ import annotations

from typing import Final

import pandera.pandas as pa

from allocation.domain import LaneKind, StationKind, UnitState

__all__ = [
    "BOOKINGS",
    "CUSTOMERS",
    "HOLDOUT_BOOKINGS",
    "HOLDOUT_CLEANING",
    "HOLDOUT_DELAYS",
    "HOLDOUT_DISRUPTIONS",
    "HOLDOUT_RETURNS",
    "HOLDOUT_SCHEMAS",
    "LANES",
    "RENTALS",
    "RENTAL_DAYS",
    "RESERVATIONS",
    "SCHEMAS",
    "SITES",
    "SKUS",
    "STATIONS",
    "UNITS",
]

RENTAL_DAYS: Final = (4, 8)
"""The rental lengths on offer, in days."""

DATE: Final = "datetime64[ns]"


def _id(*, unique: bool = False, nullable: bool = False) -> pa.Column:
    """A string id column; ``unique`` for a table's own key."""
    return pa.Column(str, unique=unique, nullable=nullable)


def _text(*, nullable: bool = False) -> pa.Column:
    return pa.Column(str, nullable=nullable)


def _date(*, nullable: bool = False) -> pa.Column:
    return pa.Column(DATE, nullable=nullable)


def _count(minimum: int = 0, *, nullable: bool = False) -> pa.Column:
    """A whole number >= ``minimum``; ``Int64`` when missing values are allowed."""
    return pa.Column(
        "Int64" if nullable else "int64",
        pa.Check.ge(minimum, error=f"must be >= {minimum}"),
        nullable=nullable,
    )


def _dollars(*, positive: bool = False) -> pa.Column:
    check = pa.Check.gt(0, error="must be > 0") if positive else pa.Check.ge(0, error="must be >= 0")
    return pa.Column("float64", check)


def _one_of(values: tuple[str, ...] | tuple[int, ...], dtype: object = str) -> pa.Column:
    allowed = ", ".join(str(v) for v in values)
    return pa.Column(dtype, pa.Check.isin(list(values), error=f"must be one of {allowed}"))


def _schema(name: str, columns: dict[str, pa.Column], unique: list[str] | None = None) -> pa.DataFrameSchema:
    # strict=False: extra columns are allowed and kept; coerce=True: lossless casts of typed frames.
    return pa.DataFrameSchema(columns, name=name, strict=False, coerce=True, unique=unique)


SITES: Final = _schema("sites", {"site_id": _id(unique=True), "name": _text()})

STATIONS: Final = _schema(
    "stations",
    {
        "station_id": _id(unique=True),
        "site_id": _id(),
        "kind": _one_of(tuple(StationKind)),
        "capacity_per_day": _count(0),
        "processing_days": _count(0),
        "failure_rate": pa.Column("float64", pa.Check.in_range(0.0, 1.0, error="must be between 0 and 1")),
    },
)

LANES: Final = _schema(
    "lanes",
    {
        "origin": _id(),
        "destination": _id(),
        "kind": _one_of(tuple(LaneKind)),
        "days": _count(1),
        "cost_per_unit": _dollars(),
    },
    unique=["origin", "destination", "kind"],
)

SKUS: Final = _schema(
    "skus",
    {
        "sku_id": _id(unique=True),
        "style_id": _text(),
        "size": _text(),
        "category": _text(),
        "rental_value": _dollars(positive=True),
        "retail_value": _dollars(positive=True),
    },
)

UNITS: Final = _schema(
    "units",
    {
        "unit_id": _id(unique=True),
        "sku_id": _id(),
        "site_id": _id(),
        "state": _one_of(tuple(UnitState)),
        # Required unless ready/retired; that rule needs `state`, see references.py.
        "due_back": _date(nullable=True),
        "wear_count": _count(0),
        # Required when with_customer; see references.py.
        "rental_id": _id(nullable=True),
    },
)

CUSTOMERS: Final = _schema("customers", {"customer_id": _id(unique=True), "zone": _text()})


def _reservation_columns() -> dict[str, pa.Column]:
    """Columns shared by reservations and holdout bookings (fresh objects for each schema)."""
    return {
        "reservation_id": _id(unique=True),
        "customer_id": _id(),
        "sku_id": _id(),
        "event_date": _date(),
        "rental_days": _one_of(RENTAL_DAYS, "int64"),
        "zone": _text(),
        "value": _dollars(),
        "priority": _count(0),
        "booked_on": _date(),
    }


RESERVATIONS: Final = _schema("reservations", _reservation_columns())

RENTALS: Final = _schema(
    "rentals",
    {
        "rental_id": _id(unique=True),
        "unit_id": _id(),
        "sku_id": _id(),
        "customer_id": _id(),
        "zone": _text(),
        "site_id": _id(),
        "ship_date": _date(),
        "event_date": _date(),
        "due_back": _date(),
        "rental_days": _one_of(RENTAL_DAYS, "int64"),
        # Missing while outstanding (returned_on missing); see references.py for the pairing rules.
        "returned_on": _date(nullable=True),
        "delay_days": _count(0, nullable=True),
        "cleaning_failed": pa.Column("boolean", nullable=True),
    },
)

BOOKINGS: Final = _schema(
    "bookings",
    {
        "booking_id": _id(unique=True),
        "customer_id": _id(),
        "sku_id": _id(),
        "zone": _text(),
        "booked_on": _date(),
        "event_date": _date(),
        "rental_days": _one_of(RENTAL_DAYS, "int64"),
    },
)

HOLDOUT_RETURNS: Final = _schema("returns", {"rental_id": _id(unique=True), "unit_id": _id(), "returned_on": _date()})

HOLDOUT_DELAYS: Final = _schema("delays", {"reservation_id": _id(unique=True), "delay_days": _count(0)})

HOLDOUT_CLEANING: Final = _schema(
    "cleaning",
    {"unit_id": _id(), "cycle": _count(0), "failed": pa.Column("bool")},
    unique=["unit_id", "cycle"],
)

HOLDOUT_BOOKINGS: Final = _schema("bookings", _reservation_columns())

HOLDOUT_DISRUPTIONS: Final = _schema(
    "disruptions",
    {"station_id": _id(), "date": _date(), "capacity_per_day": _count(0)},
    unique=["station_id", "date"],
)

SCHEMAS: Final[dict[str, pa.DataFrameSchema]] = {
    "sites": SITES,
    "stations": STATIONS,
    "lanes": LANES,
    "skus": SKUS,
    "units": UNITS,
    "customers": CUSTOMERS,
    "reservations": RESERVATIONS,
    "rentals": RENTALS,
    "bookings": BOOKINGS,
}
"""The schema of each table of a data folder, by table name (``allocation.domain.TABLES``)."""

HOLDOUT_SCHEMAS: Final[dict[str, pa.DataFrameSchema]] = {
    "returns": HOLDOUT_RETURNS,
    "delays": HOLDOUT_DELAYS,
    "cleaning": HOLDOUT_CLEANING,
    "bookings": HOLDOUT_BOOKINGS,
    "disruptions": HOLDOUT_DISRUPTIONS,
}
"""The schema of each table of ``holdout/``, by table name (``allocation.domain.HOLDOUT_TABLES``)."""
