"""The report of a job: report.json (docs/report.md) assembled from the steps' stored outputs, and
report.html drawn from it. Plain dicts and arrays in, so the publish step can run on any worker."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from allocation.domain import World
from allocation.jobs.options import JobOptions
from allocation.model.business_rules import BusinessRules, describe

__all__ = ["ReportExtras", "build_report", "clean_json", "render_html"]

POLICIES = ("greedy", "rules", "closetflow", "hindsight")


def clean_json(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def build_report(
    *,
    options: JobOptions,
    world: World,
    solver: dict[str, Any],
    plan_kpis: dict[str, Any],
    forecast_scores: dict[str, Any],
    validation: dict[str, Any] | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The report.json document (see docs/report.md)."""
    seed = world.meta.get("seed", options.seed if options.seed is not None else 0)
    report: dict[str, Any] = {
        "scale": str(world.meta.get("scale", options.scale)),
        "seed": int(seed),  # type: ignore[call-overload]
        "plan_date": world.plan_date.isoformat(),
        "horizon_days": world.horizon_days,
        "risk_policy": options.risk,
        "solver": {k: v for k, v in solver.items() if k != "message"},
        "plan": plan_kpis,
        "forecasts": forecast_scores,
        "timings": {k: round(float(v), 3) for k, v in timings.items()},
        "business_rules": business_rules_section(options),
    }
    if validation is not None:
        report["validation"] = validation
    cleaned: dict[str, Any] = clean_json(report)
    return cleaned


def business_rules_section(options: JobOptions) -> list[dict[str, str]]:
    """The job's active business rules: each rule's text and what it means (empty: none)."""
    rules = BusinessRules.from_json(options.rules) if options.rules else BusinessRules()
    return [{"rule": t, "meaning": m} for t, m in zip(rules.texts(), describe(rules), strict=True)]


@dataclass
class ReportExtras:
    """What the charts need beyond report.json: site names, capacity use, forecast against actual."""

    site_ids: list[str]
    capacity: dict[str, np.ndarray] | None  # clean/ship/pick _used and _cap, (sites, days)
    daily: pd.DataFrame | None  # day, forecast, actual


def _figures(report: dict[str, Any], extras: ReportExtras) -> list[go.Figure]:
    figs: list[go.Figure] = []
    val = report.get("validation")
    days = list(range(int(report["horizon_days"])))
    if isinstance(val, dict):
        fig = go.Figure()
        for name, series in val["fill_by_event_day"].items():
            fig.add_scatter(x=days, y=series, mode="lines+markers", name=name)
        fig.update_layout(
            title="Realized fill rate per event day (holdout replay)",
            xaxis_title="day of horizon",
            yaxis_title="fill rate",
            yaxis_range=[0, 1.05],
        )
        figs.append(fig)
    cap = extras.capacity
    if cap is not None:
        kinds = [("cleaning", "clean"), ("shipping", "ship"), ("warehouse", "pick")]
        sub = make_subplots(rows=1, cols=3, subplot_titles=[k for k, _ in kinds])
        for i, (_, key) in enumerate(kinds, start=1):
            util = cap[f"{key}_used"] / np.maximum(cap[f"{key}_cap"], 1)
            sub.add_heatmap(
                z=util, x=days, y=extras.site_ids, zmin=0, zmax=1, colorscale="Viridis", showscale=i == 3, row=1, col=i
            )
        sub.update_layout(title="closetflow: capacity use per station-day (used / realized capacity)")
        figs.append(sub)
    daily = extras.daily
    if daily is not None:
        fig = go.Figure()
        fig.add_bar(x=daily["day"].tolist(), y=daily["actual"].tolist(), name="actual new bookings")
        fig.add_scatter(
            x=daily["day"].tolist(),
            y=daily["forecast"].tolist(),
            name="forecast (not yet booked)",
            mode="lines+markers",
        )
        fig.update_layout(
            title="Demand not yet booked on the plan date: forecast against actual, per event day",
            xaxis_title="day of horizon",
            yaxis_title="reservations",
        )
        figs.append(fig)
    return figs


def render_html(report: dict[str, Any], extras: ReportExtras) -> str:
    """report.html: the policy table, tonight's plan KPIs and the charts (self-contained, offline)."""
    rows = []
    val = report.get("validation")
    if isinstance(val, dict):
        for name in POLICIES:
            if name not in val:  # a report stored before the rules planner was added
                continue
            o = val[name]
            rows.append(
                f"<tr><td>{name}</td><td>{o['fill_rate']:.3f}</td><td>{o['value']:,.0f}</td>"
                f"<td>{o['cost']:,.0f}</td><td>{o['capacity_overflow']}</td></tr>"
            )
        bound = val.get("lp_bound")
        if isinstance(bound, dict) and bound.get("value") is not None:
            # Not a policy: the perfect-information LP no policy can beat, on the same value scale.
            rows.append(
                f"<tr><td>LP bound ({bound['status']}, {bound['seconds']:.1f} s)</td><td>—</td>"
                f"<td>{bound['value']:,.0f}</td><td>—</td><td>—</td></tr>"
            )
    gap = val.get("gap_captured") if isinstance(val, dict) else None
    gap_rules = val.get("gap_captured_vs_rules") if isinstance(val, dict) else None
    to_bound = val.get("hindsight_vs_lp_bound") if isinstance(val, dict) else None
    table = (
        "<table border=1 cellpadding=4><tr><th>policy</th><th>fill rate</th><th>value $</th>"
        "<th>cost $</th><th>capacity overflow</th></tr>" + "".join(rows) + "</table>"
    )
    parts = [
        f"<h1>closetflow run — {report['scale']} world, plan date {report['plan_date']}</h1>",
        table,
        f"<p>gap captured (value) against rules: {gap_rules if gap_rules is None else round(gap_rules, 3)}; "
        f"against greedy (the floor): {gap if gap is None else round(gap, 3)}; "
        f"hindsight / LP bound: {to_bound if to_bound is None else round(to_bound, 3)}</p>",
        f"<pre>{json.dumps(clean_json(report['plan']), indent=1)}</pre>",
    ]
    rules = report.get("business_rules") or []
    if rules:
        items = "".join(f"<li>{html.escape(r['meaning'])}</li>" for r in rules)
        parts.insert(2, f"<h2>Business rules</h2><ul>{items}</ul>")
    for i, fig in enumerate(_figures(report, extras)):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>closetflow report</title></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )
