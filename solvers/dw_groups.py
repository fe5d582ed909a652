"""The groups of a block-angular LP: how it splits, one group's LP at given prices, its files.

``block_structure`` finds the linking rows (rows whose columns belong to more than one block) and
cuts the blocks into groups of whole blocks; ``solve_group`` solves one group at given linking-row
prices (kept loaded in HiGHS, ``solvers.highs_warm``) and ``split_by_block`` turns its answer into
one proposal per block. ``save_group``/``load_group`` let another process (a Celery worker) solve a
group. Used by ``solvers.decompose``; knows nothing of what the blocks mean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from solvers.base import LinearProblem, SolveOptions, SolverError, SolveStatus, solve
from solvers.highs_warm import WarmLP, available

__all__ = [
    "EPS",
    "BlockStructure",
    "GroupData",
    "GroupFailed",
    "GroupRunner",
    "GroupSolution",
    "LocalRunner",
    "block_structure",
    "load_group",
    "save_group",
    "solve_group",
    "split_by_block",
]

EPS = 1e-9


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

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution | None]:
        """One answer per group, in group order; None for a group the time limit left unsolved."""
        ...


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
    if np.any(empty & ((problem.row_lower > EPS) | (problem.row_upper < -EPS))):
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

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution | None]:
        """Every group in turn; once the time is up the rest are left unsolved (None), so that the
        loop can still use the groups it has (an anytime answer on a model too big for one round)."""
        deadline = time.perf_counter() + time_limit_s
        out: list[GroupSolution | None] = []
        for g in self.groups:
            left = deadline - time.perf_counter()
            if left <= 0:
                out.append(None)
                continue
            try:
                out.append(solve_group(g, prices, self.maximize, self._lp(g), left))
            except GroupFailed as exc:
                if exc.status != "time_limit":
                    raise
                out.append(None)
        return out

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
