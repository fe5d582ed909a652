"""The main job's demand forecast through the forecaster interface: the lead curve as its own
model, the per-SKU series, the site split, save/load, and which model the registry serves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.base import Forecaster, make_forecaster
from forecasting.demand import DemandForecaster
from forecasting.job_demand import JobDemand, SiteSplit, sku_series
from forecasting.job_serving import DemandServing, serve_job_demand
from forecasting.lead import BookingLeadCurve
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME

PLAN = dt.date(2025, 6, 2)
SITES = {"z1": "S1", "z2": "S2"}


def _bookings(seed: int = 0, days: int = 400, skus: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bookings with a weekly rhythm, a SKU mix and a site mix, over ``days`` before the plan date
    and a few weeks after it (booked in advance)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(PLAN) - pd.Timedelta(days=days)
    rows = []
    for d in range(days + 21):
        event = start + pd.Timedelta(days=d)
        n = rng.poisson(6 + 3 * (event.day_of_week >= 4))
        for _ in range(n):
            lead = int(rng.geometric(0.08)) - 1
            rows.append((f"K{rng.integers(skus)}", str(rng.choice(["z1", "z2"], p=[0.7, 0.3])), event, lead))
    frame = pd.DataFrame(rows, columns=["sku_id", "zone", "event_date", "lead"])
    frame["booked_on"] = frame["event_date"] - pd.to_timedelta(frame.pop("lead"), unit="D")
    # Only what was booked by the plan date is history.
    frame = frame[frame["booked_on"] < pd.Timestamp(PLAN)].reset_index(drop=True)
    skus_frame = pd.DataFrame({"sku_id": [f"K{i}" for i in range(skus)], "category": ["dress", "gown"] * (skus // 2)})
    return frame, skus_frame


@pytest.fixture(scope="module")
def history() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _bookings()


def test_the_lead_curve_splits_booked_from_unbooked(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    curve = BookingLeadCurve().fit(history[0])
    share = curve.unbooked_share(30)
    assert share[0] == 0.0  # today's events: nothing left to book
    assert np.all(np.diff(share) >= 0) and share[-1] <= 1.0
    lead = (history[0]["event_date"] - history[0]["booked_on"]).dt.days
    assert curve.cdf(np.array([5]))[0] == pytest.approx(float((lead <= 5).mean()))


def test_no_bookings_gives_a_curve_of_ones() -> None:
    """No history: every lead counts as covered already (the forecaster's total is 0 then anyway)."""
    empty = pd.DataFrame({"event_date": pd.to_datetime([]), "booked_on": pd.to_datetime([])})
    curve = BookingLeadCurve().fit(empty)
    assert curve.n_ == 0 and np.all(curve.cdf_ == 1.0)
    assert curve.unbooked_share(3).tolist() == [0.0, 1.0, 1.0]


def test_the_lead_curve_saves_and_loads(tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    curve = BookingLeadCurve().fit(history[0])
    curve.save(tmp_path / "lead")
    np.testing.assert_array_equal(BookingLeadCurve.load(tmp_path / "lead").unbooked_share(21), curve.unbooked_share(21))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 1_000), st.integers(1, 60))
def test_the_series_use_only_event_days_before_the_plan_date(seed: int, history_days: int) -> None:
    """Features at time t use only data before t: changing bookings for events on or after the
    plan date (still filling up) leaves the series unchanged, and every series ends the day before."""
    bookings, skus = _bookings(seed, days=90, skus=4)
    ids = pd.Index(skus["sku_id"])
    frame = sku_series(bookings, ids, PLAN, history_days)
    later = bookings["event_date"] >= pd.Timestamp(PLAN)
    changed = bookings.copy()
    changed.loc[later, "sku_id"] = "K0"  # tonight's open bookings, moved around
    again = sku_series(changed, ids, PLAN, history_days)
    pd.testing.assert_frame_equal(frame, again)
    assert frame[TIME].max() == pd.Timestamp(PLAN) - pd.Timedelta(days=1)
    assert frame[TIME].min() >= pd.Timestamp(PLAN) - pd.Timedelta(days=history_days)
    assert set(frame[ID]) == set(ids)
    assert frame[TARGET].sum() == float(
        (
            (bookings["event_date"] < pd.Timestamp(PLAN))
            & (bookings["event_date"] >= pd.Timestamp(PLAN) - pd.Timedelta(days=history_days))
        ).sum()
    )


def test_the_site_split_sums_to_one_and_shrinks_a_sparse_sku(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    bookings, skus = history
    lone = pd.DataFrame(
        {
            "sku_id": ["NEW"],
            "zone": ["z2"],
            "event_date": [pd.Timestamp(PLAN) - pd.Timedelta(days=3)],
            "booked_on": [pd.Timestamp(PLAN) - pd.Timedelta(days=9)],
        }
    )
    ids = pd.Index([*skus["sku_id"], "NEW"])
    split = SiteSplit().fit(pd.concat([bookings, lone]), ids, pd.Index(["S1", "S2"]), SITES, PLAN).split_
    np.testing.assert_allclose(split.sum(axis=1), 1.0)
    # One booking at S2 moves the new SKU toward S2, but the prior keeps most of the overall split.
    assert 0.3 < split[-1, 1] < 0.6


def test_linear_through_the_interface_matches_the_job_glm(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The job's old demand model and `linear` behind the interface agree on total demand."""
    bookings, skus = history
    old = DemandForecaster().fit(bookings, skus, SITES, PLAN).predict(PLAN, 21)
    new = JobDemand(make_forecaster("linear", "D")).fit(bookings, skus, SITES, PLAN).predict(PLAN, 21)
    assert list(new.columns) == list(old.columns)
    assert new["expected_total"].sum() == pytest.approx(old["expected_total"].sum(), rel=0.05)
    by_day_old = old.groupby("day")["expected_total"].sum().to_numpy()
    by_day_new = new.groupby("day")["expected_total"].sum().to_numpy()
    np.testing.assert_allclose(by_day_new, by_day_old, rtol=0.05)


@pytest.mark.parametrize("name", ["linear", "seasonal_naive", "historic_average"])
def test_save_and_load_give_identical_predictions(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame], name: str
) -> None:
    bookings, skus = history
    model = JobDemand(make_forecaster(name, "D")).fit(bookings, skus, SITES, PLAN)
    model.save(tmp_path / name)
    again = JobDemand.load(tmp_path / name)
    pd.testing.assert_frame_equal(again.predict(PLAN, 14), model.predict(PLAN, 14))
    np.testing.assert_array_equal(again.lead_cdf_, model.lead_cdf_)


def test_a_model_fitted_for_another_night_refuses(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    model = JobDemand(make_forecaster("linear", "D")).fit(*history, SITES, PLAN)
    with pytest.raises(ValueError, match="fitted for plan date"):
        model.predict(PLAN + dt.timedelta(days=1), 7)


# ---- which model serves ----------------------------------------------------------------------


def _fitter(history: tuple[pd.DataFrame, pd.DataFrame]):  # type: ignore[no-untyped-def]
    bookings, skus = history

    def fit(model: Forecaster) -> JobDemand:
        return JobDemand(model).fit(bookings, skus, SITES, PLAN)

    return fit


def _categories(history: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, str]:
    skus = history[1]
    return dict(zip(skus["sku_id"], skus["category"], strict=True))


def _serve(choice: str, registry: ModelRegistry | None, history: tuple[pd.DataFrame, pd.DataFrame]) -> DemandServing:
    return serve_job_demand(choice, registry, _fitter(history), _categories(history))


def _weekly_frame() -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    return pd.DataFrame({ID: np.repeat(["a", "b"], 30), TIME: np.tile(ds, 2), TARGET: np.arange(60) % 5})


def test_a_named_model_serves_without_the_registry(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    served = _serve("historic_average", None, history)
    assert (served.source, served.demand.model_name) == ("option", "historic_average")


def test_an_unknown_model_is_refused_with_the_choices(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="choose one of serving, linear"):
        _serve("prophet", None, history)


def test_an_empty_registry_serves_the_baseline_and_logs_it(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    registry = ModelRegistry(tmp_path)
    served = _serve("serving", registry, history)
    assert (served.source, served.demand.model_name) == ("baseline", "linear")
    assert "no champion set" in served.reason
    assert registry.serving_log()[-1]["alias"] == "baseline"


def test_the_champion_kind_is_refitted_on_tonights_history(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.register(make_forecaster("historic_average", "W").fit(_weekly_frame()), data_hash="x")
    registry.promote(version)
    served = _serve("serving", registry, history)
    assert (served.source, served.version, served.demand.model_name) == ("champion", version, "historic_average")
    # Refitted: it forecasts tonight's SKUs from the plan date, not the weekly table it was registered on.
    pred = served.demand.predict(PLAN, 7)
    assert set(pred["sku_id"]) == set(history[1]["sku_id"]) and pred["expected_total"].sum() > 0


def test_a_corrupted_champion_falls_back_to_the_previous(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.register(make_forecaster("historic_average", "W").fit(_weekly_frame()), data_hash="x")
    second = registry.register(make_forecaster("seasonal_naive", "W").fit(_weekly_frame()), data_hash="y")
    registry.promote(first)
    registry.promote(second)
    (tmp_path / "versions" / second / "arrays.npz").write_bytes(b"not an npz")
    served = _serve("serving", registry, history)
    assert (served.source, served.version, served.demand.model_name) == ("previous", first, "historic_average")
    assert f"champion {second} unreadable" in served.reason


def test_a_champion_that_cannot_refit_tonight_hands_over_to_the_baseline(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.register(make_forecaster("historic_average", "W").fit(_weekly_frame()), data_hash="x")
    registry.promote(version)
    bookings, skus = history

    def fit(model: Forecaster) -> JobDemand:
        if model.name != "linear":
            raise RuntimeError("not enough history for this model")
        return JobDemand(model).fit(bookings, skus, SITES, PLAN)

    served = serve_job_demand("serving", registry, fit, _categories(history))
    assert (served.source, served.demand.model_name) == ("baseline", "linear")
    assert "refitting historic_average on tonight's history failed (not enough history" in served.reason
