"""`build_model`: a registered kind's graph with checked sizes and hyperparameters, and its config."""

from __future__ import annotations

import keras

from cfnb import checks
from cfnb.errors import ArgumentTypeError
from cfnb.models.graphs import Graph, ScaledSigmoid
from cfnb.models.kinds import HYPERPARAMETERS, check_hyperparameters, kind_of
from cfnb.models.record import bind
from cfnb.names import Y_RANGE


def build_model(kind: str, n_users, n_items: int | None = None, seed: int | None = None,
                **hyperparameters) -> keras.Model:
    """Build a registered kind's collaborative-filtering graph.

    Args:
        kind: "dot" (dot product), "bias" (dot product plus user and movie biases), "nn"
            (concatenated embeddings into a small neural net), the NCF paper's "gmf", "mlp" and
            "neumf", or any kind in `REGISTRY`.
        n_users, n_items: number of user and movie codes (embedding rows), whole numbers >= 1; or
            pass a `Ratings` as `n_users` alone: its sizes, and the model is bound to its id vocabulary
            (otherwise the first `fit_stages` binds it to the training set's).
        seed: seeds the initial weights, so the same seed builds the same model.
        **hyperparameters: the kind's (see `REGISTRY[kind].defaults`): `n_factors` (50), `l2` (1e-4,
            on the factor embeddings), `bias_l2` (0, bias model), `hidden` (70), `dropout_in` (0.3),
            `dropout_hidden` (0.75) (NN), `n_layers` (3, the MLP tower's depth: gmf, mlp and neumf
            default to 8 factors and no l2, as in He et al.), and `y_range` (None, or `(low, high)` to
            squash the output with a sigmoid).

    Returns:
        An uncompiled `keras.Model` with inputs `user_in` and `movie_in`; its hyperparameters are kept
        in `model.cfnb_config`.

    Raises:
        ArgumentError: an unknown kind, or a size or hyperparameter out of range (named).
    """
    spec = kind_of(kind)
    ratings = n_users if hasattr(n_users, "vocabulary") else None
    if ratings is not None:
        if n_items is not None:
            raise ArgumentTypeError("build_model(kind, ratings) takes the sizes from the Ratings: pass no n_items.")
        n_users, n_items = ratings.n_users, ratings.n_items
    n_users, n_items = checks.whole("n_users", n_users), checks.whole("n_items", n_items)
    seed = checks.seed("seed", seed)
    hp = check_hyperparameters(kind, hyperparameters)
    g = Graph(n_users, n_items, seed)
    x = spec.graph(g, **{k: v for k, v in hp.items() if k != "y_range"})
    if hp["y_range"] is not None:
        x = ScaledSigmoid(*hp["y_range"], name=Y_RANGE)(x)
    model = keras.Model([g.user, g.item], x, name=f"{kind}_model")
    model.cfnb_config = {"kind": kind, "n_users": n_users, "n_items": n_items, **hp}
    if ratings is not None:
        bind(model, ratings)
    return model


def count_params(kind: str, n_users: int, n_items: int, **hyperparameters) -> int:
    """Parameters of `build_model(kind, n_users, n_items, **hyperparameters)`, counted by building it."""
    return int(build_model(kind, n_users, n_items, **hyperparameters).count_params())


def config_of(model: keras.Model) -> dict:
    """The cfnb hyperparameters a model was built with (`kind`, sizes, ...), or `{}` if not cfnb's."""
    return dict(getattr(model, "cfnb_config", {}) or {})


def describe(config: dict) -> str:
    """A model config's hyperparameters in a few words, e.g. "50 factors, l2 1e-04"."""
    parts = []
    for name, value in config.items():
        if name in HYPERPARAMETERS and value is not None and not (name == "bias_l2" and not value):
            parts.append(HYPERPARAMETERS[name].short.format(value))
    return ", ".join(parts)
