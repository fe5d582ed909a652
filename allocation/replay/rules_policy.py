"""The rules planner: what a competent warehouse does without an optimiser (no LP, no forecasts).

- Shipping: first come first served (by booked day); each reservation from its nearest site on
  that site's ship-by day if a unit is ready there; otherwise from another site that can still
  make the event date, cheapest (then fastest) lane first. A reservation whose nearest site will
  not have a unit for it ships early from another site whose ship-by day is today (it would
  otherwise miss there).
- Cleaning: dirty units of the SKU with the earliest open booking first; units of SKUs nobody has
  booked last (first in, first out within).
- Transfers: when a site's booked demand for a SKU over a lane's lead time plus a few days
  exceeds its stock, and the lane's other end has spare ready units of that SKU, move the
  shortfall (capped by the spare).
"""

from __future__ import annotations

import numpy as np

from allocation.replay.engine import DayDecision, group_rank
from allocation.state import ExecState, U
from allocation.statics import Statics

__all__ = ["RulesPolicy"]

NO_LANE = 10_000  # transfer_days at or above this: no lane (as the replay reads it)


class RulesPolicy:
    """Nearest site first, then any site that can still make the date; cleaning by earliest open
    booking; a shortfall-against-spare transfer rule."""

    name = "rules"

    def __init__(self, statics: Statics, *, transfer_slack_days: int = 3) -> None:
        self.statics = statics
        self.transfer_slack_days = transfer_slack_days
        n, n_sites = statics.n_res, statics.n_sites
        self.near = statics.nearest_site[statics.res_zone]
        self.near_ship_by = statics.ship_by(np.arange(n), self.near)
        # (reservations, sites): the last day each site can ship each reservation.
        self.ship_by_all = statics.res_event[:, None] - statics.ship_days[:, statics.res_zone].T
        self.latest = self.ship_by_all.max(axis=1) if n_sites else np.full(n, -1)
        self.order = np.lexsort((np.arange(n), statics.res_booked))
        # Site preference per reservation: cheapest lane, then fastest, then site index.
        cost = statics.ship_cost[:, statics.res_zone].T
        days = statics.ship_days[:, statics.res_zone].T
        site_idx = np.broadcast_to(np.arange(n_sites), (n, n_sites))
        self.pref = np.lexsort((site_idx, days, cost), axis=-1) if n else np.zeros((0, n_sites), dtype=np.int64)

    def decide(self, state: ExecState, day: int) -> DayDecision:
        o = self.order
        # Open: booked, not filled, and some site can still make the event date.
        open_ = o[~state.res_filled[o] & (self.statics.res_booked[o] <= day) & (self.latest[o] >= day)]
        return DayDecision(
            ship_passes=self.ship_passes(state, open_, day),
            clean_score=self.clean_score(state, open_, day),
            transfers=self.transfers(state, open_, day),
        )

    def ship_passes(self, state: ExecState, open_: np.ndarray, day: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Nearest site on its ship-by day first; then, one pass per rank of site preference,
        other sites that can still make the date for reservations the nearest site cannot serve."""
        st = self.statics
        due = open_[self.near_ship_by[open_] == day]
        passes = [(due, self.near[due])]
        # The nearest site's day has come (or gone): any other site that can still make the date.
        out_there = self.near_ship_by[open_] <= day
        # Not yet at the nearest site's day, but the nearest site has no unit for it: another site
        # whose ship-by day is today (tomorrow it could not make the date from there).
        early = (self.near_ship_by[open_] > day) & ~self._covered_at_nearest(state, open_, day)
        cand = open_[out_there | early]
        for rank in range(st.n_sites):
            s = self.pref[cand, rank]
            sb = self.ship_by_all[cand, s]
            ok = (s != self.near[cand]) & (sb >= day)
            ok &= np.where(self.near_ship_by[cand] <= day, True, sb == day)
            if ok.any():
                passes.append((cand[ok], s[ok]))
        return passes

    def _covered_at_nearest(self, state: ExecState, open_: np.ndarray, day: int) -> np.ndarray:
        """Whether the nearest site's ready stock covers each open reservation, taking them by
        nearest ship-by day (then first come first served) per SKU and site."""
        st = self.statics
        ready = np.nonzero(state.state == U.READY)[0]
        stock = np.bincount(st.unit_sku[ready] * st.n_sites + state.site[ready], minlength=st.n_skus * st.n_sites)
        # Reservations past their nearest site's day can no longer take its stock: not counted.
        o = open_[self.near_ship_by[open_] >= day]
        o = o[np.argsort(self.near_ship_by[o], kind="stable")]
        key = st.res_sku[o] * st.n_sites + self.near[o]
        covered = np.zeros(len(open_), dtype=bool)
        pos = np.empty(st.n_res, dtype=np.int64)
        pos[open_] = np.arange(len(open_))
        covered[pos[o]] = group_rank(key) < stock[key]
        return covered

    def clean_score(self, state: ExecState, open_: np.ndarray, day: int) -> np.ndarray:
        """Dirty units of the SKU needed soonest first: score = -(earliest nearest ship-by day of an
        open booking of the unit's SKU); SKUs without an open booking score lowest."""
        st = self.statics
        earliest = np.full(st.n_skus, np.iinfo(np.int64).max)
        np.minimum.at(earliest, st.res_sku[open_], self.near_ship_by[open_])
        need = earliest[st.unit_sku]
        # The engine cleans higher scores first and breaks ties first in, first out.
        return np.where(need == np.iinfo(np.int64).max, -1e18, -need.astype(float))

    def transfers(
        self, state: ExecState, open_: np.ndarray, day: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Per lane (cheapest first) and SKU: move min(shortfall at the receiving site, spare at the
        sending site), both counted over the lane's lead time + ``transfer_slack_days``."""
        st = self.statics
        n_k, n_s, H = st.n_skus, st.n_sites, st.horizon
        # Booked need per SKU, nearest site and days from today (cumulative): the window's demand.
        offset = np.clip(self.near_ship_by[open_] - day, 0, None)
        keep = offset < H
        need = np.zeros((n_k, n_s, H), dtype=np.int64)
        np.add.at(need, (st.res_sku[open_][keep], self.near[open_][keep], offset[keep]), 1)
        need = need.cumsum(axis=2)
        ready = np.zeros((n_k, n_s), dtype=np.int64)
        on_way = np.zeros((n_k, n_s), dtype=np.int64)
        r = state.state == U.READY
        np.add.at(ready, (st.unit_sku[r], state.site[r]), 1)
        # Units already moving there or being cleaned there count as its stock; without the
        # transfers in flight the rule would re-send the same shortfall every day.
        w = (state.state == U.TRANSIT) | (state.state == U.CLEANING)
        np.add.at(on_way, (st.unit_sku[w], state.site[w]), 1)
        sent_to = np.zeros((n_k, n_s), dtype=np.int64)
        sent_from = np.zeros((n_k, n_s), dtype=np.int64)
        a_idx, b_idx = np.nonzero((st.transfer_days < NO_LANE) & ~np.eye(n_s, dtype=bool))
        lanes = np.lexsort((st.transfer_days[a_idx, b_idx], st.transfer_cost[a_idx, b_idx]))
        out: list[tuple[np.ndarray, int, int, np.ndarray]] = []
        for a, b in zip(a_idx[lanes], b_idx[lanes], strict=True):
            win = min(int(st.transfer_days[a, b]) + self.transfer_slack_days, H - 1)
            short = need[:, b, win] - ready[:, b] - on_way[:, b] - sent_to[:, b]
            spare = ready[:, a] - need[:, a, win] - sent_from[:, a]
            qty = np.clip(np.minimum(short, spare), 0, None)
            k = np.nonzero(qty)[0]
            if len(k):
                sent_to[k, b] += qty[k]
                sent_from[k, a] += qty[k]
                out.append((k, int(a), int(b), qty[k]))
        if not out:
            return None
        sku = np.concatenate([k for k, _, _, _ in out])
        frm = np.concatenate([np.full(len(k), a) for k, a, _, _ in out])
        to = np.concatenate([np.full(len(k), b) for k, _, b, _ in out])
        qty = np.concatenate([q for _, _, _, q in out])
        return sku, frm, to, qty
