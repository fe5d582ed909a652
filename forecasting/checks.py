"""Checks that gate promotion: a version becomes champion only once each of them passes.

Each check is a class with a `Check.run` that returns a `CheckResult` (name, passed, the metric
values it compared, the thresholds it compared them with, a reason a planner can read, and when):

- `HoldOutCheck`: the candidate's model and the statistical baselines are refitted on the table
  minus its last ``k`` periods and scored on those ``k`` (a one-window `forecasting.backtest`);
  it passes iff the candidate's error (RMSE by default) is strictly below the best baseline's.
- `SelfDriftCheck`: a metric of this version (by default the hold-out RMSE just stored) against
  the moving average of its last ``n`` values in earlier versions' stored results; it passes iff
  the relative gap is within a tolerance. No earlier value: it passes (nothing to drift from).
- `MetricDriftCheck`: the version's forecast against realized bookings for periods it forecast;
  it passes iff WAPE and |bias| are within their thresholds.

Results are stored as JSON under ``<registry>/checks/<version>/<check>.json``, written beside and
renamed. They live outside ``versions/<version>/`` on purpose: the registry verifies that folder's
file list and hashes, so a file added there would make the version unloadable.

Running them in order and promoting only when all pass is `forecasting.promotion`'s business;
checks over other evidence (a plan's fill rate against the realized one, verdicts recorded
earlier) are in `forecasting.drift`.

Domain code: no printing; a check that cannot run as asked raises `CheckError` saying why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

import pandas as pd

from allocation.domain import ClosetflowError
from forecasting.artifacts import utc_now, write_json_atomic
from forecasting.backtest import BacktestOptions, backtest
from forecasting.metrics import bias, wape
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME, periods_between

__all__ = [
    "LOWER_IS_BETTER",
    "STATISTICAL_BASELINES",
    "Check",
    "CheckContext",
    "CheckError",
    "CheckResult",
    "HoldOutCheck",
    "MetricDriftCheck",
    "SelfDriftCheck",
    "load_result",
    "store_result",
    "stored_results",
]

STATISTICAL_BASELINES: Final = ("seasonal_naive", "autoets", "croston_sba", "historic_average")
# Backtest metrics a hold-out may compare on: errors, where smaller is better. Bias is not one
# (a forecast can be wrong in two directions); MetricDriftCheck bounds its absolute value instead.
LOWER_IS_BETTER: Final = ("rmse", "wape", "wape_total", "mase")
CHECKS_DIR: Final = "checks"


class CheckError(ClosetflowError):
    """A check cannot run as asked (no table, no overlap with realized bookings...); says why."""


@dataclass(frozen=True)
class CheckResult:
    """What one check found for one version.

    ``values`` are the figures compared (None where a figure could not be computed), ``threshold``
    the limit each was held to, ``reason`` one sentence, ``at`` an ISO timestamp (UTC).
    """

    name: str
    version: str
    passed: bool
    values: dict[str, float | None]
    threshold: dict[str, float | None]
    reason: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=str(doc["name"]),
            version=str(doc["version"]),
            passed=bool(doc["passed"]),
            values={str(k): (None if v is None else float(v)) for k, v in doc["values"].items()},
            threshold={str(k): (None if v is None else float(v)) for k, v in doc["threshold"].items()},
            reason=str(doc["reason"]),
            at=str(doc["at"]),
        )


@dataclass(frozen=True)
class CheckContext:
    """What a check may read: the registry, the candidate version, the demand grid and its frequency.

    ``grid`` is a long frame of counts (`forecasting.backtest.demand_series`); None when the caller
    has no table (a check that needs one raises `CheckError`).
    """

    registry: ModelRegistry
    version: str
    grid: pd.DataFrame | None = None
    freq: str = "W"


@runtime_checkable
class Check(Protocol):
    """A promotion gate: a stable ``name`` (its result's file name) and a `run`."""

    name: ClassVar[str]

    def run(self, ctx: CheckContext) -> CheckResult:
        """Evaluate the candidate ``ctx.version``; raise `CheckError` only if the check cannot run."""
        ...


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _result_path(registry: ModelRegistry, version: str, name: str) -> Path:
    return registry.root / CHECKS_DIR / version / f"{name}.json"


def store_result(registry: ModelRegistry, result: CheckResult) -> Path:
    """Write ``result`` to ``<registry>/checks/<version>/<name>.json`` (replacing an earlier run's)."""
    path = _result_path(registry, result.version, result.name)
    write_json_atomic(path, result.to_json())
    return path


def load_result(registry: ModelRegistry, version: str, name: str) -> CheckResult | None:
    """The stored result of check ``name`` for ``version``; None if never run or unreadable."""
    path = _result_path(registry, version, name)
    if not path.is_file():
        return None
    try:
        return CheckResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged result counts as never run: the check is simply run again


def stored_results(registry: ModelRegistry, version: str) -> list[CheckResult]:
    """Every stored result of ``version``, by check name; unreadable files are left out."""
    folder = registry.root / CHECKS_DIR / version
    if not folder.is_dir():
        return []
    found = (load_result(registry, version, p.stem) for p in sorted(folder.glob("*.json")))
    return [r for r in found if r is not None]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


# ---- the checks --------------------------------------------------------------------------------


class HoldOutCheck:
    """The candidate must beat the best statistical baseline on the last ``k`` periods held out.

    The candidate's model (by its registered name) and each baseline are fitted on the grid minus
    its last ``k`` periods and scored on them, all in one `forecasting.backtest.backtest` window, so
    they see exactly the same data. A baseline of the candidate's own kind is left out: a model
    cannot beat itself. Passes iff the candidate's ``metric`` is strictly below every baseline's.
    """

    name: ClassVar[str] = "holdout"

    def __init__(self, k: int = 4, metric: str = "rmse", baselines: Sequence[str] = STATISTICAL_BASELINES) -> None:
        if k < 1:
            raise CheckError(f"the hold-out needs k >= 1 periods, got {k}")
        if metric not in LOWER_IS_BETTER:
            raise CheckError(f"metric {metric!r} cannot rank models; allowed: {', '.join(LOWER_IS_BETTER)}")
        self.k = k
        self.metric = metric
        self.baselines = tuple(baselines)

    def run(self, ctx: CheckContext) -> CheckResult:
        if ctx.grid is None:
            raise CheckError("the hold-out check needs the demand table")
        candidate = ctx.registry.info(ctx.version).model
        others = tuple(b for b in dict.fromkeys(self.baselines) if b != candidate)
        if not others:
            raise CheckError(f"no baseline left to compare {candidate!r} with")
        scored = backtest(
            ctx.grid, BacktestOptions(horizon=self.k, windows=1, freq=ctx.freq, models=(candidate, *others))
        )["models"]
        return self.judge(ctx.version, candidate, {m: scored[m].get(self.metric) for m in (candidate, *others)})

    def judge(self, version: str, candidate: str, scores: Mapping[str, float | None]) -> CheckResult:
        """The verdict on already computed scores (``scores[candidate]`` and one per baseline)."""
        mine = _finite(scores.get(candidate))
        base = {m: _finite(v) for m, v in scores.items() if m != candidate}
        ranked = sorted((v, m) for m, v in base.items() if v is not None)
        # The candidate's figure under the metric's bare name: SelfDriftCheck reads it from there.
        values: dict[str, float | None] = {self.metric: mine}
        values.update({f"{m}_{self.metric}": v for m, v in base.items()})
        best = ranked[0] if ranked else None
        threshold = {self.metric: best[0] if best else None, "holdout_periods": float(self.k)}
        if mine is None or best is None:
            # No number to compare means no evidence the candidate is better: the champion stays.
            passed = False
            reason = f"{self.metric} could not be computed on the last {self.k} periods"
        else:
            passed = mine < best[0]
            verdict = "beats" if passed else "does not beat"
            reason = (
                f"{candidate} {verdict} the best baseline on the last {self.k} periods: "
                f"{self.metric} {_fmt(mine)} vs {best[1]} {_fmt(best[0])}"
            )
        return CheckResult(self.name, version, passed, values, threshold, reason, utc_now())


class SelfDriftCheck:
    """Today's value of a metric must lie within ``tolerance`` of its ``window``-point moving average.

    Today's value is ``metric`` in this version's stored ``source`` result (by default the hold-out
    just run); the history is the same figure in the stored results of the ``window`` latest earlier
    versions that have one. The gap is relative, (today - average) / average. By default only a
    rise counts (the metrics are errors): the history may come from other kinds of model, and a
    gate that also refused a much better model would fight `HoldOutCheck`. ``two_sided=True``
    refuses a sudden drop too, for a history of one model re-scored day by day, where a sharp
    improvement is more often a leak or a changed table than real skill.
    """

    name: ClassVar[str] = "self_drift"

    def __init__(
        self,
        metric: str = "rmse",
        window: int = 7,
        tolerance: float = 0.2,
        source: str = HoldOutCheck.name,
        *,
        two_sided: bool = False,
    ) -> None:
        if window < 1:
            raise CheckError(f"the moving average needs a window >= 1, got {window}")
        if not tolerance >= 0:
            raise CheckError(f"the tolerance must be a fraction >= 0, got {tolerance}")
        self.metric = metric
        self.window = window
        self.tolerance = tolerance
        self.source = source
        self.two_sided = two_sided

    def _value(self, result: CheckResult | None) -> float | None:
        return None if result is None else _finite(result.values.get(self.metric))

    def run(self, ctx: CheckContext) -> CheckResult:
        today = self._value(load_result(ctx.registry, ctx.version, self.source))
        if today is None:
            raise CheckError(f"version {ctx.version} has no stored {self.source} {self.metric}; run that check first")
        versions = ctx.registry.versions()
        earlier = versions[: versions.index(ctx.version)] if ctx.version in versions else versions
        history = [
            v for v in (self._value(load_result(ctx.registry, e, self.source)) for e in earlier) if v is not None
        ]
        return self.judge(ctx.version, today, history)

    def judge(self, version: str, today: float, history: Sequence[float]) -> CheckResult:
        """The verdict for ``today`` against ``history`` (oldest first; the last ``window`` count)."""
        recent = list(history)[-self.window :]
        threshold: dict[str, float | None] = {"tolerance": self.tolerance, "window": float(self.window)}
        if not recent:
            values: dict[str, float | None] = {self.metric: today, "moving_average": None, "relative_gap": None}
            reason = f"no earlier {self.metric} to drift from; {self.metric} {_fmt(today)} accepted"
            return CheckResult(self.name, version, True, values, threshold, reason, utc_now())
        average = sum(recent) / len(recent)
        if average > 0:
            gap = (today - average) / average
        else:  # a history of perfect scores: any error at all is an infinite relative rise
            gap = 0.0 if today == average else math.copysign(math.inf, today - average)
        passed = (abs(gap) if self.two_sided else gap) <= self.tolerance
        values = {self.metric: today, "moving_average": average, "relative_gap": _finite(gap)}
        within = "within" if passed else "outside"
        side = "" if self.two_sided else " (rises only)"
        reason = (
            f"{self.metric} {_fmt(today)} is {gap:+.1%} from its {len(recent)}-point moving average "
            f"{_fmt(average)}, {within} the {self.tolerance:.0%} tolerance{side}"
        )
        return CheckResult(self.name, version, passed, values, threshold, reason, utc_now())


class MetricDriftCheck:
    """The version's forecast against realized bookings: WAPE and |bias| within their thresholds.

    ``realized`` is a long frame of counts (``unique_id``, ``ds``, ``y``) for periods after the
    version's training data. A period of a known series missing from it had no bookings (the
    tables' convention, `forecasting.series`); series the version never saw are left out (cold
    start is another question).
    """

    name: ClassVar[str] = "metric_drift"

    def __init__(self, realized: pd.DataFrame, max_wape: float = 1.0, max_abs_bias: float = 0.3) -> None:
        self.realized = realized
        self.max_wape = max_wape
        self.max_abs_bias = max_abs_bias

    def run(self, ctx: CheckContext) -> CheckResult:
        model = ctx.registry.load(ctx.version)
        first = pd.Timestamp(model.predict(1)[TIME].min())
        real = self.realized[self.realized[TIME] >= first]
        if real.empty:
            raise CheckError(f"no realized bookings on or after {first.date()}, the version's first forecast period")
        last = pd.Timestamp(real[TIME].max())
        horizon = int(periods_between(first, pd.DatetimeIndex([last]), ctx.freq)[0]) + 1
        pred = model.predict(horizon)
        pred = pred[pred[TIME] >= pd.Timestamp(real[TIME].min())]
        actual = real.groupby([ID, TIME], as_index=False)[TARGET].sum()
        rows = pred.merge(actual, on=[ID, TIME], how="left")
        rows[TARGET] = rows[TARGET].fillna(0.0)
        return self.judge(ctx.version, rows[TARGET].to_numpy(), rows["mean"].to_numpy())

    def judge(self, version: str, actual: Any, predicted: Any) -> CheckResult:
        """The verdict on realized counts and forecasts, cell by cell."""
        w, b = _finite(wape(actual, predicted)), _finite(bias(actual, predicted))
        values = {"wape": w, "bias": b}
        threshold: dict[str, float | None] = {"wape": self.max_wape, "abs_bias": self.max_abs_bias}
        if w is None or b is None:
            return CheckResult(
                self.name, version, False, values, threshold, "no realized bookings to compare", utc_now()
            )
        problems = []
        if w > self.max_wape:
            problems.append(f"WAPE {_fmt(w)} above {_fmt(self.max_wape)}")
        if abs(b) > self.max_abs_bias:
            problems.append(f"bias {b:+.1%} beyond ±{self.max_abs_bias:.0%}")
        reason = (
            "; ".join(problems)
            if problems
            else f"WAPE {_fmt(w)} and bias {b:+.1%} within {_fmt(self.max_wape)} and ±{self.max_abs_bias:.0%}"
        )
        return CheckResult(self.name, version, not problems, values, threshold, reason, utc_now())
