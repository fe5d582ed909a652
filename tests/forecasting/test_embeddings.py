"""Item embeddings: save/load, clusters, the hidden-users split, cold-start inputs, the check, real rentals.

The real-data test reads ``rtr_reviews.parquet`` (``$CLOSETFLOW_REAL_DATA``, else ``../shared/data``);
it skips without the file, except under ``CI=true`` where a missing file fails it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.settings import real_data_dir
from forecasting.checks import CheckContext, CheckError
from forecasting.embedding_eval import (
    EmbeddingHoldOutCheck,
    category_forecasts,
    cold_start_inputs,
    hidden_users_split,
    holdout_users_recall,
    neighbour_forecasts,
)
from forecasting.embeddings import ItemEmbeddings
from tests.servers import require

SMALL = {"dim": 8, "epochs": 30, "lr": 0.02, "l2": 0.01, "batch": 512, "patience": 5, "valid_share": 0.3}


def _clusters(seed: int = 0) -> pd.DataFrame:
    """Four tastes of 10 items each (ids 0.., 100.., 200.., 300..); each user rents 5 items of one.

    The first taste has as many users as the other three together, so popularity recommends its
    items to everyone.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(480):
        taste = 0 if user < 240 else 1 + user % 3
        for n, item in enumerate(rng.choice(np.arange(10) + 100 * taste, size=5, replace=False)):
            day = pd.Timestamp("2017-01-02") + pd.Timedelta(days=7 * n)
            rows.append((user, int(item), f"taste{taste}", day))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "category", "review_date"])


@pytest.fixture(scope="module")
def clusters() -> pd.DataFrame:
    return _clusters()


@pytest.fixture(scope="module")
def fitted(clusters: pd.DataFrame) -> ItemEmbeddings:
    return ItemEmbeddings(**SMALL).fit(clusters)


def test_neighbours_come_from_the_same_cluster(fitted: ItemEmbeddings) -> None:
    near = fitted.neighbours([0, 5, 100, 205, 309], k=5)
    assert list(near.columns) == ["item_id", "neighbour_id", "similarity", "rank"]
    assert len(near) == 25
    assert (near["item_id"] // 100 == near["neighbour_id"] // 100).all()
    assert (near["item_id"] != near["neighbour_id"]).all()
    for _, group in near.groupby("item_id"):
        assert list(group["rank"]) == [1, 2, 3, 4, 5]
        assert group["similarity"].is_monotonic_decreasing


def test_recall_beats_popularity_on_clusters(clusters: pd.DataFrame) -> None:
    # Popularity pushes the first taste's items to everyone; the embeddings keep each to its own.
    figures = holdout_users_recall(clusters, seed=3, k=5, share=0.5, params=SMALL)
    assert figures["n_users"] == 240
    assert figures["recall_at_20"] > 1.5 * figures["popularity_recall_at_20"]


def test_save_load_gives_identical_vectors_and_recommendations(fitted: ItemEmbeddings, tmp_path: Path) -> None:
    fitted.save(tmp_path / "emb")
    loaded = ItemEmbeddings.load(tmp_path / "emb")
    np.testing.assert_array_equal(loaded.vectors_, fitted.vectors_)
    np.testing.assert_array_equal(loaded.user_vectors_, fitted.user_vectors_)
    np.testing.assert_array_equal(loaded.item_ids_, fitted.item_ids_)
    users = [0, 7, 350, 10_000]  # 10_000 is unknown: the popularity fallback, the same after loading
    mine, theirs = fitted.recommend(users, k=7), loaded.recommend(users, k=7)
    for u in users:
        np.testing.assert_array_equal(mine[u], theirs[u])
    pd.testing.assert_frame_equal(fitted.neighbours([3, 104], k=4), loaded.neighbours([3, 104], k=4))
    assert not (tmp_path / "emb" / "model.pt").exists()


def test_string_ids_round_trip(clusters: pd.DataFrame, tmp_path: Path) -> None:
    named = clusters.assign(
        user_id="u" + clusters["user_id"].astype(str), item_id="i" + clusters["item_id"].astype(str)
    )
    model = ItemEmbeddings(**{**SMALL, "epochs": 2}).fit(named)
    model.save(tmp_path / "named")
    loaded = ItemEmbeddings.load(tmp_path / "named")
    assert loaded.recommend(["u1"], k=3)["u1"].tolist() == model.recommend(["u1"], k=3)["u1"].tolist()


def test_fit_is_deterministic_on_cpu(clusters: pd.DataFrame) -> None:
    a = ItemEmbeddings(**{**SMALL, "epochs": 3}).fit(clusters)
    b = ItemEmbeddings(**{**SMALL, "epochs": 3}).fit(clusters)
    np.testing.assert_array_equal(a.vectors_, b.vectors_)


def test_recommend_leaves_out_seen_items(clusters: pd.DataFrame) -> None:
    # Rentals set aside for validation were rented all the same: they never come back either.
    for share in (0.0, 1.0):
        model = ItemEmbeddings(**{**SMALL, "epochs": 3, "valid_share": share}).fit(clusters)
        top = model.recommend([0], k=30)[0]
        assert not set(top.tolist()) & set(clusters.loc[clusters["user_id"] == 0, "item_id"])
    assert model.epochs_run_ >= model.best_epoch_ >= 1
    assert len(set(top.tolist())) == 30


def test_substitutes_only_offer_items_with_spare_units(fitted: ItemEmbeddings) -> None:
    spare = {1: 0, 2: 3, 3: 1, 101: 5, 999: 4}  # 999 has no embedding; 1 has none to spare
    subs = fitted.substitutes([0, 100], spare, k=2)
    assert list(subs.columns) == ["item_id", "substitute_id", "similarity", "rank", "spare"]
    assert set(subs.loc[subs["item_id"] == 0, "substitute_id"]) == {2, 3}  # the two spare items of its taste
    assert subs.loc[subs["item_id"] == 100, "substitute_id"].iloc[0] == 101
    assert (subs["spare"] == subs["substitute_id"].map(spare)).all()
    assert fitted.substitutes([0], {}, k=2).empty


def test_unknown_items_and_options_are_refused(fitted: ItemEmbeddings) -> None:
    with pytest.raises(ValueError, match="no embedding"):
        fitted.neighbours([12345])
    with pytest.raises(ValueError, match="unknown embedding option"):
        ItemEmbeddings(learning_rate=0.1)
    with pytest.raises(ValueError, match="no column"):
        ItemEmbeddings().fit(pd.DataFrame({"user": [1], "item_id": [2]}))


_rentals = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 8), st.integers(0, 60)), min_size=1, max_size=80).map(
    lambda rows: pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "category": ["dress" if r[1] % 2 else "gown" for r in rows],
            "review_date": [pd.Timestamp("2017-01-02") + pd.Timedelta(days=r[2]) for r in rows],
            "row": range(len(rows)),
        }
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_rentals, seed=st.integers(0, 5), hidden=st.integers(1, 3), share=st.floats(0.05, 1.0))
def test_hidden_rentals_never_reach_training(frame: pd.DataFrame, seed: int, hidden: int, share: float) -> None:
    train, held = hidden_users_split(frame, seed=seed, hidden=hidden, share=share)
    assert set(train["row"]).isdisjoint(held["row"])
    assert set(train["row"]) | set(held["row"]) == set(frame["row"])
    for user, rows in held.groupby("user_id"):
        kept = train[train["user_id"] == user]
        assert len(rows) == hidden and len(kept) >= 1
        assert rows["review_date"].min() >= kept["review_date"].max()  # the latest ones are hidden


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_rentals, later=_rentals, cut=st.integers(20, 50))
def test_cold_start_inputs_use_only_rentals_before_the_origin(
    frame: pd.DataFrame, later: pd.DataFrame, cut: int
) -> None:
    origin = pd.Timestamp("2017-01-02") + pd.Timedelta(days=cut)
    # Anything on or after the origin may change: new rows, other items, other users.
    shifted = later.assign(
        review_date=origin + (later["review_date"] - pd.Timestamp("2017-01-02")), item_id=later["item_id"] + 3
    )
    changed = pd.concat([frame[frame["review_date"] < origin], shifted], ignore_index=True)
    a = cold_start_inputs(frame, origin, horizon_weeks=2, launch_weeks=2)
    b = cold_start_inputs(changed, origin, horizon_weeks=2, launch_weeks=2)
    pd.testing.assert_frame_equal(a.new.reset_index(drop=True), b.new.reset_index(drop=True))
    np.testing.assert_array_equal(a.established, b.established)
    np.testing.assert_array_equal(a.trajectory, b.trajectory)
    assert (b.history["review_date"] < origin).all()


def test_cold_start_forecasts_follow_the_start_and_the_renters(clusters: pd.DataFrame) -> None:
    # Two new styles of one category: 50 rented by 10 users of the first taste, 150 by 5 of the second.
    fresh = pd.DataFrame(
        {
            "user_id": [*range(10), 240, 243, 246, 249, 252],
            "item_id": [50] * 10 + [150] * 5,
            "category": ["taste0"] * 15,
            "review_date": [pd.Timestamp("2017-03-13")] * 15,
        }
    )
    inputs = cold_start_inputs(pd.concat([clusters, fresh], ignore_index=True), "2017-03-20", 1, 1)
    assert sorted(inputs.new["item_id"]) == [50, 150]
    assert inputs.new.set_index("item_id")["own"].to_dict() == {50: 10.0, 150: 5.0}
    by_category = category_forecasts(inputs, 1, recent_weeks=520, shrink=0.0).ravel()
    order = inputs.new["item_id"].to_numpy()
    # Same analogues, no shrinkage: twice the start, twice the forecast.
    assert by_category[order == 50][0] == pytest.approx(2 * by_category[order == 150][0])
    model = ItemEmbeddings(**SMALL).fit(inputs.history)
    near = model.neighbours([50, 150], k=3, candidates=inputs.established.tolist())
    assert (near.loc[near["item_id"] == 50, "neighbour_id"] // 100 == 0).all()
    assert (near.loc[near["item_id"] == 150, "neighbour_id"] // 100 == 1).all()
    by_neighbours = neighbour_forecasts(inputs, model, 1, k=3, recent_weeks=520)
    assert by_neighbours.shape == (2, 1) and np.isfinite(by_neighbours).all() and (by_neighbours > 0).all()


def test_embedding_check_passes_only_at_the_factor() -> None:
    check = EmbeddingHoldOutCheck(factor=2.0)
    assert check.judge("v1", 0.10, 0.05).passed
    failed = check.judge("v1", 0.09, 0.05)
    assert not failed.passed
    assert failed.threshold["recall"] == pytest.approx(0.10)
    assert "falls short" in failed.reason
    assert not check.judge("v1", None, 0.05).passed
    with pytest.raises(CheckError, match="rentals"):
        check.run(CheckContext(registry=None, version="v1"))  # type: ignore[arg-type]
    with pytest.raises(CheckError):
        EmbeddingHoldOutCheck(factor=0)


def test_real_rentals_subset() -> None:
    path = real_data_dir() / "rtr_reviews.parquet"
    if not path.is_file():
        require("the real rentals", f"{path} is missing")
    reviews = pd.read_parquet(path, columns=["user_id", "item_id", "category", "review_date"])
    recent = reviews[reviews["review_date"] >= "2017-06-01"]  # ~1/6 of the table: a fast fit
    figures = holdout_users_recall(recent, seed=0, params={"epochs": 4})
    assert figures["n_users"] >= 100
    assert 0 < figures["recall_at_20"] <= 1 and 0 < figures["popularity_recall_at_20"] <= 1
    assert figures["epochs_run"] >= figures["best_epoch"] >= 1
    result = EmbeddingHoldOutCheck(recent, params={"epochs": 4}).run(CheckContext(registry=None, version="v"))  # type: ignore[arg-type]
    assert result.values["recall"] == pytest.approx(figures["recall_at_20"])
