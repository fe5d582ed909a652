"""The forecast step's models: fit the baselines on history, score them on the holdout, and lay
their output out as the arrays the decision model reads and the rows the forecast tables serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import poisson

from allocation.domain import World
from allocation.jobs.substitutes import sku_vectors
from allocation.statics import Statics
from forecasting.base import Forecaster
from forecasting.cleaning import CleaningFailureModel
from forecasting.demand import SeasonalNaiveDemand, score_demand, unbooked_actuals
from forecasting.job_demand import JobDemand
from forecasting.job_serving import BASELINE, DemandServing, serve_job_demand
from forecasting.late_returns import LateReturnModel
from forecasting.metrics import auc, base_rate_brier, brier
from forecasting.registry import ModelRegistry

if TYPE_CHECKING:  # torch takes seconds to import: only the forecast step needs it, at run time
    from forecasting.hazard import LateReturnHazard

__all__ = ["LATE_MODEL", "Forecasts", "demand_rows", "fit_forecasts", "late_return_rows"]

LATE_MODEL = "LateReturnHazard (discrete-time hazard, torch) v1"


@dataclass
class Forecasts:
    """Fitted baseline models and their holdout scores."""

    demand: JobDemand
    served: DemandServing
    naive: SeasonalNaiveDemand
    late: LateReturnHazard
    cleaning: CleaningFailureModel
    lead_cdf: np.ndarray
    demand_total: np.ndarray  # (skus, sites, horizon)
    pmf: np.ndarray  # (units + reservations, K+1)
    cleaning_rates: np.ndarray  # (skus,) failure share by the SKU's category
    item_vectors: np.ndarray  # (skus, DIM) item embeddings from the rentals, for substitutes
    scores: dict[str, dict[str, object]] = field(default_factory=dict)
    daily: pd.DataFrame | None = None  # forecast against actual per event day


def fit_forecasts(
    world: World, statics: Statics, demand_model: str = BASELINE, models_dir: Path | None = None
) -> Forecasts:
    """Fit the models on history and score them on the holdout when there is one.

    ``demand_model`` names the demand model (`forecasting.job_serving`): a registered model's name,
    or ``serving`` for the registry's choice at ``models_dir`` (champion, previous, baseline,
    category average — refitted on tonight's history).
    """
    site_of_zone = {str(z): str(statics.site_ids[statics.nearest_site[i]]) for i, z in enumerate(statics.zone_ids)}

    def fit(model: Forecaster) -> JobDemand:
        return JobDemand(model).fit(world.bookings, world.skus, site_of_zone, world.plan_date)

    categories = dict(zip(world.skus["sku_id"].astype(str), world.skus["category"].astype(str), strict=True))
    registry = ModelRegistry(models_dir) if models_dir is not None else None
    served = serve_job_demand(demand_model, registry, fit, categories)
    demand = served.demand
    naive = SeasonalNaiveDemand().fit(world.bookings, world.skus, site_of_zone, world.plan_date)
    from forecasting.hazard import LateReturnHazard

    late = LateReturnHazard().fit(world.rentals, world.customers, world.plan_date, world.skus)
    cleaning = CleaningFailureModel().fit(world.rentals, world.skus)
    lead_cdf = demand.lead_cdf_  # the booking lead curve, its own small model

    H = world.horizon_days
    pred = demand.predict(world.plan_date, H)
    total = np.zeros((statics.n_skus, statics.n_sites, H))
    k = statics.sku_ids.get_indexer(pd.Index(pred["sku_id"].astype(str)))
    s = statics.site_ids.get_indexer(pd.Index(pred["site_id"].astype(str)))
    d = pred["day"].to_numpy(dtype=np.int64)
    ok = (k >= 0) & (s >= 0) & (d >= 0) & (d < H)
    np.add.at(total, (k[ok], s[ok], d[ok]), pred["expected_total"].to_numpy()[ok])

    units = world.units
    rentals = world.rentals.set_index("rental_id")
    rid = units["rental_id"].astype("str")
    unit_frame = pd.DataFrame(
        {
            "customer_id": rentals["customer_id"].reindex(rid).to_numpy(),
            "zone": rentals["zone"].reindex(rid).to_numpy(),
            "rental_days": rentals["rental_days"].reindex(rid).fillna(4).to_numpy(),
            "sku_id": units["sku_id"].astype(str).to_numpy(),
            "due_back": pd.to_datetime(rentals["due_back"].reindex(rid)).to_numpy(),
        }
    )
    unit_frame = unit_frame.fillna({"customer_id": "", "zone": ""})
    # A reservation's due date depends on the site that will ship it (transit days): not known
    # yet, so the hazard reads it without the due-date calendar (it is trained for such rows).
    res_frame = statics.reservations[["customer_id", "zone", "rental_days", "sku_id"]]
    pmf = np.vstack([late.predict_pmf(unit_frame), late.predict_pmf(res_frame)])
    rates = cleaning.predict(world.skus["category"].astype(str).tolist())

    vectors = sku_vectors(world)
    fc = Forecasts(demand, served, naive, late, cleaning, lead_cdf, total, pmf, rates, vectors)
    fc.scores = {"demand_model": served.to_json()}
    if world.holdout is not None:
        actual = unbooked_actuals(world.holdout.bookings, site_of_zone, world.plan_date, H)
        model_score = score_demand(pred, actual)
        naive_score = score_demand(naive.predict(world.plan_date, H), actual)
        late_score = score_late_returns(late, world)
        fc.scores = {
            "demand_model": served.to_json(),
            "demand": {
                "wape": model_score["wape"],
                "seasonal_naive_wape": naive_score["wape"],
                "level": model_score["level"],
                "by_level": model_score["by_level"],
                "seasonal_naive_by_level": naive_score["by_level"],
                "unbooked_actual": model_score["actual"],
                "unbooked_predicted": model_score["predicted"],
            },
            "late_returns": {k2: float(v) for k2, v in late_score.items()},
            "cleaning": {"mean_failure_rate": float(np.mean(rates))},
        }
        by_day = pred.groupby("day")["expected_unbooked"].sum()
        act_day = actual.groupby("day")["count"].sum()
        fc.daily = pd.DataFrame({"forecast": by_day, "actual": act_day}).fillna(0.0)
    return fc


def demand_rows(fc: Forecasts, world: World) -> pd.DataFrame:
    """Expected demand per SKU, site and day of the horizon, with Poisson quantiles of the part not
    yet booked (what the plan is uncertain about)."""
    pred = fc.demand.predict(world.plan_date, world.horizon_days)
    unb = pred["expected_unbooked"].to_numpy()
    return pd.DataFrame(
        {
            "sku_id": pred["sku_id"].astype(str),
            "site_id": pred["site_id"].astype(str),
            "day": pd.Timestamp(world.plan_date) + pd.to_timedelta(pred["day"].to_numpy(), unit="D"),
            "expected_total": pred["expected_total"].to_numpy(dtype=float),
            "expected_unbooked": unb,
            "p10": poisson.ppf(0.1, unb),
            "p50": poisson.ppf(0.5, unb),
            "p90": poisson.ppf(0.9, unb),
            "model": f"{fc.demand.model_name} ({fc.served.source})",
        }
    )


def late_return_rows(fc: Forecasts, world: World, statics: Statics) -> pd.DataFrame:
    """Per unit still with its customer on the plan date: the chance it comes back late, the expected delay and
    its 90% quantile, from the delay distribution the plan used."""
    units = world.units
    # Only a unit still with its customer has an uncertain return; a returning one is in transit.
    out = (units["state"].astype(str) == "with_customer").to_numpy() & units["due_back"].notna().to_numpy()
    pmf = fc.pmf[: len(units)][out]
    days = np.arange(pmf.shape[1])
    cdf = pmf.cumsum(axis=1)
    return pd.DataFrame(
        {
            "unit_id": units["unit_id"].astype(str).to_numpy()[out],
            "sku_id": units["sku_id"].astype(str).to_numpy()[out],
            "site_id": units["site_id"].astype(str).to_numpy()[out],
            "due_back": units["due_back"].to_numpy()[out],
            "p_late": np.clip(1.0 - pmf[:, 0], 0.0, 1.0) if len(pmf) else np.zeros(0),
            "expected_delay_days": pmf @ days if len(pmf) else np.zeros(0),
            "p90_delay_days": np.argmax(cdf >= 0.9, axis=1).astype(np.int64) if len(pmf) else np.zeros(0, np.int64),
            "model": LATE_MODEL,
        }
    )


def score_late_returns(late: LateReturnHazard, world: World) -> dict[str, float]:
    """P(late) scored on the rentals whose return is uncertain on the plan date only
    (`forecasting.late_eval.uncertain_rentals`: still out and not yet due to be sent back), against
    their real return: Brier, the base rate's Brier, AUC, and the previous model's Brier on the same
    rentals (``baseline_brier``, `forecasting.late_returns.LateReturnModel`) as the yardstick."""
    from forecasting.late_eval import uncertain_rentals  # with the hazard: imports torch

    m = uncertain_rentals(world)
    y = m["late"].to_numpy(dtype=bool)
    p = late.predict_late_proba(m)
    old = LateReturnModel().fit(world.rentals, world.customers, world.plan_date)
    return {
        "brier": brier(y, p),
        "base_rate_brier": base_rate_brier(late.base_rate_, y),
        "auc": auc(y, p),
        "baseline_brier": brier(y, old.predict_late_proba(m)),
        "n": float(len(m)),
    }
