"""The real-demand world: real Rent the Runway rentals as bookings, on the simulated world's contract.

Tests that need ``rtr_reviews.parquet`` (``$CLOSETFLOW_REAL_DATA``, else ``../shared/data``) skip
without it, except under ``CI=true`` where a missing file fails them. Expected counts are recomputed
from the parquet here, independently of the generator's own selection code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocation.data.io import load_world, write_world
from allocation.domain import ClosetflowError, World
from allocation.replay.validation import validate_policies
from allocation.simulate.calibration_derive import DATA_DIR_ENV, REVIEWS_FILE, MissingRealDataError
from allocation.simulate.real_demand import (
    LONG_OCCASIONS,
    PLAN_DATES,
    MissingRealDemandError,
    real_demand_world,
)
from allocation.simulate.world import HISTORY_DAYS, REVIEW_LAG_DAYS, SCALES
from allocation.statics import Statics
from api.settings import real_data_dir
from solvers.base import SolveOptions
from tests.allocation.test_validation import base_rate_info
from tests.servers import require


def _world_or_skip(scale: str, seed: int, **kwargs: object) -> World:
    try:
        return real_demand_world(scale, seed, data_dir=real_data_dir(), **kwargs)  # type: ignore[arg-type]
    except MissingRealDemandError as error:
        require("the real rentals", str(error))
        raise  # unreachable: require skips or fails


@pytest.fixture(scope="module")
def tiny() -> World:
    return _world_or_skip("tiny", 0)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    """The raw rentals with their event day, read here without the generator's helpers."""
    path = real_data_dir() / REVIEWS_FILE
    if not path.is_file():
        require("the real rentals", f"{path} is missing")
    frame = pd.read_parquet(path, columns=["item_id", "size", "rented_for", "review_date"])
    frame["event_date"] = pd.to_datetime(frame["review_date"]).dt.normalize() - pd.Timedelta(days=REVIEW_LAG_DAYS)
    return frame


def _tables(world: World) -> dict[str, pd.DataFrame]:
    out = {f.name: getattr(world, f.name) for f in dataclasses.fields(world)}
    out = {k: v for k, v in out.items() if isinstance(v, pd.DataFrame)}
    assert world.holdout is not None
    out.update({f"holdout.{f.name}": getattr(world.holdout, f.name) for f in dataclasses.fields(world.holdout)})
    return out


def _every_booking(world: World) -> pd.DataFrame:
    """History bookings, open reservations and holdout bookings with their real item and size."""
    assert world.holdout is not None
    cols = ["sku_id", "event_date", "rental_days"]
    rows = pd.concat([world.bookings[cols], world.reservations[cols], world.holdout.bookings[cols]])
    skus = world.skus.set_index("sku_id")
    return rows.assign(
        item_id=rows["sku_id"].map(skus["style_id"]).str.removeprefix("RTR").astype(np.int64),
        size=rows["sku_id"].map(skus["size"]).astype(np.int64),
    )


def test_the_world_passes_the_data_contract(tiny: World, tmp_path: Path) -> None:
    write_world(tiny, tmp_path / "real")
    loaded = load_world(tmp_path / "real")
    assert loaded.plan_date == tiny.plan_date == PLAN_DATES[0]
    assert {k: len(v) for k, v in _tables(loaded).items()} == {k: len(v) for k, v in _tables(tiny).items()}
    assert len(tiny.skus) == SCALES["tiny"].skus


def test_the_skus_are_the_most_rented_item_sizes_of_the_year_before(tiny: World, reviews: pd.DataFrame) -> None:
    plan = pd.Timestamp(tiny.plan_date)
    year = reviews[(reviews["event_date"] >= plan - pd.Timedelta(days=365)) & (reviews["event_date"] < plan)]
    counts = year.groupby(["item_id", "size"]).size().sort_values(ascending=False)
    chosen = set(zip(_every_booking(tiny)["item_id"], _every_booking(tiny)["size"], strict=True))
    assert len(chosen) == len(tiny.skus)
    # Every kept pair was rented at least as often as every pair left out.
    kept = counts[[pair in chosen for pair in counts.index]]
    left = counts[[pair not in chosen for pair in counts.index]]
    assert kept.min() >= left.max()


def test_bookings_are_the_real_rentals_with_rental_days_from_the_occasion(tiny: World, reviews: pd.DataFrame) -> None:
    plan = pd.Timestamp(tiny.plan_date)
    start, end = plan - pd.Timedelta(days=HISTORY_DAYS), plan + pd.Timedelta(days=tiny.horizon_days)
    got = _every_booking(tiny)
    pairs = pd.MultiIndex.from_frame(got[["item_id", "size"]].drop_duplicates())
    real = reviews[
        pd.MultiIndex.from_frame(reviews[["item_id", "size"]]).isin(pairs)
        & (reviews["event_date"] >= start)
        & (reviews["event_date"] < end)
    ]
    real = real.assign(rental_days=np.where(real["rented_for"].astype("str").isin(LONG_OCCASIONS), 8, 4))
    keys = ["item_id", "size", "event_date", "rental_days"]
    want = real.groupby(keys).size()
    have = got.groupby(keys).size()
    pd.testing.assert_series_equal(have.sort_index(), want.sort_index(), check_names=False)
    assert tiny.holdout is not None and len(tiny.holdout.bookings) > 0, "the holdout has real new bookings"


def test_the_same_seed_gives_the_same_world_and_other_seeds_differ(tiny: World) -> None:
    again = _world_or_skip("tiny", 0)
    for name, frame in _tables(tiny).items():
        pd.testing.assert_frame_equal(frame, _tables(again)[name], obj=name)
    # Seed 5 shares seed 0's plan date and real bookings; the simulated parts differ.
    same_date = _world_or_skip("tiny", len(PLAN_DATES))
    assert same_date.plan_date == tiny.plan_date
    assert len(_every_booking(same_date)) == len(_every_booking(tiny))
    assert not tiny.units.equals(same_date.units) or not tiny.reservations.equals(same_date.reservations)
    # Seed 1 moves the plan date, so the bookings themselves change.
    assert _world_or_skip("tiny", 1).plan_date != tiny.plan_date


def test_hindsight_bounds_every_policy_on_real_demand(tiny: World) -> None:
    statics = Statics.from_world(tiny)
    delays = tiny.rentals["delay_days"].dropna().to_numpy(dtype=np.int64)
    info = base_rate_info(delays, len(tiny.units) + statics.n_res)
    v = validate_policies(tiny, statics, lambda day: info, SolveOptions(backend="highs", time_limit_s=60))
    best = v.outcomes["hindsight"]
    for name in ("greedy", "rules", "closetflow"):
        assert best.fill_rate >= v.outcomes[name].fill_rate - 1e-9, name
        assert best.value >= v.outcomes[name].value - 1e-6, name


def test_a_plan_date_outside_the_data_is_refused(tiny: World) -> None:
    with pytest.raises(ClosetflowError, match="pick a plan date inside them"):
        _world_or_skip("tiny", 0, plan_date=dt.date(2018, 1, 1))


def test_a_missing_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(MissingRealDemandError) as caught:
        real_demand_world("tiny", 0, data_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / REVIEWS_FILE) in message and DATA_DIR_ENV in message
    assert "\n" not in message
    # A domain error (the API answers 4xx) and the calibration's missing-data error alike.
    assert isinstance(caught.value, ClosetflowError) and isinstance(caught.value, MissingRealDataError)


def test_the_default_folder_comes_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(MissingRealDemandError, match=str(tmp_path)):
        real_demand_world("tiny", 0)
