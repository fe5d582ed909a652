"""`LateReturnHazard`: a discrete-time hazard over days late per rental, in torch.

For delay days j = 0 .. K-1 (K = ``max_delay``) the model gives ``h_j = P(delay = j | delay >= j)``,
the chance a rental still out j days after its due date comes back that day; the last bucket of the
delay distribution is ``delay >= K``. So ``P(delay = j) = h_j prod_{i<j} (1 - h_i)`` and a rental
still out ``k`` days after its due date comes back by day ``t`` with ``P(k <= delay <= t) / P(delay >=
k)`` (`prob_back_by`). Features (`forecasting.hazard_features`): the customer's, SKU's and category's
smoothed past late rates over rentals due before the row, zone, rental length, occasion, due-date
calendar, and any extra numeric columns a caller names.

Why a hazard and not a late/on-time classifier: a rental still out past its due date on the plan
date is a *censored* delay (at least the days since). The hazard learns from it without bias — its
steps so far count as "not back yet" — where dropping it (as `LateReturnModel` must) leaves the
recent history short of its longest delays. The same form answers the planner's question for a
unit already late: when will it be back, given it is not back yet.

The network: a baseline logit per day plus two scores of the rental's features (each a linear
layer plus a one-hidden-layer MLP): one for "back on time at all" (``h_0``), one for "how fast a
late rental comes back" (``h_j``, j >= 1). Loss: the hazard's log-likelihood,
binary cross-entropy over each rental's at-risk steps. Fitting is seeded and, on CPU,
deterministic; it runs on CUDA when present; mini-batch Adam with early stopping on a validation
window carved out by due date (the latest ``valid_share`` of fitted rentals), keeping the weights
of the best validation epoch. Predictions are always computed on CPU from the saved weights, so a
loaded model predicts exactly what the fitted one did. Saved as meta.json + arrays.npz through
`forecasting.artifacts` (no pickle, no ``torch.save``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecasting.artifacts import data_hash, read_artifact, write_artifact
from forecasting.hazard_features import (
    CALENDAR_COLUMNS,
    FeatureSpec,
    History,
    design_matrix,
    history_totals,
    prior_counts,
    rental_outcomes,
)
from forecasting.torch_fit import TrainSettings, deterministic, fit_early_stopping, pick_device

__all__ = ["HazardSettings", "LateReturnHazard", "conditional_pmf", "pmf_from_hazard"]

_WEIGHT: Final = "w."  # prefix of the state dict's arrays in arrays.npz
_HISTORIES: Final = ("customer", "sku", "category")


@dataclass(frozen=True)
class HazardSettings:
    """Hyperparameters; the defaults fit a "small" world (about 20k rentals) in seconds on 2 cores."""

    hidden: int = 16  # 16 vs 32: Brier 0.2279 vs 0.2281 on tuning seeds 1-4 (noise, but no worse and cheaper)
    epochs: int = 40
    patience: int = 4  # epochs without a better validation loss before stopping
    batch: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-4
    valid_share: float = 0.15  # the latest rentals by due date, held out for early stopping
    max_rows: int = 150_000  # rentals sampled for the fit: more adds little to a few dozen weights
    # Share of training rentals seen without their due date, SKU and category, so a frame without
    # those columns (the job's) is a case the network has learnt, not an input it never saw.
    context_dropout: float = 0.15
    numeric: tuple[str, ...] = ()  # extra numeric columns of the rentals (GetAround: the gap before)
    calendar: bool = True  # False where ``due_back`` is only an order (GetAround's rental ids)


def pmf_from_hazard(h: np.ndarray) -> np.ndarray:
    """(n, K+1) delay distribution from (n, K) hazards; the last column is ``delay >= K``."""
    survive = np.cumprod(np.c_[np.ones(len(h)), 1.0 - h], axis=1)  # P(delay >= j), j = 0..K
    return np.c_[survive[:, :-1] * h, survive[:, -1]]


def conditional_pmf(pmf: np.ndarray, days_out: np.ndarray) -> np.ndarray:
    """The delay distribution given ``delay >= days_out`` (per row; 0 or less: unconditional).

    ``days_out`` beyond the last bucket is the last bucket. A row with no mass left (cannot happen
    with hazards below 1) falls back to its last bucket.
    """
    K1 = pmf.shape[1]
    k = np.clip(np.asarray(days_out, dtype=np.int64), 0, K1 - 1)
    out = np.where(np.arange(K1)[None, :] >= k[:, None], pmf, 0.0)
    mass = out.sum(axis=1, keepdims=True)
    out = np.divide(out, mass, out=np.zeros_like(out), where=mass > 0)
    out[mass[:, 0] <= 0, -1] = 1.0
    return out


def _steps(delay: np.ndarray, censored: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """(at risk, came back) per rental and day j < K: the hazard's likelihood terms.

    A rental back on day d < K is at risk on days 0..d and back on d; one in the tail (d >= K) is
    at risk on every day and never back within them; one censored at c (still out c days after its
    due date) is at risk on days 0..c-1 only.
    """
    j = np.arange(K)[None, :]
    limit = np.where(censored, delay, np.minimum(delay + 1, K))
    at_risk = j < limit[:, None]
    event = (~censored & (delay < K))[:, None] & (j == delay[:, None])
    return at_risk.astype(np.float32), event.astype(np.float32)


class _Net(nn.Module):
    """Features -> K hazard logits: a baseline per day plus two scores of the rental.

    ``logit h_0 = b_0 + s_0(x)`` (back on time at all) and ``logit h_j = b_j + s_1(x)`` for j >= 1
    (how fast a late rental comes back), each score a linear part plus a small MLP for
    interactions. Two scores, not one per day: a free output per day fitted the delay's shape to
    noise (delay log loss on tuning seeds 1-4 worse than LateReturnModel's), while "whether late"
    and "how late" are the two things customers differ in.
    """

    def __init__(self, n_features: int, hidden: int, max_delay: int) -> None:
        super().__init__()
        self.step = nn.Parameter(torch.zeros(max_delay))
        self.linear = nn.Linear(n_features, 2)
        self.mlp = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``h_j`` (rows x K)."""
        score = self.linear(x) + self.mlp(x)
        later = score[:, 1:2].expand(-1, len(self.step) - 1)
        return self.step[None, :] + torch.cat([score[:, 0:1], later], dim=1)


def _loss(net: _Net, x: torch.Tensor, at_risk: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the hazard per rental (mean over rentals)."""
    bce = nn.functional.binary_cross_entropy_with_logits(net(x), event, reduction="none")
    return (bce * at_risk).sum() / max(len(x), 1)


class LateReturnHazard:
    """Delay distribution of a rental as a discrete-time hazard (module docstring)."""

    name: ClassVar[str] = "late_hazard"

    def __init__(self, max_delay: int = 14, seed: int = 0, settings: HazardSettings | None = None) -> None:
        self.max_delay = max_delay
        self.seed = seed
        self.settings = settings or HazardSettings()

    @property
    def base_rate_(self) -> float:
        """The training late rate (rentals whose outcome was known on the plan date), as LateReturnModel has."""
        return self.spec_.base_rate

    # ---- features --------------------------------------------------------------------------
    def _categories(self, frame: pd.DataFrame) -> pd.Series:
        """Each row's category: its own column, else through its SKU, else unknown ("")."""
        if "category" in frame:
            return frame["category"].astype(str).fillna("")
        if "sku_id" in frame:
            return frame["sku_id"].astype(str).map(self.sku_category_).fillna("")
        return pd.Series("", index=frame.index)

    def _predict_features(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised features of rows to predict: history as of the plan date."""
        n = len(frame)
        none = (np.zeros(n), np.zeros(n))
        cust = self.histories_["customer"].lookup(frame["customer_id"])
        sku = self.histories_["sku"].lookup(frame["sku_id"]) if "sku_id" in frame else none
        cat = self.histories_["category"].lookup(self._categories(frame))
        X = design_matrix(self.spec_, frame, cust, sku, cat)
        return np.asarray((X - self.mean_) / self.scale_, dtype=np.float32)

    # ---- fitting ---------------------------------------------------------------------------
    def fit(
        self, rentals: pd.DataFrame, customers: pd.DataFrame, plan_date: dt.date, skus: pd.DataFrame | None = None
    ) -> Self:
        """Fit on the rentals whose delay the plan date tells something about.

        Args:
            rentals: the rentals table (customer_id, zone, rental_days, due_back, delay_days; sku_id
                and occasion used when present); a rental out past its due date counts as censored.
            customers: customer_id, zone (the zone vocabulary).
            plan_date: the morning the history ends.
            skus: sku_id, category (optional: the category feature).
        """
        s, K = self.settings, self.max_delay
        frame = rentals.reset_index(drop=True)
        out = rental_outcomes(frame, plan_date, K)
        known = out["late_known"].to_numpy()
        late = out["late"].to_numpy()
        if not known.any():
            raise ValueError("no rental with a known outcome before the plan date: nothing to fit")
        self.sku_category_ = (
            skus.assign(sku_id=skus["sku_id"].astype(str)).set_index("sku_id")["category"].astype(str)
            if skus is not None
            else pd.Series(dtype=str)
        )
        zones = set(customers["zone"].astype(str)) | set(frame["zone"].astype(str))
        occasions = tuple(sorted(set(frame["occasion"].dropna().astype(str)))) if "occasion" in frame else ()
        self.spec_ = FeatureSpec(
            base_rate=float(late[known].mean()),
            zones=tuple(sorted(zones)),
            occasions=occasions,
            numeric=s.numeric,
            calendar=s.calendar,
        )
        keys = {
            "customer": frame["customer_id"].astype(str).fillna(""),
            "sku": frame["sku_id"].astype(str).fillna("") if "sku_id" in frame else pd.Series("", index=frame.index),
            "category": self._categories(frame),
        }
        time = pd.to_datetime(frame["due_back"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
        # An empty key (no SKU column, no category) is "unknown", never one big shared history:
        # counted as one, its running count would be a clock the network learns and a frame
        # without the column could not reproduce.
        prior = {
            name: prior_counts(
                np.unique(k.to_numpy(), return_inverse=True)[1], time, late, known & (k != "").to_numpy()
            )
            for name, k in keys.items()
        }
        rng = np.random.default_rng(self.seed)
        drop = rng.uniform(0, 1, len(frame)) < s.context_dropout
        for name in ("sku", "category"):
            prior[name] = (np.where(drop, 0.0, prior[name][0]), np.where(drop, 0.0, prior[name][1]))
        X = design_matrix(self.spec_, frame, prior["customer"], prior["sku"], prior["category"])
        if s.calendar:
            X[drop, -CALENDAR_COLUMNS:] = 0.0
        self.histories_: dict[str, History] = {
            name: history_totals(k, late, known & (k != "").to_numpy()) for name, k in keys.items()
        }
        self.data_hash_ = data_hash(frame[["customer_id", "due_back"]].astype(str), out[["delay", "censored"]])

        rows = np.nonzero(out["informative"].to_numpy())[0]
        if len(rows) > s.max_rows:
            rows = np.sort(rng.choice(rows, s.max_rows, replace=False))
        order = rows[np.argsort(time[rows], kind="stable")]
        n_valid = int(len(order) * s.valid_share) if len(order) >= 20 else 0
        train, valid = order[: len(order) - n_valid], order[len(order) - n_valid :]
        self.mean_ = X[train].mean(axis=0)
        self.scale_ = X[train].std(axis=0) + 1e-6
        Xs = ((X - self.mean_) / self.scale_).astype(np.float32)
        at_risk, event = _steps(out["delay"].to_numpy(), out["censored"].to_numpy(), K)
        self.epochs_run_, self.best_epoch_, self.state_ = self._train(
            (Xs[train], at_risk[train], event[train]),
            (Xs[valid], at_risk[valid], event[valid]) if n_valid else None,
        )
        self.n_fit_ = len(rows)
        self._net: _Net | None = None
        return self

    def _train(
        self, train: tuple[np.ndarray, ...], valid: tuple[np.ndarray, ...] | None
    ) -> tuple[int, int, dict[str, np.ndarray]]:
        """Mini-batch Adam with early stopping; returns epochs run, the best epoch and its weights."""
        s, K = self.settings, self.max_delay
        device = pick_device()
        # One thread: batches of 1024 x a few dozen features are too small to share, and on a
        # loaded 2-core machine two threads made each step 15x slower (measured: 64 ms vs 4 ms).
        with deterministic(device, threads=1), torch.random.fork_rng(devices=[]):  # seeds locally
            torch.manual_seed(self.seed)
            net = _Net(train[0].shape[1], s.hidden, K)
            with torch.no_grad():  # start from the pooled hazard per day: the first epochs learn features
                back = train[2].sum(axis=0) + 0.5
                risk = train[1].sum(axis=0) + 1.0
                h0 = np.clip(back / risk, 1e-4, 1 - 1e-4)
                net.step.copy_(torch.from_numpy(np.log(h0 / (1 - h0)).astype(np.float32)))
            net = net.to(device)
            train_d = [torch.from_numpy(a).to(device) for a in train]
            valid_d = [torch.from_numpy(a).to(device) for a in valid] if valid is not None else None
            how = TrainSettings(
                epochs=s.epochs, batch=s.batch, patience=s.patience, lr=s.lr, weight_decay=s.weight_decay
            )
            return fit_early_stopping(net, _loss, train_d, valid_d, how, self.seed)

    # ---- prediction ------------------------------------------------------------------------
    def _network(self) -> _Net:
        """The best-epoch network on CPU (built once from the saved weights)."""
        if getattr(self, "_net", None) is None:
            net = _Net(len(self.mean_), self.settings.hidden, self.max_delay)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.state_.items()})
            self._net = net.eval()
        assert self._net is not None
        return self._net

    def predict_hazard(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, max_delay) hazards ``h_j = P(delay = j | delay >= j)``."""
        if len(frame) == 0:
            return np.zeros((0, self.max_delay))
        x = torch.from_numpy(self._predict_features(frame))
        with torch.no_grad():
            return torch.sigmoid(self._network()(x)).numpy().astype(float)

    def predict_pmf(self, frame: pd.DataFrame, days_out: np.ndarray | None = None) -> np.ndarray:
        """(n, max_delay + 1) delay distributions for rows with customer_id, zone, rental_days.

        ``sku_id``, ``category``, ``due_back``, ``occasion`` (and the settings' numeric columns) are
        used when the frame has them. ``days_out``, when given: per row the days the rental is
        already out past its due date, and the distribution is conditioned on ``delay >= days_out``.
        """
        pmf = pmf_from_hazard(self.predict_hazard(frame))
        return pmf if days_out is None else conditional_pmf(pmf, days_out)

    def predict_late_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(delay >= 1 day)."""
        return 1.0 - self.predict_pmf(frame)[:, 0]

    def prob_back_by(self, frame: pd.DataFrame, days_out: np.ndarray, t: np.ndarray) -> np.ndarray:
        """P(delay <= t | delay >= days_out): back by day ``t`` after its due date, given not back yet.

        ``t`` at or beyond ``max_delay`` counts the tail bucket as back (the planner's reading of
        the last column); ``t < days_out`` gives 0.
        """
        cdf = np.cumsum(self.predict_pmf(frame, days_out=np.asarray(days_out)), axis=1)
        col = np.clip(np.asarray(t, dtype=np.int64), -1, self.max_delay)
        return np.where(col >= 0, cdf[np.arange(len(cdf)), np.maximum(col, 0)], 0.0)

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the model as meta.json (settings, vocabulary) and arrays.npz (weights, histories)."""
        settings: dict[str, Any] = asdict(self.settings)
        settings["numeric"] = list(self.settings.numeric)
        params = {
            "max_delay": self.max_delay,
            "seed": self.seed,
            "settings": settings,
            "spec": self.spec_.to_params(),
            "epochs_run": self.epochs_run_,
            "best_epoch": self.best_epoch_,
            "n_fit": self.n_fit_,
            "data_hash": self.data_hash_,
        }
        arrays: dict[str, np.ndarray] = {f"{_WEIGHT}{k}": v for k, v in self.state_.items()}
        arrays |= {"mean": self.mean_, "scale": self.scale_}
        arrays |= {"sku_category_keys": self.sku_category_.index.to_numpy(dtype=str)}
        arrays |= {"sku_category_values": self.sku_category_.to_numpy(dtype=str)}
        for name in _HISTORIES:
            h = self.histories_[name]
            arrays |= {f"{name}_ids": h.ids.to_numpy(dtype=str), f"{name}_n": h.n, f"{name}_late": h.late}
        write_artifact(path, self.name, params, arrays)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model written by ``save``."""
        p, a = read_artifact(path, cls.name)
        raw = dict(p["settings"])
        raw["numeric"] = tuple(raw["numeric"])
        m = cls(int(p["max_delay"]), int(p["seed"]), HazardSettings(**raw))
        m.spec_ = FeatureSpec.from_params(p["spec"])
        m.epochs_run_, m.best_epoch_, m.n_fit_ = int(p["epochs_run"]), int(p["best_epoch"]), int(p["n_fit"])
        m.data_hash_ = str(p["data_hash"])
        m.state_ = {k.removeprefix(_WEIGHT): v for k, v in a.items() if k.startswith(_WEIGHT)}
        m.mean_, m.scale_ = a["mean"], a["scale"]
        m.sku_category_ = pd.Series(a["sku_category_values"].astype(str), index=a["sku_category_keys"].astype(str))
        m.histories_ = {
            name: History(pd.Index(a[f"{name}_ids"].astype(str)), a[f"{name}_n"], a[f"{name}_late"])
            for name in _HISTORIES
        }
        m._net = None
        return m
