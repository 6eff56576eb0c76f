"""Interpreting a fitted model (fastai lesson 4): movie biases, factor PCA, recommendations."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from . import checks
from .data import ITEM, RATING, USER, Ratings
from .display import INK, SERIES, figure_html, figure_png, figure_svg, intersects, new_figure, themed
from .errors import ArgumentError, CfnbError
from .predict import knowledge, predict_codes, warn_cold_user
from .vocabulary import check, plain
from .models import MOVIE_BIAS, MOVIE_FACTORS


def movie_stats(ratings: Ratings) -> pd.DataFrame:
    """Per item code: raw `item` id, `title`, number of ratings `n` and `mean_rating`."""
    f = ratings.frame
    n = np.bincount(f[ITEM].to_numpy(), minlength=ratings.n_items)
    total = np.bincount(f[ITEM].to_numpy(), f[RATING].to_numpy(np.float64), ratings.n_items)
    return pd.DataFrame({"item": ratings.item_ids, "title": ratings.title(ratings.item_ids.to_numpy()),
                         "n": n, "mean_rating": np.where(n > 0, total / np.maximum(n, 1), np.nan)})


def most_rated(ratings: Ratings, top: int) -> np.ndarray:
    """Item codes of the `top` most-rated items, most-rated first (ties by code)."""
    n = np.bincount(ratings.frame[ITEM].to_numpy(), minlength=ratings.n_items)
    return np.argsort(-n, kind="stable")[:max(int(top), 0)]


def layer_weights(model: keras.Model, name: str) -> np.ndarray | None:
    """The embedding matrix of layer `name` as numpy, or None if the model has no such layer."""
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    return keras.ops.convert_to_numpy(layer.embeddings)


def movie_bias(model: keras.Model, ratings: Ratings, n: int = 10, top: int = 1000,
               layer: str = MOVIE_BIAS) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    _check(model, ratings)
    n, top = checks.whole("n", n), checks.whole("top", top)
    weights = layer_weights(model, layer)
    if weights is None:
        kind = getattr(model, "cfnb_config", {}).get("kind", model.name)
        raise CfnbError(f"The {kind} model has no movie bias (no layer {layer!r}); build a 'bias' model to see "
                        "learned biases, or name your own model's bias layer with layer=.")
    codes = most_rated(ratings, top)
    table = movie_stats(ratings).iloc[codes].assign(bias=weights[codes, 0])
    table = table[["item", "title", "bias", "n", "mean_rating"]]
    return (table.sort_values("bias", ascending=False).head(n).reset_index(drop=True),
            table.sort_values("bias").head(n).reset_index(drop=True))


def factor_pca(model: keras.Model, ratings: Ratings, top: int = 1000, k: int = 2,
               layer: str = MOVIE_FACTORS) -> tuple[pd.DataFrame, np.ndarray]:
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
    _check(model, ratings)
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
    table = movie_stats(ratings).iloc[codes][["item", "title", "n"]].reset_index(drop=True)
    for j in range(k):
        table[f"pc{j + 1}"] = proj[:, j]
    return table, explained


def pca_figure(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)):
    """A scatter of `pc1` against `pc2`, with the titles of the first `labels` rows (the most rated).

    Titles are placed by adjustText (moved off each other and off the titled points, joined to them by
    a thin line); any title that still overlaps a more-rated one is left out, so no two overlap.

    Args:
        table, explained: what `factor_pca` returns (with at least `pc1` and `pc2`).
        labels: how many of the most-rated movies to title (at most).
        size: figure size in inches.

    Returns:
        A theme-ready matplotlib `Figure` (see `cfnb.display.figure_svg`).

    Raises:
        CfnbError: the table has no `pc2` (e.g. from a 1-factor model), so there is no 2-D map.
    """
    labels = checks.whole("labels", labels, minimum=0)
    if "pc1" not in table or "pc2" not in table:
        raise CfnbError("A PCA map needs two components (columns pc1 and pc2), and this table has "
                        f"{sum(c.startswith('pc') for c in table.columns)}: a model with one factor per "
                        "movie has no 2-D map. Build it with n_factors >= 2 to see one.")
    fig = new_figure(size)
    with themed():
        ax = fig.add_subplot()
        ax.scatter(table["pc1"], table["pc2"], s=6, alpha=0.35, color=SERIES[0], linewidths=0)
        shown = table.head(labels)
        ax.scatter(shown["pc1"], shown["pc2"], s=14, color=SERIES[1], linewidths=0)
        ev = list(explained) if explained is not None else []
        ax.set_xlabel("PC 1" + (f" ({ev[0]:.0%} of variance)" if len(ev) > 0 else ""))
        ax.set_ylabel("PC 2" + (f" ({ev[1]:.0%} of variance)" if len(ev) > 1 else ""))
        ax.set_title(f"Movie factors of the {len(table):,} most-rated movies", loc="left", fontsize=10)
        ax.grid(True)
        # clipped to the axes, the titles do not move the layout; adjustText keeps them inside
        texts = [ax.text(x, y, _short(title), fontsize=7, gid="cfnb-pca-label", clip_on=True)
                 for x, y, title in zip(shown["pc1"], shown["pc2"], shown["title"])]
        if texts:
            from adjustText import adjust_text

            x, y = shown["pc1"].to_numpy(), shown["pc2"].to_numpy()
            adjust_text(texts, x=x, y=y, ax=ax, iter_lim=ITERATIONS, prevent_crossings=False)  # draws: lays out
        else:
            fig.draw_without_rendering()
        fig.set_layout_engine("none")  # freeze that layout, so that the placed titles stay where they are
        _drop_corner_ticks(ax)
        if texts:
            _drop_overlapping(texts)
            for text, px, py in zip(texts, x, y):  # a thin line from each moved title to its point
                tx, ty = text.get_position()
                if text.get_visible() and (tx, ty) != (px, py):
                    ax.plot([px, tx], [py, ty], color=INK, alpha=0.35, linewidth=0.5, zorder=1)
    return fig


ITERATIONS = 50  # adjustText's limit: a count, not its default time limit, so the same map every time


def _short(title: str, width: int = 32) -> str:
    return title if len(title) <= width else title[:width - 2] + "…"


def _drop_corner_ticks(ax) -> None:
    """Leave out a y tick whose label meets an x tick's label (they can, in the bottom-left corner)."""
    x_boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    keep = [(tick, label.get_text()) for tick, label in zip(ax.get_yticks(), ax.get_yticklabels())
            if not (label.get_text() and any(intersects(label.get_window_extent(), b) for b in x_boxes))]
    if len(keep) < len(ax.get_yticks()):
        limits = ax.get_ylim()
        ax.set_yticks([t for t, _ in keep], [text for _, text in keep])
        ax.set_ylim(limits)


def _drop_overlapping(texts) -> None:
    """Hide every title that overlaps a more-rated one (or the axis texts), most-rated kept first."""
    ax = texts[0].axes
    fixed = [t.get_window_extent() for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
    kept = []
    for text in texts:
        box = text.get_window_extent()
        if any(intersects(box, other) for other in fixed + kept):
            text.set_visible(False)
        else:
            kept.append(box)


def pca_png(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)) -> bytes:
    """The PCA map (`pca_figure`) as PNG bytes, dark on white."""
    return figure_png(pca_figure(table, explained, labels, size))


def pca_svg(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)) -> str:
    """The PCA map (`pca_figure`) as SVG text in `currentColor` on no background."""
    return figure_svg(pca_figure(table, explained, labels, size))


def pca_html(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0), fallback: bool = True) -> str:
    """The PCA map (`pca_figure`) as inline SVG in HTML: follows JupyterLab's light and dark themes.

    `fallback` embeds a PNG for untrusted notebooks (see `cfnb.display.figure_html`); widgets pass False.
    """
    return figure_html(pca_figure(table, explained, labels, size), fallback)


def user_code(ratings: Ratings, user) -> int:
    """The code of raw user id `user` (also accepted as text, e.g. from a text box)."""
    code = int(ratings.user_codes([user])[0])
    if code < 0 and isinstance(user, str):
        matches = [k for k, raw in enumerate(ratings.user_ids) if str(raw) == user.strip()]
        code = matches[0] if matches else -1
    if code < 0:
        raise CfnbError(f"Unknown user id {user!r}: expected one of the raw ids in the ratings, "
                        f"e.g. {ratings.user_ids[0]!r}.")
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
    _check(model, ratings)
    code = user_code(ratings, user)
    known = knowledge(model, ratings)
    rated = np.zeros(ratings.n_items, bool)
    rated[ratings.frame.loc[ratings.frame[USER] == code, ITEM].to_numpy()] = True
    trained = known.known_items(np.arange(ratings.n_items))
    candidates = np.flatnonzero(~rated & trained)
    pred = predict_codes(model, known, np.full(len(candidates), code), candidates, batch_size, clip)
    best = np.argsort(-pred, kind="stable")[:n]
    raw = ratings.item_ids.take(candidates[best])
    out = pd.DataFrame({"item": raw, "title": ratings.title(raw.to_numpy()), "predicted": pred[best]})
    if not known.known_users([code])[0]:
        out.attrs["note"] = warn_cold_user(plain(ratings.user_ids[code]), repr(ratings.name))
    return out


def _check(model, ratings):
    checks.instance("model", model, keras.Model, "a Keras model")
    checks.instance("ratings", ratings, Ratings, "a cfnb Ratings")
    check(model, ratings)

