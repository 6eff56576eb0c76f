"""Model kinds: each a short Keras functional graph with its defaults and a one-line description.

The lesson's three kinds (dot, bias, nn) and the NCF paper's three (gmf, mlp, neumf) are registered
here; another kind is one decorated function::

    @register("cosine", "the cosine of the angle between a user's and a movie's factors", n_factors=50, l2=0.0)
    def cosine(g, n_factors, l2):
        u = g.user_embedding(n_factors, l2, USER_FACTORS)
        m = g.movie_embedding(n_factors, l2, ITEM_FACTORS)
        return layers.Flatten(name="flatten")(layers.Dot(axes=2, normalize=True, name="cosine")([u, m]))

Everything else (the Builder's controls and tooltips, parameter counts, summaries, fits, saving)
reads the registry, so a new kind needs no change anywhere else. Layer and input names that other
modules look up (the inputs, the factor and bias tables, the `y_range` layer) are the constants below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cfnb import checks
from cfnb.errors import ArgumentError, ArgumentTypeError


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


def check_hyperparameters(kind: str, hyperparameters: dict) -> dict:
    """The kind's defaults updated with `hyperparameters`, each checked (ArgumentError naming it)."""
    spec = kind_of(kind)
    unknown = sorted(set(hyperparameters) - set(spec.defaults))
    if unknown:
        raise ArgumentTypeError(f"build_model({kind!r}) got unknown hyperparameters {unknown}; "
                                f"expected some of {sorted(spec.defaults)}.")
    hp = {**spec.defaults, **hyperparameters}
    return {k: (v if v is None and k == "y_range" else HYPERPARAMETERS[k].check(k, v)) for k, v in hp.items()}


def default_y_range(low: float, high: float) -> tuple[float, float]:
    """fastai's output range for ratings from `low` to `high`: half a star beyond each end."""
    return (float(low) - 0.5, float(high) + 0.5)
