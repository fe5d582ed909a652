"""The Monte Carlo behind `closetflow buy`: seeded demand and turn-time draws, and a rental queue.

One size of one style is a pool of interchangeable units. Each day of the season brings a random
number of rental requests; a request is filled when a unit is free that day, and a filled request
keeps its unit busy for a random *turn time* (days from leaving the shelf to being ready again:
outbound shipping, the rental, any lateness, return shipping and cleaning). Requests that find no
free unit are lost (a loss system: a rental customer picks another dress, she does not wait).

Why common random numbers: the draws (requests per path and day, and one turn time per request
*slot* ``j`` of a day) are made once per size and reused for every unit count, so the difference
between two unit counts is the effect of the units, not of the dice. With turn times attached to
requests this also makes the fill *monotone on every path*: a pool with one more unit holds, at
every moment, the requests the smaller pool holds plus at most one more, so it fills every request
the smaller pool fills (the classic coupling argument for loss systems).

`SizeLadder` keeps one size's fills for 0, 1, 2, ... added units and `greedy_buy` spends units
across sizes on them.

Day conventions: day 0 is the plan date; a unit released on day ``r`` can fill requests of day
``r`` onwards; a request filled on day ``d`` with turn time ``L`` frees its unit on day ``d + L``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DISPERSION_FLOOR",
    "SizeDraws",
    "SizeLadder",
    "TurnTimes",
    "add_unit",
    "draw_requests",
    "draw_size",
    "draw_turns",
    "fill_rate",
    "fill_std_error",
    "greedy_buy",
    "pool_takes",
    "simulate_filled",
]

# Below this negative-binomial alpha the draws are Poisson: the gamma mixing would add noise
# indistinguishable from the estimate's own sampling error.
DISPERSION_FLOOR = 0.02


@dataclass(frozen=True)
class TurnTimes:
    """An empirical turn-time distribution: ``pmf[L]`` = P(turn time = L days), L = 0..len-1."""

    pmf: np.ndarray

    def __post_init__(self) -> None:
        # A turn of 0 days would free the unit the morning it already went by: every turn is >= 1.
        pmf = np.asarray(self.pmf, dtype=float)
        if pmf.ndim != 1 or len(pmf) < 2 or (pmf < 0).any() or pmf[0] != 0 or not np.isclose(pmf.sum(), 1.0):
            raise ValueError("a turn-time pmf is non-negative, sums to 1 and gives 0 days no weight")
        object.__setattr__(self, "pmf", pmf / pmf.sum())

    def quantile(self, q: float) -> int:
        """The smallest L with P(turn <= L) >= q, in days."""
        cdf = np.cumsum(self.pmf)
        return int(np.searchsorted(cdf, q - 1e-12))

    @property
    def max_days(self) -> int:
        """The longest turn time with positive probability, in days."""
        return int(np.nonzero(self.pmf > 0)[0].max())


@dataclass(frozen=True)
class SizeDraws:
    """Everything random about one size, drawn once and shared by every unit count (CRN).

    Attributes:
        requests: (paths, days) rental requests per path and season day.
        turns: (paths, n) turn time in days of each request of a path, in the order the requests
            come (day by day, slot by slot within a day); ``n`` >= the most requests of any path,
            so every request has its own draw. Day ``d``'s slot ``j`` is request
            ``first[p, d] + j``, with ``first`` the requests of the days before.
        release_days: the day each unit owned today becomes free (0 = on the shelf now).
    """

    requests: np.ndarray
    turns: np.ndarray
    release_days: np.ndarray
    first: np.ndarray = field(init=False, repr=False)  # (paths, days) index in turns of a day's slot 0

    def __post_init__(self) -> None:
        # Where each day's requests start in ``turns``: computed once, used by every unit count.
        first = np.cumsum(self.requests, axis=1) - self.requests
        if self.turns.ndim != 2 or self.turns.shape[1] < self.requests.sum(axis=1).max(initial=0):
            raise ValueError("turns needs one draw per request of every path: (paths, >= most requests)")
        object.__setattr__(self, "first", first)

    @property
    def paths(self) -> int:
        """Number of Monte Carlo paths."""
        return int(self.requests.shape[0])

    @property
    def days(self) -> int:
        """Season length in days."""
        return int(self.requests.shape[1])


def draw_requests(mean: np.ndarray, dispersion: float, paths: int, rng: np.random.Generator) -> np.ndarray:
    """Requests per path and day: Poisson(mean), or negative binomial when ``dispersion`` > floor.

    The negative binomial is drawn as a gamma-Poisson mixture with ``Var = mu + dispersion * mu^2``
    (``dispersion`` is the NB2 alpha): each path and day gets its own gamma rate, so busy and quiet
    days come in the proportions the history shows.

    Args:
        mean: (days,) expected requests per day, >= 0.
        dispersion: NB2 alpha, >= 0.
        paths: number of paths.
        rng: the size's generator.
    """
    mu = np.broadcast_to(np.asarray(mean, dtype=float), (paths, len(mean)))
    if dispersion <= DISPERSION_FLOOR:
        return rng.poisson(mu).astype(np.int64)
    shape = 1.0 / dispersion
    rate = rng.gamma(shape, mu / shape)  # mean mu, variance dispersion * mu^2
    return rng.poisson(rate).astype(np.int64)


def draw_turns(turn: TurnTimes, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Independent turn times in days, one per request slot, from the empirical pmf (inverse CDF)."""
    cdf = np.cumsum(turn.pmf)
    cdf[-1] = 1.0  # rounding must not leave a uniform draw above the last day
    return np.searchsorted(cdf, rng.random(shape), side="right").astype(np.int64)


def draw_size(
    mean: np.ndarray,
    dispersion: float,
    turn: TurnTimes,
    release_days: np.ndarray,
    paths: int,
    seed: int | np.random.SeedSequence,
) -> SizeDraws:
    """All draws of one size, from its own seed: sizes never share a random stream."""
    rng = np.random.default_rng(seed)
    requests = draw_requests(mean, dispersion, paths, rng)
    turns = draw_turns(turn, (paths, max(int(requests.sum(axis=1).max(initial=0)), 1)), rng)
    return SizeDraws(requests, turns, np.asarray(release_days, dtype=np.int64))


def pool_takes(draws: SizeDraws, extra_units: int = 0) -> np.ndarray:
    """Requests filled per path and day, with ``extra_units`` bought units on the shelf on day 0.

    The reference queue, vectorised over paths with one step per day: ``released[p, t]`` counts
    units becoming free on day ``t`` of path ``p``; the free pool takes them in the morning, and
    the day's requests, in slot order, take what is free. The filled requests of a day are its
    first slots, so ``takes`` is also the first slot each day left unfilled (see `add_unit`).

    Args:
        draws: the size's draws (see `SizeDraws`).
        extra_units: units added to the ones owned today, >= 0.

    Returns:
        (paths, days) filled requests.
    """
    if extra_units < 0:
        raise ValueError(f"extra_units must be >= 0, got {extra_units}")
    paths, days = draws.paths, draws.days
    width = days + int(draws.turns.max(initial=0)) + 1
    released = np.zeros((paths, width), dtype=np.int64)
    owned = draws.release_days[draws.release_days < days]  # released later: no use this season
    released[:, :days] += np.bincount(np.maximum(owned, 0), minlength=days)[:days]
    free = np.full(paths, extra_units, dtype=np.int64)
    takes = np.zeros((paths, days), dtype=np.int64)
    slot = np.arange(max(int(draws.requests.max(initial=0)), 1))
    for d in range(days):
        free += released[:, d]
        take = np.minimum(draws.requests[:, d], free)
        free -= take
        takes[:, d] = take
        rows, cols = np.nonzero(slot[None, :] < take[:, None])
        if len(rows):
            np.add.at(released, (rows, d + draws.turns[rows, draws.first[rows, d] + cols]), 1)
    return takes


def simulate_filled(draws: SizeDraws, extra_units: int = 0) -> np.ndarray:
    """(paths,) filled requests over the season with ``extra_units`` bought units (see `pool_takes`)."""
    return pool_takes(draws, extra_units).sum(axis=1)


def add_unit(draws: SizeDraws, unfilled_from: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What one more unit fills, given the slots the pool so far leaves unfilled.

    Why this is exact: a pool with one more unit holds at every moment the requests of the smaller
    pool plus at most one more (the coupling in the module docstring), so the extra unit behaves
    as an *overflow* unit serving, in order, the requests the smaller pool turned away whenever it
    is itself free. Those are the slots ``unfilled_from[p, d] .. requests[p, d] - 1`` of each day;
    the unit takes the first of them when free, and the rest overflow to the next unit. One pass
    over days on (paths,) arrays, instead of a whole pool simulation per unit count.

    Args:
        draws: the size's draws.
        unfilled_from: (paths, days) first unfilled slot per day: `pool_takes` for the owned
            units, then the second value this function returned for each unit added since.

    Returns:
        (paths,) requests the new unit fills, and the new (paths, days) first unfilled slots.
    """
    start = np.array(unfilled_from, dtype=np.int64, copy=True)
    busy_until = np.zeros(draws.paths, dtype=np.int64)  # bought: on the shelf on day 0
    filled = np.zeros(draws.paths, dtype=np.int64)
    for d in range(draws.days):
        rows = np.flatnonzero((start[:, d] < draws.requests[:, d]) & (busy_until <= d))
        busy_until[rows] = d + draws.turns[rows, draws.first[rows, d] + start[rows, d]]
        start[rows, d] += 1
        filled[rows] += 1
    return filled, start


def fill_rate(filled: np.ndarray | int, requested: np.ndarray | int) -> float:
    """Filled over requested, summed over paths (and sizes); 1.0 when nothing was requested."""
    asked = float(np.sum(requested))
    return 1.0 if asked == 0 else float(np.sum(filled)) / asked


def fill_std_error(filled: np.ndarray, requested: np.ndarray) -> float:
    """Monte Carlo standard error of `fill_rate` from (paths,) fills and requests per path.

    The fill is a ratio of sums, so its error is the delta method's: the spread over paths of
    ``filled - rate * requested``, over the mean requests, over sqrt(paths). 0 with one path or no
    requests (nothing to spread).
    """
    f, q = np.asarray(filled, dtype=float), np.asarray(requested, dtype=float)
    if len(f) < 2 or q.sum() == 0:
        return 0.0
    resid = f - fill_rate(f, q) * q
    return float(resid.std(ddof=1) / q.mean() / np.sqrt(len(f)))


class SizeLadder:
    """Fills of one size for 0, 1, 2, ... added units, grown one unit at a time (`add_unit`)."""

    def __init__(self, draws: SizeDraws) -> None:
        self.draws = draws
        takes = pool_takes(draws)
        self.per_path = [takes.sum(axis=1)]  # per_path[u]: (paths,) fills with u units added
        self.filled = [int(takes.sum())]  # filled[u]: the same summed over paths
        self._unfilled_from = takes
        self.grow()

    def grow(self) -> None:
        """Simulate one more added unit."""
        more, self._unfilled_from = add_unit(self.draws, self._unfilled_from)
        self.per_path.append(self.per_path[-1] + more)
        self.filled.append(self.filled[-1] + int(more.sum()))


def greedy_buy(ladders: list[SizeLadder], costs: np.ndarray, target: float, max_units: int) -> list[int]:
    """Units added per size: one at a time where expected fills per dollar rise most, until the
    style's fill reaches ``target`` or ``max_units`` are added.

    A heuristic, chosen because the returns of a size's units diminish (each next unit catches only
    what the ones before it lost), so buying the cheapest next expected fill first stays close to
    the cheapest way to the target; on common random numbers a gain is the unit's, not the dice's.
    """
    requested = sum(int(lad.draws.requests.sum()) for lad in ladders)
    added = [0] * len(ladders)

    def now() -> float:
        return fill_rate(sum(lad.filled[a] for lad, a in zip(ladders, added, strict=True)), requested)

    while now() < target and sum(added) < max_units:
        gain = np.array(
            [(lad.filled[a + 1] - lad.filled[a]) / c for lad, a, c in zip(ladders, added, costs, strict=True)]
        )
        if not (gain > 0).any():  # no further unit fills another request on any path
            break
        best = int(np.argmax(gain))
        added[best] += 1
        ladders[best].grow()
    return added
