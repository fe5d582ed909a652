"""Each constraint family: a satisfied and a violated case on a hand-built instance.

One SKU, two sites, three days. Site 0 has one ready unit; site 1 has one dirty unit and cleans in
one day. Reservation 0 can ship from site 0 on day 1 or from site 1 on day 2; reservation 1 only
from site 0 on day 2. A transfer 0 -> 1 takes one day.
"""

from __future__ import annotations

import numpy as np
import pytest

from allocation.model.layout import Layout
from allocation.model.network import build_problem
from allocation.model.protection import Protection
from allocation.model.rules import RULES
from allocation.model.snapshot import PlanningInput


def tiny_input() -> PlanningInput:
    K, S, T = 1, 2, 3
    z = np.zeros(0, dtype=np.int64)
    return PlanningInput(
        day0=0,
        T=T,
        n_sites=S,
        skus=np.array([0]),
        ready0=np.array([[1.0, 0.0]]),
        dirty0=np.array([[0.0, 1.0]]),
        ready_in=np.zeros((K, S, T)),
        dirty_in=np.zeros((K, S, T)),
        clean_cap=np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),
        ship_cap=np.ones((S, T)),
        pick_cap=np.full((S, T), 2.0),
        clean_days=np.array([1, 1]),
        clean_yield=np.ones((K, S)),
        transfer_days=np.array([[0, 1], [1, 0]]),
        transfer_cost=np.array([[0.0, 2.0], [2.0, 0.0]]),
        res=np.array([10, 11]),
        cand_res=np.array([0, 0, 1]),
        cand_site=np.array([0, 1, 0]),
        cand_tau=np.array([1, 2, 2]),
        cand_sku=np.array([0, 0, 0]),
        cand_obj=np.array([150.0, 140.0, 120.0]),
        ret_cand=z,
        ret_tau=z,
        ret_w=np.zeros(0),
        protect=Protection.empty(),
    )


def residual(label: str, inp: PlanningInput, lay: Layout, x: np.ndarray) -> float:
    """Largest violation of the family's rows at x (0 when satisfied)."""
    rule = {r.__name__: r for r in RULES}[label]
    b = rule(inp, lay)
    act = np.zeros(b.n_rows)
    np.add.at(act, b.rows, b.vals * x[b.cols])
    return float(max(np.max(b.lo - act, initial=0.0), np.max(act - b.hi, initial=0.0)))


def var(lay: Layout, block: str, k: int = 0, s: int = 0, t: int = 0) -> int:
    off = {"I": lay.off_I, "D": lay.off_D, "C": lay.off_C}[block]
    return off + (k * lay.S + s) * lay.T + t


def feasible_plan(inp: PlanningInput, lay: Layout) -> np.ndarray:
    """Ship reservation 0 from site 0 on day 1; clean the dirty unit at site 1 on day 0 and keep it."""
    x = np.zeros(lay.n)
    x[var(lay, "I", 0, 0, 0)] = 1  # ready at site 0 end of day 0
    x[lay.off_X + 0] = 1  # ships on day 1
    x[var(lay, "C", 0, 1, 0)] = 1  # clean at site 1 on day 0 -> ready day 1
    x[var(lay, "I", 0, 1, 1)] = 1
    x[var(lay, "I", 0, 1, 2)] = 1
    return x


@pytest.fixture
def model() -> tuple[PlanningInput, Layout, np.ndarray]:
    inp = tiny_input()
    _, lay = build_problem(inp)
    return inp, lay, feasible_plan(inp, lay)


def test_feasible_plan_satisfies_every_family(model: tuple[PlanningInput, Layout, np.ndarray]) -> None:
    inp, lay, x = model
    for rule in RULES:
        assert residual(rule.__name__, inp, lay, x) == pytest.approx(0.0), rule.__name__


def test_ready_balance_violated_when_shipping_a_unit_not_ready(model: tuple[PlanningInput, Layout, np.ndarray]) -> None:
    inp, lay, x = model
    x[lay.off_X + 2] = 1  # reservation 1 from site 0 on day 2: the only unit there already left
    assert residual("ready_inventory_balance", inp, lay, x) == pytest.approx(1.0)


def test_dirty_balance_violated_when_cleaning_a_unit_that_is_not_there(
    model: tuple[PlanningInput, Layout, np.ndarray],
) -> None:
    inp, lay, x = model
    x[var(lay, "C", 0, 0, 0)] = 1  # site 0 has no dirty unit
    assert residual("dirty_inventory_balance", inp, lay, x) == pytest.approx(1.0)


def test_cleaning_capacity_violated_on_a_closed_day(model: tuple[PlanningInput, Layout, np.ndarray]) -> None:
    inp, lay, x = model
    x[var(lay, "C", 0, 1, 0)] = 0
    x[var(lay, "D", 0, 1, 0)] = 1
    x[var(lay, "C", 0, 1, 1)] = 1  # site 1 has no cleaning capacity on day 1
    x[var(lay, "I", 0, 1, 1)] = 0
    assert residual("cleaning_capacity_per_site_day", inp, lay, x) == pytest.approx(1.0)
    assert residual("dirty_inventory_balance", inp, lay, x) == pytest.approx(0.0)


def test_shipping_capacity_violated_by_two_shipments_on_one_site_day() -> None:
    inp = tiny_input()
    inp.cand_tau = np.array([2, 2, 2])  # both reservations from site 0 on day 2
    _, lay = build_problem(inp)
    x = np.zeros(lay.n)
    x[lay.off_X + 0] = 1
    x[lay.off_X + 2] = 1
    assert residual("shipping_capacity_per_site_day", inp, lay, x) == pytest.approx(1.0)
    x[lay.off_X + 2] = 0
    assert residual("shipping_capacity_per_site_day", inp, lay, x) == pytest.approx(0.0)


def test_warehouse_picks_count_transfers_out(model: tuple[PlanningInput, Layout, np.ndarray]) -> None:
    inp, lay, x = model
    inp.pick_cap[0, 0] = 0.0
    day0 = np.nonzero((lay.tr_a == 0) & (lay.tr_tau == 0))[0][0]
    x[lay.off_TR + day0] = 1
    assert residual("warehouse_picks_per_site_day", inp, lay, x) == pytest.approx(1.0)
    x[lay.off_TR + day0] = 0
    assert residual("warehouse_picks_per_site_day", inp, lay, x) == pytest.approx(0.0)


def test_reservation_filled_at_most_once(model: tuple[PlanningInput, Layout, np.ndarray]) -> None:
    inp, lay, x = model
    x[lay.off_X + 1] = 1  # reservation 0 again, from site 1
    assert residual("reservation_filled_at_most_once", inp, lay, x) == pytest.approx(1.0)


def test_optimum_of_the_tiny_model_is_the_hand_solution() -> None:
    """Both reservations filled from site 0: the unit cleaned at site 1 on day 0 is ready on day 1
    and transferred to site 0 (one day, $2) in time for reservation 1 on day 2 — worth more than
    shipping reservation 0 from site 1 ($150 + $120 - $2 > $140 + $120)."""
    from solvers.base import SolveOptions, solve

    inp = tiny_input()
    problem, lay = build_problem(inp)
    result = solve(problem, SolveOptions(backend="highs"))
    assert result.x is not None
    x = result.x[lay.off_X : lay.off_Y]
    np.testing.assert_allclose(x, [1.0, 0.0, 1.0], atol=1e-7)
    assert result.objective == pytest.approx(150.0 + 120.0 - 2.0)
