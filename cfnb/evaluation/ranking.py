"""Are the recommendations any good? Top-k ranking metrics for any model, over the whole catalogue.

RMSE scores the ratings a model predicts for movies the user did rate. A recommender is used
differently: it ranks every movie the user has not seen and shows the top k. `ranking_metrics`
measures that list against the movies the user went on to like (their relevant held-out ratings):

    precision@k = hits / k            recall@k = hits / relevant items        hit rate = [hits > 0]
    NDCG@k = sum over hits at rank r of 1 / log2(r + 1), divided by the same sum for a perfect list

A *scorer* is what ranks: `scores = scorer(users, items)`, with `users` an array of user codes of
shape (b,) and `items` either one array of item codes (m,) shared by every user or an array (b, m)
of items per user; it returns a float array (b, m). Any Keras model with `user_in` / `movie_in`
inputs becomes one (`model_scorer`), and so does each baseline of `cfnb.baselines`; pass your own to
rank with anything else (a matrix of scores: `lambda users, items: matrix[users][:, items]`).
"""

from __future__ import annotations

import keras
import numpy as np

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import ArgumentTypeError, CallbackError, CfnbError
from cfnb.evaluation.scoring import BLOCK_PAIRS, Scorer, model_scorer
from cfnb.models.record import check, check_codes_fit, summarize, table_sizes
from cfnb.names import ITEM, RATING, USER


# ------------------------------------------------------------------------------------- ranking
def ranking_metrics(model, train: Ratings, test: Ratings, k: int = 10, relevant: float | None = 4.0,
                    batch_size: int = 65536) -> dict:
    """Precision, recall, NDCG and hit rate at `k` of the model's top-`k` lists, and their coverage.

    The protocol:

    * **Catalogue:** the items with at least one rating in `train` (what the model learned; what
      `cfnb.recommend` offers). Items with no training rating cannot be ranked from the training
      data by any model, so they are not candidates, and relevant test ratings of them are not
      counted (`n_unrankable`).
    * **Users:** those with at least one relevant test rating (rating >= `relevant`) of a catalogue
      item they have no training rating for.
    * **Candidates:** every catalogue item the user has no training rating for.
    * **Ranking:** the candidates by the model's score (raw, unclipped: the order of
      `cfnb.recommend(..., clip=False)`; see `model_scorer`), highest first, ties broken
      by the lower item code; the top k are the list. A user with fewer than k candidates gets them all.
    * **Precision@k:** hits / k (k even when the list is shorter).
    * **Recall@k:** hits / the user's relevant test items.
    * **NDCG@k:** binary gains, log2 discount (a hit at rank r adds 1 / log2(r + 1)), divided by the
      ideal DCG, that of min(k, relevant items) hits at the top.
    * **Hit rate@k:** 1 if there is any hit, else 0.
    * **Averaging:** each metric is the mean over users (every user counts the same).
    * **Coverage:** the share of the catalogue that appears in at least one user's top-k list.
    * **Cold users** (no training rating) are ranked with the fallback, as `cfnb.recommend` ranks
      for them: training mean + each item's offset (the biases-only fit), so their list is the most
      liked items overall. They are counted in `n_cold_users`.

    Args:
        model: a fitted Keras model (`user_in` / `movie_in` inputs), or a scorer (see the module
            docstring), e.g. a baseline from `cfnb.baselines`.
        train: the ratings the model was fitted on: they define the catalogue, and each user's
            training items are excluded from their candidates.
        test: held-out ratings coded in `train`'s vocabulary (a split of the same `Ratings`, or a
            file coded with `train.encode(...)`).
        k: length of each list, a whole number >= 1.
        relevant: the lowest test rating that counts as relevant (4.0: liked); None counts every
            test rating (implicit feedback).
        batch_size: pairs per `model.predict` batch.

    Returns:
        A dict: `precision`, `recall`, `ndcg`, `hit_rate` (each at k), `coverage`, `n_users` (users
        evaluated), and `k`, `n_items` (the catalogue), `n_cold_users`, `n_unrankable` (relevant
        test ratings of items outside the catalogue, or that the user also rated in training, each
        rating counted, repeats too), `n_users_skipped` (users with relevant test ratings, all of them
        unrankable). With no user to evaluate, the metrics are NaN.

    Raises:
        CfnbError: a set coded in another vocabulary than the model's (or `test` than `train`'s), an
            empty training set, or a model that scores NaN.
    """
    k = checks.whole("k", k)
    batch_size = checks.whole("batch_size", batch_size)
    if relevant is not None:
        relevant = checks.real("relevant", relevant)
    scorer = as_scorer(model, train, test, batch_size)
    return rank_scores(scorer, train, test, k, relevant)


def as_scorer(model, train: Ratings, test: Ratings, batch_size: int = 65536) -> Scorer:
    """Check the arguments of a function taking (model or scorer, train, test) and return the scorer:
    `model_scorer(model, summarize(train))` for a Keras model, the callable itself otherwise."""
    checks.instance("train", train, Ratings, "a cfnb Ratings")
    checks.instance("test", test, Ratings, "a cfnb Ratings",
                    " Code a test file in the training set's vocabulary with train.encode(frame_or_path).")
    if not len(train):
        raise CfnbError(f"train ({train.name!r}) is empty: there is nothing the model was trained on to rank from.")
    check_same_vocabulary(train, test)
    if isinstance(model, keras.Model):
        check(model, train, "train")
        check(model, test, "test")
        check_codes_fit(model, train, "train")
        return model_scorer(model, summarize(train, table_sizes(model)), batch_size)
    if callable(model):
        return model
    raise ArgumentTypeError(f"model must be a Keras model or a scorer function scores(users, items), "
                                   f"got {type(model).__name__}.")


def check_same_vocabulary(train: Ratings, test: Ratings, what: str = "test") -> None:
    """Refuse a second set whose codes do not mean what they mean in `train` (`record.check`)."""
    check(train, test, what, "train's")


def rank_scores(scorer: Scorer, train: Ratings, test: Ratings, k: int = 10, relevant: float | None = 4.0) -> dict:
    """`ranking_metrics` for a scorer, without the other argument checks (see `ranking_metrics`)."""
    check_same_vocabulary(train, test)
    n_items = max(train.n_items, test.n_items)
    catalogue = np.flatnonzero(np.bincount(train.frame[ITEM].to_numpy(), minlength=n_items) > 0)
    column = np.full(n_items, -1, np.int64)  # item code -> column of the catalogue (or -1)
    column[catalogue] = np.arange(len(catalogue))
    seen = _pairs(train, column)
    liked = test.frame if relevant is None else test.frame[test.frame[RATING].to_numpy() >= relevant]
    rows = np.stack([liked[USER].to_numpy(np.int64), _columns(liked[ITEM].to_numpy(np.int64), column)], 1)
    rankable = (rows[:, 1] >= 0) & ~_isin_pairs(rows, seen)  # per rating: a repeated pair counts each time
    n_unrankable = int((~rankable).sum())
    rel = _pairs(test.with_frame(liked[rankable]), column)
    users = _distinct(rel[:, 0])
    known_users = np.bincount(train.frame[USER].to_numpy(), minlength=max(train.n_users, test.n_users)) > 0
    out = {"precision": np.nan, "recall": np.nan, "ndcg": np.nan, "hit_rate": np.nan, "coverage": np.nan,
           "n_users": int(len(users)), "k": k, "n_items": int(len(catalogue)),
           "n_cold_users": int((~known_users[users]).sum()), "n_unrankable": n_unrankable,
           "n_users_skipped": int(len(_distinct(rows[:, 0])) - len(users))}
    if not len(users) or not len(catalogue):
        return out
    kk = min(k, len(catalogue))
    discount = 1.0 / np.log2(np.arange(2, kk + 2))
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    sums = np.zeros(4)
    shown = np.zeros(len(catalogue), bool)
    block = max(1, BLOCK_PAIRS // len(catalogue))
    for start in range(0, len(users), block):
        bu = users[start:start + block]
        scores = call_scorer(scorer, bu, catalogue)
        scores[_block_mask(seen, bu, len(catalogue))] = -np.inf
        top = top_k(scores, kk)
        valid = np.take_along_axis(scores, top, 1) > -np.inf
        hits = _block_mask(rel, bu, len(catalogue))[np.arange(len(bu))[:, None], top] & valid
        n_hits = hits.sum(1)
        n_rel = np.bincount(np.searchsorted(bu, rel[_rows_of(rel, bu), 0]), minlength=len(bu))
        dcg = (hits * discount).sum(1)
        sums += [(n_hits / k).sum(), (n_hits / n_rel).sum(), (dcg / ideal[np.minimum(k, n_rel) - 1]).sum(),
                 (n_hits > 0).sum()]
        shown[top[valid]] = True
    out.update(zip(("precision", "recall", "ndcg", "hit_rate"), (float(v) for v in sums / len(users))))
    out["coverage"] = float(shown.mean())
    return out


def call_scorer(scorer: Scorer, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """`scorer(users, items)` as a float64 array of shape (len(users), items.shape[-1]); a scorer that
    raises or returns another shape, something other than numbers, or NaN gets a CallbackError naming
    it and what was expected."""
    expected = (len(users), items.shape[-1])
    name = getattr(scorer, "cfnb_name", None) or f"scorer {getattr(scorer, '__name__', type(scorer).__name__)!r}"
    want = f"scores(users, items) must return numbers, one row per user and one column per item: {expected}"
    try:
        scores = np.array(scorer(users, items))
    except (KeyboardInterrupt, CfnbError):
        raise
    except Exception as error:
        raised = CallbackError(f"The {name} raised {type(error).__name__}: {error} ({want}).")
        raised.original = error
        raise raised from error
    if scores.dtype.kind not in "iuf":
        raise CallbackError(f"The {name} returned {scores.dtype} values; expected numbers ({want}).")
    if scores.shape != expected:
        raise CallbackError(f"The {name} returned an array of shape {scores.shape}; expected {expected} ({want}).")
    if np.isnan(scores).any():
        raise CallbackError(f"The {name} returned {int(np.isnan(scores).sum()):,} NaN score(s) (has its training "
                            "diverged?): no ranking can be made from them.")
    return scores.astype(np.float64, copy=False)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's `k` highest scores, highest first; ties go to the lower index.

    `np.argpartition` finds each row's top k; the few rows where equal scores straddle the k-th
    place are redone with a stable sort, so the result never depends on how the partition broke ties.
    """
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, part, 1)
    edge = picked.min(1, keepdims=True)
    ambiguous = np.flatnonzero((scores >= edge).sum(1) > k)
    for row in ambiguous:
        part[row] = np.argsort(-scores[row], kind="stable")[:k]
    picked = np.take_along_axis(scores, part, 1)
    order = np.lexsort((part, -picked), axis=1)
    return np.take_along_axis(part, order, 1)


def _columns(items: np.ndarray, column: np.ndarray) -> np.ndarray:
    """The catalogue column of each item code (-1 outside the catalogue)."""
    return np.where(items < len(column), column[np.minimum(items, len(column) - 1)], -1)


def _pairs(ratings: Ratings, column: np.ndarray) -> np.ndarray:
    """Distinct (user code, catalogue column) pairs of `ratings`, sorted; items outside the catalogue
    are dropped."""
    u = ratings.frame[USER].to_numpy(np.int64)
    c = _columns(ratings.frame[ITEM].to_numpy(np.int64), column)
    u, c = u[c >= 0], c[c >= 0]
    width = len(column) + 1
    key = _distinct(u * width + (c + 1))  # sorted by user, then column
    return np.stack([key // width, key % width - 1], 1)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _isin_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each row of `a` is a row of `b` (both (n, 2) int arrays of non-negative users, `b` sorted)."""
    width = int(max(a[:, 1].max(initial=0), b[:, 1].max(initial=0))) + 2
    keys = b[:, 0] * width + b[:, 1] + 1
    query = a[:, 0] * width + a[:, 1] + 1
    at = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    return (keys[at] == query) if len(keys) else np.zeros(len(a), bool)


def _rows_of(pairs: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Indices of the `pairs` (sorted by user) whose user is in `users` (sorted)."""
    idx = np.arange(np.searchsorted(pairs[:, 0], users[0], side="left"),
                    np.searchsorted(pairs[:, 0], users[-1], side="right"))
    return idx[np.isin(pairs[idx, 0], users)]


def _block_mask(pairs: np.ndarray, users: np.ndarray, width: int) -> np.ndarray:
    """A (len(users), width) boolean matrix, True at each (user, column) pair of `pairs`."""
    mask = np.zeros((len(users), width), bool)
    rows = _rows_of(pairs, users)
    mask[np.searchsorted(users, pairs[rows, 0]), pairs[rows, 1]] = True
    return mask
