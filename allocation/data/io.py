"""Reading and writing data folders (docs/data.md): everything is checked before anything is returned.

:func:`load_world` reads meta.json and every table (``NAME.parquet``, else ``NAME.csv``) through
:mod:`allocation.data.files`, checks them against :mod:`allocation.data.schemas` and the rules of
:mod:`allocation.data.references`, and either returns a complete :class:`~allocation.domain.World`
or raises one :class:`~allocation.domain.DataValidationError` listing every problem found. It never
writes to the folder, never reads outside it (links that lead out are refused), and no file can
make it fail any other way: a fault of the checker itself is one more problem, never a traceback.

:func:`write_world` writes a folder atomically: into a temporary sibling, renamed into place at the
end, so a crash never leaves a half-written folder behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Final

import pandas as pd
import pandera.pandas as pa

from allocation.data.files import (
    HOLDOUT_DIR,
    META_FILE,
    Unreadable,
    inside,
    present,
    read_meta,
    read_table,
    usable_file,
)
from allocation.data.references import TableSet, check_rules
from allocation.data.schemas import HOLDOUT_SCHEMAS, SCHEMAS
from allocation.data.tablecheck import UNCHECKED, CheckedTable, ProblemLog, check_table, final_dtype
from allocation.domain import (
    HOLDOUT_TABLES,
    TABLES,
    ClosetflowError,
    DataValidationError,
    Holdout,
    World,
)

__all__ = ["FORMATS", "META_FILE", "load_world", "write_world"]

FORMATS: Final = ("parquet", "csv")


def _check_table(file: str, path: Path, schema: pa.DataFrameSchema, log: ProblemLog) -> CheckedTable | None:
    """Read and check one table file; ``None`` when it cannot be read (a problem says why)."""
    try:
        frame, twice = read_table(path)
    except Unreadable as exc:
        log.add(file, f"cannot read: {exc}")
        return None
    except OSError as exc:  # permissions, a file vanishing while read
        log.add(file, f"cannot read: {exc.strerror or exc}")
        return None
    for name in twice:
        log.add(file, "this column appears more than once in the header (only the first is read)", column=name)
    try:
        return check_table(file, frame, schema, log)
    except Exception as exc:  # a safety net: a file must never crash the checker
        log.add(file, f"{UNCHECKED}: {type(exc).__name__}: {exc}")
        return None


def _load_tables(
    root: Path,
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
        # Parquet is preferred when both exist; an unusable Parquet file is not replaced by the CSV.
        path = next((p for p in (folder / f"{name}.parquet", folder / f"{name}.csv") if present(p)), None)
        files[key] = f"{prefix}{path.name if path is not None else name + default_suffix}"
        if path is None:
            log.add(files[key], f"missing file (neither {name}.parquet nor {name}.csv exists)")
            continue
        if not usable_file(root, path, files[key], log):
            continue
        table = _check_table(files[key], path, schema, log)
        if table is not None:
            tables[key] = table
    return tables, files


def _holdout_folder(root: Path, log: ProblemLog) -> Path | None:
    """holdout/ when the folder has a usable one (a problem is logged for an unusable one)."""
    path = root / HOLDOUT_DIR
    if not present(path):
        return None
    if not inside(root, path):
        log.add(f"{HOLDOUT_DIR}/", "is a link to a place outside the data folder (not read)")
    elif not path.is_dir():
        log.add(f"{HOLDOUT_DIR}/", "must be a folder")
    else:
        return path
    return None


def _typed(table: CheckedTable, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """The checked table in its final dtypes (safe: no problems means no missing required cells)."""
    frame = table.frame
    # Only the columns whose working dtype differs: a cast that changes nothing still copies.
    dtypes = {name: final_dtype(column) for name, column in schema.columns.items()}
    changed = {name: dtype for name, dtype in dtypes.items() if str(frame[name].dtype) != dtype}
    return frame.astype(changed) if changed else frame


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
        DataValidationError: Anything in it breaks the contract, or cannot be read or checked;
            ``problems`` lists all of it, each located as ``file:row:column``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClosetflowError(f"no data folder at {folder}")
    root = folder.resolve()
    log = ProblemLog()
    meta, plan_date, horizon = read_meta(root, log)
    tables, files = _load_tables(root, root, "", SCHEMAS, log)
    holdout_dir = _holdout_folder(root, log) if with_holdout else None
    has_holdout = holdout_dir is not None
    if holdout_dir is not None:
        more_tables, more_files = _load_tables(root, holdout_dir, f"{HOLDOUT_DIR}/", HOLDOUT_SCHEMAS, log)
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
            meta.json (it is not ours to replace); its parent cannot be created or written.
    """
    if fmt not in FORMATS:
        raise ClosetflowError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    target = Path(path)
    _check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        # A folder that cannot be made there (a file in the way, no permission, a full disk) is the
        # caller's to fix: say where and why, not a traceback.
        raise ClosetflowError(f"cannot write the data folder {target}: {exc.strerror or exc}") from None
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
