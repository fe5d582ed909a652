"""The time-expanded allocation network as a solver-neutral linear problem, and its decoding.

Columns are laid out in blocks (I, D, C, X, Y, TR; see ``allocation.model.rules``) and rows come from
the constraint families in ``allocation.model.rules.RULES``; both are built with array arithmetic, so
the cost grows with the number of non-zeros, not with Python objects.

Objective (maximised, dollars): value of each reservation filled (plus ``FILL_BONUS`` and a VIP
uplift) minus its shipping cost, plus the expected fills of units held back for forecast demand
(E[min(D, y)], ``allocation.model.protection``), minus transfer costs; with the ``vip-first`` business
rule, plus a dominating bonus per VIP fill (``business_rules.vip_first_bonus``). Blocked sites and
lanes are column bounds (``_business_rule_bounds``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from allocation.model.layout import Layout
from allocation.model.rules import RULES, Block
from allocation.model.snapshot import PlanningInput
from solvers.base import LinearProblem

__all__ = ["Decisions", "Layout", "build_problem", "decode"]


@dataclass
class Decisions:
    """A decoded solution: what to ship, clean and move, in local indexes of ``PlanningInput``."""

    x: np.ndarray  # (candidates,) 0..1
    clean: np.ndarray  # (K, S, T)
    ready_end: np.ndarray  # (K, S, T)
    protect: np.ndarray  # (y,)
    transfer: np.ndarray  # (transfers,)
    slack: dict[str, np.ndarray]  # capacity rows: capacity - use, (S, T)


def _transfer_arcs(inp: PlanningInput, K: int) -> tuple[np.ndarray, ...]:
    T = inp.T
    a, b = np.nonzero((inp.transfer_days > 0) & (inp.transfer_days < 10_000))
    if len(a) == 0 or K == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z, z
    # Transfers get columns only for SKUs with a booked reservation to serve: moving stock for
    # forecast demand alone did not pay on the small and medium worlds (same or lower realized
    # value) and cost a tenth of the columns. Arcs landing after the horizon cannot help within it.
    wanted = np.zeros(K, dtype=bool)
    wanted[inp.cand_sku] = True
    ks = np.nonzero(wanted)[0]
    kk, pp, tt = (v.ravel() for v in np.meshgrid(ks, np.arange(len(a)), np.arange(T), indexing="ij"))
    d = inp.transfer_days[a[pp], b[pp]]
    ok = tt + d < T
    return kk[ok], a[pp][ok], b[pp][ok], tt[ok], d[ok]


def _business_rule_bounds(inp: PlanningInput, lay: Layout, col_hi: np.ndarray) -> None:
    """Blocked sites and lanes (``allocation.model.business_rules``) as column bounds: a candidate
    from a blocked site or along a blocked shipping lane on its day, and a transfer leaving along a
    blocked transfer lane on its day, are fixed at 0. Bounds, not rows: they couple no SKUs."""
    if inp.cand_rule is not None:
        col_hi[lay.off_X : lay.off_Y][inp.cand_rule != ""] = 0.0
    if inp.tr_blocked is not None and len(lay.tr_k):
        col_hi[lay.off_TR :][inp.tr_blocked[lay.tr_a, lay.tr_b, lay.tr_tau]] = 0.0


def build_problem(inp: PlanningInput) -> tuple[LinearProblem, Layout]:
    """The linear problem of one planning run (maximise), and the layout to decode it."""
    K, S, T = len(inp.skus), inp.n_sites, inp.T
    kst = K * S * T
    tr_k, tr_a, tr_b, tr_tau, tr_days = _transfer_arcs(inp, K)
    n_x, n_y, n_tr = len(inp.cand_res), len(inp.protect), len(tr_k)
    off_I, off_D, off_C = 0, kst, 2 * kst
    off_X = 3 * kst
    off_Y = off_X + n_x
    off_TR = off_Y + n_y
    n = off_TR + n_tr
    lay = Layout(K, S, T, off_I, off_D, off_C, off_X, off_Y, off_TR, n, tr_k, tr_a, tr_b, tr_tau, tr_days, {})

    c = np.zeros(n)
    c[off_X:off_Y] = inp.cand_obj if inp.cand_bonus is None else inp.cand_obj + inp.cand_bonus
    c[off_Y:off_TR] = inp.protect.obj
    c[off_TR:] = -inp.transfer_cost[tr_a, tr_b]
    col_lo = np.zeros(n)
    col_hi = np.full(n, np.inf)
    col_hi[off_X:off_Y] = 1.0
    col_hi[off_Y:off_TR] = inp.protect.ub  # each segment is one unit of E[min(D, y)]
    _business_rule_bounds(inp, lay, col_hi)

    blocks: list[Block] = [rule(inp, lay) for rule in RULES]
    rows, cols, vals, lo, hi = [], [], [], [], []
    start = 0
    for b in blocks:
        lay.row_blocks[b.label] = (start, start + b.n_rows)
        rows.append(b.rows + start)
        cols.append(b.cols)
        vals.append(b.vals)
        lo.append(b.lo)
        hi.append(b.hi)
        start += b.n_rows
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(start, n))
    A.sum_duplicates()
    problem = LinearProblem(
        c=c,
        A=A,
        row_lower=np.concatenate(lo),
        row_upper=np.concatenate(hi),
        col_lower=col_lo,
        col_upper=col_hi,
        maximize=True,
    )
    return problem, lay


def decode(inp: PlanningInput, lay: Layout, x: np.ndarray, row_activity: np.ndarray | None = None) -> Decisions:
    """Split a solution vector into decisions and capacity slacks."""
    K, S, T = lay.K, lay.S, lay.T
    slack: dict[str, np.ndarray] = {}
    if row_activity is not None:
        for label, cap in (
            ("cleaning_capacity_per_site_day", inp.clean_cap),
            ("shipping_capacity_per_site_day", inp.ship_cap),
            ("warehouse_picks_per_site_day", inp.pick_cap),
        ):
            a, b = lay.row_blocks[label]
            slack[label] = cap - row_activity[a:b].reshape(S, T)
    return Decisions(
        x=x[lay.off_X : lay.off_Y],
        clean=x[lay.off_C : lay.off_X].reshape(K, S, T),
        ready_end=x[lay.off_I : lay.off_D].reshape(K, S, T),
        protect=x[lay.off_Y : lay.off_TR],
        transfer=x[lay.off_TR :],
        slack=slack,
    )
