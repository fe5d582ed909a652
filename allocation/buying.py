"""How many units of a style to buy, per size, to reach a target fill rate over the season.

A buyer's question (issue 11, item 7): with the units owned today, what share of the season's
rental requests for a style will find a free unit, and which sizes should get how many more units
to reach a target share? Answered by simulation (`allocation.buying_sim`), with inputs read from
the world's history up to its plan date:

- **Demand** per size and day of the season: the mean is the demand forecaster's
  (`forecasting.demand.DemandForecaster`) expected bookings per SKU and event day, summed over
  sites; the draws are negative binomial with the dispersion measured on the history of the
  style's category (Pearson moments of daily bookings against the forecaster's own fit of those
  days), Poisson when that dispersion is negligible.
- **Turn time** per rental, as observed: ship date to the day it was back at its site
  (outbound shipping, rental days, lateness, return shipping), plus the cleaning days of that
  site. Sampled from the style's returned rentals, pooled with its category's when the style has
  few (``TURN_PRIOR_RENTALS`` pseudo-rentals of category weight: a sparse style borrows its
  category's shape, a well-observed style keeps its own).
- **Units**: the style's units not retired, each free from the day it is expected back on the
  shelf; all sites form one pool per size (transfers and per-site stock are the nightly planner's
  job, not the buyer's). Bought units are on the shelf on the plan date.

`recommend_buy` adds one unit at a time to the size with the largest gain in expected fills per
dollar, measured on common random numbers, until the style's fill over the season reaches the
target or ``max_units`` is spent. Unit cost is the catalogue's ``retail_value`` (what a unit costs
to replace: the catalogue has no separate purchase price).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from allocation.buying_sim import (
    DISPERSION_FLOOR,
    SizeLadder,
    TurnTimes,
    draw_size,
    fill_rate,
    fill_std_error,
    greedy_buy,
)
from allocation.domain import ClosetflowError, NotFoundError, StationKind, UnitState, World
from allocation.statics import Statics
from forecasting.demand import DemandForecaster, season_design

__all__ = [
    "BuyAssumptions",
    "BuyInputError",
    "BuyPlan",
    "SizeLine",
    "UnknownStyleError",
    "demand_dispersion",
    "recommend_buy",
    "release_days",
    "season_demand",
    "turn_times",
]

TURN_PRIOR_RENTALS = 30.0  # category pseudo-rentals pooled into a style's turn-time distribution
DISPERSION_WINDOW_DAYS = 91  # history measured for overdispersion (one season)
MAX_PATHS = 20_000


class UnknownStyleError(NotFoundError):
    """The style asked for has no SKU in the catalogue."""


class BuyInputError(ClosetflowError):
    """An option of the buy recommendation is out of range; ``option`` names it."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


@dataclass(frozen=True)
class SizeLine:
    """One size of the style: today's units, the units to add and what each gives."""

    size: str
    sku_id: str
    current_units: int
    units_to_add: int
    unit_cost: float
    expected_requests: float  # mean requests over the season
    current_fill: float
    recommended_fill: float


@dataclass(frozen=True)
class BuyAssumptions:
    """What the figures rest on, reported with them."""

    plan_date: str
    season_days: int
    paths: int
    seed: int
    demand_model: str  # "poisson" or "negative binomial"
    dispersion: float  # NB2 alpha measured on the category's history (0 for Poisson)
    turn_median_days: int
    turn_p90_days: int
    turn_style_rentals: int  # the style's own returned rentals behind the turn times
    turn_pooled_from: str  # where sparse turn times borrow from ("category <c>" or "all rentals")
    unit_cost: str = "retail_value"
    pooling: str = "all sites form one pool per size; bought units are ready on the plan date"


@dataclass(frozen=True)
class BuyPlan:
    """The recommendation for one style; ``reached`` says whether the target was met."""

    style_id: str
    target_fill: float
    reached: bool
    note: str
    sizes: list[SizeLine]
    current_fill: float
    recommended_fill: float
    recommended_fill_se: float  # Monte Carlo standard error of recommended_fill
    units_added: int
    cost: float
    assumptions: BuyAssumptions

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data, the same numbers the CLI's table shows."""
        return asdict(self)


def _style_skus(world: World, style_id: str) -> pd.DataFrame:
    """The style's SKUs (one per size), sorted by size; unknown style -> `UnknownStyleError`."""
    skus = world.skus[world.skus["style_id"].astype(str) == style_id]
    if skus.empty:
        known = sorted(world.skus["style_id"].astype(str).unique())
        few = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
        raise UnknownStyleError(f"no style {style_id!r} in the catalogue; known styles include {few}")
    order = pd.to_numeric(skus["size"], errors="coerce")
    return skus.assign(_order=order).sort_values(["_order", "size"], kind="stable").drop(columns="_order")


def _check_options(target_fill: float, season_days: int, paths: int, max_units: int) -> None:
    """Every option in range, or a `BuyInputError` naming it."""
    if not 0.0 < target_fill < 1.0:
        raise BuyInputError("target_fill", f"got {target_fill}; allowed: a fill rate strictly between 0 and 1")
    if not 1 <= season_days <= 366:
        raise BuyInputError("season_days", f"got {season_days}; allowed: 1..366 days")
    if not 1 <= paths <= MAX_PATHS:
        raise BuyInputError("paths", f"got {paths}; allowed: 1..{MAX_PATHS}")
    if max_units < 0:
        raise BuyInputError("max_units", f"got {max_units}; allowed: >= 0")


def _site_of_zone(world: World) -> dict[str, str]:
    """Each customer zone's nearest site, as the nightly job's forecasts use it."""
    st = Statics.from_world(world)
    return {str(z): str(st.site_ids[st.nearest_site[i]]) for i, z in enumerate(st.zone_ids)}


def season_demand(model: DemandForecaster, sku_ids: list[str], season_days: int) -> np.ndarray:
    """(sizes, days) expected requests per SKU and event day of the season, summed over sites.

    The forecaster's ``expected_total`` (``g(d) * lambda_k * p_ks``) summed over sites ``s``:
    its site split sums to 1, so this is ``g(d) * lambda_k``, computed without the per-site grid.
    """
    pos = model.sku_ids_.get_indexer(pd.Index(sku_ids))
    return np.asarray(model.share_[pos][:, None] * model.total_by_day(season_days)[None, :])


def demand_dispersion(model: DemandForecaster, world: World, sku_ids: list[str]) -> float:
    """NB2 alpha of daily bookings per SKU over the last season, pooled over ``sku_ids``.

    Pearson moments: ``alpha = sum((y - mu)^2 - mu) / sum(mu^2)`` with ``mu`` the forecaster's
    own fit of those days (its seasonal level times the SKU's share), so weekday and seasonal
    swings it already explains do not count as noise. Clipped at 0 (no underdispersion).
    """
    days = np.arange(-DISPERSION_WINDOW_DAYS, 0)
    level = model.level_ * np.exp(season_design(days, world.plan_date) @ model.beta_)
    pos = model.sku_ids_.get_indexer(pd.Index(sku_ids))
    mu = model.share_[pos][:, None] * level[None, :]
    b = world.bookings[world.bookings["sku_id"].astype(str).isin(set(sku_ids))]
    d = world.day_index(b["event_date"]).to_numpy()
    k = pd.Index(sku_ids).get_indexer(pd.Index(b["sku_id"].astype(str)))
    keep = (d >= -DISPERSION_WINDOW_DAYS) & (d < 0)
    y = np.zeros_like(mu)
    np.add.at(y, (k[keep], d[keep] + DISPERSION_WINDOW_DAYS), 1.0)
    denom = float((mu**2).sum())
    return 0.0 if denom <= 0 else max(0.0, float(((y - mu) ** 2 - mu).sum()) / denom)


def _cleaning_days(world: World) -> pd.Series:
    """Days a cleaning takes, by site (its cleaning station's ``processing_days``)."""
    st = world.stations
    return st[st["kind"].astype(str) == StationKind.CLEANING].set_index("site_id")["processing_days"]


def _turn_days(world: World, rentals: pd.DataFrame) -> np.ndarray:
    """Observed turn time of returned rentals: ship to back at the site, plus that site's cleaning days."""
    clean = _cleaning_days(world)
    back = (pd.to_datetime(rentals["returned_on"]) - pd.to_datetime(rentals["ship_date"])).dt.days
    default = float(clean.median()) if len(clean) else 0.0  # a site without a cleaning station
    cleaning = rentals["site_id"].astype(str).map(clean).to_numpy(dtype=float, na_value=default)
    return np.maximum(back.to_numpy(dtype=np.int64) + cleaning.astype(np.int64), 1)


def turn_times(world: World, style_skus: pd.DataFrame) -> tuple[TurnTimes, int, str]:
    """The style's turn-time distribution, pooled with its category's (or all rentals') when sparse.

    The pmf is ``(style counts + w * pooled pmf) / (n_style + w)`` with ``w = TURN_PRIOR_RENTALS``:
    30 rentals of the style weigh as much as the pool.

    Returns:
        The distribution, the number of the style's own returned rentals, and what was pooled.
    """
    done = world.rentals[world.rentals["returned_on"].notna()]
    own = _turn_days(world, done[done["sku_id"].astype(str).isin(set(style_skus["sku_id"].astype(str)))])
    category = str(style_skus["category"].iloc[0])
    cat_skus = set(world.skus.loc[world.skus["category"].astype(str) == category, "sku_id"].astype(str))
    pool = _turn_days(world, done[done["sku_id"].astype(str).isin(cat_skus)])
    source = f"category {category}"
    if len(pool) == 0:
        pool, source = _turn_days(world, done), "all rentals"
    if len(pool) == 0:
        raise ClosetflowError("no returned rentals in the history: the turn time cannot be measured")
    size = int(max(own.max(initial=0), pool.max())) + 1
    pooled = np.bincount(pool, minlength=size) / len(pool)
    pmf = (np.bincount(own, minlength=size) + TURN_PRIOR_RENTALS * pooled) / (len(own) + TURN_PRIOR_RENTALS)
    return TurnTimes(pmf), len(own), source


def release_days(world: World, sku_ids: list[str]) -> list[np.ndarray]:
    """Per SKU, the day each owned, unretired unit is expected back on the shelf (0 = ready now).

    With a customer: due back, then cleaned; returning: arrives on ``due_back``, then cleaned;
    cleaning: ready on ``due_back``. A late customer's past due date counts as today.
    """
    units = world.units[world.units["sku_id"].astype(str).isin(set(sku_ids))]
    units = units[units["state"].astype(str) != UnitState.RETIRED]
    clean = _cleaning_days(world)
    due = world.day_index(units["due_back"]).fillna(0).clip(lower=0).to_numpy(dtype=np.int64)
    clean_days = units["site_id"].astype(str).map(clean).fillna(0).to_numpy(dtype=np.int64)
    state = units["state"].astype(str).to_numpy()
    out = np.where(np.isin(state, [UnitState.WITH_CUSTOMER, UnitState.RETURNING]), due + clean_days, due)
    out = np.where(state == UnitState.READY, 0, out).astype(np.int64)
    sku = units["sku_id"].astype(str).to_numpy()
    return [out[sku == k] for k in sku_ids]


def recommend_buy(
    world: World,
    style_id: str,
    target_fill: float,
    season_days: int = 91,
    paths: int = 1000,
    seed: int = 0,
    max_units: int = 200,
) -> BuyPlan:
    """Units to add per size of ``style_id`` so the season's fill rate reaches ``target_fill``.

    Args:
        world: the world on its plan date; only its history up to the plan date is used.
        style_id: a style of the catalogue.
        target_fill: the fill rate (filled / requested over the season, all sizes) to reach, in (0, 1).
        season_days: days of the season from the plan date (91: 13 weeks).
        paths: Monte Carlo paths (1..20,000).
        seed: seeds every draw; the same seed gives the same plan.
        max_units: the most units the recommendation may add in all.

    Raises:
        UnknownStyleError: no SKU of ``style_id`` in the catalogue.
        BuyInputError: an option out of range.
        ClosetflowError: no returned rental in the history to measure turn times on.
    """
    _check_options(target_fill, season_days, paths, max_units)
    skus = _style_skus(world, style_id)
    sku_ids = skus["sku_id"].astype(str).tolist()
    model = DemandForecaster().fit(world.bookings, world.skus, _site_of_zone(world), world.plan_date)
    mean = season_demand(model, sku_ids, season_days)
    category = str(skus["category"].iloc[0])
    cat_ids = world.skus.loc[world.skus["category"].astype(str) == category, "sku_id"].astype(str).tolist()
    alpha = demand_dispersion(model, world, cat_ids)
    alpha = alpha if alpha > DISPERSION_FLOOR else 0.0
    turn, own_rentals, pooled_from = turn_times(world, skus)
    seeds = np.random.SeedSequence(seed).spawn(len(sku_ids))  # one independent stream per size
    owned = release_days(world, sku_ids)
    draws = [draw_size(mean[i], alpha, turn, owned[i], paths, seeds[i]) for i in range(len(sku_ids))]
    costs = skus["retail_value"].to_numpy(dtype=float)
    ladders = [SizeLadder(d) for d in draws]
    added = greedy_buy(ladders, np.maximum(costs, 1e-9), target_fill, max_units)
    filled = [lad.filled for lad in ladders]
    requested = np.array([d.requests.sum() for d in draws], dtype=float)
    lines = [
        SizeLine(
            size=str(row.size),
            sku_id=str(row.sku_id),
            current_units=len(owned[i]),
            units_to_add=added[i],
            unit_cost=float(costs[i]),
            expected_requests=float(requested[i] / paths),
            current_fill=fill_rate(filled[i][0], requested[i]),
            recommended_fill=fill_rate(filled[i][added[i]], requested[i]),
        )
        for i, row in enumerate(skus.itertuples(index=False))
    ]
    now = fill_rate(sum(int(f[0]) for f in filled), requested.sum())
    rec = fill_rate(sum(int(filled[i][a]) for i, a in enumerate(added)), requested.sum())
    asked = sum(d.requests.sum(axis=1) for d in draws)
    rec_se = fill_std_error(sum(lad.per_path[a] for lad, a in zip(ladders, added, strict=True)), asked)
    return BuyPlan(
        style_id=style_id,
        target_fill=target_fill,
        reached=rec >= target_fill,
        note=_note(now, rec, target_fill, sum(added), max_units),
        sizes=lines,
        current_fill=now,
        recommended_fill=rec,
        recommended_fill_se=rec_se,
        units_added=sum(added),
        cost=float(sum(a * c for a, c in zip(added, costs, strict=True))),
        assumptions=BuyAssumptions(
            plan_date=world.plan_date.isoformat(),
            season_days=season_days,
            paths=paths,
            seed=seed,
            demand_model="poisson" if alpha == 0.0 else "negative binomial",
            dispersion=alpha,
            turn_median_days=turn.quantile(0.5),
            turn_p90_days=turn.quantile(0.9),
            turn_style_rentals=own_rentals,
            turn_pooled_from=pooled_from,
        ),
    )


def _note(now: float, rec: float, target: float, added: int, max_units: int) -> str:
    """One sentence on the outcome: already there, reached, or why not."""
    if now >= target:
        return f"the units owned today already reach the target ({now:.3f} >= {target:.3f}): buy nothing"
    if rec >= target:
        return f"{added} more unit(s) reach the target ({rec:.3f} >= {target:.3f})"
    if added >= max_units:
        return f"the target is not reached within {max_units} added unit(s): {rec:.3f} < {target:.3f}"
    return f"the target cannot be reached: no further unit fills another request ({rec:.3f} < {target:.3f})"
