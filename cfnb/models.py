"""The lesson's three Keras functional graphs: dot product, dot product with biases, neural net."""

from __future__ import annotations

import keras
from keras import layers, regularizers

KINDS = ("dot", "bias", "nn")
DEFAULTS = {
    "dot": dict(n_factors=50, l2=1e-4, y_range=None),
    "bias": dict(n_factors=50, l2=1e-4, bias_l2=0.0, y_range=None),
    "nn": dict(n_factors=50, l2=1e-4, hidden=70, dropout_in=0.3, dropout_hidden=0.75, y_range=None),
}


@keras.saving.register_keras_serializable(package="cfnb")
class ScaledSigmoid(layers.Layer):
    """Squash any real number into `(low, high)` with a sigmoid (fastai's `y_range`)."""

    def __init__(self, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, x):
        return keras.ops.sigmoid(x) * (self.high - self.low) + self.low

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


def build_model(kind: str, n_users: int, n_items: int, seed: int | None = None, **hyperparameters) -> keras.Model:
    """Build one of the lesson's collaborative-filtering graphs.

    Args:
        kind: "dot" (dot product), "bias" (dot product plus user and movie biases) or "nn"
            (concatenated embeddings into a small neural net).
        n_users, n_items: number of user and movie codes (embedding rows).
        seed: seeds the initial weights, so the same seed builds the same model.
        **hyperparameters: `n_factors` (50), `l2` (1e-4, on the factor embeddings), `bias_l2` (0, bias
            model), `hidden` (70), `dropout_in` (0.3), `dropout_hidden` (0.75) (NN), and `y_range`
            (None, or `(low, high)` to squash the output with a sigmoid).

    Returns:
        An uncompiled `keras.Model` with inputs `user_in` and `movie_in`; its hyperparameters are kept
        in `model.cfnb_config`.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown model kind {kind!r}: expected one of {KINDS}.")
    unknown = set(hyperparameters) - set(DEFAULTS[kind])
    if unknown:
        raise TypeError(f"build_model({kind!r}) got unknown hyperparameters {sorted(unknown)}; "
                        f"expected some of {sorted(DEFAULTS[kind])}.")
    for label, n in (("n_users", n_users), ("n_items", n_items)):
        if int(n) < 1:
            raise ValueError(f"{label} must be at least 1, got {n}.")
    hp = {**DEFAULTS[kind], **hyperparameters}
    init = _Initializers(seed)
    user_in = keras.Input(shape=(1,), dtype="int32", name="user_in")
    movie_in = keras.Input(shape=(1,), dtype="int32", name="movie_in")
    u = _embedding(user_in, n_users, hp["n_factors"], hp["l2"], "user_factors", init)
    m = _embedding(movie_in, n_items, hp["n_factors"], hp["l2"], "movie_factors", init)
    if kind == "nn":
        x = layers.Flatten(name="flatten")(layers.Concatenate(name="concat")([u, m]))
        x = layers.Dropout(hp["dropout_in"], name="dropout_in")(x)
        x = layers.Dense(hp["hidden"], activation="relu", name="hidden", kernel_initializer=init.dense())(x)
        x = layers.Dropout(hp["dropout_hidden"], name="dropout_hidden")(x)
        x = layers.Dense(1, name="score", kernel_initializer=init.dense())(x)
    else:
        x = layers.Flatten(name="flatten")(layers.Dot(axes=2, name="dot")([u, m]))
        if kind == "bias":
            ub = layers.Flatten(name="user_bias_flat")(_embedding(user_in, n_users, 1, hp["bias_l2"], "user_bias", init))
            mb = layers.Flatten(name="movie_bias_flat")(_embedding(movie_in, n_items, 1, hp["bias_l2"], "movie_bias", init))
            x = layers.Add(name="score")([x, ub, mb])
    if hp["y_range"] is not None:
        low, high = hp["y_range"]
        x = ScaledSigmoid(low, high, name="y_range")(x)
    model = keras.Model([user_in, movie_in], x, name=f"{kind}_model")
    model.cfnb_config = {"kind": kind, "n_users": int(n_users), "n_items": int(n_items), **hp}
    return model


class _Initializers:
    """Keras's default initializers, each with its own seed drawn from `seed` (or unseeded)."""

    def __init__(self, seed):
        self.seed, self.count = seed, 0

    def _next(self):
        if self.seed is None:
            return None
        self.count += 1
        return int(self.seed) * 1000 + self.count

    def embedding(self):
        return keras.initializers.RandomUniform(-0.05, 0.05, seed=self._next())

    def dense(self):
        return keras.initializers.GlorotUniform(seed=self._next())


def _embedding(inp, n_in: int, n_out: int, l2: float, name: str, init: _Initializers):
    reg = regularizers.L2(l2) if l2 else None
    return layers.Embedding(int(n_in), int(n_out), embeddings_initializer=init.embedding(),
                            embeddings_regularizer=reg, name=name)(inp)


def config_of(model: keras.Model) -> dict:
    """The cfnb hyperparameters a model was built with (`kind`, sizes, ...), or `{}` if not cfnb's."""
    return dict(getattr(model, "cfnb_config", {}) or {})
