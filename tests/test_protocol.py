"""The NCF evaluation protocol: leave-last-out by timestamp, sampled negatives, HR@k and NDCG@k."""

import math

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.evaluation.baselines import popularity
from cfnb.names import TIMESTAMP


def with_times(ratings, seed=0, ties=0.0):
    """`ratings` with a timestamp column; with `ties` > 0, that share of ratings repeat a time."""
    rng = np.random.default_rng(seed)
    times = rng.integers(1_000_000_000, 1_100_000_000, len(ratings))
    if ties:
        same = rng.random(len(ratings)) < ties
        times[same] = 1_200_000_000  # one busy second, after all the others
    return ratings.with_frame(ratings.frame.assign(**{TIMESTAMP: times}))


@pytest.fixture(scope="module")
def timed():
    return with_times(cfnb.synthetic(n_users=80, n_items=120, n_ratings=4000, seed=5), seed=1)


@pytest.fixture(scope="module")
def split(timed):
    return cfnb.leave_last_out(timed, seed=0)


def test_one_held_out_item_per_user_and_it_is_their_latest(timed, split):
    train, test = split
    f = timed.frame
    assert len(train) + len(test) == len(timed)
    counts = f["user"].value_counts()
    assert sorted(test.frame["user"]) == sorted(counts[counts >= 2].index)  # one per user with two or more
    latest = f.groupby("user")[TIMESTAMP].max()
    assert (test.frame[TIMESTAMP].to_numpy() == latest[test.frame["user"]].to_numpy()).all()
    assert (train.frame.groupby("user")[TIMESTAMP].max() <= latest[train.frame.groupby("user").size().index]).all()
    assert train.vocabulary is timed.vocabulary and test.vocabulary is timed.vocabulary


def test_a_single_rating_user_stays_in_train():
    frame = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 11, 10], "rating": [4.0, 3.0, 5.0]})
    ratings = cfnb.load_ratings(frame)
    ratings = ratings.with_frame(ratings.frame.assign(timestamp=[5, 7, 1]))
    train, test = cfnb.leave_last_out(ratings)
    assert test.to_frame()[["user", "item"]].values.tolist() == [[1, 11]]
    assert len(train) == 2


def test_ties_are_broken_by_the_seed(timed):
    tied = with_times(timed, seed=2, ties=0.2)  # most users rate several movies in their last second
    a, b = cfnb.leave_last_out(tied, seed=0)[1], cfnb.leave_last_out(tied, seed=0)[1]
    assert a.frame.equals(b.frame)
    first = a.frame.set_index("user")["item"].sort_index()
    for seed in (1, 2):  # another draw among the tied, each at the user's latest time
        other = cfnb.leave_last_out(tied, seed=seed)[1].frame
        assert (other[TIMESTAMP] == 1_200_000_000).all()
        items = other.set_index("user")["item"].sort_index()
        assert (items.index == first.index).all() and (items != first).mean() > 0.5


def test_no_timestamp_is_a_clear_error(small):
    with pytest.raises(cfnb.DataError, match="has no 'timestamp' column.*ratings.split"):
        cfnb.leave_last_out(small)
    broken = small.with_frame(small.frame.assign(timestamp=np.where(np.arange(len(small)) == 3, np.nan, 1.0)))
    with pytest.raises(cfnb.DataError, match="1 ratings without a timestamp; first at row 3"):
        cfnb.leave_last_out(broken)
    with pytest.raises(cfnb.ArgumentError, match="seed"):
        cfnb.leave_last_out(with_times(small), seed=-1)


def test_negatives_are_never_interacted_with(split):
    train, test = split
    negatives = cfnb.sample_negatives(train, test, n_negatives=20, seed=0)
    assert negatives.shape == (len(test), 20)
    everything = pd.concat([train.frame, test.frame])
    interacted = everything.groupby("user")["item"].agg(set)
    catalogue = set(train.frame["item"])
    for user, row in zip(test.frame["user"], negatives):
        assert len(set(row)) == 20  # no repeats
        assert not set(row) & interacted[user]
        assert set(row) <= catalogue


def test_the_same_seed_gives_the_same_negatives_and_another_seed_others(split):
    train, test = split
    a = cfnb.sample_negatives(train, test, seed=4)
    assert (a == cfnb.sample_negatives(train, test, seed=4)).all()
    b = cfnb.sample_negatives(train, test, seed=5)
    assert (a != b).any() and a.shape == b.shape == (len(test), 99)


def test_short_pools_are_padded_with_minus_one():
    frame = pd.DataFrame({"userId": [1, 1, 2, 2, 3], "movieId": [10, 11, 11, 12, 13], "rating": 4.0})
    ratings = cfnb.load_ratings(frame)
    ratings = ratings.with_frame(ratings.frame.assign(timestamp=[1, 2, 1, 2, 1]))
    train, test = cfnb.leave_last_out(ratings)  # users 1 and 2 hold out 11 and 12
    negatives = cfnb.sample_negatives(train, test, n_negatives=3, seed=0)
    code = {raw: c for c, raw in enumerate(ratings.item_ids)}
    assert negatives[0].tolist() == [code[13], -1, -1]  # not 10, 11 (theirs); 12 has no training rating
    assert sorted(negatives[1][:2]) == [code[10], code[13]] and negatives[1][2] == -1


def oracle(test):
    """Scores the held-out item 1 and everything else 0."""
    f = test.frame
    held = np.zeros((test.n_users, test.n_items))
    held[f["user"], f["item"]] = 1.0
    return lambda users, items: held[users[:, None], items]


def test_an_oracle_hits_every_time_and_a_constant_never(split):
    train, test = split
    got = cfnb.hit_rate_ndcg(oracle(test), train, test, seed=0)
    assert (got["hit_rate"], got["ndcg"], got["k"], got["n_negatives"]) == (1.0, 1.0, 10, 99)
    assert got["n"] + got["n_skipped"] == len(test)
    constant = cfnb.hit_rate_ndcg(lambda u, i: np.zeros(i.shape), train, test, seed=0)
    assert constant["hit_rate"] == 0.0 and constant["ndcg"] == 0.0  # ties rank above the held-out item


def test_random_scores_hit_k_in_n_plus_1(split):
    """A random ranking puts the held-out item at each of the n + 1 places with equal chance."""
    train, test = split
    n, k = 99, 10
    rng = np.random.default_rng(0)
    hits, ndcgs = [], []
    for seed in range(20):
        got = cfnb.hit_rate_ndcg(lambda u, i: rng.random(i.shape), train, test, n_negatives=n, k=k, seed=seed)
        hits.append(got["hit_rate"])
        ndcgs.append(got["ndcg"])
    p = k / (n + 1)
    cases = got["n"] * len(hits)
    assert abs(np.mean(hits) - p) < 4 * math.sqrt(p * (1 - p) / cases)
    expected_ndcg = sum(1 / math.log2(r + 2) for r in range(k)) / (n + 1)
    assert abs(np.mean(ndcgs) - expected_ndcg) < 4 * math.sqrt(p / cases)


def test_the_rank_is_counted_exactly():
    # User 1 holds out movie 2; user 2 holds out movie 6, so the catalogue is movies 1..5 and user 1's
    # negatives are exactly 3, 4, 5. The scores put movie 2 3rd of 4: HR@2 = 0, HR@3 = 1, NDCG@3 = 1 / log2(4).
    frame = pd.DataFrame({"userId": [1, 1, 2, 2, 2, 2, 2], "movieId": [1, 2, 2, 3, 4, 5, 6], "rating": 4.0})
    ratings = cfnb.load_ratings(frame)
    ratings = ratings.with_frame(ratings.frame.assign(timestamp=[1, 2, 1, 1, 1, 1, 2]))
    train, test = cfnb.leave_last_out(ratings, seed=0)
    user1 = test.with_frame(test.frame[test.frame["user"] == 0])
    assert sorted(cfnb.sample_negatives(train, user1, n_negatives=3)[0]) == [2, 3, 4]
    item_score = np.array([0.0, 0.5, 0.9, 0.1, 0.7, 0.0])  # item codes 0..5 = raw 1..6; held out: code 1
    scorer = lambda u, i: item_score[i]  # noqa: E731
    assert cfnb.hit_rate_ndcg(scorer, train, user1, n_negatives=3, k=2)["hit_rate"] == 0.0
    got = cfnb.hit_rate_ndcg(scorer, train, user1, n_negatives=3, k=3)
    assert got["hit_rate"] == 1.0 and got["ndcg"] == pytest.approx(1 / math.log2(4)) and got["n"] == 1


def test_a_keras_model_and_the_popularity_baseline(split):
    train, test = split
    model = cfnb.build_model("bias", train, n_factors=3, seed=0)
    cfnb.fit_stages(model, train, test, stages=[(2e-2, 2)], batch_size=128, progress=False, seed=0)
    got = cfnb.hit_rate_ndcg(model, train, test, seed=0)
    assert 0 <= got["ndcg"] <= got["hit_rate"] <= 1 and got["n"] > 0
    nn = cfnb.build_model("nn", train, n_factors=3, hidden=4, seed=0)
    assert 0 <= cfnb.hit_rate_ndcg(nn, train, test, seed=0)["hit_rate"] <= 1
    pop = cfnb.hit_rate_ndcg(popularity(train).score, train, test, seed=0)
    assert 0 <= pop["hit_rate"] <= 1


def test_cases_the_model_cannot_rank_are_skipped_and_counted(split):
    train, test = split
    # drop every training rating of the first held-out item: it leaves the catalogue
    item = test.frame["item"].iloc[0]
    train2 = train.with_frame(train.frame[train.frame["item"] != item])
    got = cfnb.hit_rate_ndcg(oracle(test), train2, test, seed=0)
    assert got["n_skipped"] == int((test.frame["item"] == item).sum()) and got["hit_rate"] == 1.0


def test_protocol_arguments_are_checked(split, small):
    train, test = split
    with pytest.raises(cfnb.ArgumentError, match="n_negatives must be at least 1"):
        cfnb.hit_rate_ndcg(oracle(test), train, test, n_negatives=0)
    with pytest.raises(cfnb.ArgumentError, match="k must be a whole number"):
        cfnb.hit_rate_ndcg(oracle(test), train, test, k="10")
    with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
        cfnb.hit_rate_ndcg(oracle(test), train, small)
    with pytest.raises(cfnb.ArgumentTypeError, match="ratings must be a cfnb Ratings"):
        cfnb.leave_last_out(train.frame)


def test_the_protocol_on_movielens(movielens_small):
    """On real ml-latest-small, with the timestamps `movielens()` keeps: one held-out rating per user."""
    assert movielens_small.frame[TIMESTAMP].dtype == np.int64
    train, test = cfnb.leave_last_out(movielens_small, seed=0)
    assert len(test) == movielens_small.n_users == 610 and len(train) == len(movielens_small) - 610
    pop = cfnb.hit_rate_ndcg(popularity(train).score, train, test, seed=0)
    rng = np.random.default_rng(0)
    rand = cfnb.hit_rate_ndcg(lambda u, i: rng.random(i.shape), train, test, seed=0)
    assert pop["n"] + pop["n_skipped"] == 610 and pop["n"] > 550
    assert pop["hit_rate"] > 2 * rand["hit_rate"] and 0.03 < rand["hit_rate"] < 0.2  # random: 10 / 100
