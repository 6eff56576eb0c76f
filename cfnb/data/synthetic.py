"""Ratings from planted user and item factors and biases: fast tests and offline demos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cfnb.data.ratings import Ratings, load_ratings
from cfnb.errors import DataError

from cfnb.names import ITEM, RATING, USER


def synthetic(n_users: int = 200, n_items: int = 300, n_ratings: int = 10_000, n_factors: int = 5,
              noise: float = 0.3, seed: int = 0, scale: tuple[float, float] = (0.5, 5.0), lean: bool = False,
              chunk: int = 1_000_000) -> Ratings:
    """Ratings generated from planted user/item factors and biases, for fast tests and offline demos.

    With `lean=True` (millions of ratings, e.g. MovieLens 25M's size for `cfnb bench --scale`):
    long-tailed item popularity, made `chunk` ratings at a time in float32 (a smaller set is the first
    ratings of a larger one with the same seed), codes as ids, no titles, and no id is sure to appear.

    Returns:
        A `Ratings` named "synthetic"; `ratings = 3.5 + user bias + item bias + user·item + noise`,
        rounded to half stars and clipped to `scale`. Every user and item appears at least once (unless lean).
    """
    rng = np.random.default_rng(seed)

    def planted(dtype):
        pu = rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors)).astype(dtype)
        qi = rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors)).astype(dtype)
        return pu, qi, rng.normal(0, 0.3, n_users).astype(dtype), rng.normal(0, 0.5, n_items).astype(dtype)

    if lean:
        pu, qi, bu, bi = planted(np.float32)
        popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
        cdf = np.cumsum(popularity / popularity.sum())
        users, items = np.empty(n_ratings, np.int32), np.empty(n_ratings, np.int32)
        ratings = np.empty(n_ratings, np.float32)
        for k, lo in enumerate(range(0, n_ratings, chunk)):
            part = np.random.default_rng([seed, k])
            n = min(chunk, n_ratings - lo)
            u = users[lo:lo + n] = part.integers(0, n_users, n, dtype=np.int32)
            i = items[lo:lo + n] = np.minimum(np.searchsorted(cdf, part.random(n)), n_items - 1)
            r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", pu[u], qi[i]) + part.normal(0, noise, n).astype(np.float32)
            ratings[lo:lo + n] = np.clip(np.round(r * 2) / 2, *scale)
        frame = pd.DataFrame({USER: users, ITEM: items, RATING: ratings})
        return Ratings(frame, pd.RangeIndex(n_users, name=USER), pd.RangeIndex(n_items, name=ITEM), scale=scale,
                       name="synthetic")
    if n_ratings < max(n_users, n_items):
        raise DataError(f"n_ratings ({n_ratings}) must be at least max(n_users, n_items) so every id appears.")
    u = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_ratings - n_users)])
    i = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_ratings - n_items)])[:n_ratings]
    u = u[:n_ratings]
    rng.shuffle(i)
    pu, qi, bu, bi = planted(np.float64)
    r = 3.5 + bu[u] + bi[i] + (pu[u] * qi[i]).sum(1) + rng.normal(0, noise, n_ratings)
    r = np.clip(np.round(r * 2) / 2, *scale)
    frame = pd.DataFrame({"userId": u + 1, "movieId": i + 1, "rating": r})
    titles = pd.Series([f"Synthetic movie {k + 1}" for k in range(n_items)], index=np.arange(1, n_items + 1))
    # Random pairs repeat; keep them all, as the planted-structure data always has.
    return load_ratings(frame, titles=titles, name="synthetic", scale=scale, duplicates="keep")
