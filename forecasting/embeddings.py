"""Item embeddings learned from who rented what: BPR matrix factorisation in torch.

Why: a rental history says which dresses appeal to the same customers. Vectors learned from it
find a new style's look-alikes among established ones (its cold-start demand,
`forecasting.embedding_eval.cold_start_wape`), suggest substitutes for reservations the plan
cannot fill (`ItemEmbeddings.substitutes`), and recommend items to a customer
(`ItemEmbeddings.recommend`, judged by the hold-out-users check in `forecasting.embedding_eval`).

Model: each user ``u`` and item ``i`` get a vector (``dim`` floats) and each item a bias; the score
is ``<p_u, q_i> + b_i``. Training uses the distinct (user, item) pairs with the BPR objective
(Rendle et al., 2009): for each rented pair and a uniformly drawn item, ``-log sigmoid(s_ui - s_uj)``
plus an L2 penalty on the vectors in the batch. Mini-batch Adam; before training one random rental
of a sample of users with two or more items is set aside as the validation split, recall@``k`` on it
is measured after each epoch, training stops after ``patience`` epochs without a better value and
the best epoch's weights are kept. Seeded; deterministic on CPU; on CUDA when present.

Fitted state: ``item_ids_`` (sorted), ``vectors_`` (items x dim, float32, L2-normalised: a dot
product is the cosine), ``item_vectors_`` and ``item_bias_`` (raw, for scores), ``user_ids_``,
``user_vectors_``, and each user's rented items, validation split included (to leave them out of
recommendations). Saved as
meta.json and arrays.npz through `forecasting.artifacts` (no pickle, no ``torch.save``).

Fitting the full RTR table (192,544 rentals, 105,571 users, 5,850 items; Misra, Wan and McAuley,
RecSys 2018) took 40 s (11 epochs, best 8) on 2 busy shared CPU cores; how good the vectors are (hardly better
than popularity on RTR) is measured in `forecasting.embedding_eval`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Self

import numpy as np
import pandas as pd
import torch

from forecasting.artifacts import read_artifact, write_artifact
from forecasting.bpr import LazyAdam, bpr_step

__all__ = ["EmbeddingSettings", "ItemEmbeddings", "top_k"]

_MAX_VALID_USERS: Final = 4000  # enough for a stable recall estimate, cheap to score each epoch


@dataclass(frozen=True)
class EmbeddingSettings:
    """Hyperparameters. Tuned on hold-out seed 100 of the RTR table (`forecasting.embedding_eval`)."""

    dim: int = 32
    epochs: int = 40  # at most; early stopping usually ends sooner
    lr: float = 0.01
    l2: float = 0.05  # per-example penalty on the vectors in the batch
    batch: int = 4096
    patience: int = 3  # epochs without a better validation recall before stopping
    valid_share: float = 0.05  # users (with >= 2 items) giving one rental to the validation split
    k: int = 20  # the recall@k that early stopping watches
    # Negatives drawn with probability ~ rentals ** negative_power (0: uniform; 0.75 as in word2vec):
    # popular negatives make the vectors learn taste beyond popularity, which the biases carry.
    negative_power: float = 0.0
    seed: int = 0


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest scores per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's position among them."""
    ids, codes = np.unique(values, return_inverse=True)
    return ids, codes.astype(np.int64)


def _csr(users: np.ndarray, items: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's items as (indptr, indices), users in order."""
    order = np.lexsort((items, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.add.at(indptr, users + 1, 1)
    return np.cumsum(indptr), items[order].astype(np.int64)


def _validation_split(users: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A mask of pairs set aside: one random pair of a random ``share`` of users with >= 2 pairs."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(users)
    eligible = np.flatnonzero(counts >= 2)
    n = min(round(share * len(eligible)), _MAX_VALID_USERS)
    mask = np.zeros(len(users), dtype=bool)
    if n == 0:
        return mask
    chosen = np.zeros(len(counts), dtype=bool)
    chosen[rng.choice(eligible, size=n, replace=False)] = True
    # A random key per pair; the smallest key of each chosen user marks its held-out pair.
    key = rng.random(len(users))
    order = np.lexsort((key, users))
    first = np.ones(len(order), dtype=bool)
    first[1:] = users[order][1:] != users[order][:-1]
    pick = order[first]
    mask[pick[chosen[users[pick]]]] = True
    return mask


class ItemEmbeddings:
    """BPR matrix factorisation over (user, item) rentals (module docstring)."""

    name: ClassVar[str] = "item_embeddings"

    def __init__(self, dim: int = 32, epochs: int = 40, seed: int = 0, **options: Any) -> None:
        fields = set(EmbeddingSettings.__dataclass_fields__) - {"dim", "epochs", "seed"}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(f"unknown embedding option(s) {unknown}; allowed: {sorted(fields)}")
        self.settings = EmbeddingSettings(dim=dim, epochs=epochs, seed=seed, **options)
        if dim < 1 or epochs < 1 or self.settings.batch < 1:
            raise ValueError("dim, epochs and batch must be >= 1")

    # ---- fitting ---------------------------------------------------------------------------------

    def fit(self, interactions: pd.DataFrame, user_col: str = "user_id", item_col: str = "item_id") -> Self:
        """Learn vectors from rentals, one row per (user, item) rental; repeats count once.

        Raises:
            ValueError: a column is missing, or there are fewer than two items or no rentals.
        """
        missing = [c for c in (user_col, item_col) if c not in interactions.columns]
        if missing:
            raise ValueError(f"the interactions have no column(s) {missing}; columns: {list(interactions.columns)}")
        pairs = interactions[[user_col, item_col]].dropna().drop_duplicates()
        self.user_ids_, users = _codes(pairs[user_col].to_numpy())
        self.item_ids_, items = _codes(pairs[item_col].to_numpy())
        if len(self.item_ids_) < 2:
            raise ValueError("item embeddings need rentals of at least two items")
        s = self.settings
        valid = _validation_split(users, s.valid_share, s.seed)
        # While training, only the training pairs are masked (validation items must be findable);
        # afterwards every rental is, so that recommendations never offer what a user already had.
        self.seen_indptr_, self.seen_indices_ = _csr(users[~valid], items[~valid], len(self.user_ids_))
        state, self.epochs_run_, self.best_epoch_, self.valid_recall_ = self._train(
            users[~valid], items[~valid], users[valid], items[valid]
        )
        self.seen_indptr_, self.seen_indices_ = _csr(users, items, len(self.user_ids_))
        self.user_vectors_ = state["user"]
        self.item_vectors_ = state["item"]
        self.item_bias_ = state["bias"]
        self._derive()
        return self

    def _train(
        self, users: np.ndarray, items: np.ndarray, v_users: np.ndarray, v_items: np.ndarray
    ) -> tuple[dict[str, np.ndarray], int, int, float]:
        """Mini-batch Adam on the BPR loss with early stopping; the best epoch's weights and figures."""
        s = self.settings
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        threads = torch.get_num_threads()
        # One thread on CPU: the batches are small row gathers and scatters, and on a shared machine
        # more threads only spin (measured on 2 busy cores: a step took 0.88 s with 2, 0.11 s with 1).
        if device.type == "cpu":
            torch.set_num_threads(1)
        # On CUDA some kernels have no deterministic variant: warn there rather than fail.
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        try:
            with torch.random.fork_rng(devices=[]):  # seeds locally, leaves the caller's generator alone
                torch.manual_seed(s.seed)
                n_users, n_items = len(self.user_ids_), len(self.item_ids_)
                user = 0.1 * torch.randn(n_users, s.dim).to(device)
                item = 0.1 * torch.randn(n_items, s.dim).to(device)
                bias = torch.zeros(n_items, device=device)
                steps = [LazyAdam(w, s.lr) for w in (user, item, bias)]
                draws = torch.Generator().manual_seed(s.seed)
                weights = torch.from_numpy(np.bincount(items, minlength=n_items).astype(np.float64) + 1.0)
                weights = weights**s.negative_power
                u_t = torch.from_numpy(users).to(device)
                i_t = torch.from_numpy(items).to(device)
                best = (-math.inf, 0, self._snapshot(user, item, bias))
                stale, epoch = 0, 0
                for epoch in range(1, s.epochs + 1):
                    order = torch.randperm(len(users), generator=draws).to(device)
                    negatives = torch.multinomial(weights, len(users), replacement=True, generator=draws).to(device)
                    for b in range(0, len(users), s.batch):
                        idx = order[b : b + s.batch]
                        bpr_step(steps, u_t[idx], i_t[idx], negatives[idx], s.l2)
                    if len(v_users) == 0:  # nothing held out: the last epoch is the best
                        best = (math.nan, epoch, self._snapshot(user, item, bias))
                        continue
                    recall = self._recall(user, item, bias, v_users, v_items)
                    if recall > best[0]:
                        best, stale = (recall, epoch, self._snapshot(user, item, bias)), 0
                    else:
                        stale += 1
                        if stale >= s.patience:
                            break
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            torch.set_num_threads(threads)
        return best[2], epoch, best[1], best[0]

    @staticmethod
    def _snapshot(user: torch.Tensor, item: torch.Tensor, bias: torch.Tensor) -> dict[str, np.ndarray]:
        """A float32 copy of the weights on the CPU (the best epoch's are kept this way)."""
        named = {"user": user, "item": item, "bias": bias}
        return {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in named.items()}

    def _recall(
        self, user: torch.Tensor, item: torch.Tensor, bias: torch.Tensor, v_users: np.ndarray, v_items: np.ndarray
    ) -> float:
        """Share of validation pairs whose item is in the user's top ``k`` (training items left out)."""
        with torch.no_grad():
            scores = (user[torch.from_numpy(v_users).to(user.device)] @ item.T + bias).cpu().numpy()
        self._mask_seen(scores, v_users)
        top = top_k(scores, self.settings.k)
        return float((top == v_items[:, None]).any(axis=1).mean())

    def _mask_seen(self, scores: np.ndarray, user_rows: np.ndarray) -> None:
        """Set the scores of items each user already rented to -inf, in place."""
        for r, u in enumerate(user_rows):
            if u >= 0:
                scores[r, self.seen_indices_[self.seen_indptr_[u] : self.seen_indptr_[u + 1]]] = -np.inf

    def _derive(self) -> None:
        """The cosine copy of the item vectors and the id lookups."""
        norms = np.linalg.norm(self.item_vectors_, axis=1, keepdims=True)
        self.vectors_ = (self.item_vectors_ / np.maximum(norms, 1e-12)).astype(np.float32)
        self._item_pos = {v: i for i, v in enumerate(self.item_ids_.tolist())}
        self._user_pos = {v: i for i, v in enumerate(self.user_ids_.tolist())}

    # ---- using the vectors -----------------------------------------------------------------------

    def known_items(self, item_ids: Iterable[Hashable]) -> list[Hashable]:
        """The ids among ``item_ids`` that have a vector (were rented in the fit's table), in order."""
        return [i for i in item_ids if i in self._item_pos]

    def item_positions(self, item_ids: Iterable[Hashable]) -> np.ndarray:
        """Rows of ``vectors_`` for ``item_ids``.

        Raises:
            ValueError: an item was not among the fitted ones (named, up to five).
        """
        ids = list(item_ids)
        unknown = [i for i in ids if i not in self._item_pos]
        if unknown:
            raise ValueError(f"{len(unknown)} item(s) have no embedding (never rented in the fit): {unknown[:5]}")
        return np.array([self._item_pos[i] for i in ids], dtype=np.int64)

    def recommend(
        self, users: Iterable[Hashable], k: int = 20, exclude_seen: bool = True
    ) -> dict[Hashable, np.ndarray]:
        """The ``k`` best items per user, best first, as item ids.

        A user unknown to the fit gets the items with the largest bias (the model's popularity).
        ``exclude_seen`` leaves out the items the user rented in the fit's training part.
        """
        ids = list(users)
        rows = np.array([self._user_pos.get(u, -1) for u in ids], dtype=np.int64)
        out: dict[Hashable, np.ndarray] = {}
        for lo in range(0, len(ids), 1024):  # chunks keep the score matrix small
            part = rows[lo : lo + 1024]
            vecs = np.where((part >= 0)[:, None], self.user_vectors_[np.maximum(part, 0)], 0.0)
            scores = vecs @ self.item_vectors_.T + self.item_bias_
            if exclude_seen:
                self._mask_seen(scores, part)
            for u, top in zip(ids[lo : lo + 1024], top_k(scores, k), strict=True):
                out[u] = self.item_ids_[top]
        return out

    def neighbours(
        self, item_ids: Iterable[Hashable], k: int = 10, candidates: Iterable[Hashable] | None = None
    ) -> pd.DataFrame:
        """The ``k`` most cosine-similar items to each item (itself excluded), among ``candidates`` if given.

        Returns:
            ``item_id``, ``neighbour_id``, ``similarity`` (cosine, -1..1), ``rank`` (1 = nearest).
        """
        ids = list(item_ids)
        rows = self.item_positions(ids)
        pool = np.arange(len(self.item_ids_)) if candidates is None else self.item_positions(candidates)
        sims = self.vectors_[rows] @ self.vectors_[pool].T
        sims[pool[None, :] == rows[:, None]] = -np.inf  # an item is not its own neighbour
        top = top_k(sims, k)
        frames = []
        for r, item in enumerate(ids):
            keep = np.isfinite(sims[r, top[r]])
            chosen = top[r][keep]
            frames.append(
                pd.DataFrame(
                    {
                        "item_id": [item] * len(chosen),
                        "neighbour_id": self.item_ids_[pool[chosen]],
                        "similarity": sims[r, chosen].astype(float),
                        "rank": np.arange(1, len(chosen) + 1),
                    }
                )
            )
        return _concat(frames, ["item_id", "neighbour_id", "similarity", "rank"])

    def substitutes(
        self, item_ids: Iterable[Hashable], available: Mapping[Hashable, int] | None = None, k: int = 3
    ) -> pd.DataFrame:
        """For reservations the plan cannot fill: the ``k`` nearest items that still have spare units.

        ``available`` maps item id -> spare units; items absent from it or with 0 are not offered.
        None means every fitted item is available (spare reported as -1: unknown).

        Returns:
            ``item_id``, ``substitute_id``, ``similarity``, ``rank``, ``spare``.
        """
        if available is None:
            pool: list[Hashable] = list(self.item_ids_.tolist())
        else:
            pool = [i for i, n in available.items() if n > 0 and i in self._item_pos]
        near = self.neighbours(item_ids, k=k, candidates=pool) if pool else _concat([], [])
        out = near.rename(columns={"neighbour_id": "substitute_id"})
        spare = [-1 if available is None else int(available[i]) for i in out.get("substitute_id", [])]
        return out.assign(spare=np.array(spare, dtype=np.int64)).reindex(
            columns=["item_id", "substitute_id", "similarity", "rank", "spare"]
        )

    # ---- saving ----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write meta.json (settings, fit figures) and arrays.npz (ids, vectors, rented items) to ``path``."""
        params = {
            "settings": asdict(self.settings),
            "epochs_run": self.epochs_run_,
            "best_epoch": self.best_epoch_,
            "valid_recall": None if math.isnan(self.valid_recall_) else self.valid_recall_,
        }
        arrays = {
            "item_ids": _plain(self.item_ids_),
            "user_ids": _plain(self.user_ids_),
            "item_vectors": self.item_vectors_,
            "item_bias": self.item_bias_,
            "user_vectors": self.user_vectors_,
            "seen_indptr": self.seen_indptr_,
            "seen_indices": self.seen_indices_,
        }
        write_artifact(path, self.name, params, arrays)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model written by `save` (plain arrays only: loading runs no stored code)."""
        p, a = read_artifact(path, cls.name)
        settings = dict(p["settings"])
        m = cls(settings.pop("dim"), settings.pop("epochs"), settings.pop("seed"), **settings)
        m.epochs_run_, m.best_epoch_ = int(p["epochs_run"]), int(p["best_epoch"])
        m.valid_recall_ = math.nan if p["valid_recall"] is None else float(p["valid_recall"])
        m.item_ids_, m.user_ids_ = a["item_ids"], a["user_ids"]
        m.item_vectors_, m.item_bias_, m.user_vectors_ = a["item_vectors"], a["item_bias"], a["user_vectors"]
        m.seen_indptr_, m.seen_indices_ = a["seen_indptr"], a["seen_indices"]
        m._derive()
        return m


def _plain(ids: np.ndarray) -> np.ndarray:
    """Ids as a numeric or fixed-width text array (npz stores those without pickles)."""
    return ids if ids.dtype.kind in "iufb" else ids.astype(str)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The frames stacked, or an empty frame with ``columns``."""
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
