"""Late-return delay distribution per rental: a continuation-ratio logistic model.

For delay days j = 0 .. max_delay-1, ``P(delay > j | delay >= j) = sigmoid(theta_j + w . x)``: one
intercept per step and shared slopes on the rental's features ``x``:
- the customer's smoothed past late rate (logit) and log(1 + past returned rentals) — at fit time
  only rentals due *before* each rental count, so a rental never informs its own feature;
- rental length (8 days vs 4) and zone (one-hot; carrier and distance).
Fitted by L2-regularised maximum likelihood (L-BFGS). The last bucket is ``delay >= max_delay``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from forecasting.artifacts import data_hash, read_artifact, write_artifact
from forecasting.metrics import auc, base_rate_brier, brier

__all__ = ["LateReturnModel", "score_late_returns"]

PRIOR_WEIGHT = 2.0  # pseudo-rentals pulling a new customer's late rate toward the base rate
MAX_FIT_ROWS = 400_000  # rentals sampled for the fit: the likelihood is smooth, more adds little


class LateReturnModel:
    """Delay distribution of a rental (days late coming back), from customer history and rental facts."""

    def __init__(self, max_delay: int = 14, l2: float = 1e-2, seed: int = 0) -> None:
        self.max_delay = max_delay
        self.l2 = l2
        self.seed = seed

    def _features(self, rate: np.ndarray, n_prior: np.ndarray, rental_days: np.ndarray, zone: pd.Series) -> np.ndarray:
        r = np.clip(rate, 1e-3, 1 - 1e-3)
        z = self.zones_.get_indexer(zone.astype(str).fillna(""))
        onehot = np.zeros((len(r), max(len(self.zones_) - 1, 0)))
        has = z >= 1  # zone 0 is the reference level; unknown zones (-1) get none
        onehot[np.nonzero(has)[0], z[has] - 1] = 1.0
        return np.column_stack([np.log(r / (1 - r)), np.log1p(n_prior), (rental_days == 8).astype(float), onehot])

    def fit(self, rentals: pd.DataFrame, customers: pd.DataFrame, plan_date: dt.date) -> Self:
        """Fit on rentals returned before ``plan_date`` (``delay_days`` known)."""
        done = rentals[rentals["delay_days"].notna()]
        done = done.sort_values(["customer_id", "due_back"], kind="stable")
        delay = np.clip(done["delay_days"].to_numpy(dtype=np.int64), 0, self.max_delay)
        late = (delay >= 1).astype(float)
        self.base_rate_ = float(late.mean()) if len(late) else 0.0
        self.zones_ = pd.Index(sorted(customers["zone"].astype(str).unique()))
        cust = done["customer_id"].astype(str).to_numpy()
        first = np.r_[True, cust[1:] != cust[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(cust)), 0))
        n_prior = np.arange(len(cust)) - start  # rentals of the same customer due before this one
        cum = np.cumsum(late)
        late_prior = cum - late - np.where(start > 0, cum[start - 1], 0.0)
        rate = (late_prior + PRIOR_WEIGHT * self.base_rate_) / (n_prior + PRIOR_WEIGHT)
        X = self._features(rate, n_prior, done["rental_days"].to_numpy(), done["zone"])
        if len(X) > MAX_FIT_ROWS:
            pick = np.random.default_rng(self.seed).choice(len(X), MAX_FIT_ROWS, replace=False)
            X, delay = X[pick], delay[pick]
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0) + 1e-9
        Xs = (X - self.mean_) / self.scale_
        # Expand each rental into its steps j = 0 .. min(delay, K-1): y = 1 if it went past day j.
        K = self.max_delay
        steps = np.minimum(delay, K - 1) + 1
        row = np.repeat(np.arange(len(delay)), steps)
        j = np.arange(len(row)) - np.repeat(np.cumsum(steps) - steps, steps)
        y = (delay[row] > j).astype(float)
        Xr = Xs[row]
        F = X.shape[1]

        def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
            theta, w = params[:K], params[K:]
            eta = theta[j] + Xr @ w
            p = expit(eta)
            ll = y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)
            g = p - y
            grad_theta = np.bincount(j, weights=g, minlength=K)
            grad_w = Xr.T @ g + 2 * self.l2 * w * len(delay)
            return float(-ll.sum() + self.l2 * len(delay) * w @ w), np.r_[grad_theta, grad_w]

        x0 = np.zeros(K + F)
        x0[:K] = np.log(np.clip(self.base_rate_, 1e-3, 1 - 1e-3) / (1 - np.clip(self.base_rate_, 1e-3, 1 - 1e-3)))
        self.params_ = np.asarray(minimize(nll, x0, jac=True, method="L-BFGS-B").x)

        # Customer history as of the plan date, for prediction.
        by = pd.DataFrame({"c": cust, "late": late}).groupby("c")["late"].agg(["sum", "count"])
        self.cust_ids_ = pd.Index(by.index.astype(str))
        self.cust_late_ = by["sum"].to_numpy(dtype=float)
        self.cust_n_ = by["count"].to_numpy(dtype=float)
        self.data_hash_ = data_hash(done[["customer_id", "due_back", "delay_days"]])
        return self

    def predict_pmf(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, max_delay + 1) delay distributions for rows with customer_id, zone, rental_days."""
        c = self.cust_ids_.get_indexer(frame["customer_id"].astype(str).fillna(""))
        known = c >= 0
        n_prior = np.where(known, self.cust_n_[np.maximum(c, 0)], 0.0)
        late_prior = np.where(known, self.cust_late_[np.maximum(c, 0)], 0.0)
        rate = (late_prior + PRIOR_WEIGHT * self.base_rate_) / (n_prior + PRIOR_WEIGHT)
        X = (
            self._features(rate, n_prior, frame["rental_days"].to_numpy(dtype=float), frame["zone"]) - self.mean_
        ) / self.scale_
        K = self.max_delay
        cont = expit(self.params_[:K][None, :] + (X @ self.params_[K:])[:, None])  # P(> j | >= j)
        survive = np.cumprod(np.c_[np.ones(len(X)), cont], axis=1)  # P(>= j), j = 0..K
        pmf = survive[:, :K] * (1 - cont)
        return np.c_[pmf, survive[:, K]]

    def predict_late_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(delay >= 1 day)."""
        return 1.0 - self.predict_pmf(frame)[:, 0]

    def save(self, path: Path) -> None:
        params = {
            "max_delay": self.max_delay,
            "l2": self.l2,
            "seed": self.seed,
            "base_rate": self.base_rate_,
            "zones": list(self.zones_),
            "data_hash": self.data_hash_,
        }
        arrays = {
            "params": self.params_,
            "mean": self.mean_,
            "scale": self.scale_,
            "cust_ids": np.asarray(self.cust_ids_, dtype=str),
            "cust_late": self.cust_late_,
            "cust_n": self.cust_n_,
        }
        write_artifact(path, "LateReturnModel", params, arrays)

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, "LateReturnModel")
        m = cls(p["max_delay"], p["l2"], p["seed"])
        m.base_rate_, m.zones_, m.data_hash_ = p["base_rate"], pd.Index(p["zones"]), p["data_hash"]
        m.params_, m.mean_, m.scale_ = a["params"], a["mean"], a["scale"]
        m.cust_ids_, m.cust_late_, m.cust_n_ = pd.Index(a["cust_ids"].astype(str)), a["cust_late"], a["cust_n"]
        return m


def score_late_returns(
    model: LateReturnModel, outstanding: pd.DataFrame, returns: pd.DataFrame, plan_date: dt.date | None = None
) -> dict[str, float]:
    """Brier, base-rate Brier and AUC of P(late) on rentals out on the plan date, against their real return.

    Only rentals not yet due on the plan date are scored (one already overdue is late for sure,
    which says nothing about the model); late = returned after its due_back.
    """
    m = outstanding.drop(columns=["returned_on"], errors="ignore").merge(
        returns[["rental_id", "returned_on"]], on="rental_id", how="inner"
    )
    if plan_date is not None:
        m = m[pd.to_datetime(m["due_back"]) >= pd.Timestamp(plan_date)]
    y = (pd.to_datetime(m["returned_on"]) > pd.to_datetime(m["due_back"])).to_numpy()
    p = model.predict_late_proba(m)
    return {
        "brier": brier(y, p),
        "base_rate_brier": base_rate_brier(model.base_rate_, y),
        "auc": auc(y, p),
        "n": float(len(m)),
    }
