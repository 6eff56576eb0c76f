"""Predictions for raw user and movie ids, and evaluation on held-out ratings, with cold-start fallbacks.

A *cold* user or movie is one with no rating in the data the model was trained on: its embedding row
(if it has one at all) was never trained, so its prediction would be noise. cfnb predicts for it from
what is known instead: the global mean rating of the training data, plus the known side's learned
bias (centred on the average bias) when the model has `user_bias` / `movie_bias` layers.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from .data import ITEM, USER, Ratings, as_id_array
from .errors import CfnbError
from .models import MOVIE_BIAS, MOVIE_FACTORS, MOVIE_IN, USER_BIAS, USER_FACTORS, USER_IN, Y_RANGE

UNKNOWN_POLICIES = ("error", "fallback")


def predict(model: keras.Model, ratings: Ratings, users, items, batch_size: int = 4096,
            unknown: str = "error") -> np.ndarray:
    """Predicted ratings for pairs of raw `users` and `items` ids (as in the original data).

    Args:
        model: a fitted cfnb model.
        ratings: the `Ratings` the model was trained on (its id mappings and ratings; the training
            split is best, as it tells which ids the model really learned).
        users, items: raw ids, scalars or equal-length sequences (broadcast against each other).
        unknown: what to do with an id that has no rating in `ratings` (unknown to the mapping, or
            only in another split): "error" (default) raises a `CfnbError` naming it; "fallback"
            predicts from what is known: the global mean of `ratings`, plus the known side's bias
            for models with bias layers.

    Returns:
        A float32 array of predictions, one per pair.
    """
    if unknown not in UNKNOWN_POLICIES:
        raise CfnbError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}.")
    users, items = as_id_array(users), as_id_array(items)
    if users.shape != items.shape:
        try:
            users, items = np.broadcast_arrays(users, items)
        except ValueError:
            raise CfnbError(f"users and items must have the same length (or one of them a single id), got "
                            f"{len(users)} users and {len(items)} items.") from None
    u, i = ratings.user_codes(users), ratings.item_codes(items)
    stats = _Known(ratings)
    u_known, i_known = stats.known_users(u), stats.known_items(i)
    if unknown == "error":
        for label, known, raw in (("user", u_known, users), ("movie", i_known, items)):
            if not known.all():
                bad = raw[~known]
                raise CfnbError(f"{len(bad)} {label} id(s) have no rating in {ratings.name!r}, so the model "
                                f"never learned them, e.g. {_plain(bad[0])!r}. Pass unknown='fallback' to predict "
                                "them from the global mean and the known side's bias.")
    return _predict_codes(model, stats, u, i, u_known, i_known, batch_size)


def evaluate(model: keras.Model, data: Ratings, batch_size: int = 4096, train: Ratings | None = None) -> dict:
    """RMSE and MAE of the model on `data`.

    Args:
        model: a fitted cfnb model.
        data: held-out ratings (usually the validation split).
        train: the ratings the model was fitted on. When given, users and movies of `data` with no
            rating in `train` are *cold*: they are predicted with the fallback (see `predict`) rather
            than their untrained embedding rows, and the result counts them.

    Returns:
        `{"rmse", "mae", "n"}`, plus with `train`: `n_cold_users`, `n_cold_items` (distinct cold ids)
        and `n_cold` (ratings with a cold user or movie, predicted by the fallback).
    """
    if train is None:
        _check_fits(model, data, data.frame[USER].to_numpy(), data.frame[ITEM].to_numpy())
        pred = model.predict(data.x, batch_size=batch_size, verbose=0).reshape(-1) if len(data) else np.zeros(0)
        extra = {}
    else:
        u, i = data.frame[USER].to_numpy(np.int64), data.frame[ITEM].to_numpy(np.int64)
        if not data.user_ids.equals(train.user_ids):
            u = train.user_codes(data.user_ids.take(u))
        if not data.item_ids.equals(train.item_ids):
            i = train.item_codes(data.item_ids.take(i))
        stats = _Known(train)
        u_known, i_known = stats.known_users(u), stats.known_items(i)
        pred = _predict_codes(model, stats, u, i, u_known, i_known, batch_size)
        extra = {"n_cold_users": _distinct(data.frame[USER].to_numpy()[~u_known]),
                 "n_cold_items": _distinct(data.frame[ITEM].to_numpy()[~i_known]),
                 "n_cold": int((~(u_known & i_known)).sum())}
    err = pred - data.y
    if not len(err):
        return {"rmse": float("nan"), "mae": float("nan"), "n": 0, **extra}
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))), "n": len(data), **extra}


def predictions_table(model: keras.Model, data: Ratings, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """A few held-out ratings beside the model's predictions, with raw ids and titles."""
    rows = data.frame.sample(n=min(n, len(data)), random_state=seed)
    sample = data.with_frame(rows)
    table = sample.to_frame()
    table["predicted"] = model.predict(sample.x, verbose=0).reshape(-1).round(2)
    return table


class _Known:
    """What the training ratings tell: which codes were seen, the global mean, and the bias centres."""

    def __init__(self, ratings: Ratings):
        frame = ratings.frame
        self.ratings = ratings
        self.users_seen = np.zeros(ratings.n_users, dtype=bool)
        self.users_seen[frame[USER].to_numpy()] = True
        self.items_seen = np.zeros(ratings.n_items, dtype=bool)
        self.items_seen[frame[ITEM].to_numpy()] = True
        self.mean = float(np.mean(ratings.y, dtype=np.float64)) if len(ratings) else float("nan")

    def known_users(self, codes: np.ndarray) -> np.ndarray:
        return _seen(self.users_seen, codes)

    def known_items(self, codes: np.ndarray) -> np.ndarray:
        return _seen(self.items_seen, codes)


def _seen(seen: np.ndarray, codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    ok = (codes >= 0) & (codes < len(seen))
    out = np.zeros(codes.shape, dtype=bool)
    out[ok] = seen[codes[ok]]
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _distinct(codes: np.ndarray) -> int:
    return int(len(np.unique(codes)))


def _predict_codes(model, stats: _Known, u, i, u_known, i_known, batch_size) -> np.ndarray:
    warm = u_known & i_known
    out = np.empty(len(u), dtype=np.float32)
    if warm.any():
        _check_fits(model, stats.ratings, u[warm], i[warm])
        x = {USER_IN: u[warm].reshape(-1, 1).astype(np.int32), MOVIE_IN: i[warm].reshape(-1, 1).astype(np.int32)}
        out[warm] = model.predict(x, batch_size=batch_size, verbose=0).reshape(-1)
    if (~warm).any():
        if not len(stats.ratings):
            raise CfnbError(f"{stats.ratings.name!r} has no ratings, so there is nothing to fall back on.")
        out[~warm] = _fallback(model, stats, u[~warm], i[~warm], u_known[~warm], i_known[~warm])
    return out


def _fallback(model, stats: _Known, u, i, u_known, i_known) -> np.ndarray:
    """Global mean, plus the known side's centred bias (in the model's pre-squash space) if it has biases."""
    low_high = _y_range(model)
    base = stats.mean
    if low_high is not None:
        low, high = low_high
        p = np.clip((base - low) / (high - low), 1e-6, 1 - 1e-6)
        base = float(np.log(p / (1 - p)))  # the mean, as a score before the sigmoid
    score = np.full(len(u), base, dtype=np.float64)
    frame = stats.ratings.frame
    for layer_name, codes, known, column in ((USER_BIAS, u, u_known, USER), (MOVIE_BIAS, i, i_known, ITEM)):
        bias = _bias(model, layer_name)
        if bias is None or not known.any():
            continue
        centre = float(np.mean(bias[frame[column].to_numpy()], dtype=np.float64))
        score[known] += bias[codes[known]] - centre
    if low_high is not None:
        low, high = low_high
        return (low + (high - low) / (1 + np.exp(-score))).astype(np.float32)
    return score.astype(np.float32)


def _bias(model, name) -> np.ndarray | None:
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    weights = layer.get_weights()
    return np.asarray(weights[0], dtype=np.float64).reshape(-1) if weights else None


def _y_range(model):
    try:
        layer = model.get_layer(Y_RANGE)
    except ValueError:
        return None
    return (float(layer.low), float(layer.high)) if hasattr(layer, "low") else None


def _check_fits(model, ratings: Ratings, u, i):
    """Codes beyond the model's embedding tables mean the wrong Ratings: say so, not an index error."""
    for label, name, codes, n in (("user", USER_FACTORS, u, ratings.n_users), ("movie", MOVIE_FACTORS, i, ratings.n_items)):
        try:
            rows = model.get_layer(name).input_dim
        except (ValueError, AttributeError):
            continue
        if len(codes) and int(np.max(codes)) >= rows:
            raise CfnbError(f"{ratings.name!r} maps {n:,} {label}s but the model has embedding rows for {rows:,}: "
                            "pass the Ratings the model was built and trained with.")
