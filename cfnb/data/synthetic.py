"""Ratings from planted user and item factors and biases: fast tests and offline demos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cfnb.data.ratings import Ratings, load_ratings
from cfnb.errors import DataError


def synthetic(n_users: int = 200, n_items: int = 300, n_ratings: int = 10_000, n_factors: int = 5,
              noise: float = 0.3, seed: int = 0, scale: tuple[float, float] = (0.5, 5.0)) -> Ratings:
    """Ratings generated from planted user/item factors and biases, for fast tests and offline demos.

    Returns:
        A `Ratings` named "synthetic"; `ratings = 3.5 + user bias + item bias + user·item + noise`,
        clipped to `scale`. Every user and item appears at least once.
    """
    rng = np.random.default_rng(seed)
    if n_ratings < max(n_users, n_items):
        raise DataError(f"n_ratings ({n_ratings}) must be at least max(n_users, n_items) so every id appears.")
    u = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_ratings - n_users)])
    i = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_ratings - n_items)])[:n_ratings]
    u = u[:n_ratings]
    rng.shuffle(i)
    pu = rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors))
    qi = rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    r = 3.5 + bu[u] + bi[i] + (pu[u] * qi[i]).sum(1) + rng.normal(0, noise, n_ratings)
    r = np.clip(np.round(r * 2) / 2, *scale)
    frame = pd.DataFrame({"userId": u + 1, "movieId": i + 1, "rating": r})
    titles = pd.Series([f"Synthetic movie {k + 1}" for k in range(n_items)], index=np.arange(1, n_items + 1))
    # Random pairs repeat; keep them all, as the planted-structure data always has.
    return load_ratings(frame, titles=titles, name="synthetic", scale=scale, duplicates="keep")
