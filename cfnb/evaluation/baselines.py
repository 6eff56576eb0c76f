"""Baselines a model must beat, on the same split: the global mean, user + movie biases only, and (for
rankings) the most popular movies.

Each baseline that can rank is also a *scorer* for `cfnb.ranking_metrics` (`scores(users, items)`, see
`cfnb.ranking`): `fit_biases(train).score` and `popularity(train).score`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.biases import _offsets, fit_biases
from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError
from cfnb.evaluation.metrics import rmse
from cfnb.evaluation.ranking import check_same_vocabulary, rank_scores, ranking_metrics
from cfnb.names import ITEM


@dataclass(frozen=True)
class Popularity:
    """The most popular items first: each item scores its number of training ratings, for every user."""

    counts: np.ndarray

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Training counts of `items` ((m,) for all users, or (b, m)), as a (b, m) scorer."""
        items = np.asarray(items)
        counts = _offsets(self.counts.astype(np.float64), items.reshape(-1)).reshape(items.shape)
        return np.broadcast_to(counts, (len(users), items.shape[-1])).copy()


def popularity(train: Ratings) -> Popularity:
    """The most-popular baseline: items ranked by how many training ratings they have."""
    checks.instance("train", train, Ratings, "a cfnb Ratings")
    return Popularity(np.bincount(train.frame[ITEM].to_numpy(), minlength=train.n_items))


def global_mean_rmse(train: Ratings, val: Ratings) -> float:
    """Validation RMSE of predicting the training mean rating for everything.

    Args:
        train, val: a split of the same `Ratings` (e.g. from `Ratings.split`).

    Returns:
        The RMSE on `val`.
    """
    _check(train, val)
    return rmse(np.full(len(val), train.y.mean(dtype=np.float64)), val.y)


def baselines(train: Ratings, val: Ratings, reg: float = 5.0, k: int = 10, relevant: float | None = 4.0) -> pd.DataFrame:
    """Both rating baselines on one split, as a table, with their RMSE and their NDCG@k.

    Args:
        train, val: a split of the same `Ratings`.
        reg: the biases' shrinkage (see `fit_biases`).
        k, relevant: the NDCG's list length and relevance threshold (see `cfnb.ranking_metrics`).

    Returns:
        A DataFrame with one row per baseline: `name`, `params`, `val_rmse`, `seconds` (fitting and
        RMSE), and `ndcg@{k}` (`cfnb.ranking_metrics`' NDCG on the same split; NaN for the global
        mean, whose constant score ranks nothing).
    """

    _check(train, val)
    k = checks.whole("k", k)
    relevant = None if relevant is None else checks.real("relevant", relevant)
    start = time.perf_counter()
    mean_rmse = global_mean_rmse(train, val)
    mean_s = time.perf_counter() - start
    start = time.perf_counter()
    biases = fit_biases(train, reg=reg)
    bias_rmse = rmse(biases.predict(val), val.y)
    bias_s = time.perf_counter() - start
    ndcg = rank_scores(biases.score, train, val, k, relevant)["ndcg"]
    return pd.DataFrame([
        {"name": "global mean", "params": 1, "val_rmse": mean_rmse, "seconds": mean_s, f"ndcg@{k}": np.nan},
        {"name": "user + movie biases", "params": biases.n_params, "val_rmse": bias_rmse, "seconds": bias_s,
         f"ndcg@{k}": ndcg},
    ])


def ranking_baselines(train: Ratings, test: Ratings, k: int = 10, relevant: float | None = 4.0,
                      reg: float = 5.0) -> pd.DataFrame:
    """The ranking baselines, scored exactly as `cfnb.ranking_metrics` scores a model.

    Args:
        train, test: a split of the same `Ratings` (or a test set coded with `train.encode`).
        k, relevant: see `cfnb.ranking_metrics`.
        reg: the biases' shrinkage (see `fit_biases`).

    Returns:
        A DataFrame with one row per baseline, "most popular" (items by training count, the same
        list for everyone) and "user + movie biases" (by `fit_biases`' prediction): `name`, then
        `ranking_metrics`' keys (`precision`, `recall`, `ndcg`, `hit_rate`, `coverage`, `n_users`, ...).
    """

    _check(train, test)
    rows = []
    for name, scorer in (("most popular", popularity(train).score),
                         ("user + movie biases", fit_biases(train, reg=reg).score)):
        rows.append({"name": name, **ranking_metrics(scorer, train, test, k=k, relevant=relevant)})
    return pd.DataFrame(rows)


def _check(train: Ratings, val: Ratings):
    checks.instance("train", train, Ratings, "a cfnb Ratings")
    checks.instance("val", val, Ratings, "a cfnb Ratings")
    if len(train) == 0 or len(val) == 0:
        raise CfnbError(f"Baselines need non-empty train and validation sets (got {len(train)} and {len(val)} ratings).")
    check_same_vocabulary(train, val, "val")
