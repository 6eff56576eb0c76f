"""Ratings.split(how=...) and Ratings.folds: what each keeps apart, checked against the raw rows."""

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.names import ITEM, TIMESTAMP, USER

pytestmark = pytest.mark.backend_independent(reason="masks over a pandas frame: no Keras")


@pytest.fixture(scope="module")
def timed():
    """Ratings with timestamps, users with 1 to 40 ratings, ties in time."""
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(60), rng.integers(1, 41, 60))
    frame = pd.DataFrame({"userId": users, "movieId": rng.integers(0, 300, len(users)),
                          "rating": rng.integers(1, 11, len(users)) / 2,
                          "timestamp": rng.integers(0, 500, len(users))})
    return cfnb.load_ratings(frame, duplicates="keep")


def _per_user(r):
    return r.frame.groupby(USER).size()


def _rows(*sets) -> np.ndarray:
    """The rows of the sets together, sorted: equal for two partitions of the same ratings."""
    values = np.concatenate([s.frame[[USER, ITEM, "rating", TIMESTAMP]].to_numpy(np.float64) for s in sets])
    return values[np.lexsort(values.T[::-1])]


def test_random_is_the_mask_of_0_1_0(timed):
    train, val = timed.split(0.2, seed=7)
    mask = np.random.default_rng(7).random(len(timed)) >= 0.2
    assert (train.frame.to_numpy() == timed.frame[mask].to_numpy()).all()
    assert (val.frame.to_numpy() == timed.frame[~mask].to_numpy()).all()


def test_per_user_keeps_every_user_with_two_ratings_on_both_sides(timed):
    train, val = timed.split(0.2, seed=1, how="user")
    n = _per_user(timed)
    in_val = _per_user(val).reindex(n.index, fill_value=0)
    expected = np.where(n >= 2, np.clip(np.round(0.2 * n), 1, n - 1), 0)
    assert (in_val.to_numpy() == expected).all()
    assert set(_per_user(train).index) == set(n.index)  # a user with one rating stays in training


@pytest.mark.parametrize("how", ["time", "user_time"])
def test_no_validation_rating_is_earlier_than_a_training_rating(timed, how):
    train, val = timed.split(0.25, seed=2, how=how)
    assert len(train) + len(val) == len(timed) and len(val) > 0
    if how == "time":
        assert val.frame[TIMESTAMP].min() >= train.frame[TIMESTAMP].max()
    else:
        first_val = val.frame.groupby(USER)[TIMESTAMP].min()
        last_train = train.frame.groupby(USER)[TIMESTAMP].max().reindex(first_val.index)
        assert (first_val >= last_train).all()
        assert (_per_user(val) == _per_user(timed.split(0.25, seed=9, how="user")[1])).all()


@pytest.mark.parametrize("how", ["random", "user"])
def test_folds_partition_the_ratings_and_differ_by_seed(timed, how):
    folds = list(timed.folds(k=4, how=how, seed=0))
    assert len(folds) == 4 and sum(len(test) for _, test in folds) == len(timed)
    assert (_rows(*(test for _, test in folds)) == _rows(timed)).all()  # the tests partition the ratings
    for train, test in folds:
        assert (_rows(train, test) == _rows(timed)).all()  # each train is the rest
    again = [_rows(test) for _, test in timed.folds(k=4, how=how, seed=0)]
    other = [_rows(test) for _, test in timed.folds(k=4, how=how, seed=1)]
    first = [_rows(test) for _, test in folds]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    if how == "user":  # each user's ratings spread over the folds: at most one apart in count
        per_fold = pd.DataFrame({f"f{j}": _per_user(t) for j, (_, t) in enumerate(folds)}).fillna(0)
        assert ((per_fold.max(axis=1) - per_fold.min(axis=1)) <= 1).all()


def test_bad_splits_and_folds_are_named(small, timed):
    untimed = small.with_frame(small.frame.drop(columns=TIMESTAMP, errors="ignore"))
    with pytest.raises(cfnb.DataError, match="no timestamps"):
        untimed.split(how="time")
    with pytest.raises(cfnb.DataError, match="no timestamps"):
        untimed.split(how="user_time")
    with pytest.raises(cfnb.ArgumentError, match="how"):
        timed.split(how="season")
    with pytest.raises(cfnb.ArgumentError, match="k"):
        next(timed.folds(k=1))
    with pytest.raises(cfnb.ArgumentError, match="folds of"):
        next(timed.folds(k=len(timed) + 1))
    with pytest.raises(cfnb.ArgumentError, match="how"):
        next(timed.folds(how="time"))
    assert ITEM in timed.frame
