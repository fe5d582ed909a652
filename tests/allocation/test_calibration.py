"""Checks of ``allocation/simulate/calibration.json`` and of the code that derives it from the real data.

Part (a) checks the committed file alone, so it runs everywhere. Part (b) re-derives the figures from
the real files in ``../shared/data`` (or ``$CLOSETFLOW_REAL_DATA``) and compares them with the
committed ones: the real files are present in CI, so there (``CI=true``) a missing file fails the
test; elsewhere it skips with the reason. Part (c) checks the derivation on small made-up frames.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from allocation.simulate.calibration_delays import (
    CONCENTRATION_CAP,
    CONCENTRATION_FLOOR,
    late_return,
    propensity_concentration,
)
from allocation.simulate.calibration_derive import (
    CALIBRATION_KEYS,
    DATA_DIR_ENV,
    MissingRealDataError,
    RealData,
    apportion,
    derive_calibration,
    load_real_data,
    price_figures,
)
from api.settings import real_data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_PATH = PROJECT_ROOT / "allocation" / "simulate" / "calibration.json"
MIX_KEYS = ("category_mix", "occasion_mix", "size_mix")
PROFILES = {"weekday_profile": 7, "month_profile": 12}
QUANTILE_KEYS = ("rent_price_quantiles", "retail_price_quantiles")
LATE_RETURN_KEYS = {
    "p_late",
    "late_delay_hours_quantiles",
    "lognormal_mu",
    "lognormal_sigma",
    "propensity_concentration",
    "p_late_after_late",
    "p_late_after_ontime",
    "breaks_next_rental",
}
# The JSON keeps 4-6 significant digits; a re-derivation may differ in the last kept digit when a
# library change moves a value across a rounding boundary, hence a tolerance a bit above 1e-6.
REPRODUCE_REL_TOL = 2e-5


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    """The calibration file as committed."""
    result: dict[str, Any] = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    return result


# --------------------------------------------------------------------------------------------------
# (a) the committed file
# --------------------------------------------------------------------------------------------------


def test_committed_file_has_exactly_the_expected_keys(committed: dict[str, Any]) -> None:
    assert set(committed) == {"source", *CALIBRATION_KEYS}
    assert set(committed["late_return"]) == LATE_RETURN_KEYS


def test_committed_file_is_small(committed: dict[str, Any]) -> None:
    # Derived figures only: a large file would mean rows of the real data crept in.
    assert CALIBRATION_PATH.stat().st_size < 16_000


def test_source_names_files_rows_and_citation(committed: dict[str, Any]) -> None:
    files = committed["source"]["files"]
    assert set(files) == {"rtr_reviews.parquet", "rtr_catalog_dresses.csv", "getaround_delays.csv"}
    assert all(isinstance(meta["rows"], int) and meta["rows"] > 0 for meta in files.values())
    assert "Misra, Wan, McAuley, RecSys 2018" in files["rtr_reviews.parquet"]["citation"]


@pytest.mark.parametrize("key", MIX_KEYS)
def test_mixes_are_shares_summing_to_one(committed: dict[str, Any], key: str) -> None:
    mix = committed[key]
    assert mix, key
    assert all(isinstance(name, str) for name in mix)
    assert all(0.0 <= share <= 1.0 for share in mix.values())
    assert math.fsum(mix.values()) == pytest.approx(1.0, abs=1e-6)


def test_mixes_fold_the_tail_into_other(committed: dict[str, Any]) -> None:
    assert len(committed["category_mix"]) == 8 + 1 and "other" in committed["category_mix"]
    assert len(committed["size_mix"]) == 12 + 1 and "other" in committed["size_mix"]


@pytest.mark.parametrize(("key", "length"), PROFILES.items())
def test_profiles_have_mean_one(committed: dict[str, Any], key: str, length: int) -> None:
    profile = committed[key]
    assert len(profile) == length
    assert all(value > 0 for value in profile)
    assert math.fsum(profile) / length == pytest.approx(1.0, abs=1e-6)


def test_quantiles_are_21_and_non_decreasing(committed: dict[str, Any]) -> None:
    series = {key: committed[key] for key in QUANTILE_KEYS}
    series["late_delay_hours_quantiles"] = committed["late_return"]["late_delay_hours_quantiles"]
    for key, quantiles in series.items():
        assert len(quantiles) == 21, key
        assert all(b >= a for a, b in itertools.pairwise(quantiles)), key
        assert quantiles[0] > 0, key


def test_late_return_figures_are_valid(committed: dict[str, Any]) -> None:
    late = committed["late_return"]
    assert 0.0 < late["p_late"] < 1.0
    assert late["lognormal_sigma"] > 0.0
    assert math.isfinite(late["lognormal_mu"])
    for key in ("p_late_after_late", "p_late_after_ontime", "breaks_next_rental"):
        assert 0.0 < late[key] < 1.0, key
    assert CONCENTRATION_FLOOR <= late["propensity_concentration"] <= CONCENTRATION_CAP


def test_scalar_figures_are_plausible(committed: dict[str, Any]) -> None:
    assert committed["item_popularity_zipf"] > 0.0
    assert committed["style_sizes_mean"] >= 1.0
    assert 0.0 < committed["rent_to_retail_median_ratio"] < 1.0
    assert 0.0 < committed["repeat_user_share"] < 1.0
    assert committed["rentals_per_repeat_user_mean"] >= 2.0


# --------------------------------------------------------------------------------------------------
# (b) the committed file is what the real data give
# --------------------------------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def load_real_data_or_skip(data_dir: Path) -> RealData:
    """Load the real files; if absent, fail under ``CI=true`` (they must be there) and skip otherwise."""
    try:
        return load_real_data(data_dir)
    except MissingRealDataError as error:
        if _in_ci():
            pytest.fail(f"CI=true but the real data are missing: {error}")
        pytest.skip(f"real data not available (set {DATA_DIR_ENV} to run this): {error}")


@pytest.fixture(scope="module")
def derived() -> dict[str, Any]:
    """The calibration re-derived from the real files (about half a second)."""
    return derive_calibration(load_real_data_or_skip(real_data_dir()))


def _assert_close(actual: Any, expected: Any, path: str) -> None:
    """Recursive equality, floats within rounding, ``sha256`` values ignored (a re-export of identical
    data may change bytes; the figures are what must match)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert list(actual) == list(expected), path
        for key in expected:
            if key != "sha256":
                _assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            _assert_close(got, want, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=REPRODUCE_REL_TOL, abs=1e-9), path
    else:
        assert actual == expected, path


def test_committed_file_reproduces_from_real_data(derived: dict[str, Any], committed: dict[str, Any]) -> None:
    _assert_close(derived, committed, "calibration")


def test_missing_real_data_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"getaround_delays\.csv"):
        load_real_data_or_skip(tmp_path)


def test_missing_real_data_skips_outside_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"rtr_reviews\.parquet"):
        load_real_data_or_skip(tmp_path)


def test_data_dir_comes_from_env_then_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert real_data_dir() == tmp_path
    monkeypatch.delenv(DATA_DIR_ENV)
    assert real_data_dir().resolve() == (PROJECT_ROOT.parent / "shared" / "data").resolve()


# --------------------------------------------------------------------------------------------------
# (c) the derivation on small made-up frames
# --------------------------------------------------------------------------------------------------


def test_apportion_keeps_the_total_exact() -> None:
    values = [1 / 3, 1 / 3, 1 / 3]
    rounded = apportion(values, 1.0, 6)
    assert math.fsum(rounded) == pytest.approx(1.0, abs=1e-12)
    assert all(abs(r - v) <= 1e-6 for r, v in zip(rounded, values, strict=True))


def test_price_strings_are_parsed() -> None:
    catalog = pd.DataFrame({"Rent_price": ["$30", "$50", "$1,000"], "Retail_price": ["$100", "$500", "$2,000"]})
    figures = price_figures(catalog)
    assert figures["rent_price_quantiles"][0] == 30.0
    assert figures["retail_price_quantiles"][-1] == 2000.0
    assert figures["rent_to_retail_median_ratio"] == pytest.approx(0.3)


def _delays(rows: list[tuple[int, int, str, float | None, float | None, float | None]]) -> pd.DataFrame:
    columns = [
        "rental_id",
        "car_id",
        "state",
        "delay_at_checkout_in_minutes",
        "previous_ended_rental_id",
        "time_delta_with_previous_rental_in_minutes",
    ]
    return pd.DataFrame(rows, columns=columns).astype({col: float for col in columns[3:]})


def test_late_return_chains_rentals_of_the_same_car() -> None:
    delays = _delays(
        [
            (1, 1, "ended", 120.0, None, None),  # late by 2 h
            (2, 1, "ended", 30.0, 1.0, 60.0),  # after a late one, itself late; prev 120 > gap 60: broken
            (3, 1, "ended", -10.0, 2.0, 180.0),  # after a late one, on time; prev 30 < gap 180
            (4, 1, "canceled", None, 3.0, 0.0),  # after an on-time one; prev -10 < gap 0: not broken
            (5, 2, "ended", None, None, None),  # delay unknown: left out of p_late
            (6, 2, "ended", 60.0, 5.0, 30.0),  # previous delay unknown: not chained
            (7, 3, "ended", 5.0, 3.0, 30.0),  # after an on-time one, late
            # Unchained on-time rentals: a second car with 3+ ended rentals, which the propensity
            # concentration needs (it compares cars).
            (8, 4, "ended", -5.0, None, None),
            (9, 4, "ended", -5.0, None, None),
            (10, 4, "ended", -5.0, None, None),
        ]
    )
    late = late_return(delays)
    assert late["p_late"] == pytest.approx(4 / 8)
    assert late["p_late_after_late"] == pytest.approx(1 / 2)
    assert late["p_late_after_ontime"] == pytest.approx(1 / 1)
    assert late["breaks_next_rental"] == pytest.approx(1 / 4)
    quantiles = late["late_delay_hours_quantiles"]
    assert isinstance(quantiles, list) and quantiles[-1] == pytest.approx(2.0)


def _beta_binomial_delays(concentration: float, cars: int, seed: int) -> pd.DataFrame:
    """Ended rentals of ``cars`` cars with Beta(mean 0.55, ``concentration``) late propensities."""
    rng = np.random.default_rng(seed)
    propensity = rng.beta(0.55 * concentration, 0.45 * concentration, size=cars)
    counts = rng.integers(3, 9, size=cars)
    car_id = np.repeat(np.arange(cars), counts)
    late = rng.random(car_id.size) < propensity[car_id]
    return pd.DataFrame(
        {
            "car_id": car_id,
            "state": "ended",
            "delay_at_checkout_in_minutes": np.where(late, 30.0, -30.0),
        }
    )


def test_propensity_concentration_recovers_a_known_value() -> None:
    estimate = propensity_concentration(_beta_binomial_delays(concentration=8.0, cars=20_000, seed=3))
    assert estimate == pytest.approx(8.0, rel=0.2)


def test_propensity_concentration_is_floored_and_capped() -> None:
    always_or_never = pd.DataFrame(
        {
            "car_id": np.repeat(np.arange(100), 3),
            "state": "ended",
            "delay_at_checkout_in_minutes": np.repeat(np.where(np.arange(100) % 2 == 0, 30.0, -30.0), 3),
        }
    )
    assert propensity_concentration(always_or_never) == CONCENTRATION_FLOOR
    homogeneous = _beta_binomial_delays(concentration=1e9, cars=5_000, seed=4)
    assert propensity_concentration(homogeneous) >= 100.0
