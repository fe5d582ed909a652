"""Plan stability: shipments already communicated to customers stay as they were unless a change
is worth its price.

Last night's plan told customers "your dress ships from Reno"; tonight's solve may find a slightly
better plan that moves half of them, and every move costs a call, an e-mail, a re-pick. The option
``stability_penalty`` (dollars per communicated shipment changed) adds that price to the objective:
each candidate that ships a reservation from the site it was communicated with earns the penalty,
so the plan drops or moves it only when that gains more than the penalty. ``changed_shipments``
counts what changed anyway, for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation.domain import DataValidationError, Problem
from allocation.model.snapshot import PlanningInput
from allocation.statics import Statics

__all__ = ["Communicated", "changed_shipments", "communicated_from_ships", "keep_communicated_shipments"]


@dataclass(frozen=True)
class Communicated:
    """Per reservation (statics index) the site its shipment was communicated from, -1 for none."""

    site: np.ndarray

    @property
    def count(self) -> int:
        return int((self.site >= 0).sum())


def communicated_from_ships(statics: Statics, ships: pd.DataFrame, source: str) -> Communicated:
    """The communicated shipments of a previous plan's ``ships`` table (reservation_id, site_id).

    Reservations the dataset no longer holds (filled and gone) are skipped; a site the dataset does
    not know is the planner's mistake and is refused with the file named.
    """
    site = np.full(statics.n_res, -1, dtype=np.int64)
    if ships.empty:
        return Communicated(site)
    res_ids = pd.Index(statics.reservations["reservation_id"].astype(str))
    res_pos = res_ids.get_indexer(pd.Index(ships["reservation_id"].astype(str)))
    site_pos = pd.Index(statics.site_ids.astype(str)).get_indexer(pd.Index(ships["site_id"].astype(str)))
    unknown = np.flatnonzero(site_pos < 0)
    if len(unknown):
        row = int(unknown[0])
        site_id = ships["site_id"].iloc[row]
        raise DataValidationError(
            [Problem(source, row + 1, "site_id", f"site {site_id!r} is not a site of this dataset")]
        )
    ok = res_pos >= 0
    site[res_pos[ok]] = site_pos[ok]
    return Communicated(site)


def keep_communicated_shipments(inp: PlanningInput, communicated: Communicated, penalty: float) -> None:
    """Soft. A reservation keeps the site its shipment was communicated from unless moving or dropping
    it gains more than ``penalty`` dollars: candidates from that site earn the penalty."""
    if penalty <= 0 or len(inp.cand_res) == 0:
        return
    match = communicated.site[inp.res[inp.cand_res]] == inp.cand_site
    inp.cand_obj = inp.cand_obj + penalty * match


def changed_shipments(inp: PlanningInput, x: np.ndarray, communicated: Communicated) -> tuple[int, int]:
    """(communicated, changed) among tonight's open reservations: changed means the plan no longer
    ships it from the communicated site (moved or dropped), counting a half-planned one as changed."""
    site = communicated.site[inp.res]
    was = site >= 0
    kept = np.zeros(len(inp.res))
    match = site[inp.cand_res] == inp.cand_site
    np.add.at(kept, inp.cand_res[match], x[match])
    return int(was.sum()), int((was & (kept < 0.5)).sum())
