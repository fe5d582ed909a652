"""The evaluation's pure parts: seeds parsed from text, and mean/min/max folded over seeds."""

from __future__ import annotations

import math

import pytest

from allocation.domain import ClosetflowError
from allocation.jobs.evaluate import REPORTING_SEEDS, TUNING_SEEDS, SeedResult, aggregate, parse_seeds, spread
from allocation.replay.validation import gap_captured


def _seed(seed: int, greedy: float, rules: float, closetflow: float, hindsight: float, bound: float) -> SeedResult:
    values = {"greedy": greedy, "rules": rules, "closetflow": closetflow, "hindsight": hindsight}
    return SeedResult(
        seed=seed,
        reservations=100,
        policies={name: {"fill_rate": v / 1000, "value": v} for name, v in values.items()},
        gap_captured_vs_rules=gap_captured(rules, closetflow, hindsight),
        gap_captured_vs_floor=gap_captured(greedy, closetflow, hindsight),
        hindsight_vs_lp_bound=bound,
        lp_bound=None,
        seconds={"fit": 0.0, "replay": 0.0, "total": 0.0},
    )


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("1-5", [1, 2, 3, 4, 5]), ("1,3,7", [1, 3, 7]), ("7", [7]), ("1-3,2,9", [1, 2, 3, 9]), (" 0 - 1 ", [0, 1])],
)
def test_seeds_parse(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["5-1", "x", "", "1,", "-1", "1-", "1.5", "0-5000"])
def test_bad_seeds_are_refused_with_what_is_allowed(text: str) -> None:
    with pytest.raises(ClosetflowError, match="allowed: "):
        parse_seeds(text)


def test_tuning_seeds_are_kept_apart_from_reporting_seeds() -> None:
    assert not set(TUNING_SEEDS) & set(REPORTING_SEEDS)


def test_spread_ignores_undefined_values() -> None:
    assert spread([1.0, 3.0, math.nan, 2.0]) == {"mean": 2.0, "min": 1.0, "max": 3.0}
    assert spread([math.nan]) == {"mean": None, "min": None, "max": None}


def test_aggregate_is_mean_min_max_over_seeds() -> None:
    per_seed = [
        _seed(1, 100.0, 200.0, 300.0, 400.0, 0.9),
        _seed(2, 100.0, 300.0, 250.0, 500.0, 0.95),
        _seed(3, 200.0, 200.0, 200.0, 200.0, math.nan),  # hindsight no better: gaps undefined
    ]
    doc = aggregate(per_seed)
    assert doc["seeds"] == [1, 2, 3]
    assert list(doc["policies"]) == ["greedy", "rules", "closetflow", "hindsight"]
    assert doc["policies"]["closetflow"]["value"] == {"mean": 250.0, "min": 200.0, "max": 300.0}
    assert doc["policies"]["rules"]["fill_rate"] == pytest.approx({"mean": 0.7 / 3, "min": 0.2, "max": 0.3})
    # Seed 3's gaps are undefined: left out of the spread, null in per_seed.
    assert doc["gap_captured_vs_rules"] == pytest.approx({"mean": (0.5 - 0.25) / 2, "min": -0.25, "max": 0.5})
    assert doc["gap_captured_vs_floor"] == pytest.approx({"mean": (2 / 3 + 0.375) / 2, "min": 0.375, "max": 2 / 3})
    assert doc["hindsight_vs_lp_bound"] == pytest.approx({"mean": 0.925, "min": 0.9, "max": 0.95})
    assert doc["per_seed"][2]["gap_captured_vs_rules"] is None
    assert doc["closetflow_below_rules"] == {"value": 1, "fill_rate": 1}
