"""Promotion gates that read evidence gathered elsewhere: a plan's fill rate, and recorded verdicts.

- `FillRateDriftCheck`: the predicted fill rate of a plan against the fill rate the holdout replay
  realized, both from one job's ``report.json`` (docs/report.md): ``plan.projected_fill_rate`` (or
  ``plan.expected_fill_rate``, the LP's own figure) against ``validation.closetflow.fill_rate``. It
  passes iff ``|predicted - realized| <= tolerance`` (default 0.05, five points of fill rate).
  The two are not over the same reservations: the plan's are those known on the plan date, the
  replay's add the holdout's new bookings. That is the point: a plan whose forecasts miss the
  bookings still to come promises a fill rate it cannot deliver, and the gap shows it.
- `RecordedCheck`: the stored verdicts of checks run earlier (e.g. the hold-out, which needs the
  demand table that only the command line reads) must exist and have passed. The HTTP service,
  which holds no demand table, gates a promotion on those verdicts plus what it can check itself.

Both follow `forecasting.checks.Check` (a ``name``, a ``run`` returning a `CheckResult`), so
`forecasting.promotion.run_checks` and `gated_promote` store and log them like the others. They
live here, not in `forecasting.checks`, to keep that module to the checks over demand tables.

Domain code: no printing; a report that cannot feed the check raises `CheckError` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from forecasting.artifacts import utc_now
from forecasting.checks import CheckContext, CheckError, CheckResult, load_result

__all__ = [
    "DEFAULT_FILL_TOLERANCE",
    "PREDICTED_FILL_KEYS",
    "RECORDED_SOURCES",
    "FillRateDriftCheck",
    "RecordedCheck",
    "report_fill_rates",
]

DEFAULT_FILL_TOLERANCE: Final = 0.05
# The plan's figures report.json offers as "predicted": the projection of the plan over the expected
# course of events (whole units; the default) and the LP's expected fill (fractional shipments).
PREDICTED_FILL_KEYS: Final = ("projected_fill_rate", "expected_fill_rate")
# The replayed policy whose realized fill rate the plan is held to: the plan is closetflow's.
REALIZED_POLICY: Final = "closetflow"
# |0.75 - 0.70| is 0.05000000000000004 in floating point: a gap that equals the tolerance in
# decimal must pass, so the comparison forgives this much rounding.
_ROUNDING: Final = 1e-12
# The checks whose stored verdicts `RecordedCheck` requires by default: those over the demand table.
RECORDED_SOURCES: Final = ("holdout", "self_drift")


def _rate(value: Any) -> float | None:
    """A fill rate as a finite float, or None where report.json holds null (not defined)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def report_fill_rates(
    report: Mapping[str, Any], predicted_key: str = PREDICTED_FILL_KEYS[0]
) -> tuple[float | None, float | None]:
    """``(predicted, realized)`` fill rates out of a job's report.json document.

    A null figure (no reservations to fill) comes back as None: the check then fails for want of
    evidence rather than refusing to run.

    Raises:
        CheckError: ``predicted_key`` is not a plan figure, the document is not a report, or the
            job had no holdout to replay (``validation`` absent), so nothing was realized.
    """
    if predicted_key not in PREDICTED_FILL_KEYS:
        raise CheckError(f"{predicted_key!r} is not a predicted fill rate; allowed: {', '.join(PREDICTED_FILL_KEYS)}")
    plan = report.get("plan") if isinstance(report, Mapping) else None
    if not isinstance(plan, Mapping) or predicted_key not in plan:
        raise CheckError(f"the report has no plan.{predicted_key}: is it a job's report.json?")
    validation = report.get("validation")
    if validation is None:
        raise CheckError("the report has no validation: the job's dataset had no holdout, so no fill rate was realized")
    outcome = validation.get(REALIZED_POLICY) if isinstance(validation, Mapping) else None
    if not isinstance(outcome, Mapping) or "fill_rate" not in outcome:
        raise CheckError(f"the report has no validation.{REALIZED_POLICY}.fill_rate")
    return _rate(plan[predicted_key]), _rate(outcome["fill_rate"])


class FillRateDriftCheck:
    """A plan's predicted fill rate must be within ``tolerance`` of the fill rate realized.

    Build it from figures (``predicted``, ``realized``) or from a report (`from_report`); ``run``
    judges them for the context's version. Passes iff ``|predicted - realized| <= tolerance``,
    in absolute fill-rate points (0.05 = five points); a missing figure fails (no evidence).
    """

    name: ClassVar[str] = "fill_rate_drift"

    def __init__(
        self,
        predicted: float | None,
        realized: float | None,
        tolerance: float = DEFAULT_FILL_TOLERANCE,
        *,
        predicted_key: str = PREDICTED_FILL_KEYS[0],
    ) -> None:
        if not tolerance >= 0:
            raise CheckError(f"the fill-rate tolerance must be a fraction >= 0, got {tolerance}")
        self.predicted = predicted
        self.realized = realized
        self.tolerance = tolerance
        self.predicted_key = predicted_key

    @classmethod
    def from_report(
        cls,
        report: Mapping[str, Any],
        tolerance: float = DEFAULT_FILL_TOLERANCE,
        predicted_key: str = PREDICTED_FILL_KEYS[0],
    ) -> FillRateDriftCheck:
        """The check over a job's report.json (`report_fill_rates` says what is read)."""
        predicted, realized = report_fill_rates(report, predicted_key)
        return cls(predicted, realized, tolerance, predicted_key=predicted_key)

    def run(self, ctx: CheckContext) -> CheckResult:
        return self.judge(ctx.version)

    def judge(self, version: str) -> CheckResult:
        """The verdict on this check's figures for ``version``."""
        p, r = self.predicted, self.realized
        gap = None if p is None or r is None else p - r
        values: dict[str, float | None] = {"predicted_fill_rate": p, "realized_fill_rate": r, "gap": gap}
        threshold: dict[str, float | None] = {"tolerance": self.tolerance}
        if gap is None:
            reason = "no fill rate to compare: the plan or its replay had no reservations"
            return CheckResult(self.name, version, False, values, threshold, reason, utc_now())
        assert p is not None and r is not None  # gap is None otherwise
        passed = abs(gap) <= self.tolerance + _ROUNDING
        within = "within" if passed else "outside"
        label = self.predicted_key.removesuffix("_fill_rate")
        reason = (
            f"{label} fill rate {p:.3f} vs realized {r:.3f}: {gap:+.3f}, {within} the ±{self.tolerance:.3f} tolerance"
        )
        return CheckResult(self.name, version, passed, values, threshold, reason, utc_now())


class RecordedCheck:
    """The stored results of the checks ``sources`` for the version must all exist and have passed.

    One result (named ``recorded``) for them all: ``values`` holds 1.0 per source that passed, 0.0
    per one that failed and None per one never run, and the reason quotes each stored reason and
    when it was recorded, so the promotion log shows what the decision rested on.
    """

    name: ClassVar[str] = "recorded"

    def __init__(self, sources: Sequence[str] = RECORDED_SOURCES) -> None:
        if not sources:
            raise CheckError("a recorded check needs at least one check name to read")
        self.sources = tuple(dict.fromkeys(sources))

    def run(self, ctx: CheckContext) -> CheckResult:
        values: dict[str, float | None] = {}
        parts: list[str] = []
        for source in self.sources:
            stored = load_result(ctx.registry, ctx.version, source)
            if stored is None:
                values[source] = None
                parts.append(f"{source} never run on {ctx.version} (run `closetflow models checks` first)")
                continue
            values[source] = 1.0 if stored.passed else 0.0
            verdict = "passed" if stored.passed else "failed"
            parts.append(f"{source} {verdict} ({stored.at}): {stored.reason}")
        passed = all(v == 1.0 for v in values.values())
        return CheckResult(self.name, ctx.version, passed, values, {}, "; ".join(parts), utc_now())
