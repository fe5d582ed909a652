"""Which demand model the nightly job serves, and why: a model by name, or the registry's choice.

``serve_job_demand("serving", registry, ...)`` asks `forecasting.registry.ModelRegistry.load_serving`
for the model a restarted process serves — the champion, else the previous version, else the
``linear`` baseline, else the category average — and records the choice in the registry's serving
log. A registered version says *which model and settings* passed the gates; the job refits that
kind of model on tonight's history (a time-series model's fitted state is tied to its last day),
and if the refit fails it serves the baseline and says so. Any other name (``linear``, ``neural``,
``autoets``...) serves that model directly, with no registry involved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from forecasting.base import FORECASTERS, Forecaster, make_forecaster
from forecasting.fallback import CategoryAverageForecaster
from forecasting.job_demand import JobDemand
from forecasting.registry import ModelRegistry

__all__ = ["BASELINE", "SERVING", "DemandServing", "demand_model_choices", "serve_job_demand"]

SERVING: Final = "serving"  # the choice that asks the registry
BASELINE: Final = "linear"  # the fallback every other model stands on
FREQ: Final = "D"  # the job forecasts event days


@dataclass(frozen=True)
class DemandServing:
    """The fitted demand model the job uses, where it came from and why."""

    demand: JobDemand
    source: str  # "option", "champion", "previous", "baseline" or "category_average"
    version: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"model": self.demand.model_name, "source": self.source, "version": self.version, "reason": self.reason}


def demand_model_choices() -> tuple[str, ...]:
    """What a job's ``demand_model`` may be: the registry's choice or any registered model's name."""
    return (SERVING, *FORECASTERS)


def serve_job_demand(
    choice: str,
    registry: ModelRegistry | None,
    fit: Callable[[Forecaster], JobDemand],
    categories: Mapping[str, str],
) -> DemandServing:
    """Fit the demand model ``choice`` names through ``fit`` (module docstring).

    ``categories`` maps SKU ids to categories for the category-average fallback. With ``serving``
    and no registry folder the baseline serves.

    Raises:
        ValueError: ``choice`` is neither ``serving`` nor a known model.
    """
    if choice != SERVING:
        if choice not in FORECASTERS:
            raise ValueError(f"no demand model {choice!r}; choose one of {', '.join(demand_model_choices())}")
        return DemandServing(fit(make_forecaster(choice, FREQ)), "option", None, f"{choice}, as the job's options ask")
    if registry is None:
        return DemandServing(fit(make_forecaster(BASELINE, FREQ)), "baseline", None, "no model registry: baseline")

    fitted: dict[str, JobDemand] = {}

    def fitting(make: Callable[[], Forecaster]) -> Callable[[], Forecaster]:
        def factory() -> Forecaster:
            fitted["demand"] = fit(make())
            return fitted["demand"].forecaster

        return factory

    serving = registry.load_serving(
        baseline=fitting(lambda: make_forecaster(BASELINE, FREQ)),
        category_average=fitting(lambda: CategoryAverageForecaster(FREQ, categories)),
    )
    if "demand" in fitted:  # a fallback served: it was fitted on tonight's history already
        return DemandServing(fitted["demand"], serving.source, None, serving.reason)
    kind = serving.forecaster.name
    try:
        demand = fit(make_forecaster(kind, FREQ))
    except Exception as exc:  # a model that cannot refit tonight must not stop the plan
        why = " ".join(str(exc).split()) or type(exc).__name__
        reason = f"{serving.reason}; refitting {kind} on tonight's history failed ({why}): baseline"
        return DemandServing(fit(make_forecaster(BASELINE, FREQ)), "baseline", None, reason)
    reason = f"{serving.reason}; {kind} refitted on tonight's history"
    return DemandServing(demand, serving.source, serving.version, reason)
