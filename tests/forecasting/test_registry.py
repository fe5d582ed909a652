"""The model registry: versions with metadata, aliases moved by promote/rollback, the serving chain
(champion, previous, baseline, category average) with its reasons and log, and no pickle ever loaded."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.base import Forecaster, make_forecaster
from forecasting.fallback import CategoryAverageForecaster
from forecasting.registry import ModelRegistry, RegistryError
from forecasting.series import ID, TARGET, TIME

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    weeks = pd.date_range("2024-01-01", periods=30, freq="7D")
    return pd.DataFrame({ID: np.repeat(["a", "b", "c"], 30), TIME: np.tile(weeks, 3), TARGET: rng.poisson(3.0, 90)})


@pytest.fixture(scope="module")
def linear(frame: pd.DataFrame) -> Forecaster:
    return make_forecaster("linear", "W").fit(frame)


@pytest.fixture(scope="module")
def historic(frame: pd.DataFrame) -> Forecaster:
    return make_forecaster("historic_average", "W").fit(frame)


def _two_versions(root: Path, linear: Forecaster, historic: Forecaster) -> ModelRegistry:
    """v1 (historic average) previous, v2 (linear) champion."""
    reg = ModelRegistry(root)
    assert reg.register(historic, data_hash="h1", metrics={"rmse": 1.5}) == "v1"
    assert reg.register(linear, data_hash="h2", metrics={"rmse": 1.2}) == "v2"
    reg.promote("v1")
    reg.promote("v2")
    return reg


def _fallbacks(frame: pd.DataFrame) -> tuple[Callable[[], Forecaster], Callable[[], Forecaster]]:
    return (lambda: make_forecaster("linear", "W").fit(frame), lambda: CategoryAverageForecaster("W").fit(frame))


def _rehash(folder: Path) -> None:
    """Make metadata.json's sha256s match the folder again (as a forger would)."""
    meta = json.loads((folder / "metadata.json").read_text())
    meta["artifacts"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in meta["artifacts"]}
    (folder / "metadata.json").write_text(json.dumps(meta))


def test_register_writes_the_artifacts_and_their_metadata(tmp_path: Path, linear: Forecaster) -> None:
    reg = ModelRegistry(tmp_path)
    version = reg.register(linear, data_hash="abc123", metrics={"rmse": 0.9})
    folder = tmp_path / "versions" / version
    assert version == "v1" and sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "meta.json", "metadata.json"]
    info = reg.info(version)
    assert (info.model, info.data_hash, info.metrics) == ("linear", "abc123", {"rmse": 0.9})
    assert info.code_version.startswith(("git:", "closetflow "))
    assert datetime.fromisoformat(info.created_at).utcoffset() == timedelta(0)  # UTC
    assert info.artifacts == {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("arrays.npz", "meta.json")
    }
    assert reg.aliases() == {"champion": None, "previous": None}  # registering promotes nothing
    assert not list((tmp_path / "versions").glob(".*"))  # no staging folder left behind


def test_promote_moves_the_champion_to_previous_and_rollback_brings_it_back(
    tmp_path: Path, linear: Forecaster, historic: Forecaster
) -> None:
    reg = ModelRegistry(tmp_path)
    v1, v2, v3 = (reg.register(m, data_hash="h") for m in (historic, linear, linear))
    assert reg.promote(v1) == {"champion": v1, "previous": None}
    assert reg.promote(v2) == {"champion": v2, "previous": v1}
    assert reg.promote(v2) == {"champion": v2, "previous": v1}  # promoting the champion changes nothing
    assert reg.promote(v3) == {"champion": v3, "previous": v2}
    assert reg.rollback() == {"champion": v2, "previous": None}
    assert ModelRegistry(tmp_path).aliases() == {"champion": v2, "previous": None}  # on disk, not in memory
    with pytest.raises(RegistryError, match="no previous version"):
        reg.rollback()
    with pytest.raises(RegistryError, match=r"no version 'v9' \(versions: v1, v2, v3\)"):
        reg.promote("v9")
    assert not list(tmp_path.glob(".*tmp"))  # aliases.json written beside and renamed


def test_a_restarted_registry_serves_the_champion_with_identical_forecasts(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster
) -> None:
    _two_versions(tmp_path, linear, historic)
    serving = ModelRegistry(tmp_path).load_serving(*_fallbacks(frame))  # a new process: a new object
    assert (serving.source, serving.version, serving.reason) == ("champion", "v2", "champion v2")
    pd.testing.assert_frame_equal(serving.forecaster.predict(4, [80]), linear.predict(4, [80]))


def _truncate(folder: Path) -> None:
    data = (folder / "arrays.npz").read_bytes()
    (folder / "arrays.npz").write_bytes(data[: len(data) // 2])


def _bad_metadata_json(folder: Path) -> None:
    (folder / "metadata.json").write_text('{"model": "linear", ')


def _no_metadata(folder: Path) -> None:
    (folder / "metadata.json").unlink()


def _no_meta(folder: Path) -> None:
    (folder / "meta.json").unlink()


def _changed_meta(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["params"]["level"] = 1000.0
    (folder / "meta.json").write_text(json.dumps(meta))


def _bad_meta_json_rehashed(folder: Path) -> None:
    (folder / "meta.json").write_text("{not json")
    _rehash(folder)


CORRUPTIONS = {
    "truncated arrays": (_truncate, "arrays.npz does not match its sha256"),
    "bad metadata json": (_bad_metadata_json, "metadata.json is not valid"),
    "metadata missing": (_no_metadata, "metadata.json missing"),
    "artifact missing": (_no_meta, "meta.json missing"),
    "hash mismatch": (_changed_meta, "meta.json does not match its sha256"),
    "bad artifact json": (_bad_meta_json_rehashed, "cannot be loaded"),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupted_champion_falls_back_to_the_previous(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster, kind: str
) -> None:
    _two_versions(tmp_path, linear, historic)
    corrupt, why = CORRUPTIONS[kind]
    corrupt(tmp_path / "versions" / "v2")
    serving = ModelRegistry(tmp_path).load_serving(*_fallbacks(frame))
    assert (serving.source, serving.version) == ("previous", "v1")
    assert serving.reason.startswith("previous v1, because champion v2 unreadable: ")
    assert why in serving.reason
    pd.testing.assert_frame_equal(serving.forecaster.predict(3), historic.predict(3))


def test_the_chain_ends_with_the_baseline_then_the_category_average(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster
) -> None:
    reg = _two_versions(tmp_path, linear, historic)
    _no_metadata(tmp_path / "versions" / "v2")
    _truncate(tmp_path / "versions" / "v1")
    baseline, category = _fallbacks(frame)
    serving = reg.load_serving(baseline, category)
    assert serving.source == "baseline" and serving.version is None
    assert serving.reason == (
        "baseline, because champion v2 unreadable: metadata.json missing; "
        "previous v1 unreadable: arrays.npz does not match its sha256 (changed or truncated)"
    )
    pd.testing.assert_frame_equal(serving.forecaster.predict(2), linear.predict(2))

    def broken() -> Forecaster:
        raise RuntimeError("statsforecast\nexploded")

    serving = reg.load_serving(broken, category)
    assert serving.source == "category_average"
    assert serving.reason.endswith("; baseline failed: statsforecast exploded")
    with pytest.raises(RegistryError, match=r"nothing can serve: .*category_average failed: statsforecast"):
        reg.load_serving(broken, broken)


def test_an_empty_registry_serves_the_baseline_and_says_so(tmp_path: Path, frame: pd.DataFrame) -> None:
    serving = ModelRegistry(tmp_path / "none").load_serving(*_fallbacks(frame))
    assert serving.source == "baseline"
    assert serving.reason == "baseline, because no champion set; no previous set"


def test_the_serving_log_records_each_load(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster
) -> None:
    reg = _two_versions(tmp_path, linear, historic)
    reg.load_serving(*_fallbacks(frame))
    reg.rollback()
    reg.load_serving(*_fallbacks(frame))
    _no_metadata(tmp_path / "versions" / "v1")
    reg.load_serving(*_fallbacks(frame))
    log = ModelRegistry(tmp_path).serving_log()
    assert [(e["version"], e["alias"]) for e in log] == [("v2", "champion"), ("v1", "champion"), (None, "baseline")]
    assert log[2]["why"] == "baseline, because champion v1 unreadable: metadata.json missing; no previous set"
    assert all(datetime.fromisoformat(e["at"]).utcoffset() is not None for e in log)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    marker = ""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (Path.write_text, (Path(self.marker), "executed"))  # type: ignore[return-value]


def test_a_pickle_in_a_version_is_refused_not_executed(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster
) -> None:
    reg = _two_versions(tmp_path, linear, historic)
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = str(marker)
    folder = tmp_path / "versions" / "v2"
    (folder / "model.pkl").write_bytes(pickle.dumps(payload))
    meta = json.loads((folder / "metadata.json").read_text())
    meta["artifacts"]["model.pkl"] = "x"
    (folder / "metadata.json").write_text(json.dumps(meta))
    _rehash(folder)  # even with a matching hash the file is refused
    serving = reg.load_serving(*_fallbacks(frame))
    assert serving.source == "previous"
    assert "model.pkl is not a plain artifact (pickles are never loaded)" in serving.reason
    assert not marker.exists()


def test_an_object_array_is_refused(
    tmp_path: Path, frame: pd.DataFrame, linear: Forecaster, historic: Forecaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = _two_versions(tmp_path, linear, historic)
    folder = tmp_path / "versions" / "v2"
    # An npz whose array is pickled objects (numpy pickles object arrays when allowed to write them).
    np.savez(folder / "arrays.npz", beta=np.array([{"a": 1}], dtype=object), share=np.ones(3))
    _rehash(folder)

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    serving = reg.load_serving(*_fallbacks(frame))
    assert serving.source == "previous"
    assert "champion v2 unreadable: cannot be loaded (Object arrays cannot be loaded when allow_pickle=False)" in (
        serving.reason
    )


def test_the_registry_code_never_unpickles() -> None:
    for name in ("registry.py", "fallback.py", "artifacts.py"):
        text = (ROOT / "forecasting" / name).read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text and "torch.load" not in text, name


def test_the_category_average_forecasts_each_series_at_its_category_mean(tmp_path: Path) -> None:
    weeks = pd.date_range("2024-01-01", periods=10, freq="7D")
    y = np.concatenate([np.full(10, 2.0), np.full(10, 4.0), np.full(10, 9.0)])
    frame = pd.DataFrame({ID: np.repeat(["a", "b", "c"], 10), TIME: np.tile(weeks, 3), TARGET: y})
    model = CategoryAverageForecaster("W", {"a": "gowns", "b": "gowns", "c": "bags"}).fit(frame)
    pred = model.predict(2)
    assert pred["mean"].tolist() == [3.0, 3.0, 3.0, 3.0, 9.0, 9.0]
    assert pred[TIME].min() == weeks[-1] + pd.Timedelta(weeks=1)
    assert CategoryAverageForecaster("W").fit(frame).predict(1)["mean"].tolist() == [5.0, 5.0, 5.0]
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(CategoryAverageForecaster.load(tmp_path / "m").predict(2), pred)
