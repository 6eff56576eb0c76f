"""The kinds' graphs: the lesson's dot, bias and nn, and the NCF paper's gmf, mlp and neumf.

A new kind is one function decorated with `register`; everything else (the Builder, summaries,
fits, saving, code) reads the registry. `Graph` gives each builder its named inputs and seeded layers."""

from __future__ import annotations

import os

import keras
from keras import layers, regularizers

from cfnb.errors import ArgumentError
from cfnb.models.kinds import register
from cfnb.names import (ITEM_BIAS, ITEM_FACTORS, ITEM_IN, ITEM_MLP_FACTORS, USER_BIAS,
                        USER_FACTORS, USER_IN, USER_MLP_FACTORS)


class Graph:
    """What a kind's builder works with: the two named inputs, the table sizes, seeded layers.

    Args:
        n_users, n_items: embedding rows for users and movies.
        seed: seeds every initializer (each its own seed drawn from it), or None.
    """

    def __init__(self, n_users: int, n_items: int, seed: int | None = None):
        self.n_users, self.n_items, self.seed, self._count = n_users, n_items, seed, 0
        self.user = keras.Input(shape=(1,), dtype="int32", name=USER_IN)
        self.item = keras.Input(shape=(1,), dtype="int32", name=ITEM_IN)

    def _next_seed(self):
        if self.seed is None:
            return None
        self._count += 1
        return int(self.seed) * 1000 + self._count

    def user_embedding(self, n_out: int, l2: float, name: str):
        """`Embedding(n_users, n_out)` of the user input (l2-regularised when `l2` > 0)."""
        return self._embedding(self.user, self.n_users, n_out, l2, name)

    def item_embedding(self, n_out: int, l2: float, name: str):
        """`Embedding(n_items, n_out)` of the movie input (l2-regularised when `l2` > 0)."""
        return self._embedding(self.item, self.n_items, n_out, l2, name)

    def _embedding(self, inp, n_in, n_out, l2, name):
        _check_table_fits(name, n_in, n_out)
        init = keras.initializers.RandomUniform(-0.05, 0.05, seed=self._next_seed())
        return layers.Embedding(int(n_in), int(n_out), embeddings_initializer=init,
                                embeddings_regularizer=regularizers.L2(l2) if l2 else None, name=name)(inp)

    def dense(self, units: int, activation: str | None = None, name: str | None = None) -> layers.Dense:
        """A `Dense` layer with a seeded Glorot-uniform kernel (Keras's default initializer)."""
        return layers.Dense(int(units), activation=activation, name=name,
                            kernel_initializer=keras.initializers.GlorotUniform(seed=self._next_seed()))


# ------------------------------------------------------------------------------------- the kinds
@register("dot", "the dot product of a user's and a movie's factors", n_factors=50, l2=1e-4)
def dot(g: Graph, n_factors, l2):
    u = g.user_embedding(n_factors, l2, USER_FACTORS)
    m = g.item_embedding(n_factors, l2, ITEM_FACTORS)
    return layers.Flatten(name="flatten")(layers.Dot(axes=2, name="dot")([u, m]))


@register("bias", "the dot product plus a learned bias for each user and each movie",
          n_factors=50, l2=1e-4, bias_l2=0.0)
def bias(g: Graph, n_factors, l2, bias_l2):
    x = dot(g, n_factors, l2)
    ub = layers.Flatten(name="user_bias_flat")(g.user_embedding(1, bias_l2, USER_BIAS))
    mb = layers.Flatten(name="movie_bias_flat")(g.item_embedding(1, bias_l2, ITEM_BIAS))
    return layers.Add(name="score")([x, ub, mb])


@register("nn", "a neural net on the concatenated factors (dropout, Dense relu, dropout, Dense 1)",
          n_factors=50, l2=1e-4, hidden=70, dropout_in=0.3, dropout_hidden=0.75)
def nn(g: Graph, n_factors, l2, hidden, dropout_in, dropout_hidden):
    u = g.user_embedding(n_factors, l2, USER_FACTORS)
    m = g.item_embedding(n_factors, l2, ITEM_FACTORS)
    x = layers.Dropout(dropout_in, name="dropout_in")(layers.Flatten(name="flatten")(
        layers.Concatenate(name="concat")([u, m])))
    x = layers.Dropout(dropout_hidden, name="dropout_hidden")(g.dense(hidden, "relu", name="hidden")(x))
    return g.dense(1, name="score")(x)


# He et al., "Neural Collaborative Filtering" (WWW 2017), section 3. The outputs are raw scores: fit
# them with loss="bce" (the logistic loss takes logits) for implicit feedback, or with MSE for ratings.
def _gmf_part(g: Graph, n_factors, l2):
    u = g.user_embedding(n_factors, l2, USER_FACTORS)
    m = g.item_embedding(n_factors, l2, ITEM_FACTORS)
    return layers.Flatten(name="gmf_flat")(layers.Multiply(name="product")([u, m]))


def _mlp_part(g: Graph, n_factors, n_layers, l2, names=(USER_FACTORS, ITEM_FACTORS)):
    u = g.user_embedding(2 * n_factors, l2, names[0])  # the paper's embedding size: twice the last layer
    m = g.item_embedding(2 * n_factors, l2, names[1])
    x = layers.Flatten(name="mlp_flat")(layers.Concatenate(name="concat")([u, m]))
    for k in range(n_layers, 0, -1):  # widths n_factors * 2**(n_layers-1), ..., n_factors
        x = g.dense(n_factors * 2 ** (k - 1), "relu", name=f"tower_{n_layers - k + 1}")(x)
    return x


@register("gmf", "GMF: a Dense layer on the element-wise product of the factors (He et al. 2017)",
          n_factors=8, l2=0.0)
def gmf(g: Graph, n_factors, l2):
    return g.dense(1, name="score")(_gmf_part(g, n_factors, l2))


@register("mlp", "MLP: the concatenated factors through a tower of Dense relu layers (He et al. 2017)",
          n_factors=8, n_layers=3, l2=0.0)
def mlp(g: Graph, n_factors, n_layers, l2):
    return g.dense(1, name="score")(_mlp_part(g, n_factors, n_layers, l2))


@register("neumf", "NeuMF: GMF and MLP on separate factors, side by side into one Dense (He et al. 2017)",
          n_factors=8, n_layers=3, l2=0.0)
def neumf(g: Graph, n_factors, n_layers, l2):
    x = layers.Concatenate(name="neumf")([_gmf_part(g, n_factors, l2),
                                          _mlp_part(g, n_factors, n_layers, l2, (USER_MLP_FACTORS, ITEM_MLP_FACTORS))])
    return g.dense(1, name="score")(x)


# --------------------------------------------------------------------------------------- building
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


def _memory_bytes() -> int:
    """This machine's physical memory in bytes (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _check_table_fits(name: str, rows: int, width: int) -> None:
    """An ArgumentError, before any backend allocates it, for a float32 table larger than memory."""
    size, memory = float(rows) * float(width) * 4, _memory_bytes()  # float: ids as large as 1e158 overflow int division
    if memory and size > memory:
        raise ArgumentError(f"the {name} table would be {int(rows):,} rows x {int(width):,} values "
                            f"({size / 2**30:,.1f} GiB of float32), more than this machine's memory "
                            f"({memory / 2**30:,.1f} GiB): check n_users / n_items and the kind's sizes.")
