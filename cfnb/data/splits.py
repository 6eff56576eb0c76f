"""Splits of coded ratings, as plain masks and fold numbers: random, per user, by time, per user by time.

`Ratings.split` and `Ratings.folds` use them; docs/data.md says what each split measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.errors import ArgumentError, DataError
from cfnb.names import TIMESTAMP, USER

HOWS = ("random", "user", "time", "user_time")
FOLD_HOWS = ("random", "user")


def val_mask(frame: pd.DataFrame, val_frac: float, seed: int | None, how: str, name: str) -> np.ndarray:
    """True for the rows that go to validation (see `Ratings.split` for each `how`)."""
    n, rng = len(frame), np.random.default_rng(seed)
    if how == "random":
        return rng.random(n) < val_frac  # the lesson's mask, as cfnb 0.1.0 drew it
    if how == "time":
        times = _times(frame, how, name)
        if n < 2:
            raise DataError(f"{name!r} has {n} rating: a split by time needs at least 2.")
        n_val = min(max(int(round(val_frac * n)), 1), n - 1)
        cut = np.sort(times, kind="stable")[n - n_val]
        return times >= cut  # ties at the cut all go to validation: none is earlier than a training rating
    users = frame[USER].to_numpy()
    if how == "user":
        key = rng.random(n)
    else:
        key = -_times(frame, how, name).astype(np.float64)  # latest first
    rank, counts = _rank_within_user(users, key)  # 0 for each user's latest (or first drawn) rating
    k = np.clip(np.round(val_frac * counts), 1, np.maximum(counts - 1, 0))  # 1..n-1 each, 0 for one rating
    return rank < k[users]


def fold_numbers(frame: pd.DataFrame, k: int, seed: int | None, how: str) -> np.ndarray:
    """The test fold (0..k-1) of every row: "random" deals a shuffled order round the folds; "user" deals
    each user's ratings round the folds from a random fold of their own, so each test holds ~1/k of each."""
    n, rng = len(frame), np.random.default_rng(seed)
    if how == "random":
        folds = np.empty(n, np.int64)
        folds[rng.permutation(n)] = np.arange(n) % k
        return folds
    users = frame[USER].to_numpy()
    rank, counts = _rank_within_user(users, rng.random(n))
    return (rank + rng.integers(0, k, len(counts))[users]) % k


def check_folds(k, n: int, how: str) -> int:
    """`k` as a whole number of folds for `n` ratings, and `how` one of `FOLD_HOWS`."""
    checks.one_of("how", how, FOLD_HOWS)
    k = checks.whole("k", k, minimum=2)
    if k > n:
        raise ArgumentError(f"k={k} folds of {n:,} ratings: every fold needs at least one rating to test on; "
                            f"use k <= {n}.")
    return k


def _rank_within_user(users: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's place among its user's rows ordered by `key` (ties: row order), and rows per user."""
    n = len(users)
    order = np.lexsort((np.arange(n), key, users))
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - starts[users[order]]
    return rank, counts


def _times(frame: pd.DataFrame, how: str, name: str) -> np.ndarray:
    if TIMESTAMP not in frame.columns:
        raise DataError(f"how={how!r} splits by time, but {name!r} has no timestamps: load it with its timestamp "
                        "column (load_ratings(..., timestamp='timestamp')), or use how='random' or 'user'.")
    return frame[TIMESTAMP].to_numpy()
