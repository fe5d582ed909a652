"""All configuration in one place: defaults, overridable by ``CLOSETFLOW_*`` environment variables.

`Settings` declares every option once: its type, default, bounds and allowed values. Command-line
options override the environment per run through the same model (`resolve`), so a value is
checked the same way wherever it comes from, and a bad one becomes a `SettingsError` whose text is
the one line to show the user. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Final, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from allocation.data.io import FORMATS
from allocation.domain import ClosetflowError
from allocation.model.snapshot import PROTECT_WEIGHT, RiskPolicy
from allocation.simulate.scales import SCALES
from forecasting.job_serving import demand_model_choices
from solvers.base import INTEGER_ONLY_BACKENDS, lp_backends

__all__ = [
    "ENV_PREFIX",
    "PROJECT_ROOT",
    "Settings",
    "SettingsError",
    "allowed",
    "dw_scratch_dir",
    "env_var",
    "get_settings",
    "help_for",
    "log_dir",
    "lp_backends",
    "models_dir",
    "real_data_dir",
    "resolve",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX: Final = "CLOSETFLOW_"

# Where the decomposition's group LPs are solved (``workers.dw``): in the solving process, or fanned
# out to the Celery workers as a chord.
DW_WORKERS: Final = ("local", "celery")
# Options whose value must be one of a list; the validator and the help text both read this table.
_CHOICES: Final[dict[str, Callable[[], Sequence[str]]]] = {
    "solver": lp_backends,
    "scale": lambda: tuple(SCALES),
    "format": lambda: FORMATS,
    "demand_model": demand_model_choices,
    "dw_workers": lambda: DW_WORKERS,
}
# Options whose allowed values a parser decides; in words for the user (RiskPolicy.parse judges).
_ALLOWED_TEXT: Final[dict[str, str]] = {
    "risk_policy": "expected, or quantile:<a> with 0 < a < 1",
}


class SettingsError(ValueError):
    """One or more option values are not allowed; ``str(err)`` is one line naming each."""


class Settings(BaseSettings):
    """closetflow settings (env prefix ``CLOSETFLOW_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    artifacts_dir: Path = Field(Path("var"), description="where runs write their outputs and logs")
    solver: str = Field(
        "auto", description="solver backend of the LP (auto: HiGHS on the whole LP while small, decomposition beyond)"
    )
    # allow_inf_nan=False: 'inf' would pass gt=0 and reach the solvers as an endless limit.
    time_limit_s: float = Field(120.0, gt=0, allow_inf_nan=False, description="seconds per solve")
    risk_policy: str = Field("expected", description="how uncertain returns count in the plan")
    replan_every: int = Field(1, ge=1, description="days between closetflow's re-plans in validation")
    protect_weight: float = Field(
        PROTECT_WEIGHT,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="value share of a forecast fill for a held-back unit (tuned: scripts/tune_policy.py)",
    )
    demand_model: str = Field(
        "serving",
        description="the job's demand model: serving (the registry's champion, else previous, linear, category average)"
        " or a model's name",
    )
    stability_penalty: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="dollars a changed communicated shipment costs in the objective (0: no stability)",
    )
    scale: str = Field("small", description="size of a simulated world")
    seed: int = Field(7, ge=0, description="random seed of a simulated world; the same seed gives the same world")
    format: str = Field("parquet", description="file format of a written data folder")
    real_data: Path = Field(Path("../shared/data"), description="folder of the real public data (calibration, tests)")
    # Service mode. Without a database URL the embedded SQLite file under artifacts_dir is used;
    # without a broker URL jobs run in-process (no Redis, no worker needed).
    database_url: str | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/closetflow"
    )
    broker_url: str | None = Field(None, description="Celery broker and result backend, e.g. redis://127.0.0.1:6379/0")
    broker_visibility_timeout_s: int = Field(
        3600, ge=5, description="seconds before Redis hands an unacknowledged task (a dead worker's) to another worker"
    )
    dw_workers: str = Field(
        "local",
        description="where a decomposed solve's group LPs run: local (in the solving process) or celery (a chord over"
        " the workers; needs a broker and worker processes beyond the one running the solve step)",
    )
    dw_scratch_dir: Path | None = Field(
        None,
        description="folder for the group files of a decomposed solve on the workers (default <artifacts_dir>/dw);"
        " workers on several machines need it on a shared filesystem",
    )
    nightly_at: str = Field("02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM (UTC) of the nightly run")
    nightly_dataset_id: str | None = Field(None, description="dataset the nightly run plans (default: the newest)")
    max_upload_mb: int = Field(200, ge=1, description="largest dataset zip accepted by POST /datasets, MB")
    max_unpacked_mb: int = Field(2000, ge=1, description="largest unpacked dataset accepted, MB (zip bombs)")
    max_body_kb: int = Field(64, ge=1, description="largest JSON request body, KB")

    @field_validator("solver", "scale", "format", "demand_model", "dw_workers")
    @classmethod
    def _one_of_the_choices(cls, value: str, info: ValidationInfo) -> str:
        assert info.field_name is not None
        if value in _CHOICES[info.field_name]():
            return value
        if info.field_name == "solver" and value in INTEGER_ONLY_BACKENDS:
            raise ValueError(f"{value} solves integer programs only, not the plan's LP")
        raise ValueError(f"unknown {info.field_name}")

    @field_validator("risk_policy")
    @classmethod
    def _risk_policy_parses(cls, value: str) -> str:
        # Kept as written (the report echoes it); the planner parses it again with the same parser.
        try:
            RiskPolicy.parse(value)
        except ClosetflowError:
            raise ValueError("") from None  # the allowed values say it all
        return value


def env_var(name: str) -> str:
    """The environment variable of setting ``name``."""
    return f"{ENV_PREFIX}{name.upper()}"


def allowed(name: str) -> str:
    """What setting ``name`` accepts, in words, read from its declaration in `Settings`."""
    if name in _CHOICES:
        return ", ".join(_CHOICES[name]())
    if name in _ALLOWED_TEXT:
        return _ALLOWED_TEXT[name]
    field = Settings.model_fields[name]
    annotation, optional = _unwrap_optional(field.annotation)
    kinds: dict[object, str] = {int: "an integer", float: "a number", Path: "a path", bool: "true or false"}
    kind = kinds.get(annotation, "text")
    words = [kind, *_bounds(field)]
    pattern = next((p for m in field.metadata if (p := getattr(m, "pattern", None)) is not None), None)
    if pattern is not None:
        words.append(f"matching {pattern}")
    return " ".join(words) + (" (or unset)" if optional else "")


def _unwrap_optional(annotation: object) -> tuple[object, bool]:
    if get_origin(annotation) in (Union, UnionType):
        rest = [a for a in get_args(annotation) if a is not NoneType]
        if len(rest) == 1:
            return rest[0], True
    return annotation, False


def _bounds(field: FieldInfo) -> list[str]:
    words: list[str] = []
    for m in field.metadata:
        if isinstance(m, Gt):
            words.append(f"> {m.gt}")
        elif isinstance(m, Ge):
            words.append(f">= {m.ge}")
        elif isinstance(m, Lt):
            words.append(f"< {m.lt}")
        elif isinstance(m, Le):
            words.append(f"<= {m.le}")
    return [" and ".join(words)] if words else []


def help_for(name: str) -> str:
    """Help text of the command-line option of setting ``name``: what, allowed, default, variable."""
    field = Settings.model_fields[name]
    return f"{field.description}: {allowed(name)} (default ${env_var(name)}, else {field.default})"


def resolve(given: Mapping[str, object | None], flags: Mapping[str, str] | None = None) -> Settings:
    """The settings of one run: ``given`` (command-line values) over ``CLOSETFLOW_*`` over defaults.

    ``given`` maps setting names to values, None meaning "not given" (never falsy: 0 is a value);
    strings are parsed by the model, as environment values are. ``flags`` names the command-line
    option of each setting for messages.

    Raises:
        SettingsError: A value, from the command line or the environment, is not allowed; its
            text is one line naming each bad option or variable, its value and what is allowed.
    """
    values = {name: value for name, value in given.items() if value is not None}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc, values, flags or {})) from None


def _one_line(exc: ValidationError, given: Mapping[str, object], flags: Mapping[str, str]) -> str:
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        where = flags.get(name, name) if name in given else env_var(name)
        # A validator's ValueError carries its reason in ctx; pydantic's own checks are fully
        # described by the allowed values.
        reason = str(err.get("ctx", {}).get("error", "")) if err["type"] == "value_error" else ""
        said = f" ({reason})" if reason else ""
        text = allowed(name) if name in Settings.model_fields else err["msg"]
        parts.append(f"{where} got {str(err['input'])!r}{said}; allowed: {text}")
    return " | ".join(parts)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once); raises `SettingsError` for a bad variable."""
    return resolve({})


def log_dir() -> Path:
    """Folder of the internal-error logs: ``<artifacts_dir>/logs``.

    Falls back to the default artifacts folder when the settings themselves are bad, so that an
    error can always be logged.
    """
    try:
        base = Settings().artifacts_dir
    except ValidationError:
        default = Settings.model_fields["artifacts_dir"].default
        assert isinstance(default, Path)
        base = default
    return base / "logs"


def models_dir() -> Path:
    """The model registry's folder: ``<artifacts_dir>/models`` (read afresh, like `real_data_dir`)."""
    return resolve({}).artifacts_dir / "models"


def real_data_dir() -> Path:
    """The real public data folder: ``$CLOSETFLOW_REAL_DATA``, else ``../shared/data``.

    A relative setting is taken from the project root, not the working directory. Read afresh on
    each call (no cache) so a changed environment is seen.
    """
    path = resolve({}).real_data
    return path if path.is_absolute() else PROJECT_ROOT / path


def dw_scratch_dir(settings: Settings) -> Path:
    """The decomposition's shared scratch folder, absolute (the workers may run in another folder)."""
    return (settings.dw_scratch_dir or settings.artifacts_dir / "dw").resolve()
