"""One forecaster interface for generic demand series, and the registry of models by name.

A `Forecaster` fits on a long frame of counts (`forecasting.series`: ``unique_id``, ``ds``, ``y``,
daily or weekly), forecasts the next ``horizon`` periods of every series with a ``mean`` and, where
the model has them, ``lo_L``/``hi_L`` bounds of its central L% interval, and saves to / loads
from a folder of plain arrays and JSON (`forecasting.artifacts`, never a pickle). Fitted state
lives in attributes ending in ``_``. Callers pick models by name from `FORECASTERS`, so the
backtest (and later the model registry) never names a class.

Scope: this interface serves `forecasting.backtest` now and the model registry later. The main
job's demand forecast (`forecasting.demand.DemandForecaster`, per SKU x site x event day with the
booking lead curve) does not go through it yet; `linear` here reuses that model's GLM and shrinkage
for tables that have only an id, a time and a count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, Final, Protocol, Self, cast, runtime_checkable

import pandas as pd

from forecasting.linear import LinearForecaster
from forecasting.statistical import (
    AutoETSForecaster,
    CrostonSBAForecaster,
    HistoricAverageForecaster,
    SeasonalNaiveForecaster,
)

__all__ = ["FORECASTERS", "Forecaster", "load_forecaster", "make_forecaster"]


@runtime_checkable
class Forecaster(Protocol):
    """What every demand model offers (see the module docstring)."""

    name: ClassVar[str]
    has_intervals: ClassVar[bool]  # whether predict fills lo_L / hi_L

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit on a long frame (``unique_id``, ``ds``, ``y``); forecasts start after its last period."""
        ...

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> pd.DataFrame:
        """``unique_id``, ``ds``, ``mean`` (+ ``lo_L``, ``hi_L`` per level when it has intervals)."""
        ...

    def save(self, path: Path) -> None:
        """Write the fitted model into folder ``path`` (meta.json + arrays.npz)."""
        ...

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model written by `save`."""
        ...


# Each model class under its name, in the order reports list them. A class is its own factory
# (called with the frequency, "D" or "W") and its own loader.
def _neural() -> type[Forecaster]:
    # Imported on first use: torch takes about a second to import, and most commands never need it.
    from forecasting.neural import NeuralDemand

    return NeuralDemand


def _eager(cls: type[Forecaster]) -> Callable[[], type[Forecaster]]:
    def get() -> type[Forecaster]:
        return cls

    return get


def _factory(get: Callable[[], type[Forecaster]]) -> Callable[[str], Forecaster]:
    def make(freq: str) -> Forecaster:
        # Every registered class takes the frequency; the protocol cannot say so for the class.
        cls = cast(Callable[[str], Forecaster], get())
        return cls(freq)

    return make


_CLASSES: Final[dict[str, Callable[[], type[Forecaster]]]] = {
    **{
        cls.name: _eager(cls)
        for cls in (
            LinearForecaster,
            SeasonalNaiveForecaster,
            AutoETSForecaster,
            CrostonSBAForecaster,
            HistoricAverageForecaster,
        )
    },
    "neural": _neural,
}
FORECASTERS: Final[dict[str, Callable[[str], Forecaster]]] = {name: _factory(get) for name, get in _CLASSES.items()}


def make_forecaster(name: str, freq: str) -> Forecaster:
    """A new, unfitted model by name; ValueError naming the known ones if there is no such model."""
    if name not in FORECASTERS:
        raise ValueError(f"no forecaster {name!r}; known: {', '.join(FORECASTERS)}")
    return FORECASTERS[name](freq)


def load_forecaster(path: Path) -> Forecaster:
    """Load whichever registered model was saved in folder ``path`` (its meta.json names it)."""
    kind = json.loads((path / "meta.json").read_text()).get("kind")
    if kind not in _CLASSES:
        raise ValueError(f"{path} holds no registered forecaster (kind {kind!r})")
    return _CLASSES[kind]().load(path)
