"""The model policies replay side by side in forked children with the same results as one by one."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.jobs.forecasts import fit_forecasts
from allocation.model.snapshot import Information, RiskPolicy
from allocation.replay import parallel
from allocation.replay.parallel import ChildFailed, run_side_by_side
from allocation.replay.validation import validate_policies
from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from solvers.base import SolveOptions


def test_side_by_side_equals_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    world = simulate_world("tiny", 4)
    statics = Statics.from_world(world)
    fc = fit_forecasts(world, statics)

    def info(_day: int) -> Information:
        return Information(RiskPolicy.parse("expected"), fc.pmf, None, fc.demand_total, fc.lead_cdf)

    together = validate_policies(world, statics, info, SolveOptions())
    monkeypatch.setattr(parallel, "_can_fork", lambda: False)
    apart = validate_policies(world, statics, info, SolveOptions())
    assert list(together.outcomes) == ["greedy", "rules", "closetflow", "hindsight"] == list(apart.outcomes)
    for name, o in together.outcomes.items():
        a = apart.outcomes[name]
        assert (o.value, o.fill_rate, o.cost, o.solves) == (a.value, a.fill_rate, a.cost, a.solves), name
        assert np.array_equal(o.replay.filled, a.replay.filled)
    assert together.lp_bound is not None and apart.lp_bound is not None
    assert together.lp_bound.value == apart.lp_bound.value


def _boom() -> int:
    raise ValueError("no luck")


def test_a_failing_child_raises_here_with_its_traceback() -> None:
    with pytest.raises(ChildFailed, match="ValueError: no luck"):
        run_side_by_side([lambda: 1, _boom])
    assert run_side_by_side([lambda: 1, lambda: 2]) == [1, 2]
