"""Reading and writing data folders (docs/data.md): everything is checked before anything is returned.

:func:`load_world` reads meta.json and every table (``NAME.parquet``, else ``NAME.csv``), checks them
against :mod:`allocation.data.schemas` and :mod:`allocation.data.references`, and either returns a complete
:class:`~allocation.domain.World` or raises one :class:`~allocation.domain.DataValidationError`
listing every problem found. It never writes to the folder.

:func:`write_world` writes a folder atomically: into a temporary sibling, renamed into place at the
end, so a crash never leaves a half-written folder behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Final

import pandas as pd
import pandera.pandas as pa

from allocation.data.references import TableSet, check_rules
from allocation.data.schemas import HOLDOUT_SCHEMAS, SCHEMAS
from allocation.data.tablecheck import CheckedTable, ProblemLog, check_table, final_dtype
from allocation.domain import (
    HOLDOUT_TABLES,
    TABLES,
    ClosetflowError,
    DataValidationError,
    Holdout,
    World,
)

__all__ = ["FORMATS", "META_FILE", "load_world", "write_world"]

META_FILE: Final = "meta.json"
HOLDOUT_DIR: Final = "holdout"
FORMATS: Final = ("parquet", "csv")
MAX_HORIZON_DAYS: Final = 120


def _read_meta(folder: Path, log: ProblemLog) -> tuple[dict[str, object], pd.Timestamp | None, int | None]:
    """meta.json as a dict, with its plan date and horizon when they are usable."""
    path = folder / META_FILE
    if not path.is_file():
        log.add(META_FILE, "missing file")
        return {}, None, None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.add(META_FILE, f"cannot read: {exc}")
        return {}, None, None
    if not isinstance(meta, dict):
        log.add(META_FILE, "must be a JSON object")
        return {}, None, None
    plan_date: pd.Timestamp | None = None
    raw_date = meta.get("plan_date")
    if raw_date is None:
        log.add(META_FILE, "missing (an ISO date such as 2026-06-01 is required)", column="plan_date")
    else:
        try:
            plan_date = pd.Timestamp(dt.date.fromisoformat(str(raw_date)))
        except ValueError:
            log.add(META_FILE, f"not an ISO date (YYYY-MM-DD): {raw_date!r}", column="plan_date")
    horizon = meta.get("horizon_days")
    # bool is an int in Python; `true` is not a horizon.
    if not isinstance(horizon, int) or isinstance(horizon, bool):
        log.add(META_FILE, f"must be a whole number of days 1..{MAX_HORIZON_DAYS}", column="horizon_days")
        horizon = None
    elif not 1 <= horizon <= MAX_HORIZON_DAYS:
        log.add(META_FILE, f"must be 1..{MAX_HORIZON_DAYS} (got {horizon})", column="horizon_days")
        horizon = None
    return meta, plan_date, horizon


def _read_frame(path: Path) -> pd.DataFrame:
    """A table file as read, with the default RangeIndex; CSV cells stay text for exact parsing."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
            # A named index stored by pandas is a column to us; an anonymous one is noise.
            frame = frame.reset_index(drop=frame.index.names == [None])
        return frame
    # Only an empty cell is missing: "NA" or "null" may be real ids or labels.
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="pyarrow")


def _table_file(folder: Path, name: str, default_suffix: str) -> tuple[Path | None, str]:
    """The file holding table ``name`` (parquet preferred) and its name for messages."""
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path, path.name
    return None, f"{name}{default_suffix}"


def _load_tables(
    folder: Path,
    prefix: str,
    schemas: dict[str, pa.DataFrameSchema],
    log: ProblemLog,
) -> tuple[dict[str, CheckedTable], dict[str, str]]:
    """Read and check every table of one folder; keys and file names carry ``prefix``."""
    # Name a missing table after the format the folder mostly uses, so the message reads naturally.
    default_suffix = ".csv" if any(folder.glob("*.csv")) and not any(folder.glob("*.parquet")) else ".parquet"
    tables: dict[str, CheckedTable] = {}
    files: dict[str, str] = {}
    for name, schema in schemas.items():
        key = f"{prefix}{name}"
        path, file = _table_file(folder, name, default_suffix)
        files[key] = f"{prefix}{file}"
        if path is None:
            log.add(files[key], f"missing file (neither {name}.parquet nor {name}.csv exists)")
            continue
        try:
            frame = _read_frame(path)
        except Exception as exc:  # any reader failure (corrupt, truncated, ragged) means unreadable
            log.add(files[key], f"cannot read: {type(exc).__name__}: {exc}".strip())
            continue
        tables[key] = check_table(files[key], frame, schema, log)
    return tables, files


def _typed(table: CheckedTable, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """The checked table in its final dtypes (safe: no problems means no missing required cells)."""
    dtypes = {name: final_dtype(column) for name, column in schema.columns.items()}
    return table.frame.astype(dtypes)


def load_world(path: Path, *, with_holdout: bool = True) -> World:
    """Read and check a data folder; return the world only if every contract holds.

    Args:
        path: The data folder (meta.json, the tables, optionally holdout/).
        with_holdout: Read holdout/ when it exists; planning code passes False, since the plan
            must never see what happened after the plan date.

    Returns:
        The world, tables in the dtypes documented in :mod:`allocation.data.schemas`; ``holdout`` is
        ``None`` when the folder has no holdout/ (or ``with_holdout`` is False).

    Raises:
        ClosetflowError: ``path`` is not a folder.
        DataValidationError: Anything in it breaks the contract; ``problems`` lists all of it.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClosetflowError(f"no data folder at {folder}")
    log = ProblemLog()
    meta, plan_date, horizon = _read_meta(folder, log)
    tables, files = _load_tables(folder, "", SCHEMAS, log)
    holdout_dir = folder / HOLDOUT_DIR
    has_holdout = with_holdout and holdout_dir.is_dir()
    if has_holdout:
        more_tables, more_files = _load_tables(holdout_dir, f"{HOLDOUT_DIR}/", HOLDOUT_SCHEMAS, log)
        tables.update(more_tables)
        files.update(more_files)
    check_rules(TableSet(tables, files, plan_date, horizon), log)
    if log.problems:
        raise DataValidationError(log.problems)
    if plan_date is None or horizon is None:  # unreachable: an unusable meta.json is a problem
        raise AssertionError("meta.json passed without a plan date and horizon")
    t = {name: _typed(tables[name], SCHEMAS[name]) for name in TABLES}
    holdout = None
    if has_holdout:
        h = {name: _typed(tables[f"{HOLDOUT_DIR}/{name}"], HOLDOUT_SCHEMAS[name]) for name in HOLDOUT_TABLES}
        holdout = Holdout(h["returns"], h["delays"], h["cleaning"], h["bookings"], h["disruptions"])
    return World(
        plan_date=plan_date.date(),
        horizon_days=horizon,
        sites=t["sites"],
        stations=t["stations"],
        lanes=t["lanes"],
        skus=t["skus"],
        units=t["units"],
        customers=t["customers"],
        reservations=t["reservations"],
        rentals=t["rentals"],
        bookings=t["bookings"],
        holdout=holdout,
        meta=meta,
    )


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path.with_suffix(".parquet"), index=False)
    else:
        frame.to_csv(path.with_suffix(".csv"), index=False, date_format="%Y-%m-%d")


def _write_contents(world: World, folder: Path, fmt: str) -> None:
    """Write meta.json, every table and holdout/ into the (empty) ``folder``."""
    meta = {**world.meta, "plan_date": world.plan_date.isoformat(), "horizon_days": world.horizon_days}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    for name in TABLES:
        _write_table(world.table(name), folder / name, fmt)
    if world.holdout is not None:
        (folder / HOLDOUT_DIR).mkdir()
        for name in HOLDOUT_TABLES:
            _write_table(getattr(world.holdout, name), folder / HOLDOUT_DIR / name, fmt)


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise ClosetflowError(f"cannot write a data folder to {target}: it exists and is not a folder")
    if any(target.iterdir()) and not (target / META_FILE).is_file():
        raise ClosetflowError(
            f"refusing to overwrite {target}: it is not empty and not a closetflow data folder (it has no {META_FILE})"
        )


def write_world(world: World, path: Path, *, fmt: str = "parquet") -> None:
    """Write ``world`` as a data folder at ``path``, atomically.

    Everything is written into a temporary sibling folder which is renamed into place at the end.
    An existing data folder at ``path`` (one with meta.json) is replaced; between moving it aside
    and renaming the new one in, ``path`` is briefly absent, never half-written.

    Args:
        world: What to write (written as is; :func:`load_world` is what checks contracts).
        path: The data folder to create or replace.
        fmt: ``"parquet"`` or ``"csv"``.

    Raises:
        ClosetflowError: Unknown ``fmt``; ``path`` is a file, or a non-empty folder without
            meta.json (it is not ours to replace).
    """
    if fmt not in FORMATS:
        raise ClosetflowError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    target = Path(path)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the data folder is for everyone who plans
    try:
        _write_contents(world, staging, fmt)
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            os.rename(target, old)
            try:
                os.rename(staging, target)
            except BaseException:
                os.rename(old, target)  # put the previous folder back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
