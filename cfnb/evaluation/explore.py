"""Interpreting a fitted model (fastai lesson 4): movie biases, factor PCA, recommendations."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.data.vocabulary import plain
from cfnb.errors import ArgumentError, CfnbError
from cfnb.evaluation.ranking import top_k
from cfnb.evaluation.scoring import check_inputs, knowledge, model_scorer, warn_cold_user
from cfnb.models.record import check_codes_fit
from cfnb.names import ITEM, ITEM_BIAS, ITEM_FACTORS, RATING, USER


def item_stats(ratings: Ratings) -> pd.DataFrame:
    """Per item code: raw `item` id, `title`, number of ratings `n` and `mean_rating`."""
    f = ratings.frame
    n = np.bincount(f[ITEM].to_numpy(), minlength=ratings.n_items)
    total = np.bincount(f[ITEM].to_numpy(), f[RATING].to_numpy(np.float64), ratings.n_items)
    return pd.DataFrame({"item": ratings.item_ids, "title": ratings.title(ratings.item_ids.to_numpy()),
                         "n": n, "mean_rating": np.where(n > 0, total / np.maximum(n, 1), np.nan)})


def most_rated(ratings: Ratings, top: int) -> np.ndarray:
    """Item codes of the `top` most-rated items, most-rated first (ties by code); items with no rating
    in `ratings` (a part of a larger vocabulary) are not among them."""
    n = np.bincount(ratings.frame[ITEM].to_numpy(), minlength=ratings.n_items)
    order = np.argsort(-n, kind="stable")
    return order[n[order] > 0][:max(int(top), 0)]


def layer_weights(model: keras.Model, name: str) -> np.ndarray | None:
    """The embedding matrix of layer `name` as numpy, or None if the model has no such layer."""
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    return keras.ops.convert_to_numpy(layer.embeddings)


def _check_items(model, ratings):
    """predict's checks, and every movie of `ratings` has a row in the model's tables (its weights are read)."""
    check_inputs(model, ratings)
    check_codes_fit(model, ratings, sides=(ITEM,), hint="pass the Ratings the model was trained on")


def item_bias(model: keras.Model, ratings: Ratings, n: int = 10, top: int = 1000,
               layer: str = ITEM_BIAS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The movies with the highest and lowest learned bias, among the `top` most-rated.

    Args:
        model: a fitted "bias" model (it has a `movie_bias` embedding).
        ratings: the `Ratings` the model was trained with (for titles and counts).
        n: movies in each table.
        top: only consider the `top` most-rated movies (biases of rarely rated ones are noise).
        layer: the name of the movie bias embedding (one column), for a model of your own.

    Returns:
        `(highest, lowest)`: DataFrames with `item`, `title`, `bias`, `n`, `mean_rating`.

    Raises:
        CfnbError: if the model has no movie bias (dot-product and NN models don't).
    """
    _check_items(model, ratings)
    n, top = checks.whole("n", n), checks.whole("top", top)
    weights = layer_weights(model, layer)
    if weights is None:
        kind = getattr(model, "cfnb_config", {}).get("kind", model.name)
        raise CfnbError(f"The {kind} model has no movie bias (no layer {layer!r}); build a 'bias' model to see "
                        "learned biases, or name your own model's bias layer with layer=.")
    codes = most_rated(ratings, top)
    table = item_stats(ratings).iloc[codes].assign(bias=weights[codes, 0])
    table = table[["item", "title", "bias", "n", "mean_rating"]]
    return (table.sort_values("bias", ascending=False).head(n).reset_index(drop=True),
            table.sort_values("bias").head(n).reset_index(drop=True))


def factor_pca(model: keras.Model, ratings: Ratings, top: int = 1000, k: int = 2,
               layer: str = ITEM_FACTORS) -> tuple[pd.DataFrame, np.ndarray]:
    """Project the movie factors of the `top` most-rated movies onto their first `k` principal components.

    Args:
        model: a fitted model with a `movie_factors` embedding (every cfnb kind has one).
        ratings: the `Ratings` the model was trained with.
        top: how many of the most-rated movies to project (at least 2).
        k: number of components, at most the model's number of factors.
        layer: the name of the movie factor embedding, for a model of your own.

    Returns:
        `(table, explained)`: a DataFrame with `item`, `title`, `n` and `pc1`..`pc<k>` (most-rated
        first), and the fraction of variance each component explains.

    Raises:
        ArgumentError: `top` or `k` is not a whole number in range (a 1-factor model has one
            component, so `k=2`, the default, asks for a map it cannot have).
        CfnbError: the model has no movie factors, or the ratings have fewer than two movies.
    """
    _check_items(model, ratings)
    top, k = checks.whole("top", top, minimum=2), checks.whole("k", k, minimum=1)
    weights = layer_weights(model, layer)
    if weights is None:
        raise CfnbError(f"The model has no movie factor embedding {layer!r} to project.")
    n_factors = weights.shape[1]
    if k > n_factors:
        raise ArgumentError(f"k={k} principal components asked, but the model has {n_factors} factor"
                            f"{'s' if n_factors != 1 else ''} per movie, so at most k={n_factors}. "
                            + ("A 1-factor model has no 2-D map of its movies: each movie is one number "
                               "(see its pc1), or build the model with n_factors >= 2."
                               if n_factors == 1 else ""))
    codes = most_rated(ratings, top)
    if len(codes) < 2:
        raise CfnbError("Need at least two movies to project their factors.")
    x = weights[codes].astype(np.float64)
    x -= x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, vt.shape[0])
    proj = x @ vt[:k].T
    var = s ** 2
    explained = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    table = item_stats(ratings).iloc[codes][["item", "title", "n"]].reset_index(drop=True)
    for j in range(k):
        table[f"pc{j + 1}"] = proj[:, j]
    return table, explained


def user_code(ratings: Ratings, user) -> int:
    """The code of raw user id `user`; text names an integer id in its exact decimal form ("7" is 7),
    as in `Ratings.user_codes`, which refuses other text with a `VocabularyError`."""
    code = int(ratings.user_codes([user])[0])
    if code < 0:
        raise CfnbError(f"Unknown user id {user!r}: expected one of the raw ids in the ratings, "
                        f"e.g. {plain(ratings.user_ids[0])!r}.")
    return code


def rated_highest(ratings: Ratings, user, n: int = 10) -> pd.DataFrame:
    """The user's own highest ratings: `item`, `title`, `rating` (ties by item code)."""
    code = user_code(ratings, user)
    rows = ratings.frame[ratings.frame[USER] == code].sort_values([RATING, ITEM], ascending=[False, True])
    rows = rows.head(n)
    raw = ratings.item_ids.take(rows[ITEM].to_numpy())
    return pd.DataFrame({"item": raw, "title": ratings.title(raw.to_numpy()),
                         "rating": rows[RATING].to_numpy()})


def recommend(model: keras.Model, ratings: Ratings, user, n: int = 10, batch_size: int = 8192,
              clip: bool = True) -> pd.DataFrame:
    """Top-`n` movies for a user by predicted rating, among the movies the model was trained on,
    excluding every movie the user already rated.

    Args:
        model: a fitted cfnb model.
        ratings: all the ratings (train and val) in the model's vocabulary, so that everything the user
            rated is excluded.
        user: the raw user id (as in the original data).
        n: how many recommendations (a whole number >= 1).
        clip: clip the predicted ratings to the rating scale (default), as `cfnb.predict` does.

    Returns:
        A DataFrame with `item`, `title`, `predicted`, highest prediction first. For a user with no
        training rating (cold), the predictions come from the cold-start fallback (the training mean
        plus each movie's offset): the frame's `attrs["note"]` says so, and so does a `DataWarning`.
    """
    n = checks.whole("n", n)
    check_inputs(model, ratings)
    code = user_code(ratings, user)
    known = knowledge(model, ratings)
    rated = np.zeros(ratings.n_items, bool)
    rated[ratings.frame.loc[ratings.frame[USER] == code, ITEM].to_numpy()] = True
    trained = known.known_items(np.arange(ratings.n_items))
    candidates = np.flatnonzero(~rated & trained)
    pred = model_scorer(model, known, batch_size, tables=False)(np.array([code]), candidates)[0]
    pred = np.clip(pred, *known.scale) if clip else pred
    best = top_k(pred[None, :], n)[0] if len(candidates) else np.zeros(0, np.int64)
    raw = ratings.item_ids.take(candidates[best])
    out = pd.DataFrame({"item": raw, "title": ratings.title(raw.to_numpy()), "predicted": pred[best]})
    if not known.known_users([code])[0]:
        out.attrs["note"] = warn_cold_user(plain(ratings.user_ids[code]), repr(ratings.name))
    return out
