"""Writing a run's outputs: report.json, report.html and the plan's Parquet files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from allocation.jobs.pipeline import JobResult

__all__ = ["write_outputs"]


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
    os.replace(tmp, path)


def _figures(job: JobResult) -> list[go.Figure]:
    figs: list[go.Figure] = []
    rep = job.report
    val = rep.get("validation")
    if isinstance(val, dict):
        fig = go.Figure()
        days = list(range(job.world.horizon_days))
        for name, series in val["fill_by_event_day"].items():
            fig.add_scatter(x=days, y=series, mode="lines+markers", name=name)
        fig.update_layout(
            title="Realized fill rate per event day (holdout replay)",
            xaxis_title="day of horizon",
            yaxis_title="fill rate",
            yaxis_range=[0, 1.05],
        )
        figs.append(fig)
        cf = job.validation.outcomes["closetflow"].replay if job.validation else None
        if cf is not None:
            sched = job.validation.schedule if job.validation else None
            kinds = [
                ("cleaning", cf.clean_used, sched.clean_cap if sched else None),
                ("shipping", cf.ship_used, sched.ship_cap if sched else None),
                ("warehouse", cf.pick_used, sched.pick_cap if sched else None),
            ]
            sub = make_subplots(rows=1, cols=3, subplot_titles=[k for k, _, _ in kinds])
            for i, (_, used, cap) in enumerate(kinds, start=1):
                util = used / np.maximum(cap, 1) if cap is not None else used
                sub.add_heatmap(
                    z=util,
                    x=days,
                    y=[str(s) for s in job.statics.site_ids],
                    zmin=0,
                    zmax=1,
                    colorscale="Viridis",
                    showscale=i == 3,
                    row=1,
                    col=i,
                )
            sub.update_layout(title="closetflow: capacity use per station-day (used / realized capacity)")
            figs.append(sub)
    daily = job.forecasts.daily
    if daily is not None:
        fig = go.Figure()
        fig.add_bar(x=daily.index.tolist(), y=daily["actual"].tolist(), name="actual new bookings")
        fig.add_scatter(
            x=daily.index.tolist(), y=daily["forecast"].tolist(), name="forecast (not yet booked)", mode="lines+markers"
        )
        fig.update_layout(
            title="Demand not yet booked on the plan date: forecast against actual, per event day",
            xaxis_title="day of horizon",
            yaxis_title="reservations",
        )
        figs.append(fig)
    return figs


def _html(job: JobResult) -> str:
    rep = job.report
    rows = []
    val = rep.get("validation")
    if isinstance(val, dict):
        for name in ("greedy", "closetflow", "hindsight"):
            o = val[name]
            rows.append(
                f"<tr><td>{name}</td><td>{o['fill_rate']:.3f}</td><td>{o['value']:,.0f}</td>"
                f"<td>{o['cost']:,.0f}</td><td>{o['capacity_overflow']}</td></tr>"
            )
    gap = val.get("gap_captured") if isinstance(val, dict) else None
    table = (
        "<table border=1 cellpadding=4><tr><th>policy</th><th>fill rate</th><th>value $</th>"
        "<th>cost $</th><th>capacity overflow</th></tr>" + "".join(rows) + "</table>"
    )
    parts = [
        f"<h1>closetflow run — {rep['scale']} world, plan date {rep['plan_date']}</h1>",
        table,
        f"<p>gap captured (value): {gap if gap is None else round(gap, 3)}</p>",
        f"<pre>{json.dumps(_clean(rep['plan']), indent=1)}</pre>",
    ]
    for i, fig in enumerate(_figures(job)):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>closetflow report</title></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )


def write_outputs(job: JobResult, out: Path) -> dict[str, Path]:
    """Write report.json, report.html and plan/*.parquet under ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    plan_dir = out / "plan"
    plan_dir.mkdir(exist_ok=True)
    plan = job.plan
    paths: dict[str, Path] = {}
    for name, frame in (
        ("ships", plan.ships),
        ("cleaning", plan.cleaning),
        ("transfers", plan.transfers),
        ("held_back", plan.held_back),
        ("unfilled", plan.unfilled),
    ):
        p = plan_dir / f"{name}.parquet"
        frame.to_parquet(p, index=False)
        paths[name] = p
    paths["report.json"] = out / "report.json"
    _atomic_write(paths["report.json"], json.dumps(_clean(job.report), indent=2))
    paths["report.html"] = out / "report.html"
    _atomic_write(paths["report.html"], _html(job))
    return paths
