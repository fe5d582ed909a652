"""`neural`: one global torch model over all series, direct multi-horizon, with quantiles and a mean.

For a forecast origin ``T`` (the first period to forecast) and a lead ``h`` (1..``max_horizon``)
one row of features describes series ``i`` from what is known before ``T`` only
(`window_features`): a learned item embedding, the last ``lags`` periods, the mean of the last
year, the age of the series, the latest value one season before the target period that lies
before ``T``, the target period's calendar (day of year, weekday) and the lead as a one-hot. The
network gives a Poisson mean ``(s + 0.1) * exp(o)``, with ``s`` the series' recent mean, and
p10 <= p50 <= p90 built as cumulative softplus increments, so every output is >= 0 and the
quantiles never cross. Loss: Poisson NLL of the mean plus the pinball loss of the quantiles.
With ``ensemble`` > 1 that many networks are trained (seeds ``seed``, ``seed + 1``, ...) and their
means and quantiles averaged. The 80% interval is [p10, p90] after calibration: the distances of
p10 and p90 from p50 are multiplied by one factor, chosen so that the rounded interval covers
``target_coverage`` of the validation window (split conformal; `NeuralDemand._calibrate`), because
rounded quantiles of small counts over-cover (0.94 on RTR items before). Forecast quantiles are
rounded to whole counts.

Training rows are every origin of the last ``max_origins`` periods and every lead whose target
lies in the history; the last ``max_horizon`` periods of the history are held out as the
validation window (training rows have targets before it), and the weights of the best validation
epoch are kept (early stopping). Fitting is seeded and, on CPU, deterministic; it runs on CUDA when
present, and forecasts are always computed on CPU from the saved tail of each series, so a loaded
model forecasts exactly what the fitted one did. Saved as meta.json (settings, id vocabulary) and
arrays.npz (the state dict as float arrays, the tails): no pickle, no ``torch.save``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import ClassVar, Final, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecasting.artifacts import read_artifact, write_artifact
from forecasting.metrics import coverage
from forecasting.neural_features import LONG, NeuralSettings, n_features, window_features
from forecasting.series import FREQS, ID, SEASON, TARGET, TIME, future_frame, periods_between, regular_grid
from forecasting.torch_fit import TrainSettings, deterministic, fit_early_stopping, pick_device

__all__ = ["NeuralDemand", "NeuralSettings", "window_features"]

_EPS: Final = 0.1  # added to the recent mean so that a series of recent zeros can still rise
_QUANTILES: Final = (0.1, 0.5, 0.9)
_WEIGHT: Final = "w."  # prefix of the state dict's arrays in arrays.npz


class _Net(nn.Module):
    """Item embedding + features -> MLP -> (log-rate offset, three non-negative quantile steps)."""

    def __init__(self, n_items: int, settings: NeuralSettings) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_items, settings.embedding)
        self.mlp = nn.Sequential(
            nn.Linear(settings.embedding + n_features(settings), settings.hidden),
            nn.ReLU(),
            nn.Linear(settings.hidden, settings.hidden),
            nn.ReLU(),
            nn.Linear(settings.hidden, 1 + len(_QUANTILES)),
        )

    def forward(self, item: torch.Tensor, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log of the Poisson mean (rows) and the quantiles (rows x 3), both on the count scale."""
        out = self.mlp(torch.cat([self.embed(item), x], dim=1))
        base = scale + _EPS
        log_mean = out[:, 0] + torch.log(base)
        quantiles = torch.cumsum(nn.functional.softplus(out[:, 1:]), dim=1) * base[:, None]
        return log_mean, quantiles


def _loss(net: _Net, item: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Poisson NLL of the mean plus the pinball loss of each quantile, averaged over rows."""
    log_mean, q = net(item, x, scale)
    poisson = nn.functional.poisson_nll_loss(log_mean, y, log_input=True, full=False)
    taus = torch.tensor(_QUANTILES, dtype=q.dtype, device=q.device)
    diff = y[:, None] - q
    pinball = torch.maximum(taus * diff, (taus - 1) * diff).sum(dim=1).mean()
    return poisson + pinball


class NeuralDemand:
    """A global MLP over all series with quantile outputs (module docstring)."""

    name: ClassVar[str] = "neural"
    has_intervals: ClassVar[bool] = True

    def __init__(self, freq: str = "W", settings: NeuralSettings | None = None) -> None:
        if freq not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)}, not {freq!r}")
        self.freq = freq
        if settings is None:
            settings = NeuralSettings() if freq == "W" else NeuralSettings(max_horizon=28, lags=28, max_origins=365)
        self.settings = settings

    def _dense(self, grid: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids, counts per series x period (zeros before launch) and each series' first period."""
        pos = periods_between(self.start_, grid[TIME], self.freq)
        ids, codes = np.unique(grid[ID].to_numpy(dtype=str), return_inverse=True)
        history = np.zeros((len(ids), int(pos.max()) + 1))
        history[codes, pos] = grid[TARGET].to_numpy(dtype=float)
        first = np.full(len(ids), history.shape[1], dtype=np.int64)
        np.minimum.at(first, codes, pos)
        return ids, history, first

    def _rows(self, first: np.ndarray, lo: int, hi: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series, origin, lead) for origins in [lo, hi) after each series' launch, targets before ``end``."""
        mesh = np.meshgrid(
            np.arange(len(first)), np.arange(lo, hi), np.arange(1, self.settings.max_horizon + 1), indexing="ij"
        )
        s_idx, o_idx, h_idx = (m.ravel() for m in mesh)
        keep = (o_idx > first[s_idx]) & (o_idx + h_idx - 1 < end)
        return s_idx[keep], o_idx[keep], h_idx[keep]

    def _tensors(
        self, history: np.ndarray, first: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[torch.Tensor, ...]:
        series, origin, lead = rows
        x, scale = window_features(history, first, origin, lead, series, self.start_, self.freq, self.settings)
        y = history[series, origin + lead - 1]
        return (
            torch.from_numpy(series.astype(np.int64)),
            torch.from_numpy(x),
            torch.from_numpy(scale.astype(np.float32)),
            torch.from_numpy(y.astype(np.float32)),
        )

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit on a long frame (``unique_id``, ``ds``, ``y``); forecasts start after its last period."""
        s = self.settings
        grid = regular_grid(frame, self.freq)
        self.start_ = grid[TIME].min()
        self.ids_, history, first = self._dense(grid)
        n = history.shape[1]
        if n < 2:
            raise ValueError("the neural model needs at least 2 periods of history")
        cut = n - s.max_horizon if n - s.max_horizon >= 2 else n  # validation window: [cut, n)
        lo = max(1, n - s.max_origins)
        train = self._tensors(history, first, self._rows(first, lo, cut, cut))
        valid = self._tensors(history, first, self._rows(first, cut, n, n)) if cut < n else None
        began = time.perf_counter()
        members = [self._train(train, valid, s.seed + k) for k in range(max(s.ensemble, 1))]
        self.train_rows_ = len(train[0])
        # Rows of gradient steps per second of training, all members (a throughput figure for benchmarks).
        self.rows_per_s_ = self.train_rows_ * sum(m[0] for m in members) / max(time.perf_counter() - began, 1e-9)
        self.epochs_run_ = max(m[0] for m in members)
        self.best_epoch_ = min(m[1] for m in members)
        self.states_ = [m[2] for m in members]
        self.spread_ = self._calibrate(valid) if valid is not None else 1.0
        keep = max(s.lags, LONG[self.freq], SEASON[self.freq])
        self.tail_ = np.concatenate([np.zeros((len(self.ids_), max(keep - n, 0))), history[:, -keep:]], axis=1)
        self.age_ = (n - first).astype(np.int64)
        self.origin_ = self.start_ + n * FREQS[self.freq]
        return self

    def _train(
        self, train: tuple[torch.Tensor, ...], valid: tuple[torch.Tensor, ...] | None, seed: int
    ) -> tuple[int, int, dict[str, np.ndarray]]:
        """Mini-batch Adam with early stopping; returns epochs run, the best epoch and its weights."""
        s = dataclasses.replace(self.settings, seed=seed)
        device = pick_device()
        with deterministic(device), torch.random.fork_rng(devices=[]):  # seeds locally, not the caller's
            torch.manual_seed(s.seed)
            net = _Net(len(self.ids_), s).to(device)
            train_d = [t.to(device) for t in train]
            valid_d = [t.to(device) for t in valid] if valid is not None else None
            how = TrainSettings(epochs=s.epochs, batch=s.batch, patience=s.patience, lr=s.lr)
            return fit_early_stopping(net, _loss, train_d, valid_d, how, s.seed)

    def _networks(self) -> list[_Net]:
        nets = []
        for state in self.states_:
            net = _Net(len(self.ids_), self.settings)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
            nets.append(net.eval())
        return nets

    def _outputs(self, series: np.ndarray, x: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's mean (average of the members' means) and quantiles (averaged), on CPU."""
        means, quantiles = [], []
        with torch.no_grad():
            for net in self._networks():
                log_mean, q = net(
                    torch.from_numpy(series.astype(np.int64)),
                    torch.from_numpy(x),
                    torch.from_numpy(scale.astype(np.float32)),
                )
                means.append(torch.exp(log_mean).numpy().astype(float))
                quantiles.append(q.numpy().astype(float))
        return np.mean(means, axis=0), np.mean(quantiles, axis=0)

    def _interval(self, q: np.ndarray, spread: float) -> np.ndarray:
        """p10, p50, p90 with the p10 and p90 distances from p50 times ``spread``, rounded to whole counts.

        A count's quantiles are whole numbers: without rounding a p10 of 1e-7 would leave every
        week of zero demand outside the interval (measured on RTR: 31% coverage instead of 94%).
        """
        mid = q[:, 1]
        lo = np.maximum(mid - spread * (mid - q[:, 0]), 0.0)
        hi = mid + spread * (q[:, 2] - mid)
        return np.round(np.column_stack([lo, mid, hi]))

    def _calibrate(self, valid: tuple[torch.Tensor, ...]) -> float:
        """The spread factor whose rounded [p10, p90] covers closest to ``target_coverage`` of the
        validation window (split conformal on the held-out periods; the smallest factor on ties).

        Rounded quantiles of small counts over-cover (an interval [0, 1] holds most weeks), so the
        raw p10/p90 cover about 94% on RTR items; one factor per fitted model brings that back.
        """
        series, x, scale, y = (t.cpu().numpy() for t in valid)
        _, q = self._outputs(series, x, scale)
        factors = np.linspace(0.0, 2.0, 41)
        cover = np.array([coverage(y, *self._interval(q, f)[:, [0, 2]].T) for f in factors])
        return float(factors[int(np.argmin(np.abs(cover - self.settings.target_coverage)))])

    def _forecast(self, horizon: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """The future frame, the means and the calibrated quantiles (rows x 3), on CPU from the saved tails."""
        k = self.tail_.shape[1]
        series = np.repeat(np.arange(len(self.ids_)), horizon)
        lead = np.tile(np.arange(1, horizon + 1), len(self.ids_))
        origin = np.full(len(series), k, dtype=np.int64)
        day0 = self.origin_ - k * FREQS[self.freq]
        x, scale = window_features(self.tail_, k - self.age_, origin, lead, series, day0, self.freq, self.settings)
        mean, q = self._outputs(series, x, scale)
        out = future_frame(self.ids_, self.origin_ - FREQS[self.freq], horizon, self.freq)
        return out, mean, self._interval(q, self.spread_)

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> pd.DataFrame:
        """``mean`` per series and period for the next ``horizon`` periods; ``lo_80``/``hi_80`` are p10/p90.

        Raises:
            ValueError: a level other than 80 is asked for (the model has only p10 and p90).
        """
        if any(level != 80 for level in levels):
            raise ValueError(f"the neural model has only the 80% interval (p10, p90), not {list(levels)}")
        out, mean, q = self._forecast(horizon)
        out["mean"] = mean
        for level in levels:
            out[f"lo_{level}"], out[f"hi_{level}"] = q[:, 0], q[:, 2]
        return out

    def predict_quantiles(self, horizon: int) -> pd.DataFrame:
        """``unique_id``, ``ds``, ``mean``, ``p10``, ``p50``, ``p90`` for the next ``horizon`` periods."""
        out, mean, q = self._forecast(horizon)
        out["mean"] = mean
        for j, name in enumerate(("p10", "p50", "p90")):
            out[name] = q[:, j]
        return out

    def save(self, path: Path) -> None:
        params = {
            "freq": self.freq,
            "settings": asdict(self.settings),
            "start": self.start_.isoformat(),
            "origin": self.origin_.isoformat(),
            "epochs_run": self.epochs_run_,
            "best_epoch": self.best_epoch_,
            "spread": self.spread_,
            "ids": [str(i) for i in self.ids_],
        }
        arrays = {f"{_WEIGHT}{m}.{k}": v for m, state in enumerate(self.states_) for k, v in state.items()}
        write_artifact(path, self.name, params, {**arrays, "tail": self.tail_, "age": self.age_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, cls.name)
        m = cls(p["freq"], NeuralSettings(**p["settings"]))
        m.start_, m.origin_ = pd.Timestamp(p["start"]), pd.Timestamp(p["origin"])
        m.epochs_run_, m.best_epoch_ = int(p["epochs_run"]), int(p["best_epoch"])
        m.ids_ = np.array(p["ids"], dtype=str)
        m.spread_ = float(p.get("spread", 1.0))  # saved before calibration: the raw [p10, p90]
        states: dict[int, dict[str, np.ndarray]] = {}
        for key, value in a.items():
            if key.startswith(_WEIGHT):
                member, _, name = key.removeprefix(_WEIGHT).partition(".")
                if not member.isdigit():  # saved before ensembles: one network, unnumbered
                    member, name = "0", key.removeprefix(_WEIGHT)
                states.setdefault(int(member), {})[name] = value
        m.states_ = [states[k] for k in sorted(states)]
        m.tail_, m.age_ = a["tail"], a["age"]
        return m
