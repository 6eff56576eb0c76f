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

from .data import ITEM, RATING, USER, Ratings
from . import checks
from .errors import CfnbError, VocabularyError


@dataclass(frozen=True)
class Biases:
    """Fitted `rating ≈ mean + user_bias[user] + item_bias[item]` (codes index the arrays)."""

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    def predict(self, data: Ratings) -> np.ndarray:
        """Predicted ratings for the coded (user, item) pairs of `data`."""
        u, i = data.frame[USER].to_numpy(), data.frame[ITEM].to_numpy()
        return self.mean + _offsets(self.user_bias, u) + _offsets(self.item_bias, i)

    @property
    def n_params(self) -> int:
        """Number of fitted numbers (the mean and every bias)."""
        return 1 + len(self.user_bias) + len(self.item_bias)

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of `users` (b,) for `items` ((m,) for all, or (b, m)): a (b, m) scorer."""
        users, items = np.asarray(users), np.asarray(items)
        return (self.mean + _offsets(self.user_bias, users)[:, None]
                + _offsets(self.item_bias, items.reshape(-1)).reshape(items.shape))


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


def _offsets(bias: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`bias[codes]`, with 0 for codes beyond the fitted ones (ids new to the training vocabulary)."""
    out = np.zeros(len(codes))
    inside = codes < len(bias)
    out[inside] = bias[codes[inside]]
    return out


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error between predictions and ratings."""
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - y) ** 2)))


def global_mean_rmse(train: Ratings, val: Ratings) -> float:
    """Validation RMSE of predicting the training mean rating for everything.

    Args:
        train, val: a split of the same `Ratings` (e.g. from `Ratings.split`).

    Returns:
        The RMSE on `val`.
    """
    _check(train, val)
    return rmse(np.full(len(val), train.y.mean(dtype=np.float64)), val.y)


def fit_biases(train: Ratings, reg: float = 5.0, iters: int = 10) -> Biases:
    """Regularised user and item biases by alternating closed-form updates (no factors, no Keras).

    Each item bias is the shrunk mean residual `sum(r - mean - b_user) / (reg + n_item)`, then each
    user bias likewise, repeated `iters` times. Ids unseen in `train` keep bias 0.

    Args:
        train: ratings to fit on.
        reg: shrinkage towards 0 (acts like `reg` extra ratings at the mean).
        iters: alternating rounds (a handful converge).

    Returns:
        A `Biases`.
    """
    if len(train) == 0:
        raise CfnbError("The training set is empty: no biases to fit.")
    if reg < 0:
        raise CfnbError(f"reg must be at least 0, got {reg!r}.")
    u, i = train.frame[USER].to_numpy(), train.frame[ITEM].to_numpy()
    r = train.frame[RATING].to_numpy(np.float64)
    mean = float(r.mean())
    n_u = np.bincount(u, minlength=train.n_users)
    n_i = np.bincount(i, minlength=train.n_items)
    bu, bi = np.zeros(train.n_users), np.zeros(train.n_items)
    for _ in range(int(iters)):
        bi = np.bincount(i, r - mean - bu[u], train.n_items) / np.maximum(reg + n_i, 1e-12)
        bu = np.bincount(u, r - mean - bi[i], train.n_users) / np.maximum(reg + n_u, 1e-12)
    return Biases(mean, bu, bi)


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
    from .ranking import rank_scores

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
    from .ranking import ranking_metrics

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
    if not val.vocabulary.extends(train.vocabulary.fingerprint(), *train.vocabulary.sizes):
        raise VocabularyError(f"val ({val.name!r}) is coded with another id vocabulary than train ({train.name!r}): "
                              "split both from one Ratings, or code val with train.encode(frame_or_path).")
