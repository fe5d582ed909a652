"""The RTR protocol: the top series and the training weeks come from before the origin; it runs end to end.

Most tests build tiny reviews tables; one smoke test reads ``rtr_reviews.parquet`` (``$CLOSETFLOW_REAL_DATA``,
else ``../shared/data``) and skips without it, except under ``CI=true`` where a missing file fails it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.settings import real_data_dir
from forecasting.rtr import (
    CATEGORY_MIN_WEEKS,
    ORIGINS,
    TUNING_ORIGINS,
    rtr_protocol,
    seasonal_index,
    split_at,
    top_series,
    weekly_counts,
)
from tests.servers import require

ORIGIN = pd.Timestamp("2024-03-04")  # a Monday
METRICS = {"rmse", "wape", "wape_total", "bias", "coverage_80"}


def reviews(seed: int = 0, weeks: int = 70, items: int = 12) -> pd.DataFrame:
    """Poisson reviews per item and day over ``weeks`` weeks ending after ``ORIGIN``, two categories."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(ORIGIN - pd.Timedelta(weeks=weeks - 10), periods=weeks * 7, freq="D")
    rows = []
    for i in range(items):
        counts = rng.poisson(0.05 * (i + 1), len(days))
        rows.append(
            pd.DataFrame(
                {"item_id": f"i{i:02d}", "category": "dress" if i % 2 else "gown", "review_date": days.repeat(counts)}
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_weeks_start_on_monday_and_count_rentals() -> None:
    r = pd.DataFrame(
        {
            "item_id": ["a", "a", "a", "b"],
            "category": ["x", "x", "x", "y"],
            "review_date": pd.to_datetime(["2024-03-04", "2024-03-10", "2024-03-11", "2024-03-06"]),
        }
    )
    w = weekly_counts(r)
    assert set(w["ds"].dt.day_of_week) == {0}
    assert w.set_index(["unique_id", "ds"])["y"].to_dict() == {
        ("a", pd.Timestamp("2024-03-04")): 2.0,
        ("a", pd.Timestamp("2024-03-11")): 1.0,
        ("b", pd.Timestamp("2024-03-04")): 1.0,
    }
    by_cat = weekly_counts(r, "category")
    assert by_cat.groupby("unique_id")["y"].sum().to_dict() == {"x": 3.0, "y": 1.0}
    with pytest.raises(ValueError, match="level"):
        weekly_counts(r, "size")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), top=st.integers(1, 8), surge=st.integers(1, 500))
def test_top_series_read_only_rentals_before_the_origin(seed: int, top: int, surge: int) -> None:
    weekly = weekly_counts(reviews(seed))
    chosen = top_series(weekly, ORIGIN, top)
    changed = weekly.copy()
    after = changed["ds"] >= ORIGIN
    changed.loc[after, "y"] = changed.loc[after, "y"] * surge  # the future changes a lot...
    np.testing.assert_array_equal(top_series(changed, ORIGIN, top), chosen)  # ...the choice does not
    before = weekly[weekly["ds"] < ORIGIN].groupby("unique_id")["y"].sum()
    assert len(chosen) == min(top, len(before))
    assert before.reindex(chosen).is_monotonic_decreasing  # the largest totals before the origin


def test_training_weeks_end_before_the_origin_and_test_weeks_follow_it() -> None:
    weekly = weekly_counts(reviews(1))
    ids = top_series(weekly, ORIGIN, 5)
    train, test = split_at(weekly, ORIGIN, ids, 8)
    assert train["ds"].max() == ORIGIN - pd.Timedelta(weeks=1)
    assert (train.groupby("unique_id")["ds"].max() == ORIGIN - pd.Timedelta(weeks=1)).all()  # all end together
    assert sorted(test["ds"].unique()) == list(ORIGIN + np.arange(8) * pd.Timedelta(weeks=1))
    assert set(train["unique_id"]) == set(test["unique_id"]) == set(ids)
    # every week from the first rental on is there, zero-filled, and the counts are the table's
    span = train.groupby("unique_id")["ds"].agg(["min", "size"])
    assert ((ORIGIN - span["min"]).dt.days // 7 == span["size"]).all()
    expect = weekly[(weekly["ds"] < ORIGIN) & weekly["unique_id"].isin(ids)]["y"].sum()
    assert train["y"].sum() == expect


def test_seasonal_index_is_last_years_week_over_last_years_level() -> None:
    """Its forecast reuses AutoETS's (checked on real data by the benchmark); here the index alone."""
    weeks = ORIGIN + np.arange(-60, 0) * pd.Timedelta(weeks=1)
    y = np.ones(60)
    y[60 - 52] = 3.0  # the origin's week last year
    weekly = pd.DataFrame({"unique_id": "a", "ds": weeks, "y": y})
    np.testing.assert_allclose(seasonal_index(weekly, ORIGIN, 2), [3.0, 1.0])


def test_the_protocol_runs_end_to_end_on_a_tiny_table() -> None:
    table = reviews(2)
    origins = [ORIGIN, ORIGIN + pd.Timedelta(weeks=4)]
    res = rtr_protocol(table, models=["historic_average", "croston_sba"], origins=origins, top=6, horizon=4)
    assert set(res) == {"historic_average", "croston_sba"}
    assert set(res["historic_average"]) >= METRICS
    rmse, cover = res["historic_average"]["rmse"], res["historic_average"]["coverage_80"]
    assert rmse is not None and rmse > 0
    assert cover is not None and 0 <= cover <= 1
    assert res["croston_sba"]["coverage_80"] is None  # no interval
    by_cat = rtr_protocol(table, level="category", models=["historic_average"], origins=origins, horizon=4)
    assert by_cat["historic_average"]["wape"] is not None


def test_the_protocol_refuses_unknown_models_and_origins_that_are_not_mondays() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        rtr_protocol(reviews(), models=["nope"], origins=[ORIGIN])
    with pytest.raises(ValueError, match="Monday"):
        rtr_protocol(reviews(), models=["historic_average"], origins=[ORIGIN + pd.Timedelta(days=1)])


def test_tuning_origins_are_mondays_whose_windows_end_before_the_reported_ones_start() -> None:
    assert all(o.day_of_week == 0 for o in (*ORIGINS, *TUNING_ORIGINS))
    assert TUNING_ORIGINS[-1] + pd.Timedelta(weeks=8) <= ORIGINS[0]


def test_real_rtr_reviews_smoke() -> None:
    path = real_data_dir() / "rtr_reviews.parquet"
    if not path.is_file():
        require("the real RTR reviews", f"{path} is missing")
    table = pd.read_parquet(path, columns=["item_id", "category", "review_date"])
    res = rtr_protocol(table, models=["croston_sba", "linear"], origins=ORIGINS[:1], top=20)
    for name in ("croston_sba", "linear"):
        rmse, wape_total = res[name]["rmse"], res[name]["wape_total"]
        assert rmse is not None and 0 < rmse < 5
        assert wape_total is not None and 0 < wape_total < 1


def test_series_younger_than_min_weeks_are_left_out() -> None:
    """Categories need `CATEGORY_MIN_WEEKS` of history (AutoETS refuses tiny series); items two weeks."""
    old = pd.DataFrame({"unique_id": "old", "ds": ORIGIN - np.arange(1, 40) * pd.Timedelta(weeks=1), "y": 1.0})
    new = pd.DataFrame({"unique_id": "new", "ds": ORIGIN - np.arange(1, 4) * pd.Timedelta(weeks=1), "y": 50.0})
    weekly = pd.concat([old, new], ignore_index=True)
    assert list(top_series(weekly, ORIGIN, 5)) == ["new", "old"]
    assert list(top_series(weekly, ORIGIN, 5, min_weeks=CATEGORY_MIN_WEEKS)) == ["old"]
