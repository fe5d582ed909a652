"""Late-return models scored where they matter: on the returns still uncertain on the plan date.

Scoring every rental out on the plan date (as `score_late_returns` did) mixes in returns whose
outcome is already known — a unit the customer has already sent back (``returning``: its arrival
day is known), a customer already past the day they had to send it (late for sure) — so a model
looks better or worse for reasons that are not forecasting. Here a rental is **uncertain** on the
plan date when it is outstanding (no ``returned_on``) and its customer is not yet due to send it
back: ``due_back - (event_date - ship_date) > plan_date`` (``due_back`` is the day it is due at the
site; the return leg takes as long as the outbound one, ``event_date - ship_date``). Such a rental
is with its customer (it cannot have been sent yet) and may still come back on time or late. Its
outcome is ``late = holdout returned_on > due_back``.

Scores: Brier, the Brier of always predicting the training late rate (the model's own: rentals
whose outcome was known on the plan date), the Brier of the world's true probabilities where the
world is generated (`allocation.simulate.draws.late_probability`, recomputed from the seed), AUC,
and a calibration table over deciles of the predicted probability.

GetAround (`getaround_scores`) has no dates and no customers: ended rentals with a known delay, in
rental-id order, the first ``1 - TEST_SHARE`` to fit and the rest to score; a car plays the
customer (its past late rate from earlier rentals only), the check-in type the zone, the planned
gap to the car's previous rental an extra numeric feature, and hours late the hazard's "days".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from allocation.domain import World
from allocation.simulate.draws import draw_bookings, late_probability
from allocation.simulate.world import (
    HISTORY_DAYS,
    HORIZON_DAYS,
    LATE_LEVEL_SCALE,
    SCALES,
    default_plan_date,
    load_calibration,
    make_catalogue,
    make_topology,
    place_units,
    simulate_world,
)
from forecasting.hazard import HazardSettings, LateReturnHazard, conditional_pmf
from forecasting.late_returns import LateReturnModel
from forecasting.metrics import auc, base_rate_brier, brier

__all__ = [
    "GETAROUND_FILE",
    "MissingGetAroundError",
    "already_late_rentals",
    "calibration_table",
    "delay_log_loss",
    "generated_scores",
    "getaround_frame",
    "getaround_scores",
    "send_by",
    "true_late_probability",
    "uncertain_rentals",
]

GETAROUND_FILE: Final = "getaround_delays.csv"
TEST_SHARE: Final = 0.2  # the latest GetAround rentals scored; the earlier ones fit
GETAROUND_MAX_HOURS: Final = 12  # hour buckets of the GetAround hazard (the last: 12 hours or more)
_GETAROUND_EPOCH: Final = pd.Timestamp("2017-01-01")  # GetAround has no dates: ids become an order


class MissingGetAroundError(FileNotFoundError):
    """The GetAround file is not in the real-data folder."""


def send_by(rentals: pd.DataFrame) -> pd.Series:
    """The day each customer must send the rental back to be on time: ``due_back`` less the return
    leg, taken as long as the outbound one (``event_date - ship_date``)."""
    outbound = pd.to_datetime(rentals["event_date"]) - pd.to_datetime(rentals["ship_date"])
    return pd.to_datetime(rentals["due_back"]) - outbound


def uncertain_rentals(world: World) -> pd.DataFrame:
    """The rentals whose return is uncertain on the plan date (module docstring), with ``late``.

    Carries the rentals' columns plus ``delay`` (days) and ``late`` (bool) from the holdout's real
    return day; empty without a holdout.
    """
    r = world.rentals
    if world.holdout is None:
        return r.iloc[:0].assign(delay=pd.Series(dtype=np.int64), late=pd.Series(dtype=bool))
    out = r[r["returned_on"].isna()]
    unc = out[send_by(out) > pd.Timestamp(world.plan_date)]
    back = world.holdout.returns[["rental_id", "returned_on"]].rename(columns={"returned_on": "_back"})
    m = unc.merge(back, on="rental_id", how="inner")
    m["delay"] = (pd.to_datetime(m["_back"]) - pd.to_datetime(m["due_back"])).dt.days.astype(np.int64)
    m["late"] = m["delay"] > 0
    return m.drop(columns="_back")


def already_late_rentals(world: World) -> pd.DataFrame:
    """Rentals still with their customer past the day to send them back: late for sure, but when back?

    Carries the rentals' columns plus ``days_out`` (the least delay the plan date implies: not sent
    by the day before the plan date, so not back before ``send_by + days_out``, i.e. ``delay >=
    plan_date - send_by + 1``) and ``delay`` (the real one, from the holdout). Empty without a holdout.
    """
    r = world.rentals
    if world.holdout is None:
        return r.iloc[:0].assign(days_out=pd.Series(dtype=np.int64), delay=pd.Series(dtype=np.int64))
    holding = world.units.loc[world.units["state"].astype(str) == "with_customer", "rental_id"]
    out = r[r["returned_on"].isna() & r["rental_id"].astype(str).isin(set(holding.dropna().astype(str)))]
    sent = send_by(out)
    plan = pd.Timestamp(world.plan_date)
    late = out[(sent <= plan).to_numpy()].assign(_send_by=sent[sent <= plan])
    back = world.holdout.returns[["rental_id", "returned_on"]].rename(columns={"returned_on": "_back"})
    m = late.merge(back, on="rental_id", how="inner")
    m["days_out"] = (plan - m["_send_by"]).dt.days.astype(np.int64) + 1
    m["delay"] = (pd.to_datetime(m["_back"]) - pd.to_datetime(m["due_back"])).dt.days.astype(np.int64)
    return m.drop(columns=["_back", "_send_by"])


def delay_log_loss(pmf: np.ndarray, delay: np.ndarray) -> float:
    """Mean -log P(the real delay) under each row's delay distribution (the last bucket: that many or more)."""
    if len(pmf) == 0:
        return float("nan")
    col = np.clip(np.asarray(delay, dtype=np.int64), 0, pmf.shape[1] - 1)
    return float(-np.mean(np.log(np.clip(pmf[np.arange(len(pmf)), col], 1e-12, None))))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Deciles (``bins`` equal-count groups) of predicted p: mean predicted, observed rate, n."""
    order = np.argsort(p, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part):
            rows.append(
                {
                    "mean_predicted": float(np.mean(p[part])),
                    "observed_rate": float(np.mean(y[part])),
                    "n": float(len(part)),
                }
            )
    return rows


def true_late_probability(scale: str, seed: int, rentals: pd.DataFrame) -> np.ndarray:
    """Each rental's true late probability in ``simulate_world(scale, seed)`` (default settings).

    Re-draws the world's first streams exactly as `simulate_world` does, recording the customers'
    propensities and the zones' shifts, then applies the simulator's own formula. Customer and zone
    positions are read from the generated ids (``C0000123`` -> 123, ``Z4`` -> 4).
    """
    sc = SCALES[scale]
    cal = load_calibration()
    plan = default_plan_date(cal)
    streams = np.random.default_rng(seed).spawn(6)
    topo = make_topology(sc, streams[0])
    skus = make_catalogue(sc, cal, streams[1])
    place_units(sc, skus, topo, streams[2])
    record: dict[str, np.ndarray] = {}
    draw_bookings(sc, cal, topo, skus, plan, HORIZON_DAYS, HISTORY_DAYS, LATE_LEVEL_SCALE, streams[3], record)
    cust = rentals["customer_id"].astype(str).str[1:].astype(np.int64).to_numpy()
    zone = rentals["zone"].astype(str).str[1:].astype(np.int64).to_numpy()
    days = rentals["rental_days"].to_numpy(dtype=np.int64)
    return late_probability(record["propensity"][cust], record["zone_shift"][zone], days)


def _scores(y: np.ndarray, p: np.ndarray, base_rate: float) -> dict[str, Any]:
    """Brier, base-rate Brier, AUC and the calibration table of one set of predictions."""
    return {
        "brier": brier(y, p),
        "base_rate_brier": base_rate_brier(base_rate, y),
        "auc": auc(y, p),
        "calibration": calibration_table(y, p),
    }


def _seed_scores(scale: str, seed: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One generated world: the hazard, the old model and the truth on its uncertain rentals."""
    world = simulate_world(scale, seed)
    hazard = LateReturnHazard(seed=seed).fit(world.rentals, world.customers, world.plan_date, world.skus)
    old = LateReturnModel(seed=seed).fit(world.rentals, world.customers, world.plan_date)
    unc = uncertain_rentals(world)
    y = unc["late"].to_numpy(dtype=bool)
    p = hazard.predict_late_proba(unc)
    p_old = old.predict_late_proba(unc)
    p_true = true_late_probability(scale, seed, unc)
    base = np.full(len(y), hazard.spec_.base_rate)
    delay = unc["delay"].to_numpy()
    late = already_late_rentals(world)
    days_out = late["days_out"].to_numpy()
    row = {
        "seed": seed,
        "n": len(y),
        "late_rate": float(y.mean()) if len(y) else float("nan"),
        "brier": brier(y, p),
        "base_rate_brier": brier(y, base),
        "true_brier": brier(y, p_true),
        "brier_baseline": brier(y, p_old),
        "auc": auc(y, p),
        "auc_baseline": auc(y, p_old),
        "true_auc": auc(y, p_true),
        # The whole delay distribution, which the planner reads, not only P(late):
        "delay_log_loss": delay_log_loss(hazard.predict_pmf(unc), delay),
        "delay_log_loss_baseline": delay_log_loss(old.predict_pmf(unc), delay),
        # Units already late: when do they come back, given not back yet (the planner's conditioning).
        "late_units_n": len(late),
        "late_units_log_loss": delay_log_loss(hazard.predict_pmf(late, days_out=days_out), late["delay"].to_numpy()),
        "late_units_log_loss_baseline": delay_log_loss(
            conditional_pmf(old.predict_pmf(late), days_out), late["delay"].to_numpy()
        ),
    }
    return row, y, p, p_old, np.c_[p_true, base]


def _pooled_log_losses(per_seed: list[dict[str, Any]]) -> dict[str, float]:
    """The per-seed delay log losses pooled over seeds (weighted by rentals scored)."""
    out: dict[str, float] = {}
    for key, n_key in (
        ("delay_log_loss", "n"),
        ("delay_log_loss_baseline", "n"),
        ("late_units_log_loss", "late_units_n"),
        ("late_units_log_loss_baseline", "late_units_n"),
    ):
        rows = [r for r in per_seed if r[n_key] > 0]
        weight = sum(r[n_key] for r in rows)
        out[key] = float(sum(r[key] * r[n_key] for r in rows) / weight) if weight else float("nan")
    out["late_units_n"] = float(sum(r["late_units_n"] for r in per_seed))
    return out


def generated_scores(seeds: Sequence[int], scale: str = "small") -> dict[str, Any]:
    """The hazard against the base rate, `LateReturnModel` and the truth on generated worlds.

    Pooled over ``seeds`` (each world fitted and scored on its own uncertain rentals); per-seed
    figures under ``per_seed``. Keys: ``brier``, ``base_rate_brier``, ``true_brier``, ``auc``,
    ``true_auc``, ``auc_baseline`` and ``brier_baseline`` (LateReturnModel), ``calibration``
    (the hazard's), ``n``, ``model``, ``per_seed``; and for the whole delay distribution the mean
    log loss of the real delay on the uncertain rentals (``delay_log_loss``, ``_baseline`` for
    LateReturnModel) and on the units already late, each conditioned on not being back yet
    (``late_units_log_loss``, ``late_units_log_loss_baseline``, ``late_units_n``).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; one of {sorted(SCALES)}")
    per_seed, ys, ps, olds, rest = [], [], [], [], []
    for seed in seeds:
        row, y, p, p_old, other = _seed_scores(scale, int(seed))
        per_seed.append(row)
        ys.append(y)
        ps.append(p)
        olds.append(p_old)
        rest.append(other)
    y, p, p_old, other = (np.concatenate(a) for a in (ys, ps, olds, rest))
    other = other.reshape(-1, 2)
    return {
        "model": LateReturnHazard.name,
        "scale": scale,
        "n": len(y),
        "brier": brier(y, p),
        "base_rate_brier": brier(y, other[:, 1]),
        "true_brier": brier(y, other[:, 0]),
        "brier_baseline": brier(y, p_old),
        "auc": auc(y, p),
        "true_auc": auc(y, other[:, 0]),
        "auc_baseline": auc(y, p_old),
        "calibration": calibration_table(y, p),
        **_pooled_log_losses(per_seed),
        "per_seed": per_seed,
    }


def getaround_frame(data_dir: Path) -> pd.DataFrame:
    """Ended GetAround rentals with a known delay, in rental-id order, as rentals-table columns.

    ``customer_id`` is the car, ``zone`` the check-in type, ``due_back`` a pseudo date that keeps
    the rental-id order (a minute per rental), ``delay_days`` the whole hours late (late = any
    minute late), ``gap_minutes`` the planned gap to the car's previous rental (missing: none).

    Raises:
        MissingGetAroundError: the file is not in ``data_dir``.
    """
    path = Path(data_dir) / GETAROUND_FILE
    if not path.is_file():
        raise MissingGetAroundError(f"{path} not found (set CLOSETFLOW_REAL_DATA to the real-data folder)")
    raw = pd.read_csv(path)
    ended = raw[(raw["state"] == "ended") & raw["delay_at_checkout_in_minutes"].notna()]
    ended = ended.sort_values("rental_id", kind="stable").reset_index(drop=True)
    minutes = ended["delay_at_checkout_in_minutes"].to_numpy(dtype=float)
    due = _GETAROUND_EPOCH + pd.to_timedelta(np.arange(len(ended)), unit="min")
    return pd.DataFrame(
        {
            "rental_id": ended["rental_id"].astype(str),
            "customer_id": ended["car_id"].astype(str),
            "zone": ended["checkin_type"].astype(str),
            "rental_days": np.ones(len(ended), dtype=np.int64),
            "due_back": due,
            "returned_on": due,
            "delay_days": np.ceil(np.maximum(minutes, 0.0) / 60.0).astype(np.int64),
            "gap_minutes": ended["time_delta_with_previous_rental_in_minutes"].to_numpy(dtype=float),
        }
    )


def getaround_scores(data_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Fit the hazard on the earlier GetAround rentals and score P(late) on the later ones.

    Keys: ``brier``, ``base_rate_brier`` (the training late rate), ``auc``, ``calibration``,
    ``n_train``, ``n_test``, ``model``, ``brier_checkin_only`` (the late rate per check-in type:
    the yardstick a one-feature model sets), and ``brier_baseline``, ``auc_baseline``
    (LateReturnModel on the same features: the car's smoothed late rate and the check-in type).

    Raises:
        MissingGetAroundError: the file is not in ``data_dir``.
    """
    frame = getaround_frame(data_dir)
    n_train = round(len(frame) * (1 - TEST_SHARE))
    train, test = frame.iloc[:n_train], frame.iloc[n_train:]
    plan: dt.date = (train["due_back"].iloc[-1] + pd.Timedelta(days=1)).date()
    settings = HazardSettings(numeric=("gap_minutes",), calendar=False)
    customers = pd.DataFrame({"customer_id": pd.Series(dtype=str), "zone": pd.Series(dtype=str)})
    model = LateReturnHazard(max_delay=GETAROUND_MAX_HOURS, seed=seed, settings=settings)
    model.fit(train, customers, plan)
    y = (test["delay_days"].to_numpy() > 0).astype(bool)
    p = model.predict_late_proba(test)
    by_type = (train["delay_days"] > 0).groupby(train["zone"]).mean()
    p_type = test["zone"].map(by_type).fillna(model.spec_.base_rate).to_numpy(dtype=float)
    zones = pd.DataFrame({"zone": sorted(set(train["zone"]))})
    old = LateReturnModel(max_delay=GETAROUND_MAX_HOURS, seed=seed).fit(train, zones, plan)
    p_old = old.predict_late_proba(test)
    return {
        **_scores(y, p, model.spec_.base_rate),
        "brier_checkin_only": brier(y, p_type),
        "brier_baseline": brier(y, p_old),
        "auc_baseline": auc(y, p_old),
        "n_train": len(train),
        "n_test": len(test),
        "model": model.name,
    }
