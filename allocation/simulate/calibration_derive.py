"""Derive closetflow's calibration figures from the real public data in ``../shared/data``.

The project may never keep copies of the real files (see ``/work/shared/data/README.md``); what the
world generator needs from them is a handful of figures, kept in ``allocation/simulate/calibration.json``.
This module holds the derivation, one small function per figure group, each taking a DataFrame, so
that ``scripts/calibrate.py`` (the CLI that writes the JSON) and the test that checks the committed
JSON against the real data run exactly the same code.

Sources:

* ``rtr_reviews.parquet``: Rent the Runway rental reviews, Misra, Wan, McAuley, RecSys 2018. A review
  is written a few days after the rental, so review counts are a *demand proxy*.
* ``rtr_catalog_dresses.csv``: a scrape of the Rent the Runway dress catalogue (rent and retail prices).
* ``getaround_delays.csv``: GetAround car rentals with real late returns; the only public source of
  rental-return delays and of back-to-back rentals of the same unit.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from allocation.simulate.calibration_delays import (
    late_return,
    percentiles,
    propensity_concentration,
)

__all__ = [
    "CALIBRATION_KEYS",
    "CATALOG_FILE",
    "DATA_DIR_ENV",
    "DELAYS_FILE",
    "REVIEWS_CITATION",
    "REVIEWS_FILE",
    "MissingRealDataError",
    "RealData",
    "apportion",
    "category_mix",
    "derive_calibration",
    "item_popularity_zipf",
    "late_return",
    "load_real_data",
    "month_profile",
    "occasion_mix",
    "price_figures",
    "propensity_concentration",
    "repeat_users",
    "round_sig",
    "size_mix",
    "style_sizes_mean",
    "weekday_profile",
    "write_calibration",
]

DATA_DIR_ENV: Final = "CLOSETFLOW_REAL_DATA"
REVIEWS_FILE: Final = "rtr_reviews.parquet"
CATALOG_FILE: Final = "rtr_catalog_dresses.csv"
DELAYS_FILE: Final = "getaround_delays.csv"
REVIEWS_CITATION: Final = (
    "Misra, Wan, McAuley, RecSys 2018: 'Decomposing fit semantics for product size recommendation "
    "in metric spaces' (Rent the Runway 'Clothing Fit' data)"
)

#: The figure keys of calibration.json, in file order (``source`` comes on top of these).
CALIBRATION_KEYS: Final = (
    "category_mix",
    "occasion_mix",
    "weekday_profile",
    "month_profile",
    "size_mix",
    "item_popularity_zipf",
    "style_sizes_mean",
    "rent_price_quantiles",
    "retail_price_quantiles",
    "rent_to_retail_median_ratio",
    "late_return",
    "repeat_user_share",
    "rentals_per_repeat_user_mean",
)

#: 0, 5, ..., 100: 21 percentiles, fine enough for the generator to sample by inverse CDF.
#: Significant digits kept in the JSON: far below the sampling noise of the data, and short diffs.
SIGNIFICANT_DIGITS: Final = 6
#: Share mixes (sum exactly 1) and demand profiles (mean exactly 1), rounded by apportion().
MIX_KEYS: Final = ("category_mix", "occasion_mix", "size_mix")
PROFILE_KEYS: Final = ("weekday_profile", "month_profile")
SHARE_DECIMALS: Final = 6
PROFILE_DECIMALS: Final = 5

# Complete calendar years of review_date (the data run 2010-11-03 .. 2018-01-08); the partial first
# and last years would over-weight Nov/Dec and January.
MONTH_FIRST_YEAR: Final = 2011
MONTH_LAST_YEAR: Final = 2017


class MissingRealDataError(FileNotFoundError):
    """A real data file is absent: the derivation cannot run (and, in CI, its test must fail)."""


@dataclass(frozen=True)
class RealData:
    """The three real tables, as read from the data directory (never copied into the project)."""

    reviews: pd.DataFrame
    catalog: pd.DataFrame
    delays: pd.DataFrame
    data_dir: Path


def load_real_data(data_dir: Path) -> RealData:
    """Read the three real files from ``data_dir``.

    Raises :class:`MissingRealDataError` naming every missing file (not just the first), so one
    run tells the user all that is absent.
    """
    names = (REVIEWS_FILE, CATALOG_FILE, DELAYS_FILE)
    missing = [name for name in names if not (data_dir / name).is_file()]
    if missing:
        raise MissingRealDataError(
            f"real data file(s) missing from {data_dir}: {', '.join(missing)} "
            f"(set {DATA_DIR_ENV} or pass --data-dir to point at the directory holding them)"
        )
    return RealData(
        reviews=pd.read_parquet(data_dir / REVIEWS_FILE),
        catalog=pd.read_csv(data_dir / CATALOG_FILE),
        delays=pd.read_csv(data_dir / DELAYS_FILE),
        data_dir=data_dir,
    )


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def round_sig(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Round every float inside ``value`` (dicts, lists, scalars) to ``digits`` significant digits.

    Ints, strings and bools pass through; numpy scalars become Python numbers so json can write them.
    """
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, dict):
        return {key: round_sig(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [round_sig(item, digits) for item in value]
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number) or number == 0.0:
            return number
        return float(f"{number:.{digits}g}")
    raise TypeError(f"cannot round {type(value).__name__}")


def apportion(values: list[float], total: float, decimals: int) -> list[float]:
    """Round ``values`` to ``decimals`` places so that they still sum to exactly ``total``.

    Largest-remainder rounding: plain per-value rounding lets a mix drift off 1 (or a profile's mean
    off 1) by several units of the last place, which consumers checking ``sum == 1`` would trip on.
    """
    scale = 10**decimals
    raw = np.asarray(values, dtype=float) * (total * scale / float(np.sum(values)))
    units = np.floor(raw).astype(np.int64)
    short = round(total * scale) - int(units.sum())
    # Hand the missing units to the largest fractional parts (ties: earliest, for determinism).
    order = np.argsort(-(raw - units), kind="stable")
    units[order[:short]] += 1
    return [int(u) / scale for u in units]


def _shares(counts: pd.Series) -> dict[str, float]:
    """Counts -> shares summing to 1, keys as strings, largest first (ties by name, for stable JSON)."""
    counts = counts[counts > 0]
    frame = pd.DataFrame({"key": counts.index.astype(str), "n": counts.to_numpy(dtype=float)})
    frame = frame.sort_values(["n", "key"], ascending=[False, True])
    total = float(frame["n"].sum())
    return {str(key): float(n) / total for key, n in zip(frame["key"], frame["n"], strict=True)}


def _top_k_with_other(values: pd.Series, k: int) -> dict[str, float]:
    """Shares of the ``k`` most frequent values, plus ``"other"`` for the rest (present even if 0)."""
    counts = values.astype(str).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")  # ties by name
    top = counts.iloc[:k]
    total = float(counts.sum())
    mix = {str(key): float(n) / total for key, n in top.items()}
    mix["other"] = float(counts.iloc[k:].sum()) / total
    return mix


def _parse_price(values: pd.Series) -> pd.Series:
    """Prices as floats; accepts numbers or ``"$1,234"``-style strings (other scrapes use those)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    cleaned = values.astype(str).str.replace(r"[$,\s]", "", regex=True)
    return pd.to_numeric(cleaned, errors="raise").astype(float)


# --------------------------------------------------------------------------------------------------
# rtr_reviews.parquet: demand mix, seasonality, sizes, popularity, users
# --------------------------------------------------------------------------------------------------


def category_mix(reviews: pd.DataFrame, top: int = 8) -> dict[str, float]:
    """Share of rentals per category: the ``top`` categories by rental count, plus ``"other"``.

    The long tail (68 categories, many with a handful of rentals) is folded into ``"other"`` so the
    generator does not invent garment types it has no other figures for.
    """
    return _top_k_with_other(reviews["category"], top)


def occasion_mix(reviews: pd.DataFrame) -> dict[str, float]:
    """Share of rentals per ``rented_for`` occasion; the few missing values are dropped."""
    return _shares(reviews["rented_for"].dropna().astype(str).value_counts())


def weekday_profile(reviews: pd.DataFrame) -> list[float]:
    """Relative demand per weekday, Monday first, mean exactly 1 (review-date counts as a proxy)."""
    counts = reviews["review_date"].dt.day_of_week.value_counts().reindex(range(7), fill_value=0)
    values = counts.to_numpy(dtype=float)
    return [float(v) for v in values / values.mean()]


def month_profile(
    reviews: pd.DataFrame, first_year: int = MONTH_FIRST_YEAR, last_year: int = MONTH_LAST_YEAR
) -> list[float]:
    """Relative demand per calendar month, January first, mean 1, over complete years only.

    Partial years would bias the months they cover. Caveat: the business grew several-fold over
    2011-2017, so later months of each year carry a little of that trend as well as seasonality.
    """
    dates = reviews["review_date"]
    years = dates.dt.year
    in_range = dates[(years >= first_year) & (years <= last_year)]
    counts = in_range.dt.month.value_counts().reindex(range(1, 13), fill_value=0)
    values = counts.to_numpy(dtype=float)
    return [float(v) for v in values / values.mean()]


def size_mix(reviews: pd.DataFrame, top: int = 12) -> dict[str, float]:
    """Share of rentals per size (sizes as strings), the ``top`` sizes plus ``"other"``."""
    return _top_k_with_other(reviews["size"], top)


def item_popularity_zipf(reviews: pd.DataFrame, max_rank: int = 2000) -> float:
    """Zipf exponent ``s`` of rentals per item: least squares of log(count) on log(rank), ranks 1..2000.

    The fit stops at rank 2000 because the far tail (items with one or two reviews) is flat, being
    made of whole counts, and would drag the slope of the head the generator cares about.
    """
    counts = np.sort(reviews.groupby("item_id").size().to_numpy(dtype=float))[::-1][:max_rank]
    ranks = np.arange(1, counts.size + 1, dtype=float)
    slope, _intercept = np.polyfit(np.log(ranks), np.log(counts), 1)
    return float(-slope)


def style_sizes_mean(reviews: pd.DataFrame, min_rentals: int = 20) -> float:
    """Mean number of distinct sizes rented per item, among items with ``min_rentals`` or more.

    Rarely rented items would understate the size run (their few rentals cover few sizes).
    """
    per_item = reviews.groupby("item_id")["size"].agg(["size", "nunique"])
    popular = per_item[per_item["size"] >= min_rentals]
    return float(popular["nunique"].mean())


def repeat_users(reviews: pd.DataFrame) -> dict[str, float]:
    """Share of users with two rentals or more, and the mean rentals of those repeat users."""
    per_user = reviews.groupby("user_id").size()
    repeat = per_user[per_user >= 2]
    return {
        "repeat_user_share": float(len(repeat)) / float(len(per_user)),
        "rentals_per_repeat_user_mean": float(repeat.mean()),
    }


# --------------------------------------------------------------------------------------------------
# rtr_catalog_dresses.csv: values
# --------------------------------------------------------------------------------------------------


def price_figures(catalog: pd.DataFrame) -> dict[str, Any]:
    """Rent and retail price percentiles, and the median rent/retail ratio, of the dress catalogue."""
    rent = _parse_price(catalog["Rent_price"])
    retail = _parse_price(catalog["Retail_price"])
    # A zero or missing price is a scrape defect, not a free dress: leave it out of the ratio.
    valid = rent.notna() & retail.notna() & (rent > 0) & (retail > 0)
    return {
        "rent_price_quantiles": percentiles(rent.dropna()),
        "retail_price_quantiles": percentiles(retail.dropna()),
        "rent_to_retail_median_ratio": float((rent[valid] / retail[valid]).median()),
    }


def _sha256(path: Path) -> str:
    """SHA-256 of a file: says which version of the real data a calibration came from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source(data: RealData) -> dict[str, Any]:
    """Provenance block: files, row counts, checksums, citation, and what was derived how."""
    reviews, catalog, delays = data.reviews, data.catalog, data.delays
    ended = delays[delays["state"] == "ended"]
    return {
        "generated_by": "scripts/calibrate.py (allocation/simulate/calibration_derive.py)",
        "files": {
            REVIEWS_FILE: {
                "rows": len(reviews),
                "users": int(reviews["user_id"].nunique()),
                "items": int(reviews["item_id"].nunique()),
                "review_date_range": [
                    str(reviews["review_date"].min().date()),
                    str(reviews["review_date"].max().date()),
                ],
                "sha256": _sha256(data.data_dir / REVIEWS_FILE),
                "citation": REVIEWS_CITATION,
                "origin": "cleaned form, public repository dai-anna/RenttheRunwayRecommendations",
            },
            CATALOG_FILE: {
                "rows": len(catalog),
                "sha256": _sha256(data.data_dir / CATALOG_FILE),
                "origin": "public repository Kaayrapetov/Predicting-Customer-Satisfaction-for-Rent-the-Runway",
            },
            DELAYS_FILE: {
                "rows": len(delays),
                "ended_rows": len(ended),
                "ended_with_delay_rows": int(ended["delay_at_checkout_in_minutes"].notna().sum()),
                "chained_rows": int(delays["previous_ended_rental_id"].notna().sum()),
                "sha256": _sha256(data.data_dir / DELAYS_FILE),
                "origin": "GetAround delay analysis, public repository "
                "Acsts/Deployment--GetAround_delay_analysis_and_pricing_optimization",
            },
        },
        "notes": [
            "review_date is a demand proxy (reviews are written a few days after the rental)",
            f"month_profile uses complete years {MONTH_FIRST_YEAR}-{MONTH_LAST_YEAR} only",
            "late_return uses ended GetAround rentals with a recorded delay; chained figures cover "
            "next rentals planned within 12 h only",
            f"floats rounded to {SIGNIFICANT_DIGITS} significant digits",
        ],
    }


def derive_calibration(data: RealData) -> dict[str, Any]:
    """All calibration figures, rounded, ``source`` first then the keys of :data:`CALIBRATION_KEYS`."""
    figures: dict[str, Any] = {
        "category_mix": category_mix(data.reviews),
        "occasion_mix": occasion_mix(data.reviews),
        "weekday_profile": weekday_profile(data.reviews),
        "month_profile": month_profile(data.reviews),
        "size_mix": size_mix(data.reviews),
        "item_popularity_zipf": item_popularity_zipf(data.reviews),
        "style_sizes_mean": style_sizes_mean(data.reviews),
        **price_figures(data.catalog),
        "late_return": late_return(data.delays),
        **repeat_users(data.reviews),
    }
    # Mixes on a 1e-6 grid summing to exactly 1; profiles on a 1e-5 grid with mean exactly 1
    # (4-6 significant digits either way); everything else to SIGNIFICANT_DIGITS.
    for key in MIX_KEYS:
        mix = figures[key]
        figures[key] = dict(zip(mix, apportion(list(mix.values()), 1.0, SHARE_DECIMALS), strict=True))
    for key in PROFILE_KEYS:
        profile = figures[key]
        figures[key] = apportion(profile, float(len(profile)), PROFILE_DECIMALS)
    ordered = {"source": _source(data), **{key: figures[key] for key in CALIBRATION_KEYS}}
    return dict(round_sig(ordered))


def write_calibration(calibration: dict[str, Any], path: Path) -> None:
    """Write the calibration as indented JSON with a trailing newline (stable, reviewable diffs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")
