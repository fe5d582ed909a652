"""The vocabulary of closetflow: states, station kinds, the world on a plan date, domain errors.

This module imports no solver, database or HTTP code. Time is counted in whole days: the *day index*
of a date is ``(date - plan_date).days``; day 0 is the plan date and the horizon is days
``0 .. horizon_days - 1``. Event dates are inclusive (the dress must be with the customer on the
event date). Capacities are units per station per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import pandas as pd

__all__ = [
    "HOLDOUT_TABLES",
    "TABLES",
    "ClosetflowError",
    "ConflictError",
    "DataValidationError",
    "Holdout",
    "LaneKind",
    "NotFoundError",
    "Problem",
    "StationKind",
    "UnavailableError",
    "UnfilledReason",
    "UnitState",
    "World",
]


class UnitState(StrEnum):
    """Where a physical unit is in its loop: out -> back -> cleaned -> ready -> out."""

    WITH_CUSTOMER = "with_customer"
    RETURNING = "returning"
    CLEANING = "cleaning"
    READY = "ready"
    RETIRED = "retired"


class StationKind(StrEnum):
    """The three stations every fulfillment site has."""

    CLEANING = "cleaning"
    WAREHOUSE = "warehouse"
    SHIPPING = "shipping"


class LaneKind(StrEnum):
    """A lane moves units between two sites (transfer) or from a site to a customer zone (ship)."""

    TRANSFER = "transfer"
    SHIP = "ship"


class UnfilledReason(StrEnum):
    """Why a reservation went unfilled; stable labels that explanations and reports reuse."""

    NO_SUPPLY_IN_TIME = "no_supply_in_time"
    CLEANING_CAPACITY = "cleaning_capacity"
    SHIPPING_CAPACITY = "shipping_capacity"
    LATE_RETURN_RISK = "late_return_risk"
    OUTRANKED = "outranked_by_higher_value"
    TOO_LATE_TO_SHIP = "too_late_to_ship"


TABLES: Final = (
    "sites",
    "stations",
    "lanes",
    "skus",
    "units",
    "customers",
    "reservations",
    "rentals",
    "bookings",
)
HOLDOUT_TABLES: Final = ("returns", "delays", "cleaning", "bookings", "disruptions")


class ClosetflowError(Exception):
    """A problem a planner can act on; the message says what and where."""


class NotFoundError(ClosetflowError):
    """The thing asked for (a dataset, job or plan id) does not exist."""


class ConflictError(ClosetflowError):
    """The request contradicts what is already recorded (an idempotency key reused for another
    request, cancelling a finished job)."""


class UnavailableError(ClosetflowError):
    """A server the request needs (database, broker) cannot be reached; try again later."""


@dataclass
class Problem:
    """One thing wrong with input data, located as ``file:row:column``.

    ``row`` is the 1-based data row (the CSV header is row 0); ``None`` when the problem concerns
    the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        row = "" if self.row is None else str(self.row)
        col = self.column or ""
        return f"{self.file}:{row}:{col}: {self.message}"


class DataValidationError(ClosetflowError):
    """A data folder failed its contracts; nothing from it was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = "\n".join(str(p) for p in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the data:\n{head}{more}")


@dataclass
class Holdout:
    """What really happened after the plan date (see docs/data.md, holdout/)."""

    returns: pd.DataFrame
    delays: pd.DataFrame
    cleaning: pd.DataFrame
    bookings: pd.DataFrame
    disruptions: pd.DataFrame


@dataclass
class World:
    """A validated fashion-rental world on a plan date: the tables of docs/data.md."""

    plan_date: dt.date
    horizon_days: int
    sites: pd.DataFrame
    stations: pd.DataFrame
    lanes: pd.DataFrame
    skus: pd.DataFrame
    units: pd.DataFrame
    customers: pd.DataFrame
    reservations: pd.DataFrame
    rentals: pd.DataFrame
    bookings: pd.DataFrame
    holdout: Holdout | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def day_index(self, dates: pd.Series) -> pd.Series:
        """Day index of each date relative to the plan date (NaT stays missing)."""
        return (pd.to_datetime(dates) - pd.Timestamp(self.plan_date)).dt.days

    def table(self, name: str) -> pd.DataFrame:
        """A table by its file name."""
        frame: pd.DataFrame = getattr(self, name)
        return frame
