"""Saving and loading fitted models as a folder: meta.json plus arrays.npz (never pickles)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["data_hash", "read_artifact", "utc_now", "write_artifact", "write_json_atomic"]

FORMAT_VERSION = 1


def data_hash(*frames: pd.DataFrame) -> str:
    """A short content hash of the training frames (for the registry's provenance)."""
    h = hashlib.sha256()
    for f in frames:
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def write_artifact(path: Path, kind: str, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta.json`` (kind, params) and ``arrays.npz`` into folder ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    meta = {"kind": kind, "format_version": FORMAT_VERSION, "params": params}
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    savez: Any = np.savez  # numpy's stub types **kwds as allow_pickle
    savez(path / "arrays.npz", **arrays)


def read_artifact(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read an artifact written by ``write_artifact``; refuses another kind of model."""
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r} model, not {kind!r}")
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta["params"], arrays


def utc_now() -> str:
    """Now, in UTC, to the second: the time stamp of registry and check records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, doc: object) -> None:
    """Write ``doc`` as JSON beside ``path`` and rename it into place (making the folder).

    A reader (a serving process reading aliases.json, a check reading earlier results) sees the
    old file or the new one, never half; a failure leaves no temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
