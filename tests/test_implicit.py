"""Implicit feedback: ratings.implicit(), sampled negatives (seeded, resampled, never positives) and
fit_stages(loss="bce") with its history, checks, records and continuation."""

import keras
import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb import implicit
from cfnb.names import ITEM, RATING, USER


@pytest.fixture(scope="module")
def stamped():
    """Ratings with timestamps, a pair rated twice, and a user who has rated every movie."""
    rows = [(1, 10, 4.0, 100), (1, 20, 2.0, 200), (1, 30, 5.0, 300), (2, 10, 3.5, 50), (2, 40, 4.5, 60),
            (3, 10, 1.0, 10), (3, 20, 1.0, 20), (3, 30, 1.0, 30), (3, 40, 1.0, 40), (2, 10, 5.0, 70)]
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    return cfnb.load_ratings(frame, duplicates="keep")


@pytest.fixture(scope="module")
def interactions(small):
    return small.implicit()


# ------------------------------------------------------------------------------ ratings.implicit()
def test_every_rating_becomes_one_interaction_with_its_latest_time(stamped):
    inter = stamped.implicit()
    f = inter.to_frame()
    assert len(inter) == 9 and (f[RATING] == 1.0).all() and inter.scale == (0.0, 1.0)
    assert f.loc[(f[USER] == 2) & (f[ITEM] == 10), "timestamp"].tolist() == [70]  # the pair rated twice, kept once
    assert inter.vocabulary is stamped.vocabulary and inter.n_items == stamped.n_items
    assert "implicit" in inter.name


def test_a_threshold_keeps_the_liked_ratings(stamped):
    liked = stamped.implicit(threshold=4.0)
    assert sorted(zip(*[liked.to_frame()[c] for c in (USER, ITEM)])) == [(1, 10), (1, 30), (2, 10), (2, 40)]
    with pytest.raises(cfnb.DataError, match=">= 6"):
        stamped.implicit(threshold=6)
    with pytest.raises(cfnb.ArgumentTypeError, match="threshold"):
        stamped.implicit(threshold="4")


# --------------------------------------------------------------------------------------- negatives
def test_negatives_are_never_the_users_interactions_and_come_from_the_catalogue(interactions):
    users, items, labels = implicit.training_pairs(interactions, negatives=4, seed=0)
    assert len(users) == 5 * len(interactions) and labels.sum() == len(interactions)
    seen = set(zip(interactions.frame[USER], interactions.frame[ITEM]))
    negative = labels == 0
    assert not any((u, i) in seen for u, i in zip(users[negative], items[negative]))
    assert set(items[negative]) <= set(interactions.frame[ITEM])
    assert sorted(zip(users[~negative], items[~negative])) == sorted(zip(interactions.frame[USER],
                                                                        interactions.frame[ITEM]))


def test_same_seed_same_negatives_and_a_new_sample_every_epoch(interactions):
    a = implicit.training_pairs(interactions, 4, seed=7, epoch=3)
    b = implicit.training_pairs(interactions, 4, seed=7, epoch=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other_epoch = implicit.training_pairs(interactions, 4, seed=7, epoch=4)
    other_seed = implicit.training_pairs(interactions, 4, seed=8, epoch=3)
    for other in (other_epoch, other_seed):
        assert not np.array_equal(a[1], other[1])


def test_negatives_are_uniform_over_the_items_a_user_has_not_seen(interactions):
    sampler = implicit.NegativeSampler(interactions, seed=0)
    user = int(interactions.frame[USER].iloc[0])
    drawn = sampler.draw(np.full(40_000, user), sampler.rng(0, 0))
    allowed = np.setdiff1d(sampler.catalogue, interactions.frame.loc[interactions.frame[USER] == user, ITEM])
    counts = np.bincount(drawn, minlength=sampler.n_items)[allowed]
    assert set(np.unique(drawn)) == set(allowed)
    expected = len(drawn) / len(allowed)
    assert np.sum((counts - expected) ** 2 / expected) < len(allowed) + 5 * np.sqrt(2 * len(allowed))  # chi-square


def test_a_user_who_has_seen_everything_gets_no_negatives_and_a_warning(stamped):
    with pytest.warns(cfnb.DataWarning, match="every item"):
        users, items, labels = implicit.training_pairs(stamped.implicit(), negatives=2, seed=0)
    user3 = stamped.user_codes([3])[0]
    assert labels[users == user3].min() == 1.0 and (labels == 0).sum() == 2 * (9 - 4)


def test_the_dataset_moves_to_the_next_epochs_sample_at_each_epoch(interactions):
    sampler = implicit.NegativeSampler(interactions, seed=1)
    data = implicit.EpochPairs(interactions, sampler, 2, 100, first_epoch=5)
    data.on_epoch_begin()
    first = data.data()[1].copy()
    np.testing.assert_array_equal(first, implicit.training_pairs(interactions, 2, seed=1, epoch=5)[1])
    data.on_epoch_begin()
    assert data.epoch == 6 and not np.array_equal(first, data.data()[1])
    assert data.num_batches == -(-3 * len(interactions) // 100)
    x, y = data[data.num_batches - 1]
    assert x["user_in"].shape == (len(y), 1) and 0 < len(y) <= 100


# ----------------------------------------------------------------------------- fit_stages(loss="bce")
def fit(model, train, val, seed=0, epochs=2, **kwargs):
    return cfnb.fit_stages(model, train, val, stages=[(1e-2, epochs)], batch_size=128, loss="bce", seed=seed,
                           progress=False, **kwargs)


def test_bce_history_has_its_losses_and_no_rmse(interactions):
    train, val = interactions.split(0.2, seed=0)
    history = fit(cfnb.build_model("dot", interactions, seed=0, n_factors=8, l2=0.0), train, val)
    frame = history.to_frame()
    assert list(frame["epoch"]) == [1, 2] and frame["val_rmse"].isna().all()
    assert (frame["loss"] > 0).all() and frame["loss"].iloc[1] < frame["loss"].iloc[0]
    assert (frame["val_loss"] > 0).all() and frame["val_loss"].iloc[1] < np.log(2)


def test_same_seed_same_fit(interactions):
    train, val = interactions.split(0.2, seed=0)
    runs = []
    for _ in range(2):
        model = cfnb.build_model("gmf", interactions, seed=3, n_factors=4)
        runs.append((fit(model, train, val, seed=11).to_frame()[["loss", "val_loss"]], model.get_weights()))
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def clustered(n_users=150, n_items=60, per_user=16, seed=0):
    """Interactions with planted structure: two groups of users, each with movies of its own group only."""
    rng = np.random.default_rng(seed)
    user_group, item_group = rng.integers(0, 2, n_users), np.arange(n_items) % 2
    rows = []
    for u in range(n_users):
        own = np.flatnonzero(item_group == user_group[u])
        rows += [(u, int(i), 1.0) for i in rng.choice(own, per_user, replace=False)]
    return cfnb.load_ratings(pd.DataFrame(rows, columns=["userId", "movieId", "rating"]), name="clustered")


def test_bce_learns_to_rank_held_out_interactions_above_random_items():
    interactions = clustered().implicit()
    train, val = interactions.split(0.2, seed=0)
    model = cfnb.build_model("dot", interactions, seed=0, n_factors=4, l2=0.0)
    fit(model, train, None, epochs=6)
    x, labels = implicit.validation_pairs(train, val, 4, implicit.NegativeSampler(train, seed=0))
    scores = model.predict(x, verbose=0).reshape(-1)
    pos, neg = scores[labels == 1], scores[labels == 0]
    auc = (pos[:, None] > neg[None, :]).mean()
    # A random non-interacted movie is from the user's group 14 times in 44: knowing the groups gives AUC
    # 1 - 0.5 * 14/44 = 0.84; a model that learned nothing scores 0.5.
    assert auc > 0.7


def test_a_bce_model_is_not_clipped_and_its_record_survives_save_and_load(interactions, tmp_path):
    train, val = interactions.split(0.2, seed=0)
    model = cfnb.build_model("mlp", interactions, seed=0, n_factors=4)
    fit(model, train, val)
    record = cfnb.trained_on(model)
    assert record.scale == (-np.inf, np.inf) and record.mean == 1.0
    users, items = train.to_frame()[USER][:20].to_numpy(), train.to_frame()[ITEM][:20].to_numpy()
    raw = model.predict(train.with_frame(train.frame[:20]).x, verbose=0).reshape(-1)
    np.testing.assert_allclose(cfnb.predict(model, train, users, items), raw, rtol=1e-6)
    again, ratings = cfnb.load(cfnb.save(model, train, tmp_path / "mlp.cfnb"))
    assert cfnb.trained_on(again).scale == (-np.inf, np.inf)
    np.testing.assert_array_equal(cfnb.predict(again, ratings, users, items), cfnb.predict(model, train, users, items))


def test_a_continued_fit_counts_on_and_draws_new_negatives(interactions):
    train, _ = interactions.split(0.2, seed=0)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.get_weights()[1].copy())

    model = cfnb.build_model("dot", interactions, seed=0, n_factors=4)
    history = fit(model, train, None, epochs=1)
    history = cfnb.fit_stages(model, train, None, stages=[(1e-2, 1)], batch_size=128, loss="bce", seed=0,
                              progress=False, history=history, callbacks=[Spy()])
    assert list(history.to_frame()["epoch"]) == [1, 2] and len(seen) == 1


def test_wrong_loss_or_engine_or_negatives_are_refused_clearly(interactions, small):
    train, _ = interactions.split(0.2, seed=0)
    lesson = cfnb.build_model("dot", small, seed=0, n_factors=4)
    cfnb.fit_stages(lesson, small, None, stages=[(1e-2, 1)], progress=False)
    with pytest.raises(cfnb.CfnbError, match="compiled with mean squared error"):
        fit(lesson, small, None)
    implicit_model = cfnb.build_model("dot", interactions, seed=0, n_factors=4)
    fit(implicit_model, train, None, epochs=1)
    with pytest.raises(cfnb.CfnbError, match="binary cross-entropy"):
        cfnb.fit_stages(implicit_model, train, None, stages=[(1e-2, 1)], progress=False)
    with pytest.raises(cfnb.CfnbError, match="engine='fast'"):
        fit(cfnb.build_model("dot", interactions, n_factors=4), train, None, engine="fast")
    for bad, error in ((0, cfnb.ArgumentError), (2.5, cfnb.ArgumentError), ("4", cfnb.ArgumentTypeError)):
        with pytest.raises(error, match="negatives"):
            fit(cfnb.build_model("dot", interactions, n_factors=4), train, None, negatives=bad)
    with pytest.raises(cfnb.ArgumentError, match="loss"):
        cfnb.fit_stages(cfnb.build_model("dot", interactions, n_factors=4), train, None, loss="hinge")


def test_the_lesson_path_still_trains_mse_with_the_fast_engine(small):
    train, val = small.split(0.2, seed=0)
    model = cfnb.build_model("dot", small, seed=0)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], seed=0, progress=False, engine="fast")
    assert np.isfinite(history.val_rmse) and model.loss == "mse"
