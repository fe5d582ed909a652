"""The model registry: versions of fitted forecasters on disk, two aliases, and a serving chain.

Layout under the registry's root folder (the CLI's is ``<artifacts_dir>/models``,
`api.settings.models_dir`)::

    versions/v1/meta.json, arrays.npz   the model's own artifacts (`Forecaster.save`)
    versions/v1/metadata.json           model name, data hash, metrics, code version, created_at
                                        (UTC) and a sha256 per artifact file
    aliases.json                        {"champion": "v2", "previous": "v1"} (either may be null)
    serving.jsonl                       one line per load: version, alias, at, why

A version is written into a hidden folder and renamed into place, and aliases.json is written
beside and renamed (`os.replace`), so a reader never sees half of either. `promote` makes a version
the champion and the old champion the previous; `rollback` makes the previous the champion again
(and leaves no previous: the version rolled back from is not a safe fallback).

`ModelRegistry.load_serving` is what a (re)started process calls: the champion; if it cannot be
loaded, the previous; then a baseline fitted afresh; then a category average; it returns which
served and why, and logs it. A version is loaded only after every artifact file's sha256 matches
its metadata, only from plain files (JSON, ``.npz`` read with ``allow_pickle=False``): a pickle
is never unpickled, so a tampered or foreign version fails verification instead of running code.

Domain code: no printing; a request that cannot be met is a `RegistryError` saying why.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from allocation.domain import ClosetflowError
from forecasting.artifacts import utc_now, write_json_atomic
from forecasting.base import Forecaster, load_forecaster

__all__ = [
    "ALIASES",
    "ModelRegistry",
    "RegistryError",
    "Serving",
    "VersionInfo",
    "code_version",
]

ALIASES: Final = ("champion", "previous")
METADATA: Final = "metadata.json"
# The only kinds of file a version may hold: JSON and numpy archives read without pickles. A
# .pkl, .pt or .npy (which may hold an object array) in a version folder makes it unloadable.
PLAIN_SUFFIXES: Final = frozenset({".json", ".npz"})
_VERSION_ID = re.compile(r"^v(\d+)$")

Factory = Callable[[], Forecaster]


class RegistryError(ClosetflowError):
    """The registry cannot do what was asked (no such version, nothing to roll back to...)."""


class VersionUnreadable(RegistryError):
    """A version's files fail verification or loading; the message is the reason."""


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as its metadata.json describes it."""

    id: str
    model: str
    created_at: str
    data_hash: str
    metrics: dict[str, Any]
    code_version: str
    artifacts: dict[str, str]  # file name -> sha256


@dataclass(frozen=True)
class Serving:
    """What `ModelRegistry.load_serving` chose: the model, its source and why.

    ``source`` is ``champion``, ``previous``, ``baseline`` or ``category_average``; ``version`` the
    version id for the first two, else None; ``reason`` a sentence naming every step that failed.
    """

    forecaster: Forecaster
    source: str
    version: str | None
    reason: str


def code_version() -> str:
    """The git commit of this checkout (``git:<sha>``), else the installed package version."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        if sha:
            return f"git:{sha}"
    except (OSError, subprocess.SubprocessError):
        pass  # not a checkout (an installed wheel): the package version says what code it was
    try:
        return f"closetflow {importlib.metadata.version('closetflow')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ModelRegistry:
    """A file-based registry rooted at ``root`` (module docstring); cheap to create, holds no state."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.aliases_path = self.root / "aliases.json"
        self.log_path = self.root / "serving.jsonl"

    # ---- writing -------------------------------------------------------------------------------

    def register(
        self,
        forecaster: Forecaster,
        *,
        data_hash: str,
        metrics: Mapping[str, Any] | None = None,
        code: str | None = None,
        created_at: str | None = None,
    ) -> str:
        """Store a fitted ``forecaster`` as a new version and return its id (``v1``, ``v2``, ...).

        The version is not promoted: aliases change only through `promote` and `rollback`.
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = self.versions_dir / f".staging-{uuid.uuid4().hex}"
        try:
            forecaster.save(staging)
            artifacts = {p.name: _sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
            meta = {
                "model": forecaster.name,
                "data_hash": data_hash,
                "metrics": dict(metrics or {}),
                "code_version": code if code is not None else code_version(),
                "created_at": created_at if created_at is not None else utc_now(),
                "artifacts": artifacts,
            }
            (staging / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            while True:  # the next free id; a rename onto an existing folder fails, so two writers never collide
                version = f"v{self._last_number() + 1}"
                try:
                    staging.rename(self.versions_dir / version)
                    return version
                except OSError:
                    if not (self.versions_dir / version).exists():
                        raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def promote(self, version: str) -> dict[str, str | None]:
        """Make ``version`` the champion and the old champion the previous; returns the aliases."""
        self.info(version)  # refuses an unknown or unreadable version before the aliases change
        aliases = self.aliases()
        if aliases["champion"] != version:
            aliases = {"champion": version, "previous": aliases["champion"]}
            write_json_atomic(self.aliases_path, aliases)
        return aliases

    def rollback(self) -> dict[str, str | None]:
        """Make the previous version the champion again; returns the aliases."""
        aliases = self.aliases()
        if aliases["previous"] is None:
            raise RegistryError("there is no previous version to roll back to")
        aliases = {"champion": aliases["previous"], "previous": None}
        write_json_atomic(self.aliases_path, aliases)
        return aliases

    # ---- reading -------------------------------------------------------------------------------

    def aliases(self) -> dict[str, str | None]:
        """``{"champion": id | None, "previous": id | None}``; both None before the first promote."""
        if not self.aliases_path.is_file():
            return dict.fromkeys(ALIASES)
        try:
            doc = json.loads(self.aliases_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.aliases_path} cannot be read ({exc})") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"{self.aliases_path} is not a JSON object")
        return {a: (str(doc[a]) if doc.get(a) is not None else None) for a in ALIASES}

    def versions(self) -> list[str]:
        """Every version id, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in self.versions_dir.iterdir() if (m := _VERSION_ID.match(p.name))]
        return [name for _, name in sorted(found)]

    def info(self, version: str) -> VersionInfo:
        """A version's metadata; `RegistryError` if there is no such version or it cannot be read."""
        if not _VERSION_ID.match(version) or not (self.versions_dir / version).is_dir():
            known = ", ".join(self.versions()) or "none yet"
            raise RegistryError(f"no version {version!r} (versions: {known})")
        return self._metadata(version)

    def load(self, version: str) -> Forecaster:
        """The version's model, once its files verify (module docstring); `RegistryError` says why not."""
        info = self.info(version)
        folder = self.versions_dir / version
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in PLAIN_SUFFIXES:
                raise VersionUnreadable(f"{path.name} is not a plain artifact (pickles are never loaded)")
        for name, digest in info.artifacts.items():
            path = folder / name
            if Path(name).name != name or not path.is_file():
                raise VersionUnreadable(f"{name} missing")
            if _sha256(path) != digest:
                raise VersionUnreadable(f"{name} does not match its sha256 (changed or truncated)")
        try:
            model = load_forecaster(folder)
        except Exception as exc:  # any failure to read verified files means this version cannot serve
            raise VersionUnreadable(f"cannot be loaded ({' '.join(str(exc).split())})") from None
        if model.name != info.model:
            raise VersionUnreadable(f"holds a {model.name!r} model, metadata says {info.model!r}")
        return model

    def serving_log(self) -> list[dict[str, Any]]:
        """The serving log's entries, oldest first."""
        if not self.log_path.is_file():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    # ---- serving -------------------------------------------------------------------------------

    def load_serving(self, baseline: Factory, category_average: Factory) -> Serving:
        """The model a (re)started process serves: champion, previous, baseline, category average.

        ``baseline`` and ``category_average`` return fitted models (they are called only when
        needed). Every call appends one line to the serving log.

        Raises:
            RegistryError: not even the category average could be built.
        """
        failures: list[str] = []
        try:
            aliases = self.aliases()
        except RegistryError as exc:
            aliases = dict.fromkeys(ALIASES)
            failures.append(str(exc))
        for alias in ALIASES:
            version = aliases[alias]
            if version is None:
                failures.append(f"no {alias} set")
                continue
            try:
                model = self.load(version)
            except RegistryError as exc:
                failures.append(f"{alias} {version} unreadable: {exc}")
                continue
            return self._served(Serving(model, alias, version, _because(f"{alias} {version}", failures)))
        for source, factory in (("baseline", baseline), ("category_average", category_average)):
            try:
                model = factory()
            except Exception as exc:  # a fallback that fails hands over to the next one
                failures.append(f"{source} failed: {' '.join(str(exc).split())}")
                continue
            return self._served(Serving(model, source, None, _because(source, failures)))
        raise RegistryError("nothing can serve: " + "; ".join(failures))

    # ---- internals -----------------------------------------------------------------------------

    def _served(self, serving: Serving) -> Serving:
        entry = {"version": serving.version, "alias": serving.source, "at": utc_now(), "why": serving.reason}
        self.root.mkdir(parents=True, exist_ok=True)
        # One short line appended per load: concurrent appends of a line do not interleave.
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        return serving

    def _last_number(self) -> int:
        versions = self.versions()
        return int(versions[-1][1:]) if versions else 0

    def _metadata(self, version: str) -> VersionInfo:
        path = self.versions_dir / version / METADATA
        if not path.is_file():
            raise VersionUnreadable(f"{METADATA} missing")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            artifacts = doc["artifacts"]
            if not isinstance(artifacts, dict) or not artifacts:
                raise ValueError("no artifacts listed")
            return VersionInfo(
                id=version,
                model=str(doc["model"]),
                created_at=str(doc["created_at"]),
                data_hash=str(doc["data_hash"]),
                metrics=dict(doc.get("metrics") or {}),
                code_version=str(doc.get("code_version", "unknown")),
                artifacts={str(k): str(v) for k, v in artifacts.items()},
            )
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise VersionUnreadable(f"{METADATA} is not valid ({type(exc).__name__}: {exc})") from None


def _because(what: str, failures: list[str]) -> str:
    """``"champion v3"`` or ``"baseline, because: champion v3 unreadable: ...; no previous set"``."""
    return what if not failures else f"{what}, because " + "; ".join(failures)
