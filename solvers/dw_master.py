"""The restricted master of the decomposition: per block a convexity row, proposals as columns.

Kept loaded in HiGHS (``solvers.highs_warm.GrowingLP``) so each round's new columns start from the
last basis; artificial slack on the linking rows keeps it feasible from the first round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solvers.base import LinearProblem, SolveOptions, SolverError, solve
from solvers.dw_groups import EPS, BlockStructure, GroupData, GroupSolution
from solvers.highs_warm import GrowingLP, available

__all__ = ["Master"]


@dataclass
class _Chunk:
    """The proposals one group made in one round: its point and the blocks that became columns."""

    group: int
    x: np.ndarray
    first_col: int  # master column of its first kept block


class Master:
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

    def solve(self, time_limit_s: float = 600.0) -> tuple[np.ndarray, np.ndarray, float, float] | None:
        """Weights, linking-row prices, objective without artificials, artificial total; None when
        the time limit stopped it first."""
        m, nb, k = self.m, self.nb, self.n_cols()
        if self.lp is not None:
            sol = self.lp.solve(time_limit_s)
            if sol.status == "time_limit":
                return None
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
            res = solve(problem, SolveOptions(backend="highs", time_limit_s=time_limit_s))
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
            if not np.any(w > EPS):
                continue
            g = structure.groups[ch.group]
            per_col = np.zeros(len(g.blocks))
            per_col[pos] = w
            scale = np.repeat(per_col, np.diff(g.block_start))
            x[g.cols] += scale * ch.x
        return x

    def prune(self, lam: np.ndarray, keep_rounds: int) -> None:
        """Drop proposals the master has not used for ``keep_rounds`` rounds (memory stays bounded)."""
        self.idle = np.where(lam > EPS, 0, self.idle + 1)
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
