"""Baseline demand forecasts per SKU x site x event day, and the booking lead-time curve.

``DemandForecaster`` is a Poisson model with a log link in three factors:
``E[bookings of SKU k at site s for event day d] = g(d) * lambda_k * p_ks``, where
- ``g(d)`` is total daily demand: a Poisson GLM on the daily totals of the last year with a
  weekday effect, yearly Fourier terms and a linear trend, fitted by maximum likelihood (L-BFGS);
- ``lambda_k`` is the SKU's share of demand over the last ``window_days``, shrunk toward its
  category's mean share by an empirical-Bayes gamma-Poisson prior (sparse SKUs borrow strength);
- ``p_ks`` is the SKU's split over sites, shrunk toward the global site split.
Not-yet-booked demand is the total times P(lead < days until the event), from the lead curve.
Days are indexes relative to the plan date; zones map to the site that serves them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import poisson

from forecasting.artifacts import data_hash, read_artifact, write_artifact
from forecasting.lead import MAX_LEAD, lead_cdf, unbooked_share
from forecasting.metrics import wape

__all__ = [
    "DemandForecaster",
    "SeasonalNaiveDemand",
    "booking_lead_curve",
    "fit_poisson_glm",
    "grid_frame",
    "score_demand",
    "season_design",
    "shrunk_shares",
    "unbooked_actuals",
]


def booking_lead_curve(bookings: pd.DataFrame) -> np.ndarray:
    """P(lead <= L) for L = 0..365, lead = event_date - booked_on in days (empirical CDF)."""
    return lead_cdf(bookings, MAX_LEAD)


def _index_bookings(
    bookings: pd.DataFrame, sku_ids: pd.Index, site_ids: pd.Index, site_of_zone: Mapping[str, str], plan_date: dt.date
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = sku_ids.get_indexer(pd.Index(bookings["sku_id"].astype(str)))
    site = bookings["zone"].astype(str).map(dict(site_of_zone))
    s = site_ids.get_indexer(pd.Index(site.fillna("")))
    d = (pd.to_datetime(bookings["event_date"]) - pd.Timestamp(plan_date)).dt.days.to_numpy()
    ok = (k >= 0) & (s >= 0)
    return k[ok], s[ok], d[ok]


def season_design(days: np.ndarray, plan_date: dt.date) -> np.ndarray:
    """Columns: intercept, 6 weekday dummies, yearly sin/cos (2 harmonics), trend (per year)."""
    dates = pd.Timestamp(plan_date) + pd.to_timedelta(days, unit="D")
    dow = dates.day_of_week.to_numpy()
    doy = dates.day_of_year.to_numpy() / 365.25 * 2 * np.pi
    cols = [np.ones(len(days))] + [(dow == i).astype(float) for i in range(1, 7)]
    cols += [np.sin(doy), np.cos(doy), np.sin(2 * doy), np.cos(2 * doy), days / 365.0]
    return np.column_stack(cols)


def fit_poisson_glm(X: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Maximum-likelihood Poisson regression with a log link (a small ridge keeps it well posed)."""
    beta0 = np.zeros(X.shape[1])
    beta0[0] = np.log(max(y.mean(), 1e-6))

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = np.clip(X @ beta, -30, 30)
        mu = np.exp(eta)
        return float(mu.sum() - y @ eta + l2 * beta[1:] @ beta[1:]), X.T @ (mu - y) + 2 * l2 * np.r_[0.0, beta[1:]]

    return np.asarray(minimize(nll, beta0, jac=True, method="L-BFGS-B").x)


def shrunk_shares(counts: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, float]:
    """Each series' share of recent demand, shrunk toward its group's mean (empirical-Bayes gamma-Poisson).

    Sparse series borrow strength from their group: the prior's shape comes from how much the
    counts vary beyond Poisson noise. Returns the shares (summing to 1) and the prior's shape.
    Shared by `DemandForecaster` (groups: categories) and the generic `forecasting.linear` model.
    """
    n_k = len(counts)
    cat_n = np.bincount(group, weights=counts)
    cat_k = np.bincount(group)
    mu = np.maximum(cat_n[group] / cat_k[group], 1e-3)
    var = np.var(counts - mu) if n_k > 1 else 0.0
    excess = var - mu.mean()
    shape = float(np.clip(np.mean(mu**2) / excess, 0.05, 1e4)) if excess > 1e-9 else 1e4
    smoothed = (counts + shape) / (1.0 + shape / mu)
    share = smoothed / smoothed.sum() if smoothed.sum() > 0 else np.full(n_k, 1.0 / n_k)
    return share, shape


class DemandForecaster:
    """Poisson GLM baseline for daily demand per SKU x site (see the module docstring)."""

    def __init__(self, window_days: int = 56, history_days: int = 365, site_prior: float = 5.0) -> None:
        self.window_days = window_days
        self.history_days = history_days
        self.site_prior = site_prior

    def fit(
        self, bookings: pd.DataFrame, skus: pd.DataFrame, site_of_zone: Mapping[str, str], plan_date: dt.date
    ) -> Self:
        """Fit on bookings for events in the ``history_days`` before ``plan_date``."""
        self.sku_ids_ = pd.Index(skus["sku_id"].astype(str))
        self.site_ids_ = pd.Index(sorted(set(site_of_zone.values())))
        self.plan_date_ = plan_date
        k, s, d = _index_bookings(bookings, self.sku_ids_, self.site_ids_, site_of_zone, plan_date)
        hist = (d < 0) & (d >= -self.history_days)
        k, s, d = k[hist], s[hist], d[hist]
        days = np.arange(-self.history_days, 0)
        totals = np.bincount(d + self.history_days, minlength=self.history_days).astype(float)
        self.beta_ = fit_poisson_glm(season_design(days, plan_date), totals)

        n_k = len(self.sku_ids_)
        recent = d >= -self.window_days
        counts = np.bincount(k[recent], minlength=n_k).astype(float)
        cat = pd.factorize(skus["category"].astype(str))[0]
        self.share_, self.prior_shape_ = shrunk_shares(counts, cat)

        n_s = len(self.site_ids_)
        ks = np.zeros((n_k, n_s))
        np.add.at(ks, (k, s), 1.0)
        glob = ks.sum(axis=0) / max(ks.sum(), 1.0)
        self.site_split_ = (ks + self.site_prior * glob) / (ks.sum(axis=1, keepdims=True) + self.site_prior)
        season = np.exp(season_design(days[-self.window_days :], plan_date) @ self.beta_)
        # The window's actual total divided by its modelled level: anchors g(d) to recent demand.
        self.level_ = float(recent.sum() / season.sum()) if season.sum() > 0 else 1.0
        self.lead_cdf_ = booking_lead_curve(bookings)
        self.data_hash_ = data_hash(bookings[["sku_id", "zone", "event_date"]])
        return self

    def total_by_day(self, horizon_days: int) -> np.ndarray:
        """Modelled total demand g(d) for horizon days 0..H-1."""
        days = np.arange(horizon_days)
        return np.asarray(self.level_ * np.exp(season_design(days, self.plan_date_) @ self.beta_))

    def predict(self, plan_date: dt.date, horizon_days: int, sku_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per SKU x site x day: expected_total, expected_unbooked and its 10/90% quantiles."""
        if plan_date != self.plan_date_:
            raise ValueError(f"fitted for plan date {self.plan_date_}, asked for {plan_date}")
        g = self.total_by_day(horizon_days)
        lam = self.share_[:, None] * self.site_split_  # (K, S)
        return grid_frame(
            self.sku_ids_,
            self.site_ids_,
            lam[:, :, None] * g[None, None, :],
            unbooked_share(self.lead_cdf_, horizon_days),
            sku_ids,
        )

    def save(self, path: Path) -> None:
        params = {
            "window_days": self.window_days,
            "history_days": self.history_days,
            "site_prior": self.site_prior,
            "plan_date": self.plan_date_.isoformat(),
            "level": self.level_,
            "prior_shape": self.prior_shape_,
            "sku_ids": list(self.sku_ids_),
            "site_ids": list(self.site_ids_),
            "data_hash": self.data_hash_,
        }
        write_artifact(
            path,
            "DemandForecaster",
            params,
            {"beta": self.beta_, "share": self.share_, "site_split": self.site_split_, "lead_cdf": self.lead_cdf_},
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, "DemandForecaster")
        m = cls(p["window_days"], p["history_days"], p["site_prior"])
        m.plan_date_ = dt.date.fromisoformat(p["plan_date"])
        m.level_, m.prior_shape_, m.data_hash_ = p["level"], p["prior_shape"], p["data_hash"]
        m.sku_ids_, m.site_ids_ = pd.Index(p["sku_ids"]), pd.Index(p["site_ids"])
        m.beta_, m.share_, m.site_split_, m.lead_cdf_ = a["beta"], a["share"], a["site_split"], a["lead_cdf"]
        return m


def grid_frame(
    sku_ids: pd.Index, site_ids: pd.Index, total: np.ndarray, share: np.ndarray, only: Sequence[str] | None
) -> pd.DataFrame:
    """The job's forecast rows from expected bookings ``total`` (SKUs x sites x days) and the share
    of each day's bookings still to come: one row per SKU x site x day (``only``: these SKUs)."""
    K, S, H = total.shape
    kk, ss, dd = (a.ravel() for a in np.meshgrid(np.arange(K), np.arange(S), np.arange(H), indexing="ij"))
    tot = total.ravel()
    unb = tot * share[dd]
    frame = pd.DataFrame(
        {
            "sku_id": sku_ids.to_numpy()[kk],
            "site_id": site_ids.to_numpy()[ss],
            "day": dd,
            "expected_total": tot,
            "expected_unbooked": unb,
            "unbooked_q10": poisson.ppf(0.1, unb),
            "unbooked_q90": poisson.ppf(0.9, unb),
        }
    )
    if only is not None:
        frame = frame[frame["sku_id"].isin(set(only))].reset_index(drop=True)
    return frame


class SeasonalNaiveDemand:
    """Same weekday of the last complete week before the plan date, per SKU x site."""

    def fit(
        self, bookings: pd.DataFrame, skus: pd.DataFrame, site_of_zone: Mapping[str, str], plan_date: dt.date
    ) -> Self:
        self.sku_ids_ = pd.Index(skus["sku_id"].astype(str))
        self.site_ids_ = pd.Index(sorted(set(site_of_zone.values())))
        self.plan_date_ = plan_date
        k, s, d = _index_bookings(bookings, self.sku_ids_, self.site_ids_, site_of_zone, plan_date)
        last = (d >= -7) & (d < 0)
        self.week_ = np.zeros((len(self.sku_ids_), len(self.site_ids_), 7))
        np.add.at(self.week_, (k[last], s[last], d[last] + 7), 1.0)  # position 0 = day -7, same weekday as day 0
        self.lead_cdf_ = booking_lead_curve(bookings)
        return self

    def predict(self, plan_date: dt.date, horizon_days: int, sku_ids: Sequence[str] | None = None) -> pd.DataFrame:
        if plan_date != self.plan_date_:
            raise ValueError(f"fitted for plan date {self.plan_date_}, asked for {plan_date}")
        total = self.week_[:, :, np.arange(horizon_days) % 7]
        return grid_frame(self.sku_ids_, self.site_ids_, total, unbooked_share(self.lead_cdf_, horizon_days), sku_ids)

    def save(self, path: Path) -> None:
        params = {
            "plan_date": self.plan_date_.isoformat(),
            "sku_ids": list(self.sku_ids_),
            "site_ids": list(self.site_ids_),
        }
        write_artifact(path, "SeasonalNaiveDemand", params, {"week": self.week_, "lead_cdf": self.lead_cdf_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, "SeasonalNaiveDemand")
        m = cls()
        m.plan_date_ = dt.date.fromisoformat(p["plan_date"])
        m.sku_ids_, m.site_ids_ = pd.Index(p["sku_ids"]), pd.Index(p["site_ids"])
        m.week_, m.lead_cdf_ = a["week"], a["lead_cdf"]
        return m


def unbooked_actuals(
    holdout_bookings: pd.DataFrame, site_of_zone: Mapping[str, str], plan_date: dt.date, horizon_days: int
) -> pd.DataFrame:
    """Bookings made after the plan date, counted per sku_id, site_id and event day."""
    b = holdout_bookings
    day = (pd.to_datetime(b["event_date"]) - pd.Timestamp(plan_date)).dt.days
    frame = pd.DataFrame(
        {"sku_id": b["sku_id"].astype(str), "site_id": b["zone"].astype(str).map(dict(site_of_zone)), "day": day}
    )
    frame = frame[(frame["day"] >= 0) & (frame["day"] < horizon_days) & frame["site_id"].notna()]
    return frame.groupby(["sku_id", "site_id", "day"], as_index=False).size().rename(columns={"size": "count"})


LEVELS: dict[str, list[str]] = {
    "sku_week": ["sku_id", "week"],
    "sku_site_week": ["sku_id", "site_id", "week"],
    "sku_site_day": ["sku_id", "site_id", "day"],
    "sku": ["sku_id"],
}
PRIMARY_LEVEL = "sku_week"  # a buyer's question: how many of this SKU next week


def score_demand(pred: pd.DataFrame, actual: pd.DataFrame) -> dict[str, object]:
    """WAPE of expected_unbooked against actual counts, summed to several levels (missing = 0).

    ``wape`` is at ``PRIMARY_LEVEL`` (SKU x event week, days 0-6, 7-13, ...). Finer levels are
    reported too; there most cells hold 0 or 1 booking, and WAPE — minimised by the median, which
    is 0 for such cells — favours forecasts that are mostly zero over calibrated means.
    """
    p = pred.assign(week=pred["day"] // 7)
    a = actual.assign(week=actual["day"] // 7)
    by_level: dict[str, float] = {}
    for name, keys in LEVELS.items():
        pa_ = p.groupby(keys)["expected_unbooked"].sum()
        aa = a.groupby(keys)["count"].sum()
        idx = pa_.index.union(aa.index)
        by_level[name] = wape(aa.reindex(idx, fill_value=0.0), pa_.reindex(idx, fill_value=0.0))
    return {
        "wape": by_level[PRIMARY_LEVEL],
        "level": PRIMARY_LEVEL,
        "by_level": by_level,
        "actual": float(a["count"].sum()),
        "predicted": float(p["expected_unbooked"].sum()),
    }
