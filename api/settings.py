"""All configuration in one place: defaults, overridable by ``CLOSETFLOW_*`` environment variables.

Command-line options override these per run. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """closetflow settings (env prefix ``CLOSETFLOW_``)."""

    model_config = SettingsConfigDict(env_prefix="CLOSETFLOW_", extra="ignore")

    artifacts_dir: Path = Field(Path("var"), description="where runs write their outputs")
    solver: str = Field("highs", description="default solver backend (see `closetflow solvers`)")
    time_limit_s: float = Field(120.0, gt=0, description="time limit of one solve, seconds")
    risk_policy: str = Field("expected", description="'expected' or 'quantile:<a>'")
    replan_every: int = Field(1, ge=1, description="days between closetflow's re-plans in validation")
    protect_weight: float = Field(0.5, ge=0, le=1, description="value share of protecting a unit for forecast demand")
    real_data: Path = Field(Path("../shared/data"), description="folder of the real public data (calibration, tests)")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
