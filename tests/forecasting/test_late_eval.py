"""Late-return scoring on uncertain rentals: the definition, the truth, the generated world, GetAround.

The GetAround test needs ``getaround_delays.csv`` (``$CLOSETFLOW_REAL_DATA``, else
``../shared/data``): it skips without it, except under ``CI=true`` where a missing file fails it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from allocation.domain import World
from allocation.simulate.world import simulate_world
from api.settings import real_data_dir
from forecasting.late_eval import (
    GETAROUND_FILE,
    MissingGetAroundError,
    already_late_rentals,
    calibration_table,
    delay_log_loss,
    generated_scores,
    getaround_scores,
    true_late_probability,
    uncertain_rentals,
)
from tests.servers import require

SEED = 7


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world("small", SEED)


@pytest.fixture(scope="module")
def scores() -> dict[str, Any]:
    return generated_scores([SEED], "small")


def test_uncertain_rentals_are_with_their_customer_and_not_yet_sent(world: World) -> None:
    unc = uncertain_rentals(world)
    assert len(unc) > 100
    assert unc["returned_on"].isna().all()
    state = world.units.set_index("unit_id")["state"].astype(str)
    assert (state.reindex(unc["unit_id"].astype(str)) == "with_customer").all()
    # Excluded: returns already known (a unit "returning") and units already late.
    returning = world.units[world.units["state"].astype(str) == "returning"]["rental_id"].dropna().astype(str)
    assert not set(returning) & set(unc["rental_id"].astype(str))
    assert (pd.to_datetime(unc["due_back"]) >= pd.Timestamp(world.plan_date)).all()
    # Both outcomes still happen among them: it is a forecast, not a foregone conclusion.
    assert 0.1 < unc["late"].mean() < 0.9


def test_true_probabilities_match_the_world(world: World) -> None:
    """The recomputed truth is the simulator's: its mean matches the late share of 20k returned rentals
    and it separates late from on-time rentals better than chance."""
    done = world.rentals[world.rentals["delay_days"].notna()]
    p = true_late_probability("small", SEED, done)
    y = done["delay_days"].to_numpy(dtype=float) > 0
    assert abs(float(p.mean()) - float(y.mean())) < 0.015
    assert float(p[y].mean()) > float(p[~y].mean()) + 0.02


def test_hazard_beats_the_base_rate_on_uncertain_rentals(scores: dict[str, Any]) -> None:
    assert scores["n"] > 100
    assert scores["brier"] < scores["base_rate_brier"]
    assert scores["true_brier"] <= scores["brier"] + 0.01  # nobody beats the truth by much
    assert scores["auc"] > 0.55
    assert {"auc_baseline", "brier_baseline", "per_seed", "late_units_log_loss"} <= set(scores)
    assert sum(row["n"] for row in scores["calibration"]) == scores["n"]


def test_calibration_table_bins_by_prediction() -> None:
    p = np.linspace(0, 1, 95)
    y = p > 0.5
    table = calibration_table(y, p)
    assert len(table) == 10
    assert sum(r["n"] for r in table) == 95
    means = [r["mean_predicted"] for r in table]
    assert means == sorted(means)
    assert table[0]["observed_rate"] == 0.0
    assert table[-1]["observed_rate"] == 1.0


def test_generated_scores_refuse_an_unknown_scale() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        generated_scores([0], "huge")


def test_missing_getaround_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingGetAroundError, match=GETAROUND_FILE):
        getaround_scores(tmp_path)


def test_getaround_beats_the_base_rate() -> None:
    data_dir = real_data_dir()
    if not (data_dir / GETAROUND_FILE).is_file():
        require("the GetAround delays", f"{data_dir / GETAROUND_FILE} is missing")
    g = getaround_scores(data_dir)
    assert g["n_train"] > 10_000
    assert g["n_test"] > 2_000
    assert g["brier"] < g["base_rate_brier"]
    assert g["auc"] > 0.55
    assert sum(r["n"] for r in g["calibration"]) == g["n_test"]
    assert g["brier_baseline"] < g["base_rate_brier"]  # LateReturnModel on the same rentals, for comparison


def test_already_late_units_are_conditioned_on_what_the_plan_date_shows(world: World) -> None:
    late = already_late_rentals(world)
    assert len(late) > 10
    assert (late["days_out"] >= 1).all()
    assert (late["delay"] >= late["days_out"]).all()  # the truth never contradicts "not back yet"
    assert not set(late["rental_id"]) & set(uncertain_rentals(world)["rental_id"])


def test_delay_log_loss_reads_the_real_bucket() -> None:
    pmf = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    assert delay_log_loss(pmf, np.array([0, 9])) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
