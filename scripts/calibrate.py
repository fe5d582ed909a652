"""Derive ``allocation/simulate/calibration.json`` from the real public data (never copied into the project).

Usage::

    .venv/bin/python scripts/calibrate.py [--data-dir DIR] [--out allocation/calibration.json]

The data directory defaults to ``$CLOSETFLOW_REAL_DATA``, else ``../shared/data`` next to the project
root. The derivation itself lives in :mod:`allocation.simulate.calibration_derive`, so the test that checks
the committed JSON runs the same code.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Run as a plain script, sys.path[0] is scripts/; make the project importable without an install.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from allocation.simulate.calibration_derive import (  # noqa: E402 - needs the sys.path line above
    MissingRealDataError,
    derive_calibration,
    load_real_data,
    write_calibration,
)
from api.settings import real_data_dir  # noqa: E402 - needs the sys.path line above


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults resolve relative to the project root, not the cwd."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding the real files (default: $CLOSETFLOW_REAL_DATA, else ../shared/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "allocation" / "simulate" / "calibration.json",
        help="output JSON path (default: allocation/simulate/calibration.json)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load, derive, write; exit status 2 with a message naming the missing file(s) if absent."""
    args = parse_args(argv)
    data_dir: Path = args.data_dir if args.data_dir is not None else real_data_dir()
    started = time.perf_counter()
    try:
        data = load_real_data(data_dir)
    except MissingRealDataError as error:
        print(f"calibrate: error: {error}", file=sys.stderr)
        return 2
    loaded = time.perf_counter()
    calibration = derive_calibration(data)
    derived = time.perf_counter()
    write_calibration(calibration, args.out)
    print(
        f"wrote {args.out} from {data_dir}: load {loaded - started:.2f}s, "
        f"derive {derived - loaded:.2f}s, total {time.perf_counter() - started:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
