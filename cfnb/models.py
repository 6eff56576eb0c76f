"""Model kinds: each a short Keras functional graph with its defaults and a one-line description.

The lesson's three kinds (dot, bias, nn) and the NCF paper's three (gmf, mlp, neumf) are registered
here; another kind is one decorated function::

    @register("cosine", "the cosine of the angle between a user's and a movie's factors", n_factors=50, l2=0.0)
    def cosine(g, n_factors, l2):
        u = g.user_embedding(n_factors, l2, USER_FACTORS)
        m = g.movie_embedding(n_factors, l2, MOVIE_FACTORS)
        return layers.Flatten(name="flatten")(layers.Dot(axes=2, normalize=True, name="cosine")([u, m]))

Everything else (the Builder's controls and tooltips, parameter counts, summaries, fits, saving)
reads the registry, so a new kind needs no change anywhere else. Layer and input names that other
modules look up (the inputs, the factor and bias tables, the `y_range` layer) are the constants below.
"""

from __future__ import annotations

import os

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
from keras import layers, regularizers

from . import checks
from .errors import ArgumentError, ArgumentTypeError

# The names every module uses to find a model's parts.
USER_IN, MOVIE_IN = "user_in", "movie_in"
USER_FACTORS, MOVIE_FACTORS = "user_factors", "movie_factors"
USER_BIAS, MOVIE_BIAS = "user_bias", "movie_bias"
USER_MLP_FACTORS, MOVIE_MLP_FACTORS = "user_mlp_factors", "movie_mlp_factors"  # NeuMF's MLP tables
Y_RANGE = "y_range"


@dataclass(frozen=True)
class Hyperparameter:
    """What a hyperparameter is: its check, and how a control and a summary show it.

    Attributes:
        name: the keyword of `build_model`.
        label: a short control label ("Factors").
        help: one line for tooltips.
        check: `check(name, value) -> value`, raising an `ArgumentError` that names it.
        control: the widget that edits it: "count" (whole number), "log" (positive, log scale),
            "rate" (in [0, 1)), "range" (y_range on/off) or "none".
        low, high: the control's range.
        short: how `describe` shows a value, a format string with `{}`.
    """

    name: str
    label: str
    help: str
    check: Callable
    control: str = "none"
    low: float = 0.0
    high: float = 1.0
    short: str = "{}"


HYPERPARAMETERS: dict[str, Hyperparameter] = {h.name: h for h in (
    Hyperparameter("n_factors", "Factors", "length of each user's and movie's factor vector (gmf, mlp, neumf: "
                   "He et al.'s predictive factors, the width of the last layer before the score)",
                   checks.whole, "count", 1, 200, "{} factors"),
    Hyperparameter("l2", "L2 (factors)", "l2 penalty on the factor embeddings (Keras adds it to the loss)",
                   checks.penalty, "log", 1e-7, 1e-1, "l2 {:.0e}"),
    Hyperparameter("bias_l2", "L2 (biases)", "l2 penalty on the bias embeddings",
                   checks.penalty, "log", 1e-7, 1e-1, "bias l2 {:.0e}"),
    Hyperparameter("hidden", "Hidden units", "units of the hidden Dense layer (relu)",
                   checks.whole, "count", 1, 500, "{} hidden"),
    Hyperparameter("dropout_in", "Dropout (input)", "dropout rate on the concatenated factors",
                   checks.fraction, "rate", 0.0, 0.95, "dropout in {:g}"),
    Hyperparameter("dropout_hidden", "Dropout (hidden)", "dropout rate after the hidden layer",
                   checks.fraction, "rate", 0.0, 0.95, "dropout hidden {:g}"),
    Hyperparameter("n_layers", "Hidden layers", "depth of the MLP tower: Dense relu layers whose widths halve "
                   "down to n_factors (He et al.'s MLP-3 has 3: 4f, 2f, f on embeddings of 2f)",
                   checks.whole, "count", 1, 5, "{} layers"),
    Hyperparameter("y_range", "y_range", "squash the output into (low, high) with a sigmoid (fastai's "
                   "y_range), so predictions stay on the rating scale", checks.range_pair, "range",
                   short="y_range {0[0]:g}..{0[1]:g}"),
)}


@dataclass(frozen=True)
class Kind:
    """A model kind: its graph builder, its default hyperparameters and a one-line description."""

    name: str
    description: str
    graph: Callable
    defaults: dict = field(default_factory=dict)

    @property
    def hyperparameters(self) -> list[Hyperparameter]:
        """The specs of this kind's hyperparameters, in the order of its defaults."""
        return [HYPERPARAMETERS[k] for k in self.defaults]


REGISTRY: dict[str, Kind] = {}


class _KindNames(Sequence):
    """The registered kind names, always current (a tuple-like view of `REGISTRY`)."""

    def __getitem__(self, k):
        return tuple(REGISTRY)[k]

    def __len__(self):
        return len(REGISTRY)

    def __repr__(self):
        return repr(tuple(REGISTRY))


KINDS = _KindNames()


def register(name: str, description: str, **defaults):
    """Decorator: register `graph(g, **hyperparameters) -> output` as model kind `name`.

    Every kind also takes `y_range` (None by default). Each hyperparameter must be described in
    `HYPERPARAMETERS` (add a spec there for a new one).
    """
    unknown = [k for k in defaults if k not in HYPERPARAMETERS]
    if unknown:
        raise ArgumentError(f"register({name!r}): no spec for hyperparameters {unknown} in models.HYPERPARAMETERS.")

    def decorate(graph: Callable) -> Callable:
        REGISTRY[name] = Kind(name, description, graph, {**defaults, "y_range": None})
        return graph
    return decorate


def unregister(name: str) -> None:
    """Remove kind `name` from the registry (for throwaway kinds in tests and experiments)."""
    REGISTRY.pop(name, None)


def kind_of(name) -> Kind:
    """The registered `Kind` called `name`, or an ArgumentError listing the kinds."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ArgumentError(f"Unknown model kind {name!r}: expected one of {tuple(REGISTRY)}.")
    return REGISTRY[name]


def _memory_bytes() -> int:
    """This machine's physical memory in bytes (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _check_table_fits(name: str, rows: int, width: int) -> None:
    """An ArgumentError, before any backend allocates it, for a float32 table larger than memory."""
    size, memory = int(rows) * int(width) * 4, _memory_bytes()
    if memory and size > memory:
        raise ArgumentError(f"the {name} table would be {int(rows):,} rows x {int(width):,} values "
                            f"({size / 2**30:,.1f} GiB of float32), more than this machine's memory "
                            f"({memory / 2**30:,.1f} GiB): check n_users / n_items and the kind's sizes.")


class Graph:
    """What a kind's builder works with: the two named inputs, the table sizes, seeded layers.

    Args:
        n_users, n_items: embedding rows for users and movies.
        seed: seeds every initializer (each its own seed drawn from it), or None.
    """

    def __init__(self, n_users: int, n_items: int, seed: int | None = None):
        self.n_users, self.n_items, self.seed, self._count = n_users, n_items, seed, 0
        self.user = keras.Input(shape=(1,), dtype="int32", name=USER_IN)
        self.movie = keras.Input(shape=(1,), dtype="int32", name=MOVIE_IN)

    def _next_seed(self):
        if self.seed is None:
            return None
        self._count += 1
        return int(self.seed) * 1000 + self._count

    def user_embedding(self, n_out: int, l2: float, name: str):
        """`Embedding(n_users, n_out)` of the user input (l2-regularised when `l2` > 0)."""
        return self._embedding(self.user, self.n_users, n_out, l2, name)

    def movie_embedding(self, n_out: int, l2: float, name: str):
        """`Embedding(n_items, n_out)` of the movie input (l2-regularised when `l2` > 0)."""
        return self._embedding(self.movie, self.n_items, n_out, l2, name)

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
    m = g.movie_embedding(n_factors, l2, MOVIE_FACTORS)
    return layers.Flatten(name="flatten")(layers.Dot(axes=2, name="dot")([u, m]))


@register("bias", "the dot product plus a learned bias for each user and each movie",
          n_factors=50, l2=1e-4, bias_l2=0.0)
def bias(g: Graph, n_factors, l2, bias_l2):
    x = dot(g, n_factors, l2)
    ub = layers.Flatten(name="user_bias_flat")(g.user_embedding(1, bias_l2, USER_BIAS))
    mb = layers.Flatten(name="movie_bias_flat")(g.movie_embedding(1, bias_l2, MOVIE_BIAS))
    return layers.Add(name="score")([x, ub, mb])


@register("nn", "a neural net on the concatenated factors (dropout, Dense relu, dropout, Dense 1)",
          n_factors=50, l2=1e-4, hidden=70, dropout_in=0.3, dropout_hidden=0.75)
def nn(g: Graph, n_factors, l2, hidden, dropout_in, dropout_hidden):
    u = g.user_embedding(n_factors, l2, USER_FACTORS)
    m = g.movie_embedding(n_factors, l2, MOVIE_FACTORS)
    x = layers.Dropout(dropout_in, name="dropout_in")(layers.Flatten(name="flatten")(
        layers.Concatenate(name="concat")([u, m])))
    x = layers.Dropout(dropout_hidden, name="dropout_hidden")(g.dense(hidden, "relu", name="hidden")(x))
    return g.dense(1, name="score")(x)


# He et al., "Neural Collaborative Filtering" (WWW 2017), section 3. The outputs are raw scores: fit
# them with loss="bce" (the logistic loss takes logits) for implicit feedback, or with MSE for ratings.
def _gmf_part(g: Graph, n_factors, l2):
    u = g.user_embedding(n_factors, l2, USER_FACTORS)
    m = g.movie_embedding(n_factors, l2, MOVIE_FACTORS)
    return layers.Flatten(name="gmf_flat")(layers.Multiply(name="product")([u, m]))


def _mlp_part(g: Graph, n_factors, n_layers, l2, names=(USER_FACTORS, MOVIE_FACTORS)):
    u = g.user_embedding(2 * n_factors, l2, names[0])  # the paper's embedding size: twice the last layer
    m = g.movie_embedding(2 * n_factors, l2, names[1])
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
                                          _mlp_part(g, n_factors, n_layers, l2, (USER_MLP_FACTORS, MOVIE_MLP_FACTORS))])
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


def check_hyperparameters(kind: str, hyperparameters: dict) -> dict:
    """The kind's defaults updated with `hyperparameters`, each checked (ArgumentError naming it)."""
    spec = kind_of(kind)
    unknown = sorted(set(hyperparameters) - set(spec.defaults))
    if unknown:
        raise ArgumentTypeError(f"build_model({kind!r}) got unknown hyperparameters {unknown}; "
                                f"expected some of {sorted(spec.defaults)}.")
    hp = {**spec.defaults, **hyperparameters}
    return {k: (v if v is None and k == "y_range" else HYPERPARAMETERS[k].check(k, v)) for k, v in hp.items()}


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
    model = keras.Model([g.user, g.movie], x, name=f"{kind}_model")
    model.cfnb_config = {"kind": kind, "n_users": n_users, "n_items": n_items, **hp}
    if ratings is not None:
        from .vocabulary import bind
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


def default_y_range(low: float, high: float) -> tuple[float, float]:
    """fastai's output range for ratings from `low` to `high`: half a star beyond each end."""
    return (float(low) - 0.5, float(high) + 0.5)
