"""What-ifs: the planner's words parsed or refused in one line; more cleaning capacity never lowers
tonight's LP objective and a site down never raises it (tiny worlds); a what-if job runs through
the ordinary steps from its base job's forecasts and compares with the base plan's own KPIs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.analysis.whatif import (
    COMPARISON_ARTIFACT,
    CapacityChange,
    SiteDown,
    WhatIf,
    WhatIfError,
    seed_whatif_job,
    solve_input,
    whatif_input,
)
from allocation.data.io import write_world
from allocation.domain import World
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import MemoryLedger, run_step, run_steps
from allocation.jobs.steps import StepContext
from allocation.jobs.store import FileRunStore
from allocation.model.snapshot import Information, RiskPolicy, planning_input
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from solvers.base import SolveOptions

SEEDS = (3, 5)


def test_changes_parse_from_the_planners_words_and_round_trip_through_json() -> None:
    w = WhatIf.parse(
        cleaning=["SITE0:+10%"],
        shipping=["SITE1:-20%", "SITE0:+50"],
        site_down=["SITE1@2026-10-06..2026-10-08", "SITE0@2026-10-07"],
        surge=["dress:+30%"],
    )
    assert w.cleaning[0].site_id == "SITE0" and w.cleaning[0].relative
    assert w.cleaning[0].amount == pytest.approx(0.1)
    assert w.shipping[1] == CapacityChange("SITE0", 50.0, False)
    assert w.site_down[1] == SiteDown("SITE0", dt.date(2026, 10, 7), dt.date(2026, 10, 7))
    assert w.surge[0].category == "dress" and w.surge[0].share == pytest.approx(0.3)
    assert WhatIf.from_json(json.loads(json.dumps(w.to_json()))) == w


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cleaning": ["SITE0+10%"]}, "--cleaning-capacity 'SITE0+10%' is not SITE:+10%"),
        ({"shipping": ["SITE0:ten"]}, "--shipping-capacity 'SITE0:ten'"),
        ({"site_down": ["SITE0@2026-02-30"]}, "names a day that does not exist"),
        ({"site_down": ["SITE0@2026-10-08..2026-10-06"]}, "ends before it starts"),
        ({"surge": ["dress:+30"]}, "is not CATEGORY:+30%"),
        ({"surge": ["dress:-150%"]}, "more than all of the demand"),
        ({}, "at least one change"),
    ],
)
def test_a_bad_change_is_refused_in_one_line(kwargs: dict[str, list[str]], words: str) -> None:
    with pytest.raises(WhatIfError) as err:
        WhatIf.parse(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def worlds() -> dict[int, tuple[World, Statics, Information]]:
    out = {}
    for seed in SEEDS:
        world = simulate_world("tiny", seed)
        statics = Statics.from_world(world, include_new_bookings=False)
        pmf = np.zeros((len(world.units) + statics.n_res, 6))
        pmf[:, 0], pmf[:, 2] = 0.7, 0.3
        info = Information(RiskPolicy.parse("expected"), pmf, None, None, None)
        out[seed] = (world, statics, info)
    return out


def _objective(world: World, statics: Statics, info: Information, change: WhatIf | None) -> float:
    state = initial_state(world, statics, None)
    if change is None:
        inp = planning_input(statics, state, 0, info)
    else:
        inp, _ = whatif_input(world, statics, state, info, change)
    run = solve_input(inp, SolveOptions(backend="highs"))
    assert run.result.has_solution
    return float(run.result.objective)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), site=st.integers(0, 1), pct=st.integers(1, 200))
def test_more_cleaning_capacity_never_lowers_the_objective(
    worlds: dict[int, tuple[World, Statics, Information]], seed: int, site: int, pct: int
) -> None:
    world, statics, info = worlds[seed]
    change = WhatIf.parse(cleaning=[f"{statics.site_ids[site]}:+{pct}%"])
    assert _objective(world, statics, info, change) >= _objective(world, statics, info, None) - 1e-6


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), site=st.integers(0, 1), start=st.integers(0, 20), days=st.integers(0, 6))
def test_a_site_down_never_raises_the_objective(
    worlds: dict[int, tuple[World, Statics, Information]], seed: int, site: int, start: int, days: int
) -> None:
    world, statics, info = worlds[seed]
    first = world.plan_date + dt.timedelta(days=start)
    change = WhatIf.parse(site_down=[f"{statics.site_ids[site]}@{first}..{first + dt.timedelta(days=days)}"])
    assert _objective(world, statics, info, change) <= _objective(world, statics, info, None) + 1e-6


def test_a_change_naming_what_the_data_lacks_says_so(worlds: dict[int, tuple[World, Statics, Information]]) -> None:
    world = worlds[SEEDS[0]][0]
    with pytest.raises(WhatIfError, match="no site 'NOWHERE'"):
        WhatIf.parse(cleaning=["NOWHERE:+10%"]).check(world)
    with pytest.raises(WhatIfError, match="no SKU category 'hats'"):
        WhatIf.parse(surge=["hats:+10%"]).check(world)
    with pytest.raises(WhatIfError, match="outside the plan's horizon"):
        WhatIf.parse(site_down=["SITE0@2001-01-01"]).check(world)


def test_a_whatif_job_reuses_the_base_forecasts_and_compares_with_the_base_plan(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write_world(simulate_world("tiny", 3), folder)
    store = FileRunStore(tmp_path / "store", datasets={"d": folder})
    base_opts = JobOptions(dataset_id="d", validate=False)
    base = StepContext("base", base_opts, store)
    run_steps(base, MemoryLedger())
    change = WhatIf.parse(shipping=["SITE1:+50%"], surge=["dress:+30%"])
    opts = dataclasses.replace(base_opts, whatif=change.to_json(), base_plan="base")
    seed_whatif_job(store, "base", "base", "w1")
    ctx = StepContext("w1", opts, store)
    ledger = MemoryLedger()
    assert not run_step(ctx, "check", ledger)
    assert not run_step(ctx, "forecast", ledger)  # the base job's forecasts: nothing refitted
    run_steps(ctx, ledger)
    comparison = ctx.get_json(COMPARISON_ARTIFACT)
    base_kpis = base.get_json("plan_kpis.json")
    assert comparison["before"]["fill_rate"] == pytest.approx(base_kpis["projected_fill_rate"])
    assert comparison["before"]["value"] == pytest.approx(base_kpis["planned_value"])
    after = ctx.get_json("plan_kpis.json")
    assert comparison["after"]["fill_rate"] == pytest.approx(after["projected_fill_rate"])
    assert comparison["delta"]["filled"] == after["filled"] - base_kpis["filled"]
    assert len(comparison["gained"]) - len(comparison["lost"]) == comparison["delta"]["filled"]
    assert comparison["changes"] == change.describe()
    # The job's solve was the what-if's: more shipping capacity never lowers tonight's objective.
    assert ctx.get_json("solve.json")["objective"] >= base.get_json("solve.json")["objective"] - 1e-6
