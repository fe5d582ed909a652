"""All configuration in one place: defaults, overridable by ``CLOSETFLOW_*`` environment variables.

Command-line options override these per run. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PROJECT_ROOT", "Settings", "get_settings", "real_data_dir"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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


def real_data_dir() -> Path:
    """The real public data folder: ``$CLOSETFLOW_REAL_DATA``, else ``../shared/data``.

    A relative setting is taken from the project root, not the working directory. Read afresh on
    each call (no cache) so a changed environment is seen.
    """
    path = Settings().real_data
    return path if path.is_absolute() else PROJECT_ROOT / path
