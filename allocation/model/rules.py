"""The constraint families of the allocation model, one function per business rule.

Every family is hard (the replay enforces the same physics) and returns a block of sparse rows
built with numpy index arithmetic — no Python object per variable. Labels are stable: explanations
and reports name binding constraints by them.

Variables (see ``allocation.model.network.Layout``), per local SKU k, site s, local day t:
``I[k,s,t]`` ready units at day end, ``D[k,s,t]`` dirty units at day end, ``C[k,s,t]`` cleanings
started, ``X[c]`` shipment candidate c (a reservation from a site on its ship-by day, 0..1),
``Y[j]`` units held back for forecast demand (one column per segment of E[min(D, y)], see
``allocation.model.protection``), ``TR[m]`` units transferred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.model.layout import Layout
from allocation.model.protection import Protection
from allocation.model.snapshot import PlanningInput

__all__ = ["RULES", "Block"]


@dataclass
class Block:
    """Rows ``lo <= A x <= hi`` of one constraint family (row indices local to the block)."""

    label: str
    n_rows: int
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _kst(lay: Layout, k: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.asarray((k * lay.S + s) * lay.T + t, dtype=np.int64)


def ready_inventory_balance(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. Ready stock carries over day to day; nothing ships or moves before it is ready.

    I[t] = I[t-1] + yield * C[t - clean_days] + transfers landing + ready_in[t]
           - shipments[t] - held back[t] + held back that no booking took[t] - transfers leaving[t];
    I >= 0.
    """
    K, S, T = lay.K, lay.S, lay.T
    k, s, t = (a.ravel() for a in np.meshgrid(np.arange(K), np.arange(S), np.arange(T), indexing="ij"))
    row = _kst(lay, k, s, t)
    parts_r = [row, row[t > 0]]
    parts_c = [lay.off_I + row, lay.off_I + row[t > 0] - 1]
    parts_v = [np.ones(len(row)), -np.ones(int((t > 0).sum()))]
    p = inp.clean_days[s]
    done = t >= p
    parts_r.append(row[done])
    parts_c.append(lay.off_C + _kst(lay, k[done], s[done], t[done] - p[done]))
    parts_v.append(-inp.clean_yield[k[done], s[done]])
    c = np.arange(len(inp.cand_res))
    parts_r.append(_kst(lay, inp.cand_sku, inp.cand_site, inp.cand_tau))
    parts_c.append(lay.off_X + c)
    parts_v.append(np.ones(len(c)))
    y = inp.protect
    j = np.arange(len(y))
    parts_r.append(_kst(lay, y.sku, y.site, y.tau))
    parts_c.append(lay.off_Y + j)
    parts_v.append(np.ones(len(y)))
    back = (y.free_tau < T) & (y.free_w > 0)  # held units no booking came for are ready again
    parts_r.append(_kst(lay, y.sku[back], y.site[back], y.free_tau[back]))
    parts_c.append(lay.off_Y + j[back])
    parts_v.append(-y.free_w[back])
    m = np.arange(len(lay.tr_k))
    parts_r += [_kst(lay, lay.tr_k, lay.tr_a, lay.tr_tau), _kst(lay, lay.tr_k, lay.tr_b, lay.tr_tau + lay.tr_days)]
    parts_c += [lay.off_TR + m, lay.off_TR + m]
    parts_v += [np.ones(len(m)), -np.ones(len(m))]
    rhs = inp.ready_in.ravel().copy()
    rhs[
        _kst(lay, *np.meshgrid(np.arange(K), np.arange(S), indexing="ij"), np.zeros((K, S), dtype=np.int64)).ravel()
    ] += inp.ready0.ravel()
    return Block(
        "ready_inventory_balance",
        K * S * T,
        np.concatenate(parts_r),
        np.concatenate(parts_c),
        np.concatenate(parts_v),
        rhs,
        rhs.copy(),
    )


def dirty_inventory_balance(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. A returned unit waits dirty until cleaned; only returned units can be cleaned.

    D[t] = D[t-1] + returns arriving[t] (known, expected or counted by the risk policy, those of
    tonight's shipments, and the expected returns of held-back units) - C[t];  D >= 0.
    """
    K, S, T = lay.K, lay.S, lay.T
    k, s, t = (a.ravel() for a in np.meshgrid(np.arange(K), np.arange(S), np.arange(T), indexing="ij"))
    row = _kst(lay, k, s, t)
    c = inp.ret_cand
    y = inp.protect
    back = np.nonzero(y.back_tau < T)[0]  # held units that ship come back one rental cycle later
    rows = [
        row,
        row[t > 0],
        row,
        _kst(lay, inp.cand_sku[c], inp.cand_site[c], inp.ret_tau),
        _kst(lay, y.sku[back], y.site[back], y.back_tau[back]),
    ]
    cols = [lay.off_D + row, lay.off_D + row[t > 0] - 1, lay.off_C + row, lay.off_X + c, lay.off_Y + back]
    vals = [np.ones(len(row)), -np.ones(int((t > 0).sum())), np.ones(len(row)), -inp.ret_w, -y.back_w[back]]
    rhs = inp.dirty_in.ravel().copy()
    rhs[
        _kst(lay, *np.meshgrid(np.arange(K), np.arange(S), indexing="ij"), np.zeros((K, S), dtype=np.int64)).ravel()
    ] += inp.dirty0.ravel()
    return Block(
        "dirty_inventory_balance",
        K * S * T,
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(vals),
        rhs,
        rhs.copy(),
    )


def cleaning_capacity_per_site_day(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. Cleanings started at a site on a day, summed over SKUs, stay within its capacity."""
    K, S, T = lay.K, lay.S, lay.T
    k, s, t = (a.ravel() for a in np.meshgrid(np.arange(K), np.arange(S), np.arange(T), indexing="ij"))
    rows = s * T + t
    return Block(
        "cleaning_capacity_per_site_day",
        S * T,
        rows,
        lay.off_C + _kst(lay, k, s, t),
        np.ones(len(rows)),
        np.full(S * T, -np.inf),
        inp.clean_cap.ravel(),
    )


def _held_back_shipping(inp: PlanningInput, T: int) -> tuple[Protection, np.ndarray]:
    """Held-back columns expected to ship inside the horizon (their capacity use counts there)."""
    return inp.protect, np.nonzero(inp.protect.ship_tau < T)[0]


def shipping_capacity_per_site_day(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. Units shipped to customers from a site on a day fit its shipping station: booked shipments,
    and the expected shipments of held-back units on the day they are expected to ship."""
    S, T = lay.S, lay.T
    y, yj = _held_back_shipping(inp, T)
    rows = np.concatenate([inp.cand_site * T + inp.cand_tau, y.site[yj] * T + y.ship_tau[yj]])
    cols = np.concatenate([lay.off_X + np.arange(len(inp.cand_site)), lay.off_Y + yj])
    return Block(
        "shipping_capacity_per_site_day",
        S * T,
        rows,
        cols,
        np.concatenate([np.ones(len(inp.cand_site)), y.ship_w[yj]]),
        np.full(S * T, -np.inf),
        inp.ship_cap.ravel(),
    )


def warehouse_picks_per_site_day(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. Units picked at a site on a day (shipments, protection and transfers out) fit its warehouse."""
    S, T = lay.S, lay.T
    y, yj = _held_back_shipping(inp, T)
    rows = np.concatenate(
        [inp.cand_site * T + inp.cand_tau, y.site[yj] * T + y.ship_tau[yj], lay.tr_a * T + lay.tr_tau]
    )
    cols = np.concatenate(
        [
            lay.off_X + np.arange(len(inp.cand_site)),
            lay.off_Y + yj,
            lay.off_TR + np.arange(len(lay.tr_k)),
        ]
    )
    return Block(
        "warehouse_picks_per_site_day",
        S * T,
        rows,
        cols,
        np.concatenate([np.ones(len(inp.cand_site)), y.ship_w[yj], np.ones(len(lay.tr_k))]),
        np.full(S * T, -np.inf),
        inp.pick_cap.ravel(),
    )


def reservation_filled_at_most_once(inp: PlanningInput, lay: Layout) -> Block:
    """Hard. A reservation is filled from at most one site, at most once."""
    n = len(inp.res)
    c = np.arange(len(inp.cand_res))
    return Block(
        "reservation_filled_at_most_once",
        n,
        inp.cand_res,
        lay.off_X + c,
        np.ones(len(c)),
        np.full(n, -np.inf),
        np.ones(n),
    )


def transfers_per_lane_day(inp: PlanningInput, lay: Layout) -> Block:
    """Hard when the ``max-transfers:N`` business rule is set. Protects the carriers and the
    receiving docks: units leaving along one transfer lane on one day, summed over SKUs, are at most N.

    One row per lane and departure day that has transfer columns; no rows without the rule. It spans
    SKUs (like the capacity rows), the only business rule that does.
    """
    cap = inp.max_transfers_per_lane_day
    empty = np.zeros(0, dtype=np.int64)
    if cap is None or len(lay.tr_k) == 0:
        return Block("transfers_per_lane_day", 0, empty, empty, np.zeros(0), np.zeros(0), np.zeros(0))
    key = (lay.tr_a * lay.S + lay.tr_b) * lay.T + lay.tr_tau
    _, rows = np.unique(key, return_inverse=True)
    n = int(rows.max()) + 1
    return Block(
        "transfers_per_lane_day",
        n,
        rows.astype(np.int64),
        lay.off_TR + np.arange(len(lay.tr_k)),
        np.ones(len(lay.tr_k)),
        np.full(n, -np.inf),
        np.full(n, float(cap)),
    )


RULES = (
    ready_inventory_balance,
    dirty_inventory_balance,
    cleaning_capacity_per_site_day,
    shipping_capacity_per_site_day,
    warehouse_picks_per_site_day,
    reservation_filled_at_most_once,
    transfers_per_lane_day,
)
