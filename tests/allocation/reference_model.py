"""The allocation model written the straightforward way: one PuLP object per variable and a loop per
constraint, straight from the equations in docs/architecture.md. Slow, obvious, independent of the
array-built model in allocation/model/network.py — the exact reference the fast path is checked against.
"""

from __future__ import annotations

import numpy as np
import pulp

from allocation.model.snapshot import PlanningInput


def reference_objective(inp: PlanningInput, *, integer_shipments: bool = False) -> float:
    K, S, T = len(inp.skus), inp.n_sites, inp.T
    m = pulp.LpProblem("reference", pulp.LpMaximize)
    cat = pulp.LpInteger if integer_shipments else pulp.LpContinuous
    ready = {
        (k, s, t): pulp.LpVariable(f"I_{k}_{s}_{t}", lowBound=0) for k in range(K) for s in range(S) for t in range(T)
    }
    dirty = {
        (k, s, t): pulp.LpVariable(f"D_{k}_{s}_{t}", lowBound=0) for k in range(K) for s in range(S) for t in range(T)
    }
    clean = {
        (k, s, t): pulp.LpVariable(f"C_{k}_{s}_{t}", lowBound=0) for k in range(K) for s in range(S) for t in range(T)
    }
    ship = [pulp.LpVariable(f"X_{c}", lowBound=0, upBound=1, cat=cat) for c in range(len(inp.cand_res))]
    y = inp.protect
    protect = [pulp.LpVariable(f"Y_{j}", lowBound=0, upBound=float(y.ub[j])) for j in range(len(y))]
    moves = {}
    for k in range(K):
        for a in range(S):
            for b in range(S):
                d = int(inp.transfer_days[a, b])
                if a == b or d >= 10_000:
                    continue
                for t in range(T):
                    if t + d < T:
                        moves[(k, a, b, t)] = pulp.LpVariable(f"TR_{k}_{a}_{b}_{t}", lowBound=0)
    wanted = set(inp.cand_sku.tolist())  # transfers only for SKUs with a reservation to serve
    moves = {key: v for key, v in moves.items() if key[0] in wanted}

    m += (
        pulp.lpSum(float(inp.cand_obj[c]) * ship[c] for c in range(len(ship)))
        + pulp.lpSum(float(y.obj[j]) * protect[j] for j in range(len(protect)))
        - pulp.lpSum(float(inp.transfer_cost[a, b]) * v for (k, a, b, t), v in moves.items())
    )

    for k in range(K):
        for s in range(S):
            p = int(inp.clean_days[s])
            for t in range(T):
                inflow = float(inp.ready_in[k, s, t]) + (float(inp.ready0[k, s]) if t == 0 else 0.0)
                expr = ready[k, s, t] - (ready[k, s, t - 1] if t > 0 else 0)
                if t >= p:
                    expr -= float(inp.clean_yield[k, s]) * clean[k, s, t - p]
                expr += pulp.lpSum(
                    ship[c]
                    for c in range(len(ship))
                    if inp.cand_sku[c] == k and inp.cand_site[c] == s and inp.cand_tau[c] == t
                )
                expr += pulp.lpSum(
                    protect[j] for j in range(len(protect)) if y.sku[j] == k and y.site[j] == s and y.tau[j] == t
                )
                # Held-back units no booking came for are ready again after their week.
                expr -= pulp.lpSum(
                    float(y.free_w[j]) * protect[j]
                    for j in range(len(protect))
                    if y.sku[j] == k and y.site[j] == s and y.free_tau[j] == t
                )
                expr += pulp.lpSum(v for (kk, a, b, tt), v in moves.items() if kk == k and a == s and tt == t)
                expr -= pulp.lpSum(
                    v
                    for (kk, a, b, tt), v in moves.items()
                    if kk == k and b == s and tt + int(inp.transfer_days[a, b]) == t
                )
                m += expr == inflow
                returns = pulp.lpSum(
                    float(inp.ret_w[i]) * ship[int(inp.ret_cand[i])]
                    for i in range(len(inp.ret_cand))
                    if inp.cand_sku[inp.ret_cand[i]] == k
                    and inp.cand_site[inp.ret_cand[i]] == s
                    and inp.ret_tau[i] == t
                )
                returns += pulp.lpSum(
                    float(y.back_w[j]) * protect[j]
                    for j in range(len(protect))
                    if y.sku[j] == k and y.site[j] == s and y.back_tau[j] == t
                )
                dirty_in = float(inp.dirty_in[k, s, t]) + (float(inp.dirty0[k, s]) if t == 0 else 0.0)
                m += dirty[k, s, t] - (dirty[k, s, t - 1] if t > 0 else 0) + clean[k, s, t] - returns == dirty_in
    for s in range(S):
        for t in range(T):
            m += pulp.lpSum(clean[k, s, t] for k in range(K)) <= float(inp.clean_cap[s, t])
            out = [ship[c] for c in range(len(ship)) if inp.cand_site[c] == s and inp.cand_tau[c] == t]
            # Held-back units use capacity on the day they are expected to ship, as often as they do.
            out += [
                float(y.ship_w[j]) * protect[j] for j in range(len(protect)) if y.site[j] == s and y.ship_tau[j] == t
            ]
            m += pulp.lpSum(out) <= float(inp.ship_cap[s, t])
            picks = out + [v for (k, a, b, tt), v in moves.items() if a == s and tt == t]
            m += pulp.lpSum(picks) <= float(inp.pick_cap[s, t])
    for r in range(len(inp.res)):
        m += pulp.lpSum(ship[c] for c in np.nonzero(inp.cand_res == r)[0]) <= 1
    status = m.solve(pulp.PULP_CBC_CMD(msg=False))
    assert pulp.LpStatus[status] == "Optimal", pulp.LpStatus[status]
    return float(pulp.value(m.objective) or 0.0)
