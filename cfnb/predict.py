"""Predictions for raw user and movie ids, and evaluation on held-out ratings."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from .data import Ratings
from .errors import CfnbError


def predict(model: keras.Model, ratings: Ratings, users, items, batch_size: int = 4096) -> np.ndarray:
    """Predicted ratings for pairs of raw `users` and `items` ids (as in the original data).

    Args:
        model: a fitted cfnb model.
        ratings: the `Ratings` whose id mappings the model was trained with.
        users, items: raw ids, scalars or equal-length sequences.

    Returns:
        A float array of predictions, one per pair.
    """
    users, items = np.atleast_1d(users), np.atleast_1d(items)
    if users.shape != items.shape:
        users, items = np.broadcast_arrays(users, items)
    u, i = ratings.user_codes(users), ratings.item_codes(items)
    for label, codes, raw in (("user", u, users), ("movie", i, items)):
        if (codes < 0).any():
            unknown = raw[codes < 0]
            raise CfnbError(f"{len(unknown)} {label} id(s) unknown to the model, e.g. {unknown[0]!r}.")
    x = {"user_in": u.reshape(-1, 1).astype(np.int32), "movie_in": i.reshape(-1, 1).astype(np.int32)}
    return model.predict(x, batch_size=batch_size, verbose=0).reshape(-1)


def evaluate(model: keras.Model, data: Ratings, batch_size: int = 4096) -> dict:
    """RMSE and MAE of the model on `data` (coded ratings sharing the model's mappings)."""
    pred = model.predict(data.x, batch_size=batch_size, verbose=0).reshape(-1)
    err = pred - data.y
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))), "n": len(data)}


def predictions_table(model: keras.Model, data: Ratings, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """A few held-out ratings beside the model's predictions, with raw ids and titles."""
    rows = data.frame.sample(n=min(n, len(data)), random_state=seed)
    sample = data.with_frame(rows)
    table = sample.to_frame()
    table["predicted"] = model.predict(sample.x, verbose=0).reshape(-1).round(2)
    return table
