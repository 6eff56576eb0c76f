"""TODO docstring (evaluation/scoring.py)."""

from __future__ import annotations

from cfnb.models.record import check

import warnings
import keras
import numpy as np

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError, DataWarning
from cfnb.models.record import TrainedOn, bound, summarize, table_sizes, trained_on
from cfnb.names import ITEM_IN, USER_IN


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
        out[warm] = _model_scores(model, u[warm], i[warm], batch_size)
    if (~warm).any():
        out[~warm] = known.fallback(u[~warm], i[~warm])
    return np.clip(out, *known.scale) if clip else out



def _model_scores(model, u, i, batch_size) -> np.ndarray:
    if not len(u):
        return np.zeros(0, np.float32)
    x = {USER_IN: np.asarray(u, np.int32).reshape(-1, 1), ITEM_IN: np.asarray(i, np.int32).reshape(-1, 1)}
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32).reshape(-1)



def _check_common(model, ratings, batch_size):
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



def _distinct(codes: np.ndarray) -> int:
    return int(len(np.unique(codes)))



def warn_cold_user(user, name: str) -> str:
    """The note (also raised as a DataWarning) for recommendations to a user with no training rating."""
    note = (f"user {user!r} has no training rating in {name}: these recommendations come from the cold-start "
            "fallback (training mean + movie offsets: the most liked movies overall), not from the model's factors.")
    warnings.warn(note, DataWarning, stacklevel=3)
    return note
