"""Why each open reservation of tonight's plan is filled the way it is, or not at all.

``explain_plan`` gives one row per open reservation: filled or not, from which site on which day,
a reason code, the binding capacity rows behind it with their shadow prices (the LP duals of
``run.result.duals``, read through ``run.layout.row_blocks``), when the SKU's next unit could be
ready, how likely the unit it needs is back in time, a business rule that blocked it, and ``text``:
the same in a planner's words. The project step stores it as ``plan/explanations.parquet``.

Binding means less than half a unit of room left (the project step's ``binding_site_days`` count
uses the same line). A price is the dual of that row: what one more unit of that capacity is worth
to tonight's objective, in dollars; without duals (a backend that gives none) a row is only "at
capacity".
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from allocation.domain import NotFoundError, UnfilledReason
from allocation.jobs.store import MissingArtifact, RunStore, read_parquet
from allocation.model.snapshot import Information, PlanningInput, conditional_return_pmf
from allocation.plan import Plan, SkuSupply, sku_supply
from allocation.replay.policies import PlanRun
from allocation.state import U
from allocation.statics import Statics

__all__ = [
    "BUSINESS_RULE",
    "EXPLANATIONS_ARTIFACT",
    "EXPLANATION_COLUMNS",
    "blocked_by_rules",
    "explain_plan",
    "load_explanations",
    "money",
    "reservation_explanation",
    "say_date",
]

EXPLANATIONS_ARTIFACT = "plan/explanations.parquet"

BUSINESS_RULE = "business_rule"  # the reason code of a reservation every shipment of which a rule blocked
# Families with one row per SKU (stock balances) or per reservation: never a shared capacity.
PER_ITEM_FAMILIES = frozenset({"ready_inventory_balance", "dirty_inventory_balance", "reservation_filled_at_most_once"})
CAPACITY_WORDS = {
    "cleaning_capacity_per_site_day": "cleaning capacity",
    "shipping_capacity_per_site_day": "shipping capacity",
    "warehouse_picks_per_site_day": "pick capacity",
    "transfers_per_lane_day": "transfer capacity",
}
BINDING_ROOM = 0.5  # units of room left under which a capacity row counts as binding
EXPLANATION_COLUMNS = (
    "reservation_id",
    "sku_id",
    "filled",
    "site_id",
    "ship_date",
    "ship_by",
    "reason",
    "binding",  # JSON list of {constraint, site_id, date, capacity, used, price}
    "ready_date",
    "p_back_in_time",
    "rule",
    "text",
)


def money(dollars: float) -> str:
    """$38, $1,200 (cents only under ten dollars)."""
    return f"${dollars:,.2f}" if abs(dollars) < 10 else f"${dollars:,.0f}"


def say_date(day: dt.date) -> str:
    """Tue 7 May."""
    return f"{day:%a} {day.day} {day:%b}"


@dataclass
class _Rows:
    """The binding capacity rows of a run: family label, site (or lane origin), lane end, day, room."""

    index: np.ndarray  # row in the problem
    label: np.ndarray
    site: np.ndarray  # -1 when the row names no site
    to_site: np.ndarray  # a lane's destination; -1 otherwise
    day: np.ndarray  # local day; -1 when unknown
    capacity: np.ndarray
    used: np.ndarray
    price: np.ndarray  # nan without duals


def binding_rows(run: PlanRun) -> _Rows:
    """Every capacity row of the run (a family shared across SKUs) with under half a unit of room.

    Site-day families (S x T rows) are named by site and day; other families by the first transfer
    or cleaning column they hold (a lane or a site) and its day.
    """
    inp, lay, prob, res = run.inp, run.layout, run.problem, run.result
    activity = res.row_activity if res.row_activity is not None else prob.A @ _x(run)
    duals = res.duals
    S, T = inp.n_sites, inp.T
    parts: list[dict[str, np.ndarray]] = []
    for label, (a, b) in lay.row_blocks.items():
        if label in PER_ITEM_FAMILIES or b <= a:
            continue
        hi = prob.row_upper[a:b]
        act = activity[a:b]
        room = np.where(np.isfinite(hi), hi - act, np.inf)
        j = np.nonzero(room < BINDING_ROOM)[0]
        if len(j) == 0:
            continue
        site = np.full(len(j), -1, dtype=np.int64)
        to_site = np.full(len(j), -1, dtype=np.int64)
        day = np.full(len(j), -1, dtype=np.int64)
        if b - a == S * T:
            site, day = j // T, j % T
        else:
            site, to_site, day = _row_place(run, a + j)
        price = duals[a + j] if duals is not None else np.full(len(j), np.nan)
        parts.append(
            {
                "index": a + j,
                "label": np.full(len(j), label, dtype=object),
                "site": site,
                "to_site": to_site,
                "day": day,
                "capacity": hi[j],
                "used": act[j],
                "price": np.abs(price),  # binding <= rows of a maximisation: >= 0 up to solver noise
            }
        )
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return _Rows(z, np.zeros(0, dtype=object), z, z, z, np.zeros(0), np.zeros(0), np.zeros(0))
    cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return _Rows(**cat)


def _x(run: PlanRun) -> np.ndarray:
    return run.result.x if run.result.x is not None else np.zeros(run.problem.n_vars)


def _row_place(run: PlanRun, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site, to_site, day) of rows outside the site-day layout, from the first column they hold."""
    lay = run.layout
    A = sp.csr_matrix(run.problem.A[rows])
    site = np.full(len(rows), -1, dtype=np.int64)
    to_site = np.full(len(rows), -1, dtype=np.int64)
    day = np.full(len(rows), -1, dtype=np.int64)
    for i in range(len(rows)):  # binding rows of an odd family: few
        cols = A.indices[A.indptr[i] : A.indptr[i + 1]]
        tr = cols[cols >= lay.off_TR] - lay.off_TR
        cl = cols[(cols >= lay.off_C) & (cols < lay.off_X)] - lay.off_C
        if len(tr):
            m = int(tr.min())
            site[i], to_site[i], day[i] = lay.tr_a[m], lay.tr_b[m], lay.tr_tau[m]
        elif len(cl):
            rest = int(cl.min()) % (lay.S * lay.T)
            site[i], day[i] = divmod(rest, lay.T)
    return site, to_site, day


def blocked_by_rules(inp: PlanningInput) -> np.ndarray | None:
    """Per shipment candidate, "" or the business rule that blocked it; None without rules.

    ``allocation.model.business_rules.rule_blocked_candidates(inp)`` owns the rules; a planning input
    without rules (or a build without that module) gives None.
    """
    try:
        module = importlib.import_module("allocation.model.business_rules")
    except ModuleNotFoundError:
        return None
    fn = cast(Callable[[PlanningInput], Any] | None, getattr(module, "rule_blocked_candidates", None))
    if fn is None:
        return None
    try:
        blocked = fn(inp)
    except AttributeError:  # a planning input made before candidates carried their rules
        return None
    if blocked is None:
        return None
    out = np.asarray(blocked, dtype=object)
    return out if out.shape == (len(inp.cand_res),) else None


def _res_rows(run: PlanRun, rows: _Rows) -> sp.csr_matrix:
    """(reservations x binding rows): the rows that hold one of the reservation's shipment columns,
    and the cleaning rows at a site that could ship it, on a day whose cleaning could still make
    its ship day, where dirty units of its SKU wait."""
    inp, lay = run.inp, run.layout
    R, n_c = len(inp.res), len(inp.cand_res)
    if len(rows.index) == 0 or n_c == 0:
        return sp.csr_matrix((R, len(rows.index)))
    cand_to_res = sp.csr_matrix((np.ones(n_c), (inp.cand_res, np.arange(n_c))), shape=(R, n_c))
    touch = sp.csr_matrix(run.problem.A[rows.index][:, lay.off_X : lay.off_Y] != 0).astype(float)
    direct = cand_to_res @ touch.T
    clean = rows.label == "cleaning_capacity_per_site_day"
    ci = np.nonzero(clean)[0]
    if len(ci):
        # Dirty units of each SKU arrived by day t: non-decreasing in t, so the latest binding cleaning
        # day that could still make a candidate's ship day is the one to check (one pair per candidate,
        # memory linear in the candidates).
        dirty = inp.dirty0[:, :, None] + inp.dirty_in.cumsum(axis=2)
        pair_c, pair_r = [], []
        for s in np.unique(rows.site[ci]):
            mine = ci[rows.site[ci] == s]
            mine = mine[np.argsort(rows.day[mine], kind="stable")]
            cands = np.nonzero(inp.cand_site == s)[0]
            j = np.searchsorted(rows.day[mine], inp.cand_tau[cands] - inp.clean_days[s], side="right") - 1
            c, r = cands[j >= 0], mine[j[j >= 0]]
            ok = dirty[inp.cand_sku[c], s, rows.day[r]] > 0
            pair_c.append(c[ok])
            pair_r.append(r[ok])
        pc, pr = np.concatenate(pair_c), np.concatenate(pair_r)
        hit = sp.csr_matrix((np.ones(len(pc)), (pc, pr)), shape=(n_c, len(rows.index)))
        direct = direct + cand_to_res @ hit
    return sp.csr_matrix(direct > 0)


def _p_back(statics: Statics, plan: Plan, info: Information, units: np.ndarray, by_day: np.ndarray) -> np.ndarray:
    """P(unit back at its site by ``by_day``) for units out this morning (1 for units not out)."""
    p = np.ones(len(units))
    st = plan.state
    out = (st.state[units] == U.OUT) & (st.pmf_row[units] >= 0)
    if info.pmf is None or not out.any():
        return p
    u = units[out]
    start, pm = conditional_return_pmf(info.pmf[st.pmf_row[u]], st.due[u], st.day)
    cdf = pm.cumsum(axis=1)
    j = by_day[out] - start
    got = np.where(j < 0, 0.0, cdf[np.arange(len(u)), np.clip(j, 0, cdf.shape[1] - 1)])
    p[out] = np.clip(got, 0.0, 1.0)
    return p


def _best_p_back(
    statics: Statics, plan: Plan, info: Information, sku: int, last_day: int, sites: np.ndarray
) -> tuple[float, str]:
    """The best chance that one unit of ``sku`` out this morning is back and clean in time to ship
    from one of ``sites`` by ``last_day``; and that unit's id ("" when none is out)."""
    st = plan.state
    u = np.nonzero((statics.unit_sku == sku) & (st.state == U.OUT) & (st.pmf_row >= 0))[0]
    u = u[np.isin(st.site[u], sites)]
    if len(u) == 0:
        return float("nan"), ""
    p = _p_back(statics, plan, info, u, last_day - statics.clean_days[st.site[u]])
    i = int(np.argmax(p))
    return float(p[i]), str(statics.unit_ids[u[i]])


@dataclass
class _Facts:
    """What the text of one reservation is made from."""

    rid: str
    filled: bool
    site: str | None
    ship: dt.date | None
    ship_by: dt.date | None
    reason: str
    binding: list[dict[str, Any]]
    ready: dt.date | None
    p_back: float
    unit_back: str
    rule: str


def _binding_text(b: dict[str, Any]) -> str:
    word = CAPACITY_WORDS.get(b["constraint"], b["constraint"].replace("_", " "))
    where = b["site_id"] if b.get("to_site") is None else f"{b['site_id']} -> {b['to_site']}"
    day = say_date(dt.date.fromisoformat(b["date"])) if b["date"] else "that day"
    line = f"{where} {word} {b['capacity']:,.0f}/day on {day}"
    if b["price"] is not None and b["price"] > 0.005:
        line += f"; one more unit there is worth {money(b['price'])} tonight"
    return line


def _text(f: _Facts, extra: str) -> str:
    ship_by = say_date(f.ship_by) if f.ship_by is not None else "its ship-by day"
    # The rows of the reason's own family first (a shipping reason names shipping and pick rows).
    families: dict[str, tuple[str, ...]] = {
        str(UnfilledReason.SHIPPING_CAPACITY): ("shipping_capacity_per_site_day", "warehouse_picks_per_site_day"),
        str(UnfilledReason.CLEANING_CAPACITY): ("cleaning_capacity_per_site_day",),
    }
    family = families.get(f.reason, ())
    named = [b for b in f.binding if b["constraint"] in family] or f.binding
    capacity = "; ".join(_binding_text(b) for b in named[:3])
    if f.filled:
        assert f.ship is not None
        head = f"Ships from {f.site} on {say_date(f.ship)}"
        if f.p_back == f.p_back and f.p_back < 0.999:
            head += f" (the unit, out today, is back in time with probability {f.p_back:.0%})"
        return f"{head}: {extra}" if extra else head
    reason = f.reason
    if reason == BUSINESS_RULE:
        return f"Unfilled: a business rule blocked every site that could ship {f.rid} ({f.rule})"
    if reason == UnfilledReason.TOO_LATE_TO_SHIP:
        return f"Unfilled: no site can still get {f.rid} to the customer by the event date"
    if reason == UnfilledReason.NO_SUPPLY_IN_TIME:
        ready = "none is ready within the horizon"
        if f.ready is not None:
            ready = f"the next one is ready {say_date(f.ready)}"
        return f"Unfilled: no unit of its SKU can be ready to ship {f.rid} by {ship_by} ({ready})"
    if reason == UnfilledReason.LATE_RETURN_RISK:
        if f.unit_back:
            return (
                f"Unfilled: the unit it needs ({f.unit_back}, out with a customer) is back and clean by {ship_by} "
                f"with probability {f.p_back:.0%} only"
            )
        return f"Unfilled: the units it needs are out with customers and unlikely back and clean by {ship_by}"
    if reason == UnfilledReason.SHIPPING_CAPACITY:
        why = f" ({capacity})" if capacity else ""
        return f"Unfilled: every site that could ship {f.rid} by {ship_by} was at shipping capacity{why}"
    if reason == UnfilledReason.CLEANING_CAPACITY:
        why = f" ({capacity})" if capacity else ""
        return f"Unfilled: cleaning capacity ran out before {ship_by} where dirty units of its SKU wait{why}"
    why = f"; capacity at its limit: {capacity}" if capacity else ""
    return f"Unfilled: the units that could fill {f.rid} by {ship_by} went to reservations worth more{why}"


def _shipment_reason(
    statics: Statics, inp: PlanningInput, r: int, site: int, cands: np.ndarray, binding: list[dict[str, Any]]
) -> tuple[str, str]:
    """Why a filled reservation ships from ``site``: (reason code, words)."""
    g = inp.res[r]
    zone = statics.res_zone[g]
    cost = statics.ship_cost[:, zone]
    sites = np.unique(inp.cand_site[cands])
    cheapest = sites[np.argmin(cost[sites])] if len(sites) else site
    here = f"shipping {money(float(cost[site]))}"
    if cost[site] <= cost[cheapest] + 1e-9:
        return "cheapest_site", f"the cheapest site that can make the event date ({here})"
    name = str(statics.site_ids[cheapest])
    at_cap = [b for b in binding if b["site_id"] == name]
    if at_cap:
        return "cheaper_site_at_capacity", (
            f"the cheaper {name} ({money(float(cost[cheapest]))}) was at capacity ({_binding_text(at_cap[0])})"
        )
    return "cheaper_site_short", (
        f"the cheaper {name} ({money(float(cost[cheapest]))}) had no spare unit of its SKU in time ({here})"
    )


def explain_plan(
    statics: Statics, run: PlanRun, plan: Plan, info: Information, blocked: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per open reservation of tonight's plan (``EXPLANATION_COLUMNS``): what happens to it
    and why, in codes, figures and planner words.

    ``blocked`` (per shipment candidate, "" or a rule's text) defaults to the business rules of the
    run's input (``blocked_by_rules``).
    """
    inp = run.inp
    res = inp.res
    R = len(res)
    if blocked is None:
        blocked = blocked_by_rules(inp)
    filled = plan.projection.filled
    sup: SkuSupply = sku_supply(statics, run, filled, plan.state)
    rows = binding_rows(run)
    rel = _res_rows(run, rows)
    plan_ts = pd.Timestamp(plan.plan_date)

    def when(local: int) -> dt.date:
        return (plan_ts + pd.Timedelta(days=inp.day0 + int(local))).date()

    res_ids = statics.reservations["reservation_id"].to_numpy()
    reason_of = dict(zip(plan.unfilled["reservation_id"], plan.unfilled["reason"], strict=True))
    proj = plan.projection
    order = np.argsort(inp.cand_res, kind="stable")
    bounds = np.searchsorted(inp.cand_res[order], np.arange(R + 1))
    # Filled from a unit out this morning: how likely it is back and clean by its ship day.
    p_ship = np.full(R, np.nan)
    shipped = np.nonzero(filled[res])[0]
    if len(shipped):
        g_s = res[shipped]
        by = proj.res_ship_day[g_s] - statics.clean_days[proj.res_site[g_s]]
        p_ship[shipped] = _p_back(statics, plan, info, proj.res_unit[g_s], by)

    out: dict[str, list[Any]] = {c: [] for c in EXPLANATION_COLUMNS}
    for r in range(R):
        g = int(res[r])
        rid = str(res_ids[g])
        cands = order[bounds[r] : bounds[r + 1]]
        ship_by = when(int(inp.cand_tau[cands].max())) if len(cands) else None
        hit = rel.indices[rel.indptr[r] : rel.indptr[r + 1]]
        binding = [_binding_dict(statics, rows, int(i), when) for i in hit]
        binding.sort(key=lambda b: -(b["price"] or 0.0))
        rule = ""
        if blocked is not None and len(cands):
            texts = sorted({str(t) for t in blocked[cands] if t})
            rule = "; ".join(texts)
            all_blocked = all(bool(t) for t in blocked[cands])
        else:
            all_blocked = False
        k = int(sup.k[r])
        ready: dt.date | None = None
        if k >= 0:
            at = np.nonzero(sup.all_supply[k] >= sup.need[r] - 1e-6)[0]
            ready = when(int(at[0])) if len(at) else None
        is_filled = bool(filled[g])
        site: str | None = None
        ship: dt.date | None = None
        p_back, unit_back, extra = float("nan"), "", ""
        if is_filled:
            site_i = int(proj.res_site[g])
            site = str(statics.site_ids[site_i])
            ship = (plan_ts + pd.Timedelta(days=int(proj.res_ship_day[g]))).date()
            p_back = float(p_ship[r])
            others = [b for b in binding if b["site_id"] != site]
            reason, extra = _shipment_reason(statics, inp, r, site_i, cands, others)
            if ship_by is not None and ship < ship_by:
                early = (ship_by - ship).days
                extra += f"; leaves {early} day(s) before its ship-by day {say_date(ship_by)} to free capacity then"
        else:
            reason = str(reason_of.get(rid, UnfilledReason.OUTRANKED))
            if all_blocked and reason != UnfilledReason.TOO_LATE_TO_SHIP:
                reason = BUSINESS_RULE
            if reason == UnfilledReason.LATE_RETURN_RISK and len(cands):
                p_back, unit_back = _best_p_back(
                    statics,
                    plan,
                    info,
                    int(statics.res_sku[g]),
                    int(inp.day0 + inp.cand_tau[cands].max()),
                    np.unique(inp.cand_site[cands]),
                )
        facts = _Facts(rid, is_filled, site, ship, ship_by, reason, binding, ready, p_back, unit_back, rule)
        text = _text(facts, extra)
        if rule and reason != BUSINESS_RULE:
            text += f" (a business rule blocked some sites: {rule})"
        for col, val in (
            ("reservation_id", rid),
            ("sku_id", str(statics.sku_ids[statics.res_sku[g]])),
            ("filled", is_filled),
            ("site_id", site),
            ("ship_date", pd.Timestamp(ship) if ship is not None else pd.NaT),
            ("ship_by", pd.Timestamp(ship_by) if ship_by is not None else pd.NaT),
            ("reason", reason),
            ("binding", json.dumps(binding)),
            ("ready_date", pd.Timestamp(ready) if ready is not None else pd.NaT),
            ("p_back_in_time", p_back),
            ("rule", rule),
            ("text", text),
        ):
            out[col].append(val)
    frame = pd.DataFrame(out, columns=list(EXPLANATION_COLUMNS))
    for col in ("ship_date", "ship_by", "ready_date"):
        frame[col] = pd.to_datetime(frame[col])
    frame["p_back_in_time"] = frame["p_back_in_time"].astype(float)
    frame["filled"] = frame["filled"].astype(bool)
    return frame


def _binding_dict(statics: Statics, rows: _Rows, i: int, when: Callable[[int], dt.date]) -> dict[str, Any]:
    price = float(rows.price[i])
    return {
        "constraint": str(rows.label[i]),
        "site_id": str(statics.site_ids[rows.site[i]]) if rows.site[i] >= 0 else None,
        "to_site": str(statics.site_ids[rows.to_site[i]]) if rows.to_site[i] >= 0 else None,
        "date": when(int(rows.day[i])).isoformat() if rows.day[i] >= 0 else None,
        "capacity": float(rows.capacity[i]),
        "used": round(float(rows.used[i]), 2),
        "price": None if np.isnan(price) else round(price, 2),
    }


def load_explanations(store: RunStore, job_id: str, plan_id: str) -> pd.DataFrame:
    """The stored explanations of a plan (``plan/explanations.parquet`` of its job)."""
    try:
        return read_parquet(store.get(job_id, EXPLANATIONS_ARTIFACT))
    except MissingArtifact:
        raise NotFoundError(
            f"plan {plan_id} has no explanations: its job has not projected it yet, or it was made before "
            "explanations were stored (run it again)"
        ) from None


def reservation_explanation(frame: pd.DataFrame, plan_id: str, reservation_id: str) -> dict[str, Any]:
    """One reservation's explanation as plain values (dates ISO, binding rows a list)."""
    hit = frame[frame["reservation_id"].astype(str) == reservation_id]
    if hit.empty:
        raise NotFoundError(f"no reservation {reservation_id!r} in plan {plan_id}: it was not open on the plan date")
    row = hit.iloc[0]

    def day(value: Any) -> str | None:
        return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()

    p = float(row["p_back_in_time"])
    return {
        "plan_id": plan_id,
        "reservation_id": str(row["reservation_id"]),
        "sku_id": str(row["sku_id"]),
        "filled": bool(row["filled"]),
        "site_id": None if pd.isna(row["site_id"]) else str(row["site_id"]),
        "ship_date": day(row["ship_date"]),
        "ship_by": day(row["ship_by"]),
        "reason": str(row["reason"]),
        "binding": json.loads(str(row["binding"])),
        "ready_date": day(row["ready_date"]),
        "p_back_in_time": None if np.isnan(p) else p,
        "rule": str(row["rule"]),
        "text": str(row["text"]),
    }
