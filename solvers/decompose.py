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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from solvers.base import LinearProblem, SolveOptions, SolverError, SolveResult, SolveStatus, solve
from solvers.highs_warm import GrowingLP, WarmLP, available

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

_EPS = 1e-9

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
class GroupData:
    """One group's LP: its columns (sorted by block), its own rows, and its part of the linking rows."""

    index: int
    cols: np.ndarray  # column indices in the full problem
    rows: np.ndarray  # its own (local) row indices in the full problem
    c: np.ndarray
    A: sp.csc_matrix  # local rows x group columns
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    link: sp.csr_matrix  # linking rows x group columns
    blocks: np.ndarray  # global block number of each of its blocks (0 .. n_blocks - 1)
    block_start: np.ndarray  # where each block's columns start within the group (len blocks + 1)


@dataclass
class BlockStructure:
    """How a problem splits: linking rows, and groups of whole blocks."""

    link_rows: np.ndarray
    link_lower: np.ndarray
    link_upper: np.ndarray
    groups: list[GroupData]
    n_blocks: int


@dataclass
class GroupSolution:
    """A group's answer to one price vector, split by block (each block's part is a proposal)."""

    x: np.ndarray
    priced: float  # max (c - pi A_link) x over the group
    block_value: np.ndarray  # c @ x per block
    block_usage: sp.csc_matrix  # A_link @ x per block (linking rows x blocks)
    row_dual: np.ndarray


class GroupRunner(Protocol):
    """Solves every group for one price vector (prices are on the linking rows)."""

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution]: ...


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


def block_structure(problem: LinearProblem, col_block: np.ndarray, group_nnz: int) -> BlockStructure:
    """Find the linking rows and cut the blocks into groups of about ``group_nnz`` non-zeros.

    A row is linking when its columns belong to more than one block. Blocks are kept whole and in
    order; a row without any non-zero is checked here (its bounds must admit 0) and dropped.
    """
    A = problem.A
    m, n = A.shape
    col_block = np.asarray(col_block, dtype=np.int64)
    if col_block.shape != (n,):
        raise SolverError(f"col_block has shape {col_block.shape}, expected ({n},)")
    counts = np.diff(A.indptr)
    empty = counts == 0
    if np.any(empty & ((problem.row_lower > _EPS) | (problem.row_upper < -_EPS))):
        raise SolverError("a row without variables has bounds that exclude 0: the problem is infeasible")
    uniq, inv = np.unique(col_block, return_inverse=True)
    inv = inv.astype(np.int64)
    blk = inv[A.indices]
    starts = A.indptr[:-1][~empty]
    rmin = np.full(m, -1, dtype=np.int64)
    rmax = np.full(m, -1, dtype=np.int64)
    if len(starts):
        rmin[~empty] = np.minimum.reduceat(blk, starts)
        rmax[~empty] = np.maximum.reduceat(blk, starts)
    link = np.flatnonzero(~empty & (rmin != rmax))
    local = np.flatnonzero(~empty & (rmin == rmax))

    # Groups: consecutive blocks until the group holds about group_nnz non-zeros.
    nb = len(uniq)
    col_nnz = np.diff(A.tocsc().indptr)
    block_nnz = np.bincount(inv, weights=col_nnz, minlength=nb)
    group_of_block = ((np.cumsum(block_nnz) - block_nnz) // max(1, group_nnz)).astype(np.int64)
    _, group_of_block = np.unique(group_of_block, return_inverse=True)
    G = int(group_of_block.max()) + 1 if nb else 0
    col_order = np.argsort(inv, kind="stable")  # by block, hence by group
    block_first = np.searchsorted(inv[col_order], np.arange(nb + 1))
    group_first_block = np.searchsorted(group_of_block, np.arange(G + 1))
    row_group = group_of_block[rmin[local]]
    row_order = np.argsort(row_group, kind="stable")
    row_bounds = np.searchsorted(row_group[row_order], np.arange(G + 1))
    local_sorted = local[row_order]
    A_local = A[local_sorted][:, col_order].tocsr()
    A_link = A[link][:, col_order].tocsc()
    groups: list[GroupData] = []
    for g in range(G):
        b0, b1 = group_first_block[g], group_first_block[g + 1]
        c0, c1 = block_first[b0], block_first[b1]
        r0, r1 = row_bounds[g], row_bounds[g + 1]
        cols = col_order[c0:c1]
        rows = local_sorted[r0:r1]
        groups.append(
            GroupData(
                index=g,
                cols=cols,
                rows=rows,
                c=problem.c[cols],
                A=A_local[r0:r1][:, c0:c1].tocsc(),
                row_lower=problem.row_lower[rows],
                row_upper=problem.row_upper[rows],
                col_lower=problem.col_lower[cols],
                col_upper=problem.col_upper[cols],
                link=A_link[:, c0:c1].tocsr(),
                blocks=np.arange(b0, b1, dtype=np.int64),
                block_start=block_first[b0 : b1 + 1] - c0,
            )
        )
    return BlockStructure(link, problem.row_lower[link], problem.row_upper[link], groups, nb)


class LocalRunner:
    """Solves the groups one after another in this process, each kept loaded in HiGHS."""

    def __init__(self, groups: Sequence[GroupData], maximize: bool) -> None:
        self.groups = list(groups)
        self.maximize = maximize
        self._lps: dict[int, WarmLP] = {}

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution]:
        deadline = time.perf_counter() + time_limit_s
        return [solve_group(g, prices, self.maximize, self._lp(g), deadline - time.perf_counter()) for g in self.groups]

    def _lp(self, g: GroupData) -> WarmLP | None:
        if not available():  # pragma: no cover - depends on the SciPy build
            return None
        lp = self._lps.get(g.index)
        if lp is None:
            lp = WarmLP(g.A, g.row_lower, g.row_upper, g.col_lower, g.col_upper, maximize=self.maximize)
            self._lps[g.index] = lp
        return lp


def solve_group(
    g: GroupData, prices: np.ndarray, maximize: bool, lp: WarmLP | None, time_limit_s: float
) -> GroupSolution:
    """One group's LP at the given linking-row prices (``lp``: a loaded HiGHS to re-use, or None)."""
    costs = g.c - g.link.T @ prices
    if lp is not None:
        sol = lp.solve(costs, max(time_limit_s, 0.01))
        if sol.status != "optimal" or sol.x is None or sol.row_dual is None:
            raise GroupFailed(g.index, sol.status)
        x, dual = sol.x, sol.row_dual
    else:  # cold solve through the registered HiGHS backend
        problem = LinearProblem(
            costs, g.A.tocsr(), g.row_lower, g.row_upper, g.col_lower, g.col_upper, maximize=maximize
        )
        res = solve(problem, SolveOptions(backend="highs", time_limit_s=max(time_limit_s, 0.01)))
        if res.status is not SolveStatus.OPTIMAL or res.x is None:
            raise GroupFailed(g.index, str(res.status))
        x = res.x
        dual = res.duals if res.duals is not None else np.zeros(len(g.rows))
    x = np.clip(x, g.col_lower, g.col_upper)
    return split_by_block(g, x, float(costs @ x), dual)


def split_by_block(g: GroupData, x: np.ndarray, priced: float, dual: np.ndarray) -> GroupSolution:
    """Each block's value and linking-row use at ``x`` (the blocks of a group never share a row)."""
    nb = len(g.blocks)
    owner = np.repeat(np.arange(nb), np.diff(g.block_start))
    value = np.bincount(owner, weights=g.c * x, minlength=nb)
    indicator = sp.csr_matrix((x, (np.arange(len(x)), owner)), shape=(len(x), nb))
    usage = sp.csc_matrix(g.link @ indicator)
    usage.eliminate_zeros()
    return GroupSolution(x, priced, value, usage, dual)


def save_group(g: GroupData, path: str) -> None:
    """Write one group's LP to an ``.npz`` file (for a worker in another process to load)."""
    A, L = g.A.tocsc(), g.link.tocsr()
    np.savez(
        path,
        index=np.array([g.index]),
        cols=g.cols,
        rows=g.rows,
        c=g.c,
        A_data=A.data,
        A_indices=A.indices,
        A_indptr=A.indptr,
        A_shape=np.array(A.shape),
        row_lower=g.row_lower,
        row_upper=g.row_upper,
        col_lower=g.col_lower,
        col_upper=g.col_upper,
        L_data=L.data,
        L_indices=L.indices,
        L_indptr=L.indptr,
        L_shape=np.array(L.shape),
        blocks=g.blocks,
        block_start=g.block_start,
    )


def load_group(path: str) -> GroupData:
    """Read a group written by ``save_group``."""
    with np.load(path) as z:
        return GroupData(
            index=int(z["index"][0]),
            cols=z["cols"],
            rows=z["rows"],
            c=z["c"],
            A=sp.csc_matrix((z["A_data"], z["A_indices"], z["A_indptr"]), shape=tuple(z["A_shape"])),
            row_lower=z["row_lower"],
            row_upper=z["row_upper"],
            col_lower=z["col_lower"],
            col_upper=z["col_upper"],
            link=sp.csr_matrix((z["L_data"], z["L_indices"], z["L_indptr"]), shape=tuple(z["L_shape"])),
            blocks=z["blocks"],
            block_start=z["block_start"],
        )


class GroupFailed(Exception):
    """A group LP ended without an optimum (``status``: infeasible, time_limit, error...); a runner
    raises it for the loop to stop with that status, whether the group was solved here or elsewhere."""

    def __init__(self, group: int, status: str) -> None:
        super().__init__(f"group {group}: {status}")
        self.group = group
        self.status = status


@dataclass
class _Chunk:
    """The proposals one group made in one round: its point and the blocks that became columns."""

    group: int
    x: np.ndarray
    first_col: int  # master column of its first kept block


class _Master:
    """The restricted master: one convexity row per block, proposals as columns, artificial slacks
    on the linking rows (priced at ``penalty``) so it is feasible from the first round.

    It stays loaded in HiGHS (``GrowingLP``): each round's proposals enter as new columns and the
    solve continues from the last basis; where SciPy's HiGHS class is missing it is rebuilt and
    solved through ``linprog`` every round.
    """

    def __init__(
        self, m_link: int, n_blocks: int, lower: np.ndarray, upper: np.ndarray, penalty: float, maximize: bool
    ):
        self.m, self.nb = m_link, n_blocks
        self.lower, self.upper, self.penalty = lower, upper, penalty
        self.maximize = maximize
        self.sense = 1.0 if maximize else -1.0
        self.block = np.zeros(0, dtype=np.int64)
        self.value = np.zeros(0)
        self.usage: list[sp.csc_matrix] = []  # kept only for the cold path
        self.chunk = np.zeros(0, dtype=np.int64)  # chunk id of each column
        self.chunks: dict[int, tuple[_Chunk, np.ndarray]] = {}  # id -> chunk, its block positions
        self.idle = np.zeros(0, dtype=np.int64)
        self._next = 0
        self.mu = np.full(n_blocks, np.nan)  # convexity duals: a new column must beat these
        rows_lo = np.concatenate([lower, np.ones(n_blocks)])
        rows_hi = np.concatenate([upper, np.ones(n_blocks)])
        self.lp = GrowingLP(rows_lo, rows_hi, maximize=maximize) if available() else None
        if self.lp is not None:
            eye = sp.identity(m_link, format="csc")
            art = sp.vstack([sp.hstack([-eye, eye]), sp.csc_matrix((n_blocks, 2 * m_link))], format="csc")
            cost = -self.sense * penalty * np.ones(2 * m_link)
            self.lp.add_columns(cost, np.zeros(2 * m_link), np.full(2 * m_link, np.inf), art)

    def n_cols(self) -> int:
        return int(self.idle.size)

    def add(self, g: GroupData, sol: GroupSolution, prices: np.ndarray, sense: float) -> int:
        """Add the group's blocks whose proposal prices out better than the master has (all in round 1)."""
        reduced = sol.block_value - sol.block_usage.T @ prices
        mu = self.mu[g.blocks]
        better = sense * (reduced - mu) > 1e-7 * np.maximum(1.0, np.abs(reduced))
        keep = np.flatnonzero(np.isnan(mu) | better)
        if len(keep) == 0:
            return 0
        cid = self._next
        self._next += 1
        self.chunks[cid] = (_Chunk(g.index, sol.x, self.n_cols()), keep)
        blocks = g.blocks[keep]
        usage = sol.block_usage[:, keep]
        self.block = np.concatenate([self.block, blocks])
        self.value = np.concatenate([self.value, sol.block_value[keep]])
        self.chunk = np.concatenate([self.chunk, np.full(len(keep), cid)])
        self.idle = np.concatenate([self.idle, np.zeros(len(keep), dtype=np.int64)])
        if self.lp is not None:
            conv = sp.csc_matrix((np.ones(len(keep)), (blocks, np.arange(len(keep)))), shape=(self.nb, len(keep)))
            self.lp.add_columns(
                sol.block_value[keep], np.zeros(len(keep)), np.full(len(keep), np.inf), sp.vstack([usage, conv])
            )
        else:
            self.usage.append(sp.csc_matrix(usage))
        return len(keep)

    def solve(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Weights, linking-row prices, objective without artificials, artificial total."""
        m, nb, k = self.m, self.nb, self.n_cols()
        if self.lp is not None:
            sol = self.lp.solve()
            if sol.x is None or sol.row_dual is None:
                raise SolverError("the master LP failed in HiGHS")
            x, duals = sol.x, sol.row_dual
            art, lam = x[: 2 * m], x[2 * m :]
        else:  # pragma: no cover - without SciPy's HiGHS class
            U = sp.hstack(self.usage, format="csc") if self.usage else sp.csc_matrix((m, 0))
            conv = sp.csc_matrix((np.ones(k), (self.block, np.arange(k))), shape=(nb, k))
            eye = sp.identity(m, format="csc")
            A = sp.vstack([sp.hstack([U, -eye, eye]), sp.hstack([conv, sp.csc_matrix((nb, 2 * m))])], format="csr")
            problem = LinearProblem(
                c=np.concatenate([self.value, -self.sense * self.penalty * np.ones(2 * m)]),
                A=A,
                row_lower=np.concatenate([self.lower, np.ones(nb)]),
                row_upper=np.concatenate([self.upper, np.ones(nb)]),
                col_lower=np.zeros(k + 2 * m),
                col_upper=np.full(k + 2 * m, np.inf),
                maximize=self.maximize,
            )
            res = solve(problem, SolveOptions(backend="highs", time_limit_s=600.0))
            if res.x is None or res.duals is None:
                raise SolverError(f"the master LP failed: {res.status} ({res.message})")
            lam, art, duals = res.x[:k], res.x[k:], res.duals
        self.mu = duals[m:]
        return lam, duals[:m], float(self.value @ lam), float(art.sum())

    def point(self, lam: np.ndarray, structure: BlockStructure, n: int) -> np.ndarray:
        """The full point mixed from the proposals with weight ``lam``."""
        x = np.zeros(n)
        for ch, pos in self.chunks.values():
            w = lam[ch.first_col : ch.first_col + len(pos)]
            if not np.any(w > _EPS):
                continue
            g = structure.groups[ch.group]
            per_col = np.zeros(len(g.blocks))
            per_col[pos] = w
            scale = np.repeat(per_col, np.diff(g.block_start))
            x[g.cols] += scale * ch.x
        return x

    def prune(self, lam: np.ndarray, keep_rounds: int) -> None:
        """Drop proposals the master has not used for ``keep_rounds`` rounds (memory stays bounded)."""
        self.idle = np.where(lam > _EPS, 0, self.idle + 1)
        drop = self.idle > keep_rounds
        # Every block keeps its newest proposal, so its convexity row always has a column.
        newest = np.zeros(len(self.block), dtype=bool)
        newest[len(self.block) - 1 - np.unique(self.block[::-1], return_index=True)[1]] = True
        drop &= ~newest
        if self.lp is not None:
            drop &= self.lp.removable()[2 * self.m :]  # a basic column stays: the basis must survive
        if not drop.any():
            return
        keep = ~drop
        if self.lp is not None:
            self.lp.delete_columns(2 * self.m + np.flatnonzero(drop))
        else:  # pragma: no cover - without SciPy's HiGHS class
            self.usage = [sp.hstack(self.usage, format="csc")[:, np.flatnonzero(keep)]]
        chunk = self.chunk[keep]
        self.block, self.value, self.chunk, self.idle = self.block[keep], self.value[keep], chunk, self.idle[keep]
        # Re-point every chunk at its surviving columns (columns stay in chunk order, chunk ids rise).
        new_chunks: dict[int, tuple[_Chunk, np.ndarray]] = {}
        ids, first = np.unique(chunk, return_index=True)
        for cid, start in zip(ids.tolist(), first.tolist(), strict=True):
            ch, pos = self.chunks[cid]
            old_cols = np.flatnonzero(keep[ch.first_col : ch.first_col + len(pos)])
            new_chunks[cid] = (_Chunk(ch.group, ch.x, int(start)), pos[old_cols])
        self.chunks = new_chunks


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
    master: _Master,
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
    sols = runner.solve_all(frugal, max(deadline - time.perf_counter(), 0.01))
    for g, s in zip(structure.groups, sols, strict=True):
        master.add(g, s, prices, sense)
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
    master = _Master(m_link, structure.n_blocks, lo, up, 10.0 * max(scale, 1.0), problem.maximize)
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
            sols = runner.solve_all(pi, max(deadline - time.perf_counter(), 0.01))
            trace.group_seconds += time.perf_counter() - t_round
            for g, s in zip(structure.groups, sols, strict=True):
                master.add(g, s, master_pi, sense)
                last_duals[g.index] = s.row_dual
            bound = _lagrangian_bound(sols, pi, lo, up, sense)
            if sense * bound < sense * best_bound:
                best_bound, center = bound, pi.copy()
            t_master = time.perf_counter()
            lam, master_pi, obj, art = master.solve()
            trace.master_seconds += time.perf_counter() - t_master
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
            if time.perf_counter() >= deadline:
                trace.stopped_by = "time_limit"
                break
            master.prune(lam, settings.keep_rounds)
            # Next prices: the master's, pulled towards the best-bound prices once there is a
            # feasible master (before that the artificial penalty dominates and must be followed).
            a = settings.smoothing if math.isfinite(best_obj) else 0.0
            pi = a * center + (1.0 - a) * master_pi
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
