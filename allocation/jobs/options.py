"""A job's options, as stored with the job and handed to every step (JSON-safe)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from allocation.model.snapshot import PROTECT_WEIGHT
from solvers.base import SolveOptions

__all__ = ["JobOptions"]


@dataclass(frozen=True)
class JobOptions:
    """A job's options as stored with it (JSON-safe). Validated by ``api.settings`` before a job is made."""

    dataset_id: str
    # "auto": HiGHS on the whole LP while it is small enough, the decomposition beyond (solvers.decompose).
    solver: str = "auto"
    time_limit_s: float = 120.0
    risk: str = "expected"
    replan_every: int = 1
    protect_weight: float = PROTECT_WEIGHT
    horizon_days: int | None = None  # None: the dataset's horizon
    validate: bool = True  # replay the holdout when the dataset has one
    scale: str = "custom"  # for the report only (a simulated world says its own)
    seed: int | None = None
    # The demand model: a registered model's name, or "serving" for the registry's choice
    # (champion, previous, baseline, category average) at models_dir. See forecasting.job_serving.
    demand_model: str = "linear"
    models_dir: str | None = None
    # Business rules (allocation.model.business_rules.BusinessRules.to_json); None: no rules.
    rules: dict[str, Any] | None = None
    # What-if scenario and the plan it starts from (allocation/whatif*.py); unused by the main job.
    whatif: dict[str, Any] | None = None
    base_plan: str | None = None
    # Start the decomposition from the previous plan's capacity prices when the job has them
    # (allocation.jobs.steps.seed_previous); and the dollars a changed communicated shipment costs
    # in the objective (allocation.model.stability; 0: the previous plan binds nothing).
    warm_start: bool = True
    stability_penalty: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def solve_options(self) -> SolveOptions:
        return SolveOptions(backend=self.solver, time_limit_s=self.time_limit_s)
