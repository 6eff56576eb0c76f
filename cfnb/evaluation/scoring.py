"""The one scoring path: a model's raw scores where it was trained on both ids, the cold-start
fallback (training mean + user and item offsets) elsewhere. predict, evaluate, recommend, the
ranking metrics and explore all score through here; docs/cold-start.md explains the fallback."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import keras
import numpy as np

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError, DataWarning
from cfnb.models.record import TrainedOn, bound, check, summarize, table_sizes, trained_on
from cfnb.names import ITEM_BIAS, ITEM_FACTORS, ITEM_IN, USER_BIAS, USER_FACTORS, USER_IN, Y_RANGE


def knowledge(model: keras.Model, ratings: Ratings) -> TrainedOn:
    """What is known of the model's training data: the record `fit_stages` made, else (a model cfnb
    did not fit) `ratings` taken as the training data."""
    record = trained_on(model)
    return record if record is not None else summarize(ratings, table_sizes(model))


def predict_codes(model, known: TrainedOn, u, i, batch_size, clip: bool) -> np.ndarray:
    """Predictions for codes `u`, `i`: the model where both were trained on, the fallback elsewhere."""
    u, i = np.asarray(u, np.int64), np.asarray(i, np.int64)
    warm = known.known_users(u) & known.known_items(i)
    out = np.empty(len(u), dtype=np.float32)
    if warm.any():
        out[warm] = model_scores(model, u[warm], i[warm], batch_size)
    if (~warm).any():
        out[~warm] = known.fallback(u[~warm], i[~warm])
    return np.clip(out, *known.scale) if clip else out


def model_scores(model, u, i, batch_size) -> np.ndarray:
    """The model's raw output for code pairs `u`, `i` (no fallback, no clipping)."""
    if not len(u):
        return np.zeros(0, np.float32)
    x = {USER_IN: np.asarray(u, np.int32).reshape(-1, 1), ITEM_IN: np.asarray(i, np.int32).reshape(-1, 1)}
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32).reshape(-1)


def check_inputs(model, ratings, batch_size=1):
    """The one check of a model and ratings scored together: types, one vocabulary, tables large enough."""
    checks.instance("model", model, keras.Model, "a Keras model")
    checks.instance("ratings", ratings, Ratings, "a cfnb Ratings",
                    " Load a DataFrame with cfnb.load_ratings(frame), or code it in the training set's "
                    "vocabulary with train.encode(frame).")
    checks.whole("batch_size", batch_size)
    check(model, ratings)
    rows = table_sizes(model)
    if rows[0] is not None and rows[1] is not None and bound(model) is None:
        base = ratings.vocabulary.base or ratings.vocabulary.sizes
        if base[0] > rows[0] or base[1] > rows[1]:
            raise CfnbError(f"{ratings.name!r} maps {base[0]:,} users and {base[1]:,} items but the model has "
                            f"embedding rows for {rows[0]:,} and {rows[1]:,}: pass the Ratings the model was "
                            "built and trained with.")


def count_distinct(codes: np.ndarray) -> int:
    """How many distinct codes."""
    return int(len(np.unique(codes)))


def warn_cold_user(user, name: str) -> str:
    """The note (also raised as a DataWarning) for recommendations to a user with no training rating."""
    note = (f"user {user!r} has no training rating in {name}: these recommendations come from the cold-start "
            "fallback (training mean + movie offsets: the most liked movies overall), not from the model's factors.")
    warnings.warn(note, DataWarning, stacklevel=3)
    return note


#: Scores per block of users: about this many (user, item) pairs are scored at once.
BLOCK_PAIRS = 1 << 22


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------- scorers
def model_scorer(model: keras.Model, known: TrainedOn, batch_size: int = 65536, tables: bool = True) -> Scorer:
    """A scorer from a Keras model: its raw output for users it was trained on, and the cold-start
    fallback (`TrainedOn.fallback`: training mean + the item's offset) for the others.

    It ranks as `cfnb.recommend(..., clip=False)` does, the same scores by the same path. Scores
    are not clipped: `recommend`'s default clip ties every item predicted above the top of the
    scale (ordered then by item code), which would hide the model's own order at the top of a list.

    Args:
        model: any Keras model with `user_in` / `movie_in` inputs.
        known: what the model was trained on (`cfnb.trained_on(model)`, or `summarize(train)`).
        batch_size: pairs per `model.predict` batch.
        tables: for cfnb's "dot" and "bias" kinds, compute the scores from the embedding tables with
            numpy (the same formula, one matrix product per block) instead of `model.predict`. The
            tables are read when the scorer is made: make a new one after more training.
    """
    formula = _table_formula(model) if tables else None

    def predict(users, grid):
        return model_scores(model, np.repeat(users, grid.shape[1]), grid.reshape(-1), batch_size).reshape(grid.shape)

    def score(users, items):
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        grid = np.broadcast_to(items, (len(users), items.shape[-1])) if items.ndim == 1 else items
        warm = known.known_users(users)
        if warm.all():
            return formula(users, items) if formula is not None else predict(users, grid)
        out = np.empty(grid.shape, np.float32)
        if warm.any():
            out[warm] = (formula(users[warm], items if items.ndim == 1 else items[warm]) if formula is not None
                         else predict(users[warm], grid[warm]))
        cold = grid[~warm]
        out[~warm] = known.fallback(np.repeat(users[~warm], cold.shape[1]), cold.reshape(-1),
                                    clip=False).reshape(cold.shape)
        return out
    score.cfnb_name = f"model {model.name!r}'s scorer"
    return score


#: Layer types of the "dot" and "bias" graphs (and their y_range form): nothing else may be present.
_TABLE_LAYERS = {"InputLayer", "Embedding", "Dot", "Flatten", "Add", "ScaledSigmoid"}


def _table_formula(model):
    """`f(users, items) -> scores` computed from the embedding tables, for cfnb's "dot" and "bias"
    kinds (`factors · factors [+ user bias + movie bias]`, then the `y_range` sigmoid if any); None
    for any other model, which is then scored with `model.predict`."""
    config = getattr(model, "cfnb_config", None) or {}
    if config.get("kind") not in ("dot", "bias") or {type(l).__name__ for l in model.layers} - _TABLE_LAYERS:
        return None
    names = {l.name for l in model.layers}
    bias = config["kind"] == "bias"
    if not {USER_FACTORS, ITEM_FACTORS} <= names or bias != ({USER_BIAS, ITEM_BIAS} <= names):
        return None

    def weights(name):
        return keras.ops.convert_to_numpy(model.get_layer(name).embeddings).astype(np.float32)

    p, q = weights(USER_FACTORS), weights(ITEM_FACTORS)
    bu, bi = (weights(USER_BIAS)[:, 0], weights(ITEM_BIAS)[:, 0]) if bias else (None, None)
    squash = model.get_layer(Y_RANGE) if Y_RANGE in names else None

    def formula(users, items):
        if items.ndim == 1:
            s = p[users] @ q[items].T
            if bias:
                s += bu[users][:, None] + bi[items][None, :]
        else:
            s = np.einsum("bf,bmf->bm", p[users], q[items])
            if bias:
                s += bu[users][:, None] + bi[items]
        if squash is not None:
            s = (1 / (1 + np.exp(-s)) * np.float32(squash.high - squash.low) + np.float32(squash.low))
        return s
    return formula
