"""The main job's demand forecast, through the one forecaster interface.

The plan needs expected bookings per SKU x site x event day over the horizon, and the part of them
not booked yet. Three small pieces give it, each its own model:

1. any `forecasting.base.Forecaster` (by name, or the registry's champion) fitted on one daily
   series per SKU — bookings counted by event day, complete for every day before the plan date;
2. `SiteSplit`: each SKU's share of bookings per site (zones map to the site that serves them),
   shrunk toward the overall split so a sparse SKU borrows it;
3. `forecasting.lead.BookingLeadCurve`: the share of an event day's bookings still to come.

`JobDemand` composes them and answers in the rows the job has always used (``expected_total``,
``expected_unbooked`` and its Poisson 10/90% quantiles per SKU, site and day), so the decision
model, the forecast tables and the scores read it as before while the model behind it is
whichever the registry or the job's options name. Forecasting per SKU, not per SKU x site, keeps
the frame at SKUs x days (a third of the rows) and lets sparse site series share one SKU level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Self

import numpy as np
import pandas as pd

from forecasting.artifacts import data_hash, read_artifact, write_artifact
from forecasting.base import Forecaster, load_forecaster
from forecasting.demand import grid_frame
from forecasting.lead import BookingLeadCurve
from forecasting.series import ID, TARGET, TIME

__all__ = ["HISTORY_DAYS", "JobDemand", "SiteSplit", "sku_series"]

HISTORY_DAYS: Final = 365  # a year of event days: what the yearly terms of the GLM need
SITE_PRIOR: Final = 5.0  # pseudo-bookings pulling a SKU's site split toward the overall split


def _site_index(
    bookings: pd.DataFrame, sku_ids: pd.Index, site_ids: pd.Index, site_of_zone: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each known booking's SKU index, site index and event date (unknown SKUs or zones dropped)."""
    k = sku_ids.get_indexer(pd.Index(bookings["sku_id"].astype(str)))
    site = bookings["zone"].astype(str).map(dict(site_of_zone))
    s = site_ids.get_indexer(pd.Index(site.fillna("")))
    ok = (k >= 0) & (s >= 0)
    return k[ok], s[ok], pd.to_datetime(bookings["event_date"]).to_numpy()[ok]


def sku_series(bookings: pd.DataFrame, sku_ids: pd.Index, plan_date: dt.date, history_days: int) -> pd.DataFrame:
    """Bookings per SKU and event day over the ``history_days`` before ``plan_date`` (a long frame).

    Only event days before the plan date: their bookings are complete, while later days are still
    filling up (the lead curve's business). Every SKU gets a zero row on the day before the plan
    date, so every series ends there and the forecast of any model starts on the plan date.
    """
    plan = pd.Timestamp(plan_date)
    event = pd.to_datetime(bookings["event_date"])
    keep = (event < plan) & (event >= plan - pd.Timedelta(days=history_days))
    sku = bookings.loc[keep, "sku_id"].astype(str)
    known = sku.isin(sku_ids)
    counts = pd.DataFrame({ID: sku[known].to_numpy(), TIME: event[keep][known].to_numpy(), TARGET: 1.0})
    last = pd.DataFrame({ID: sku_ids.to_numpy(dtype=str), TIME: plan - pd.Timedelta(days=1), TARGET: 0.0})
    return pd.concat([counts, last], ignore_index=True)


class SiteSplit:
    """Each SKU's split of bookings over sites, shrunk toward the overall split (module docstring)."""

    def __init__(self, prior: float = SITE_PRIOR) -> None:
        self.prior = prior

    def fit(
        self,
        bookings: pd.DataFrame,
        sku_ids: pd.Index,
        site_ids: pd.Index,
        site_of_zone: Mapping[str, str],
        plan_date: dt.date,
        history_days: int = HISTORY_DAYS,
    ) -> Self:
        """Fit on bookings for event days in the ``history_days`` before ``plan_date``."""
        k, s, event = _site_index(bookings, sku_ids, site_ids, site_of_zone)
        plan = np.datetime64(plan_date, "ns")
        hist = (event < plan) & (event >= plan - np.timedelta64(history_days, "D"))
        ks = np.zeros((len(sku_ids), len(site_ids)))
        np.add.at(ks, (k[hist], s[hist]), 1.0)
        overall = ks.sum(axis=0) / ks.sum() if ks.sum() > 0 else np.full(len(site_ids), 1.0 / max(len(site_ids), 1))
        self.split_ = (ks + self.prior * overall) / (ks.sum(axis=1, keepdims=True) + self.prior)
        return self


class JobDemand:
    """A forecaster per SKU x a site split x the lead curve (module docstring)."""

    def __init__(
        self, forecaster: Forecaster, history_days: int = HISTORY_DAYS, site_prior: float = SITE_PRIOR
    ) -> None:
        self.forecaster = forecaster
        self.history_days = history_days
        self.site_prior = site_prior

    @property
    def model_name(self) -> str:
        return self.forecaster.name

    def fit(
        self, bookings: pd.DataFrame, skus: pd.DataFrame, site_of_zone: Mapping[str, str], plan_date: dt.date
    ) -> Self:
        """Fit the three parts on history before ``plan_date`` (bookings made by then)."""
        self.plan_date_ = plan_date
        self.sku_ids_ = pd.Index(skus["sku_id"].astype(str))
        self.site_ids_ = pd.Index(sorted(set(site_of_zone.values())))
        self.forecaster.fit(sku_series(bookings, self.sku_ids_, plan_date, self.history_days))
        self.split_ = SiteSplit(self.site_prior).fit(
            bookings, self.sku_ids_, self.site_ids_, site_of_zone, plan_date, self.history_days
        )
        self.lead_ = BookingLeadCurve().fit(bookings)
        self.data_hash_ = data_hash(bookings[["sku_id", "zone", "event_date"]])
        return self

    @property
    def lead_cdf_(self) -> np.ndarray:
        """P(lead <= L days): what the decision model reads to split booked from unbooked demand."""
        return self.lead_.cdf_

    def sku_day_means(self, horizon_days: int) -> np.ndarray:
        """Expected bookings per SKU and horizon day (SKUs x days), from the forecaster."""
        pred = self.forecaster.predict(horizon_days)
        k = self.sku_ids_.get_indexer(pd.Index(pred[ID].astype(str)))
        d = ((pd.to_datetime(pred[TIME]) - pd.Timestamp(self.plan_date_)) // pd.Timedelta(days=1)).to_numpy()
        ok = (k >= 0) & (d >= 0) & (d < horizon_days)
        out = np.zeros((len(self.sku_ids_), horizon_days))
        # A model may forecast below zero (an additive one); expected bookings cannot be.
        np.add.at(out, (k[ok], d[ok]), np.clip(pred["mean"].to_numpy(dtype=float)[ok], 0.0, None))
        return out

    def predict(self, plan_date: dt.date, horizon_days: int, sku_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per SKU x site x day: expected_total, expected_unbooked and its 10/90% quantiles."""
        if plan_date != self.plan_date_:
            raise ValueError(f"fitted for plan date {self.plan_date_}, asked for {plan_date}")
        total = self.sku_day_means(horizon_days)[:, None, :] * self.split_.split_[:, :, None]
        return grid_frame(self.sku_ids_, self.site_ids_, total, self.lead_.unbooked_share(horizon_days), sku_ids)

    def save(self, path: Path) -> None:
        """A folder: the forecaster's own folder, the split and the lead curve, and what joins them."""
        self.forecaster.save(path / "forecaster")
        self.lead_.save(path / "lead")
        params = {
            "history_days": self.history_days,
            "site_prior": self.site_prior,
            "plan_date": self.plan_date_.isoformat(),
            "sku_ids": [str(i) for i in self.sku_ids_],
            "site_ids": [str(i) for i in self.site_ids_],
            "data_hash": self.data_hash_,
        }
        write_artifact(path, "JobDemand", params, {"site_split": self.split_.split_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, "JobDemand")
        m = cls(load_forecaster(path / "forecaster"), int(p["history_days"]), float(p["site_prior"]))
        m.plan_date_ = dt.date.fromisoformat(p["plan_date"])
        m.sku_ids_, m.site_ids_ = pd.Index(p["sku_ids"]), pd.Index(p["site_ids"])
        m.split_ = SiteSplit(m.site_prior)
        m.split_.split_ = a["site_split"]
        m.lead_ = BookingLeadCurve.load(path / "lead")
        m.data_hash_ = str(p["data_hash"])
        return m
