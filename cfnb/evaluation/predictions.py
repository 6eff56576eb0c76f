"""Predictions for raw user and movie ids, and evaluation on held-out ratings, with cold-start fallbacks.

A *cold* user or movie is one with no rating in the data the model was trained on: its embedding row
(if it has one at all) was never trained, so its prediction would be noise. `cfnb.fit_stages`
records what a model was trained on (`cfnb.trained_on(model)`), so every function here knows which
ids are cold without being told, and predicts them with the **fallback** instead: the biases-only
fit on the training ratings, `mean + user offset + movie offset`, where a cold side's offset is 0
(the "user + movie biases" baseline of `cfnb.baselines`).

Predictions are clipped to the rating scale by default (`clip=True`): the lesson's dot and bias
models are linear, so nothing stops a score of 5.37 stars; pass `clip=False` for the raw score, or
build with `y_range` to have the model itself squash its output.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.data.vocabulary import as_id_array, plain
from cfnb.errors import CfnbError
from cfnb.evaluation.metrics import mae, rmse
from cfnb.evaluation.scoring import check_inputs, count_distinct, knowledge, model_scores, predict_codes
from cfnb.models.record import check, check_codes_fit, summarize, table_sizes, trained_on
from cfnb.names import ITEM, USER

UNKNOWN_POLICIES = ("error", "fallback")


def predict(model: keras.Model, ratings: Ratings, users, items, batch_size: int = 4096,
            unknown: str = "error", clip: bool = True) -> np.ndarray:
    """Predicted ratings for pairs of raw `users` and `items` ids (as in the original data).

    Args:
        model: a fitted cfnb model (or any with `user_in` / `movie_in` inputs).
        ratings: `Ratings` in the model's vocabulary (the full set, a split, or a set encoded with
            `train.encode`): it maps the raw ids to codes.
        users, items: raw ids, scalars or equal-length sequences (broadcast against each other).
        unknown: what to do with an id the model was not trained on (no training rating, or unknown
            to the vocabulary): "error" (default) raises a `CfnbError` naming it; "fallback" predicts it
            with the cold-start fallback (see the module docstring).
        clip: clip predictions to the rating scale (default); False gives the model's raw score.

    Returns:
        A float32 array of predictions, one per pair.
    """
    unknown = checks.one_of("unknown", unknown, UNKNOWN_POLICIES)
    check_inputs(model, ratings, batch_size)
    users, items = as_id_array(users), as_id_array(items)
    if users.shape != items.shape:
        try:
            users, items = np.broadcast_arrays(users, items)
        except ValueError:
            raise CfnbError(f"users and items must have the same length (or one of them a single id), got "
                            f"{len(users)} users and {len(items)} items.") from None
    u, i = ratings.user_codes(users), ratings.item_codes(items)
    known = knowledge(model, ratings)
    if unknown == "error":
        for label, ok, raw in (("user", known.known_users(u), users), ("movie", known.known_items(i), items)):
            if not ok.all():
                bad = raw[~ok]
                raise CfnbError(f"{len(bad)} {label} id(s) have no training rating, so the model never learned "
                                f"them, e.g. {plain(bad[0])!r}. Pass unknown='fallback' to predict them from the "
                                "training mean and the known side's offset.")
    return predict_codes(model, known, u, i, batch_size, clip)


def evaluate(model: keras.Model, data: Ratings, batch_size: int = 4096, train: Ratings | None = None,
             clip: bool = True) -> dict:
    """RMSE and MAE of the model's predictions on `data`, exactly as `predict` gives them.

    Args:
        model: a fitted cfnb model.
        data: held-out ratings in the model's vocabulary (the validation split, or a test file
            coded with `train.encode(...)` / `load_ratings(..., like=train)`).
        train: the ratings the model was fitted on; only needed for a model that `fit_stages` did not
            train (it records what it trained on).
        clip: clip predictions to the rating scale (default), as `predict` does.

    Returns:
        `{"rmse", "mae", "n"}` and, when the training data is known: `n_cold_users`, `n_cold_items`
        (distinct ids of `data` with no training rating) and `n_cold` (ratings with a cold user or
        movie, predicted by the fallback). These can differ slightly from the fit's last `val_rmse`,
        which scores the raw model output with untrained rows for cold ids.
    """
    check_inputs(model, data, batch_size)
    if train is not None:
        checks.instance("train", train, Ratings, "a cfnb Ratings")
        check(model, train, "train")
    known = (summarize(train, table_sizes(model)) if train is not None else
             trained_on(model))
    u, i = data.frame[USER].to_numpy(np.int64), data.frame[ITEM].to_numpy(np.int64)
    extra = {}
    if known is None:
        check_codes_fit(model, data, "data")
        pred = model_scores(model, u, i, batch_size)
        if clip and data.scale is not None:
            pred = np.clip(pred, *data.scale)
    else:
        u_known, i_known = known.known_users(u), known.known_items(i)
        pred = predict_codes(model, known, u, i, batch_size, clip)
        extra = {"n_cold_users": count_distinct(u[~u_known]), "n_cold_items": count_distinct(i[~i_known]),
                 "n_cold": int((~(u_known & i_known)).sum())}
    if not len(data):
        return {"rmse": float("nan"), "mae": float("nan"), "n": 0, **extra}
    return {"rmse": rmse(pred, data.y), "mae": mae(pred, data.y), "n": len(data), **extra}


def predictions_table(model: keras.Model, data: Ratings, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """A few held-out ratings beside the model's predictions (as `predict` gives them), with raw ids and titles."""
    n, seed = checks.whole("n", n), checks.seed("seed", seed)
    check_inputs(model, data, 1)
    rows = data.frame.sample(n=min(n, len(data)), random_state=seed)
    table = data.with_frame(rows).to_frame().drop(columns="timestamp", errors="ignore")
    known = trained_on(model)
    u, i = rows[USER].to_numpy(np.int64), rows[ITEM].to_numpy(np.int64)
    pred = predict_codes(model, known, u, i, 4096, True) if known else model_scores(model, u, i, 4096)
    table["predicted"] = pred.round(2)
    return table


