"""Cleaning failure rate by category: a Beta-binomial model.

Each category's failure share gets a Beta(a, b) prior fitted across categories by the method of
moments (the spread of the category rates beyond binomial noise); its posterior mean
``(failures + a) / (cleanings + a + b)`` shrinks small categories toward the overall rate and
tends to the raw rate as cleanings accumulate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from forecasting.artifacts import read_artifact, write_artifact

__all__ = ["CleaningFailureModel"]

MAX_CONCENTRATION = 1e4  # no spread beyond noise: a very strong prior, but finite


class CleaningFailureModel:
    """Posterior mean cleaning failure share per category."""

    def fit(self, rentals: pd.DataFrame, skus: pd.DataFrame) -> Self:
        """Fit on rentals with a known ``cleaning_failed``, joined to ``skus.category``."""
        cat_of = skus.set_index(skus["sku_id"].astype(str))["category"].astype(str)
        done = rentals[rentals["cleaning_failed"].notna()]
        cats = done["sku_id"].astype(str).map(cat_of)
        frame = pd.DataFrame({"cat": cats, "fail": done["cleaning_failed"].astype(bool)}).dropna()
        g = frame.groupby("cat")["fail"].agg(["sum", "count"])
        n = g["count"].to_numpy(dtype=float)
        f = g["sum"].to_numpy(dtype=float)
        p = f.sum() / n.sum() if n.sum() > 0 else 0.0
        rates = f / np.maximum(n, 1.0)
        observed = float(np.average((rates - p) ** 2, weights=n)) if len(n) else 0.0
        noise = float(np.average(p * (1 - p) / np.maximum(n, 1.0), weights=n)) if len(n) else 0.0
        between = observed - noise
        conc = p * (1 - p) / between - 1 if between > 1e-12 else MAX_CONCENTRATION
        conc = float(np.clip(conc, 1.0, MAX_CONCENTRATION))
        self.prior_a_, self.prior_b_ = p * conc, (1 - p) * conc
        post = (f + self.prior_a_) / (n + self.prior_a_ + self.prior_b_)
        self.rate_by_category_ = {str(c): float(r) for c, r in zip(g.index, post, strict=True)}
        self.prior_mean_ = float(p)
        return self

    def predict(self, categories: Sequence[str]) -> np.ndarray:
        """Failure share per category name (unknown categories get the prior mean)."""
        return np.array([self.rate_by_category_.get(str(c), self.prior_mean_) for c in categories])

    def save(self, path: Path) -> None:
        params = {
            "prior_a": self.prior_a_,
            "prior_b": self.prior_b_,
            "prior_mean": self.prior_mean_,
            "rate_by_category": self.rate_by_category_,
        }
        write_artifact(path, "CleaningFailureModel", params, {})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, _ = read_artifact(path, "CleaningFailureModel")
        m = cls()
        m.prior_a_, m.prior_b_, m.prior_mean_ = p["prior_a"], p["prior_b"], p["prior_mean"]
        m.rate_by_category_ = {str(k): float(v) for k, v in p["rate_by_category"].items()}
        return m
