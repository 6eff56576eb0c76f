"""The biases-only fit of a set of ratings (mean + user offset + item offset): the cold-start fallback."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError
from cfnb.names import ITEM, RATING, USER


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


def _offsets(bias: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`bias[codes]`, with 0 for codes beyond the fitted ones (ids new to the training vocabulary)."""
    out = np.zeros(len(codes))
    inside = codes < len(bias)
    out[inside] = bias[codes[inside]]
    return out


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
