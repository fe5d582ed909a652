"""The booking lead curve as its own small model: how far ahead of an event customers book.

The demand forecasters say how many bookings an event day will get in all; the plan is uncertain
only about the part not booked yet. ``BookingLeadCurve`` turns one into the other: it learns the
distribution of lead = event date - booking date (days) from history and gives, for each day of
the horizon, the share of that day's demand still to come after the plan date,
``P(lead <= d - 1)`` for an event ``d`` days ahead (``d = 0``: today, nothing left to book).

It is the empirical CDF of leads, clipped at ``MAX_LEAD`` days so it reaches one there. Fit it
only on bookings made before the plan date (the caller passes history), so tonight's curve never
sees tomorrow's bookings.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Final, Self

import numpy as np
import pandas as pd

from forecasting.artifacts import read_artifact, write_artifact

__all__ = ["MAX_LEAD", "BookingLeadCurve", "lead_cdf", "unbooked_share"]

MAX_LEAD: Final = 365  # leads are counted up to a year; longer ones fall in the last bucket


def _leads(bookings: pd.DataFrame, max_lead: int) -> np.ndarray:
    """Lead days of each booking, clipped at ``max_lead``; a negative lead (booked after the event)
    is a data error upstream and is not counted."""
    lead = (pd.to_datetime(bookings["event_date"]) - pd.to_datetime(bookings["booked_on"])).dt.days.to_numpy()
    return np.clip(lead[lead >= 0], 0, max_lead).astype(np.int64)


def _cdf(lead: np.ndarray, max_lead: int) -> np.ndarray:
    # No bookings: ones — everything counts as booked already, so no unbooked demand is invented.
    if len(lead) == 0:
        return np.ones(max_lead + 1)
    return np.cumsum(np.bincount(lead, minlength=max_lead + 1)) / len(lead)


def lead_cdf(bookings: pd.DataFrame, max_lead: int = MAX_LEAD) -> np.ndarray:
    """P(lead <= L) for L = 0..max_lead from bookings' ``event_date`` and ``booked_on``."""
    return _cdf(_leads(bookings, max_lead), max_lead)


def unbooked_share(cdf: np.ndarray, horizon: int) -> np.ndarray:
    """Share of each horizon day's demand booked after the plan date: ``P(lead <= d - 1)`` (0 on day 0)."""
    d = np.arange(horizon)
    return np.where(d >= 1, cdf[np.clip(d - 1, 0, len(cdf) - 1)], 0.0)


class BookingLeadCurve:
    """P(lead <= L) for L = 0..MAX_LEAD from bookings' ``event_date`` and ``booked_on``."""

    name: ClassVar[str] = "booking_lead_curve"

    def __init__(self, max_lead: int = MAX_LEAD) -> None:
        if max_lead < 1:
            raise ValueError(f"max_lead must be at least 1, not {max_lead}")
        self.max_lead = max_lead

    def fit(self, bookings: pd.DataFrame) -> Self:
        """Fit on bookings (``event_date``, ``booked_on``); a negative lead (booked after the event)
        is a data error upstream and is not counted. No bookings: everything is booked already
        (cdf of ones), the safe reading for a plan — no unbooked demand is invented."""
        lead = _leads(bookings, self.max_lead)
        self.n_ = len(lead)
        self.cdf_ = _cdf(lead, self.max_lead)
        return self

    def cdf(self, lead_days: np.ndarray) -> np.ndarray:
        """P(lead <= L) for each L (negative L: 0; beyond the curve: its last value)."""
        lead = np.asarray(lead_days, dtype=np.int64)
        return np.where(lead >= 0, self.cdf_[np.clip(lead, 0, len(self.cdf_) - 1)], 0.0)

    def unbooked_share(self, horizon: int) -> np.ndarray:
        """Share of each horizon day's demand booked after the plan date: ``P(lead <= d - 1)``."""
        return unbooked_share(self.cdf_, horizon)

    def save(self, path: Path) -> None:
        write_artifact(path, self.name, {"max_lead": self.max_lead, "n": self.n_}, {"cdf": self.cdf_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, cls.name)
        m = cls(int(p["max_lead"]))
        m.n_, m.cdf_ = int(p["n"]), a["cdf"]
        return m
