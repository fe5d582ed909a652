"""Named schemas of the frames the job hands across package lines: plan rows and forecast rows.

The plan's lists leave ``allocation`` for the API, the report files and the database; the forecast
rows leave the job for the forecast tables. Each is checked against its schema on the way out, so a
column renamed in one place fails loudly instead of writing a table the readers cannot use.
"""

from __future__ import annotations

from typing import Final

import pandera.pandas as pa

__all__ = ["DEMAND_FORECAST", "LATE_FORECAST", "PLAN_FRAMES"]

_DATE = "datetime64[ns]"

PLAN_FRAMES: Final[dict[str, pa.DataFrameSchema]] = {
    "ships": pa.DataFrameSchema(
        {
            "unit_id": pa.Column(str),
            "reservation_id": pa.Column(str),
            "site_id": pa.Column(str),
            "ship_date": pa.Column(_DATE),
        },
        name="plan.ships",
        coerce=True,
    ),
    "cleaning": pa.DataFrameSchema(
        {
            "site_id": pa.Column(str),
            "date": pa.Column(_DATE),
            "unit_id": pa.Column(str),
            "sku_id": pa.Column(str),
            "rank": pa.Column(int, pa.Check.ge(1)),
        },
        name="plan.cleaning",
        coerce=True,
    ),
    "transfers": pa.DataFrameSchema(
        {
            "unit_id": pa.Column(str),
            "sku_id": pa.Column(str),
            "from_site": pa.Column(str),
            "to_site": pa.Column(str),
            "ship_date": pa.Column(_DATE),
            "arrive_date": pa.Column(_DATE),
        },
        name="plan.transfers",
        coerce=True,
    ),
    "held_back": pa.DataFrameSchema(
        {"sku_id": pa.Column(str), "site_id": pa.Column(str), "units_protected": pa.Column(float, pa.Check.ge(0))},
        name="plan.held_back",
        coerce=True,
    ),
    "unfilled": pa.DataFrameSchema(
        {"reservation_id": pa.Column(str), "sku_id": pa.Column(str), "reason": pa.Column(str)},
        name="plan.unfilled",
        coerce=True,
    ),
}

DEMAND_FORECAST: Final = pa.DataFrameSchema(
    {
        "sku_id": pa.Column(str),
        "site_id": pa.Column(str),
        "day": pa.Column(_DATE),
        "expected_total": pa.Column(float, pa.Check.ge(0)),
        "expected_unbooked": pa.Column(float, pa.Check.ge(0)),
        "p10": pa.Column(float, nullable=True),
        "p50": pa.Column(float, nullable=True),
        "p90": pa.Column(float, nullable=True),
        "model": pa.Column(str),
    },
    name="forecast.demand",
    coerce=True,
)

LATE_FORECAST: Final = pa.DataFrameSchema(
    {
        "unit_id": pa.Column(str),
        "sku_id": pa.Column(str),
        "site_id": pa.Column(str),
        "due_back": pa.Column(_DATE),
        "p_late": pa.Column(float, pa.Check.in_range(0, 1)),
        "expected_delay_days": pa.Column(float, pa.Check.ge(0)),
        "p90_delay_days": pa.Column(int, pa.Check.ge(0)),
        "model": pa.Column(str),
    },
    name="forecast.late_returns",
    coerce=True,
)
