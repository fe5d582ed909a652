"""What-ifs: tonight's model re-solved with one or more changes, and compared with its base plan.

A ``WhatIf`` (JSON-safe, parsed from the command line's words) holds capacity changes per site
(cleaning or shipping, relative ``+10%`` or absolute ``+50`` units a day), sites down for a span of
days (nothing cleaned, picked or shipped there), and demand surges per SKU category. Each change
is one named function on the planning inputs: capacities on ``PlanningInput``, demand on
``Information``. The job runs a what-if through its ordinary steps (``allocation.jobs.steps``): the
solve step builds its input with ``whatif_input``, the project step projects it under the changed
capacities and stores the comparison with the base plan (``compare``), which reuses the plan's own
KPIs (``allocation.plan.project_plan``). A what-if job starts from the base job's stored forecasts
(``seed_whatif_job``): nothing is refitted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from allocation.domain import ClosetflowError, World
from allocation.jobs.store import RunStore
from allocation.model.snapshot import Information, PlanningInput, planning_input
from allocation.model.solve import solve_input  # re-exported: what a what-if's input is solved with
from allocation.plan import Plan
from allocation.state import ExecState
from allocation.statics import Statics

__all__ = [
    "CapacityChange",
    "DemandSurge",
    "SiteDown",
    "WhatIf",
    "WhatIfError",
    "change_cleaning_capacity",
    "change_shipping_capacity",
    "compare",
    "plan_figures",
    "seed_whatif_job",
    "solve_input",
    "surge_demand",
    "take_site_down",
    "whatif_input",
]

# What a what-if job copies from its base job instead of running the step again.
BASE_ARTIFACT = "whatif_base.json"  # {"job_id", "plan_id"} of the plan a what-if job compares with
COMPARISON_ARTIFACT = "whatif.json"  # the comparison the what-if job's project step stores
SEEDED_ARTIFACTS = ("check.json", "forecasts.npz", "forecast_scores.json", "forecast_daily.parquet")

_CHANGE = re.compile(r"^(?P<key>[^:@\s]+):(?P<sign>[+-])(?P<num>\d+(?:\.\d+)?)(?P<pct>%?)$")
_DOWN = re.compile(r"^(?P<site>[^:@\s]+)@(?P<start>\d{4}-\d{2}-\d{2})(?:\.\.(?P<end>\d{4}-\d{2}-\d{2}))?$")


class WhatIfError(ClosetflowError):
    """A what-if the planner wrote that cannot be applied: the message says what to write instead."""


@dataclass(frozen=True)
class CapacityChange:
    """A site's capacity per day changed by a share (``relative``: 0.1 is +10%) or by units."""

    site_id: str
    amount: float
    relative: bool

    @classmethod
    def parse(cls, text: str, flag: str) -> CapacityChange:
        m = _CHANGE.match(text.strip())
        if m is None:
            raise WhatIfError(f"{flag} {text!r} is not SITE:+10% (a share) or SITE:+50 (units a day)")
        amount = float(m["num"]) * (-1.0 if m["sign"] == "-" else 1.0)
        if m["pct"]:
            return cls(m["key"], amount / 100.0, True)
        return cls(m["key"], amount, False)

    def apply(self, cap: np.ndarray) -> np.ndarray:
        """The changed capacity (never below zero)."""
        new = cap * (1.0 + self.amount) if self.relative else cap + self.amount
        return np.maximum(new, 0.0)

    def __str__(self) -> str:
        if self.relative:
            return f"{self.site_id}:{self.amount * 100:+g}%"
        return f"{self.site_id}:{self.amount:+g}"


@dataclass(frozen=True)
class SiteDown:
    """A site that cleans, picks and ships nothing from ``start`` to ``end`` (inclusive)."""

    site_id: str
    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, text: str) -> SiteDown:
        m = _DOWN.match(text.strip())
        if m is None:
            raise WhatIfError(f"--site-down {text!r} is not SITE@YYYY-MM-DD or SITE@YYYY-MM-DD..YYYY-MM-DD")
        try:
            start = dt.date.fromisoformat(m["start"])
            end = dt.date.fromisoformat(m["end"]) if m["end"] else start
        except ValueError:
            raise WhatIfError(f"--site-down {text!r} names a day that does not exist") from None
        if end < start:
            raise WhatIfError(f"--site-down {text!r} ends before it starts")
        return cls(m["site"], start, end)

    def __str__(self) -> str:
        return f"{self.site_id}@{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True)
class DemandSurge:
    """Expected demand of a SKU category scaled by ``1 + share`` (share 0.3 is +30%)."""

    category: str
    share: float

    @classmethod
    def parse(cls, text: str) -> DemandSurge:
        m = _CHANGE.match(text.strip())
        if m is None or not m["pct"]:
            raise WhatIfError(f"--demand-surge {text!r} is not CATEGORY:+30% (a share of expected demand)")
        share = float(m["num"]) / 100.0 * (-1.0 if m["sign"] == "-" else 1.0)
        if share < -1.0:
            raise WhatIfError(f"--demand-surge {text!r} takes away more than all of the demand")
        return cls(m["key"], share)

    def __str__(self) -> str:
        return f"{self.category}:{self.share * 100:+g}%"


@dataclass(frozen=True)
class WhatIf:
    """The changes of one what-if (any number of each kind; at least one in all)."""

    cleaning: tuple[CapacityChange, ...] = ()
    shipping: tuple[CapacityChange, ...] = ()
    site_down: tuple[SiteDown, ...] = ()
    surge: tuple[DemandSurge, ...] = ()

    @classmethod
    def parse(
        cls,
        *,
        cleaning: list[str] | tuple[str, ...] = (),
        shipping: list[str] | tuple[str, ...] = (),
        site_down: list[str] | tuple[str, ...] = (),
        surge: list[str] | tuple[str, ...] = (),
    ) -> WhatIf:
        """From the command line's words (``--cleaning-capacity SITE:+10%`` ...)."""
        w = cls(
            tuple(CapacityChange.parse(t, "--cleaning-capacity") for t in cleaning),
            tuple(CapacityChange.parse(t, "--shipping-capacity") for t in shipping),
            tuple(SiteDown.parse(t) for t in site_down),
            tuple(DemandSurge.parse(t) for t in surge),
        )
        if w.empty:
            raise WhatIfError(
                "a what-if needs at least one change: --cleaning-capacity, --shipping-capacity, "
                "--site-down or --demand-surge"
            )
        return w

    @property
    def empty(self) -> bool:
        return not (self.cleaning or self.shipping or self.site_down or self.surge)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "cleaning_capacity": [str(c) for c in self.cleaning],
            "shipping_capacity": [str(c) for c in self.shipping],
            "site_down": [str(d) for d in self.site_down],
            "demand_surge": [str(s) for s in self.surge],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WhatIf:
        """The inverse of ``to_json``; unknown keys or malformed changes are a ``WhatIfError``."""
        known = {"cleaning_capacity", "shipping_capacity", "site_down", "demand_surge"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WhatIfError(f"unknown what-if change(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        lists: dict[str, list[str]] = {}
        for key in known:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise WhatIfError(f"what-if {key} must be a list of strings such as 'SITE:+10%'")
            lists[key] = value
        return cls.parse(
            cleaning=lists["cleaning_capacity"],
            shipping=lists["shipping_capacity"],
            site_down=lists["site_down"],
            surge=lists["demand_surge"],
        )

    def describe(self) -> list[str]:
        """The changes in a planner's words, one line each."""
        lines = [f"cleaning capacity at {c.site_id} {_amount(c)}" for c in self.cleaning]
        lines += [f"shipping capacity at {c.site_id} {_amount(c)}" for c in self.shipping]
        lines += [f"{d.site_id} down from {d.start} to {d.end}" for d in self.site_down]
        lines += [f"demand for {s.category} {s.share * 100:+g}%" for s in self.surge]
        return lines

    def check(self, world: World) -> None:
        """Every site and category named exists, every site-down overlaps the plan's horizon."""
        sites = set(world.sites["site_id"].astype(str))
        for name in [c.site_id for c in (*self.cleaning, *self.shipping)] + [d.site_id for d in self.site_down]:
            if name not in sites:
                raise WhatIfError(f"no site {name!r} in the data; sites: {', '.join(sorted(sites))}")
        cats = set(world.skus["category"].astype(str))
        for s in self.surge:
            if s.category not in cats:
                raise WhatIfError(f"no SKU category {s.category!r} in the data; categories: {', '.join(sorted(cats))}")
        last = world.plan_date + dt.timedelta(days=world.horizon_days - 1)
        for d in self.site_down:
            if d.end < world.plan_date or d.start > last:
                raise WhatIfError(f"--site-down {d} is outside the plan's horizon ({world.plan_date} to {last})")


def _amount(c: CapacityChange) -> str:
    return f"{c.amount * 100:+g}%" if c.relative else f"{c.amount:+g} units a day"


def _site(statics: Statics, site_id: str) -> int:
    return int(np.flatnonzero(statics.site_ids.astype(str) == site_id)[0])


def change_cleaning_capacity(inp: PlanningInput, statics: Statics, change: CapacityChange) -> None:
    """A site's cleaning capacity on every day of the plan, changed (never below zero)."""
    s = _site(statics, change.site_id)
    inp.clean_cap[s] = change.apply(inp.clean_cap[s])


def change_shipping_capacity(inp: PlanningInput, statics: Statics, change: CapacityChange) -> None:
    """A site's shipping capacity on every day of the plan, changed (never below zero)."""
    s = _site(statics, change.site_id)
    inp.ship_cap[s] = change.apply(inp.ship_cap[s])


def take_site_down(inp: PlanningInput, statics: Statics, down: SiteDown, plan_date: dt.date) -> None:
    """No cleaning, picking or shipping at a site on the days it is down (units there wait)."""
    s = _site(statics, down.site_id)
    first = (down.start - plan_date).days - inp.day0
    last = (down.end - plan_date).days - inp.day0
    lo, hi = max(first, 0), min(last, inp.T - 1)
    if lo <= hi:
        for cap in (inp.clean_cap, inp.ship_cap, inp.pick_cap):
            cap[s, lo : hi + 1] = 0.0


def surge_demand(info: Information, world: World, statics: Statics, surge: DemandSurge) -> Information:
    """Expected demand of the category's SKUs scaled by ``1 + share`` (what held-back units protect)."""
    if info.demand_total is None:
        return info
    category = world.skus.set_index(world.skus["sku_id"].astype(str))["category"].astype(str)
    mine = category.reindex(statics.sku_ids.astype(str)).to_numpy() == surge.category
    demand = info.demand_total.copy()
    demand[mine] *= 1.0 + surge.share
    return dataclasses.replace(info, demand_total=demand)


def whatif_input(
    world: World, statics: Statics, state: ExecState, info: Information, whatif: WhatIf
) -> tuple[PlanningInput, Information]:
    """Tonight's planning input with every change of ``whatif`` applied, and the information it used."""
    whatif.check(world)
    for surge in whatif.surge:
        info = surge_demand(info, world, statics, surge)
    inp = planning_input(statics, state, 0, info)
    for change in whatif.cleaning:
        change_cleaning_capacity(inp, statics, change)
    for change in whatif.shipping:
        change_shipping_capacity(inp, statics, change)
    for down in whatif.site_down:
        take_site_down(inp, statics, down, world.plan_date)
    return inp, info


def _number(kpis: dict[str, object], key: str) -> float | None:
    value = kpis.get(key)
    return None if value is None else float(cast(float, value))


def plan_figures(plan: Plan) -> dict[str, Any]:
    """The figures a what-if compares, from the plan's own KPIs."""
    k = plan.kpis
    return {
        "reservations": int(cast(int, k["reservations"])),
        "filled": int(cast(int, k["filled"])),
        "fill_rate": _number(k, "projected_fill_rate"),
        "value": _number(k, "planned_value"),
        "cost": (_number(k, "shipping_cost") or 0.0) + (_number(k, "transfer_cost") or 0.0),
        "objective": _number(k, "objective"),
    }


def compare(statics: Statics, base: Plan, after: Plan, whatif: WhatIf, base_plan_id: str) -> dict[str, Any]:
    """Before and after: fill rate, value (filled value - shipping - transfers), shipping + transfer
    cost, tonight's LP objective, and which reservations the change fills or loses."""
    before, now = plan_figures(base), plan_figures(after)
    delta = {
        key: (None if before[key] is None or now[key] is None else now[key] - before[key])
        for key in ("filled", "fill_rate", "value", "cost", "objective")
    }
    res = np.union1d(base.run.inp.res, after.run.inp.res)
    ids = statics.reservations["reservation_id"].to_numpy()[res].astype(str)
    was = base.projection.filled[res]
    now_filled = after.projection.filled[res]
    return {
        "base_plan": base_plan_id,
        "whatif": whatif.to_json(),
        "changes": whatif.describe(),
        "before": before,
        "after": now,
        "delta": delta,
        "gained": sorted(ids[now_filled & ~was].tolist()),
        "lost": sorted(ids[was & ~now_filled].tolist()),
    }


def seed_whatif_job(store: RunStore, base_job_id: str, base_plan_id: str, job_id: str) -> None:
    """Copy the base job's checked-data summary and forecasts into a new what-if job, so its check
    and forecast steps find their markers and are skipped (a what-if never refits a forecast), and
    say which job and plan it compares with (``BASE_ARTIFACT``)."""
    if not store.has(base_job_id, "plan.json"):
        raise WhatIfError(f"plan {base_plan_id} is not finished yet: a what-if starts from a projected plan")
    for name in SEEDED_ARTIFACTS:
        if store.has(base_job_id, name):
            store.put(job_id, name, store.get(base_job_id, name))
    store.put(job_id, BASE_ARTIFACT, json.dumps({"job_id": base_job_id, "plan_id": base_plan_id}).encode())
