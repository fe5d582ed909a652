"""Dantzig-Wolfe decomposition of a block-angular LP: prices on the few linking rows, one LP per
group of blocks, a small master that mixes their proposals.

A problem is block-angular when its columns fall into blocks (``LinearProblem.col_block``) and
every row touches one block only, except a few *linking* rows. Fixing a price on each linking row
splits the problem into independent group LPs; the master LP picks convex combinations of the
proposals the groups returned so far under the linking rows, and its duals are the next prices.

Every round yields:
- a **bound**: for any prices ``pi``, ``sum_g max_x (c_g - pi A_g) x + sum_i pi_i b_i`` bounds the
  optimum (Lagrangian duality; ``b_i`` the bound the price pushes on);
- a **feasible point** once the master needs no artificial slack: a convex combination of group
  proposals that each satisfy their group's rows and together the linking rows.
So the loop can stop at any time with its best point, bound and gap (``SolveStatus.FEASIBLE``),
or when the gap is below ``tolerance`` (``SolveStatus.OPTIMAL``, gap reported).

Speed comes from three things: the groups are solved by HiGHS kept loaded between rounds
(``solvers.highs_warm``: only costs change, the last basis stays feasible); prices are smoothed
towards the best-bound prices (Wentges), which cuts the zig-zag of plain column generation; and a
run can start from prices a caller kept (yesterday's), see ``solve_block_angular(prices=...)``.
How the groups are solved is pluggable (``GroupRunner``): in-process here, or fanned out by a
caller (``workers`` runs them as a Celery chord) with the same arithmetic.

This module knows nothing of what the blocks mean.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from solvers.base import LinearProblem, SolveOptions, SolveResult, SolveStatus, solve
from solvers.dw_groups import (
    BlockStructure,
    GroupData,
    GroupFailed,
    GroupRunner,
    GroupSolution,
    LocalRunner,
    block_structure,
    load_group,
    save_group,
    solve_group,
    split_by_block,
)
from solvers.dw_master import Master

__all__ = [
    "BlockStructure",
    "DWSettings",
    "DWTrace",
    "GroupData",
    "GroupFailed",
    "GroupRunner",
    "GroupSolution",
    "LocalRunner",
    "block_structure",
    "load_group",
    "save_group",
    "solve_auto",
    "solve_block_angular",
    "solve_dw",
    "solve_group",
    "split_by_block",
    "uses_decomposition",
]


# Up to this many columns one HiGHS simplex on the whole LP is the fastest exact path (measured on
# the project's allocation model: 0.9M columns in ~40 s monolithic, against ~10 s per pricing
# round for the decomposition); beyond it the monolithic simplex stops finishing (5.6M columns: no
# solution in 600 s) while the decomposition's rounds grow linearly. See benchmarks/solve_scaling.py.
AUTO_MONOLITHIC_MAX_VARS = 2_000_000


def uses_decomposition(n_vars: int, backend: str) -> bool:
    """Whether ``backend`` solves a problem of ``n_vars`` columns by decomposition."""
    return backend == "dw" or (backend == "auto" and n_vars > AUTO_MONOLITHIC_MAX_VARS)


@dataclass(frozen=True)
class DWSettings:
    """Knobs of the decomposition.

    Attributes:
        tolerance: Stop when (bound - objective) / max(1, |bound|) is at most this.
        max_rounds: Stop after this many pricing rounds whatever the gap.
        group_nnz: Target non-zeros per group LP: bigger groups mean fewer, slower LPs.
        smoothing: Weight of the best-bound prices in the prices sent to the groups (0 = plain
            column generation).
        keep_rounds: A proposal unused by the master for this many rounds is dropped.
    """

    tolerance: float = 1e-4
    max_rounds: int = 60
    group_nnz: int = 400_000
    smoothing: float = 0.5
    keep_rounds: int = 6


@dataclass
class DWTrace:
    """What the loop did: per round the bound, the best feasible objective and the seconds."""

    rounds: int = 0
    bounds: list[float] = field(default_factory=list)
    objectives: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    group_seconds: float = 0.0
    master_seconds: float = 0.0
    setup_seconds: float = 0.0
    groups: int = 0
    blocks: int = 0
    link_rows: int = 0
    prices: np.ndarray | None = None  # best-bound prices on the linking rows (full row length)
    stopped_by: str = ""


def _sign_feasible(prices: np.ndarray, lower: np.ndarray, upper: np.ndarray, sense: float) -> np.ndarray:
    """Prices a Lagrangian bound may use: none that pushes on an infinite bound (solver noise, a
    stale warm start), so every price is 0 or rewards room in a direction the row has a limit."""
    pushes = sense * prices
    pushes = np.where(np.isfinite(upper), pushes, np.minimum(pushes, 0.0))
    pushes = np.where(np.isfinite(lower), pushes, np.maximum(pushes, 0.0))
    return sense * pushes


def _starts_the_master(problem: LinearProblem, structure: BlockStructure, x: np.ndarray) -> bool:
    """Whether ``x`` holds every block's own rows and leaves the linking rows at zero use."""
    if x.shape != (problem.n_vars,) or np.any(x < problem.col_lower - 1e-9) or np.any(x > problem.col_upper + 1e-9):
        return False
    act = problem.A @ x
    ok_rows = (act >= problem.row_lower - 1e-7) & (act <= problem.row_upper + 1e-7)
    link_used = np.abs(act[structure.link_rows]) > 1e-9
    return bool(ok_rows.all() and not link_used.any())


def _frugal_round(
    structure: BlockStructure,
    runner: GroupRunner,
    master: Master,
    prices: np.ndarray,
    sense: float,
    lo: np.ndarray,
    up: np.ndarray,
    deadline: float,
    trace: DWTrace,
) -> None:
    """Proposals that use as little of the linking rows as they can (every linking row priced at
    the artificial penalty): they make the master feasible from the first round; without them the
    first rounds only chase the artificial slack."""
    frugal = sense * master.penalty * np.where(np.isfinite(up), 1.0, np.where(np.isfinite(lo), -1.0, 0.0))
    t_round = time.perf_counter()
    answers = runner.solve_all(frugal, max(deadline - time.perf_counter(), 0.01))
    for g, a in zip(structure.groups, answers, strict=True):
        if a is None:  # the time ran out before this group: the master cannot be feasible
            raise GroupFailed(g.index, "time_limit")
        master.add(g, a, prices, sense)
    trace.group_seconds += time.perf_counter() - t_round


def _lagrangian_bound(
    sols: list[GroupSolution], prices: np.ndarray, lower: np.ndarray, upper: np.ndarray, sense: float
) -> float:
    """Bound from one round: the groups' priced optima plus each price times the bound it pushes on
    (a price that rewards room, in the problem's own sense, pushes on the upper bound)."""
    pushes = sense * prices
    b = np.where(pushes > 0, upper, np.where(pushes < 0, lower, 0.0))
    push = np.where(prices != 0, prices * b, 0.0)
    return float(sum(s.priced for s in sols) + push.sum())


def solve_block_angular(
    problem: LinearProblem,
    options: SolveOptions,
    *,
    col_block: np.ndarray | None = None,
    settings: DWSettings | None = None,
    prices: np.ndarray | None = None,
    initial: np.ndarray | None = None,
    runner_factory: Callable[[BlockStructure, bool], GroupRunner] | None = None,
    progress: Callable[[DWTrace], None] | None = None,
) -> tuple[SolveResult, DWTrace]:
    """Solve a block-angular LP by Dantzig-Wolfe decomposition; anytime under ``options.time_limit_s``.

    Args:
        problem: The LP (integrality is ignored: the relaxation is solved).
        options: Time limit (the whole loop); the backend name is not used.
        col_block: Block of each column; defaults to ``problem.col_block``.
        settings: Tolerance, rounds, group size, smoothing.
        prices: Starting prices, one per row of the problem (only linking rows are read; NaN or a
            wrong length means none): a warm start from an earlier, similar solve.
        initial: A point satisfying every block's own rows and using none of the linking rows (a
            "do nothing" plan) to start the master from; without it (or if it fails that check) a
            first round of groups priced at the penalty provides such proposals.
        runner_factory: Makes the object that solves the groups (default: in-process).
        progress: Called after every round with the trace so far.

    Returns:
        The neutral result (objective, bound, gap; ``duals`` holds the final prices on linking rows
        and each group's row duals on its own rows) and the trace.
    """
    settings = settings or DWSettings()
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    blocks = col_block if col_block is not None else problem.col_block
    if blocks is None:  # no structure given: one block, one group (a warm-started HiGHS solve)
        blocks = np.zeros(problem.n_vars, dtype=np.int64)
    problem.validate()
    structure = block_structure(problem, blocks, settings.group_nnz)
    trace = DWTrace(groups=len(structure.groups), blocks=structure.n_blocks, link_rows=len(structure.link_rows))
    runner = (runner_factory or (lambda s, mx: LocalRunner(s.groups, mx)))(structure, problem.maximize)
    m_link = len(structure.link_rows)
    lo, up = structure.link_lower, structure.link_upper
    scale = float(np.abs(problem.c).max()) if problem.n_vars else 1.0
    master = Master(m_link, structure.n_blocks, lo, up, 10.0 * max(scale, 1.0), problem.maximize)
    sense = 1.0 if problem.maximize else -1.0

    pi = np.zeros(m_link)
    if prices is not None and len(prices) == problem.n_rows:
        warm = np.asarray(prices, dtype=np.float64)[structure.link_rows]
        pi = np.where(np.isfinite(warm), warm, 0.0)
    trace.setup_seconds = time.perf_counter() - started

    best_bound = math.inf * sense
    center = pi.copy()
    best_obj = -math.inf * sense
    best_x: np.ndarray | None = None
    last_duals = [np.zeros(len(g.rows)) for g in structure.groups]
    master_pi = pi.copy()
    try:
        # The master needs proposals that use none of the linking rows to be feasible from the
        # start: the caller's "do nothing" point when it has one, else a round priced at the penalty.
        if initial is not None and _starts_the_master(problem, structure, initial):
            for g in structure.groups:
                master.add(g, split_by_block(g, initial[g.cols], 0.0, np.zeros(len(g.rows))), master_pi, sense)
        else:
            _frugal_round(structure, runner, master, master_pi, sense, lo, up, deadline, trace)
        for rnd in range(settings.max_rounds):
            pi = _sign_feasible(pi, lo, up, sense)
            t_round = time.perf_counter()
            answers = runner.solve_all(pi, max(deadline - time.perf_counter(), 0.01))
            trace.group_seconds += time.perf_counter() - t_round
            sols = [a for a in answers if a is not None]
            for g, a in zip(structure.groups, answers, strict=True):
                if a is not None:
                    master.add(g, a, master_pi, sense)
                    last_duals[g.index] = a.row_dual
            if not sols:
                trace.stopped_by = "time_limit"
                break
            # A bound needs every group; a round the time limit cut short still improves the plan.
            whole = len(sols) == len(answers)
            if whole:
                bound = _lagrangian_bound(sols, pi, lo, up, sense)
                if sense * bound < sense * best_bound:
                    best_bound, center = bound, pi.copy()
            t_master = time.perf_counter()
            # The master may overrun the deadline a little to use the round just paid for (a tenth
            # of the time limit at most), never more.
            grace = max(deadline - time.perf_counter(), 0.1 * options.time_limit_s)
            mixed = master.solve(grace)
            trace.master_seconds += time.perf_counter() - t_master
            if mixed is None:
                trace.stopped_by = "time_limit"
                break
            lam, master_pi, obj, art = mixed
            if art <= 1e-6 and sense * obj > sense * best_obj:
                best_obj = obj
                best_x = master.point(lam, structure, problem.n_vars)
            trace.rounds = rnd + 1
            trace.bounds.append(best_bound)
            trace.objectives.append(best_obj)
            trace.seconds.append(time.perf_counter() - started)
            trace.columns.append(master.n_cols())
            if progress is not None:
                progress(trace)
            if _gap(best_obj, best_bound) <= settings.tolerance:
                trace.stopped_by = "tolerance"
                break
            if not whole or time.perf_counter() >= deadline:
                trace.stopped_by = "time_limit"
                break
            master.prune(lam, settings.keep_rounds)
            # Next prices: the master's, pulled towards the best-bound prices once there is a
            # feasible master (before that the artificial penalty dominates and must be followed).
            w = settings.smoothing if math.isfinite(best_obj) else 0.0
            pi = w * center + (1.0 - w) * master_pi
        else:
            trace.stopped_by = "max_rounds"
    except GroupFailed as exc:
        if exc.status == "time_limit":
            trace.stopped_by = "time_limit"
        else:
            status = SolveStatus.INFEASIBLE if exc.status == "infeasible" else SolveStatus.ERROR
            trace.stopped_by = str(exc)
            return _result(problem, status, None, math.nan, None, started, str(exc)), trace
    full_prices = np.full(problem.n_rows, np.nan)
    full_prices[structure.link_rows] = center
    trace.prices = full_prices

    if best_x is None:
        message = f"no feasible mix of proposals yet ({trace.stopped_by})"
        return _result(problem, SolveStatus.NO_SOLUTION, None, best_bound, None, started, message), trace
    x = np.clip(best_x, problem.col_lower, problem.col_upper)
    duals = np.zeros(problem.n_rows)
    duals[structure.link_rows] = master_pi
    for g, d in zip(structure.groups, last_duals, strict=True):
        if len(d) == len(g.rows):
            duals[g.rows] = d
    status = SolveStatus.OPTIMAL if _gap(best_obj, best_bound) <= settings.tolerance else SolveStatus.FEASIBLE
    message = (
        f"{trace.rounds} rounds, {trace.groups} groups of {trace.blocks} blocks, {trace.link_rows} linking rows;"
        f" stopped by {trace.stopped_by}"
    )
    return _result(problem, status, x, best_bound, duals, started, message), trace


def _gap(obj: float, bound: float) -> float:
    if not (math.isfinite(obj) and math.isfinite(bound)):
        return math.inf
    return abs(bound - obj) / max(1.0, abs(bound))


def _result(
    problem: LinearProblem,
    status: SolveStatus,
    x: np.ndarray | None,
    bound: float,
    duals: np.ndarray | None,
    started: float,
    message: str,
) -> SolveResult:
    activity = problem.A @ x if x is not None else None
    objective = float(problem.c @ x) + problem.objective_offset if x is not None else math.nan
    bound = bound + problem.objective_offset if math.isfinite(bound) else math.nan
    gap = _gap(objective, bound) if x is not None else math.nan
    return SolveResult(
        backend="dw",
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        seconds=time.perf_counter() - started,
        variables=problem.n_vars,
        constraints=problem.n_rows,
        x=x,
        row_activity=activity,
        duals=duals,
        message=message,
    )


def solve_dw(problem: LinearProblem, options: SolveOptions) -> SolveResult:
    """The ``dw`` backend: ``solve_block_angular`` with default settings (needs ``col_block``)."""
    result, _ = solve_block_angular(problem, options)
    return result


def solve_auto(problem: LinearProblem, options: SolveOptions) -> SolveResult:
    """The ``auto`` backend: HiGHS on the whole LP up to ``AUTO_MONOLITHIC_MAX_VARS`` columns (or
    without a block structure), the decomposition beyond."""
    if problem.col_block is not None and uses_decomposition(problem.n_vars, "auto"):
        return solve_dw(problem, options)
    return solve(problem, dataclasses.replace(options, backend="highs"))
