"""What every step of the main job is given: ids, options, the run store, progress, the memo.

``StepContext`` also reads the dataset and tonight's information once per process (``memo``), so
the steps in ``allocation.jobs.steps`` and ``allocation.jobs.tonight`` share them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocation.data.io import load_world
from allocation.domain import ClosetflowError, World
from allocation.jobs.options import JobOptions
from allocation.jobs.store import RunStore, read_json, read_npz
from allocation.model.business_rules import BusinessRules
from allocation.model.snapshot import Information, RiskPolicy
from allocation.model.solve import RunnerFactory
from allocation.statics import Statics

__all__ = ["Progress", "StepContext", "json_default"]

Progress = Callable[[str, float], None]  # (what is happening, fraction of the step done)


@dataclass
class StepContext:
    """What a step is given: ids, options, the store, a progress callback and the in-process memo."""

    job_id: str
    options: JobOptions
    store: RunStore
    progress: Progress = lambda _msg, _frac: None
    memo: dict[str, Any] = field(default_factory=dict)
    # Who solves a decomposed model's group LPs (None: in this process); the workers set the chord.
    runner_factory: RunnerFactory | None = None

    def put_json(self, name: str, obj: Any) -> None:
        self.store.put(self.job_id, name, json.dumps(obj, default=json_default).encode())

    def get_json(self, name: str) -> Any:
        return read_json(self.store.get(self.job_id, name))

    def world(self) -> World:
        if "world" not in self.memo:
            world = load_world(self.store.dataset_dir(self.options.dataset_id))
            h = self.options.horizon_days
            if h is not None:
                if not 1 <= h <= world.horizon_days:
                    raise ClosetflowError(
                        f"horizon_days {h} is outside the dataset's horizon (1..{world.horizon_days} days)"
                    )
                world = dataclasses.replace(world, horizon_days=h)
            self.memo["world"] = world
        world_: World = self.memo["world"]
        return world_

    def statics(self) -> Statics:
        if "statics" not in self.memo:
            self.memo["statics"] = Statics.from_world(self.world())
        statics: Statics = self.memo["statics"]
        return statics

    def information(self) -> Information:
        """What closetflow knows tonight: the forecast step's arrays, the job's risk policy and its
        business rules (checked against the data: an unknown id fails the job with the rule's words)."""
        arrays = read_npz(self.store.get(self.job_id, "forecasts.npz"))
        rules = BusinessRules.from_json(self.options.rules) if self.options.rules else None
        if rules:
            rules.check(self.statics())
        return Information(
            risk=RiskPolicy.parse(self.options.risk),
            pmf=arrays["pmf"],
            schedule=None,
            demand_total=arrays["demand_total"],
            lead_cdf=arrays["lead_cdf"],
            protect_weight=self.options.protect_weight,
            sku_fail_rate=arrays["cleaning_rates"],
            rules=rules or None,
        )


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
