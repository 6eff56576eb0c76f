"""Several models on one split: each with its history and recipe, side by side with the baselines.

The plain data and functions under the Lab (`cfnb.Lab`), usable without it:

- `Run`: a model, its `StagedHistory` and the recipe of every fit (`Fit`: stages, batch size,
  engine/update, seconds).
- `compare_frame(runs, baselines, train, val)`: the comparison table as a DataFrame, RMSE and
  NDCG@10 side by side.
- `adopt(model, ratings)`: check a Keras model written by hand (two integer inputs, embedding tables
  the size of the ratings' vocabulary) and give it cfnb's input names, so that every cfnb function
  works on it.
- `fresh_copy(model)`: the same architecture with new initial weights (start over).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import ArgumentError
from cfnb.evaluation.ranking import ranking_metrics
from cfnb.models import record
from cfnb.models.build import build_model, config_of, describe
from cfnb.models.inputs import input_names, input_tables
from cfnb.names import ITEM_BIAS, ITEM_FACTORS, ITEM_IN, USER_IN
from cfnb.training.stages import Stage, StagedHistory

OWN = "own"  # the kind shown for a model that was not built from the registry
NDCG = "ndcg@10"  # the ranking column: `cfnb.ranking_metrics`' NDCG@10 on the validation split
COLUMNS = ["model", "kind", "hyperparameters", "params", "stages", "batch_size", "engine", "epochs",
           "val_rmse", NDCG, "seconds", "best"]


@dataclass(frozen=True)
class Fit:
    """One fit of a run: what it ran (stages, batch size, engine and update) and its wall-clock time."""

    stages: tuple[Stage, ...]
    batch_size: int
    engine: str
    update: str
    seconds: float


@dataclass(eq=False)
class Run:
    """A model in a workspace: its name, history, fits, and where Explore finds its movie tables.

    Args:
        name: how tables and messages call it ("#1 bias").
        model: the Keras model (inputs `user_in`, `movie_in`).
        movie_factors, movie_bias: names of its movie factor and movie bias embedding layers.
    """

    name: str
    model: keras.Model
    history: StagedHistory = field(default_factory=StagedHistory)
    fits: list[Fit] = field(default_factory=list)
    item_factors: str = ITEM_FACTORS
    item_bias: str = ITEM_BIAS
    _ranked: tuple = field(default=(None, math.nan), repr=False)

    @property
    def kind(self) -> str:
        """The registered kind it was built as, or "own"."""
        return config_of(self.model).get("kind", OWN)

    @property
    def hyperparameters(self) -> str:
        """Its hyperparameters in a few words (a hand-written model: its Keras name)."""
        config = config_of(self.model)
        return describe(config) if config else self.model.name

    @property
    def seconds(self) -> float:
        """Wall-clock seconds of all its fits (tracing and compilation included)."""
        return float(sum(f.seconds for f in self.fits))

    @property
    def stages(self) -> str:
        """The stages run so far, e.g. "1e-02×4, 1e-03×2" (a stage cut short shows the epochs it ran)."""
        return ", ".join(f"{stage.lr:.0e}×{stage.epochs}" for _, stage in self.history.ran())

    def record(self, fit: Fit) -> None:
        """Add a fit to the run's recipe."""
        self.fits.append(fit)

    def ndcg(self, train: Ratings, val: Ratings) -> float:
        """NDCG@10 of its top-10 lists on the split (`cfnb.ranking_metrics`): NaN before any fit,
        computed again only once it has trained more (a model of one's own scores through model.predict)."""
        if not len(self.history):
            return math.nan
        key = (len(self.fits), len(self.history), id(train), id(val))
        if self._ranked[0] != key:
            self._ranked = (key, ranking_metrics(self.model, train, val, k=10)["ndcg"])
        return self._ranked[1]


def _joined(values) -> str:
    return ", ".join(dict.fromkeys(str(v) for v in values))


def compare_frame(runs, baselines: pd.DataFrame, train: Ratings | None = None,
                  val: Ratings | None = None) -> pd.DataFrame:
    """The baselines and the runs in one table, RMSE and NDCG@10 side by side; `best` marks the
    lowest validation RMSE.

    Args:
        runs: `Run`s (fitted or not).
        baselines: `cfnb.baselines(train, val)` on the runs' split.
        train, val: that split: each fitted run's NDCG@10 is ranked on it (`Run.ndcg`); without
            them the runs' NDCG is NaN.

    Returns:
        A DataFrame with `model`, `kind`, `hyperparameters`, `params`, `stages`, `batch_size`,
        `engine`, `epochs`, `val_rmse`, `ndcg@10`, `seconds` and `best`; a stopped run's name ends in
        "(stopped)". NDCG is NaN where nothing ranks (the global mean, an unfitted run).
    """
    rows = [{"model": b["name"], "kind": "baseline", "hyperparameters": "", "params": int(b["params"]),
             "stages": "", "batch_size": "", "engine": "", "epochs": 0, "val_rmse": float(b["val_rmse"]),
             NDCG: float(b.get(NDCG, math.nan)), "seconds": float(b["seconds"])} for _, b in baselines.iterrows()]
    for run in runs:
        rows.append({"model": run.name + (" (stopped)" if run.history.interrupted else ""), "kind": run.kind,
                     "hyperparameters": run.hyperparameters, "params": int(run.model.count_params()),
                     "stages": run.stages, "batch_size": _joined(f.batch_size for f in run.fits),
                     "engine": _joined(f"{f.engine} {f.update}" for f in run.fits), "epochs": len(run.history),
                     "val_rmse": run.history.val_rmse,
                     NDCG: run.ndcg(train, val) if train is not None and val is not None else math.nan,
                     "seconds": run.seconds})
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    frame["best"] = frame["val_rmse"] == frame["val_rmse"].min()
    return frame


def adopt(model, ratings: Ratings, inputs: tuple[str, str] | None = None) -> keras.Model:
    """Check a hand-written model for use with `ratings`, with cfnb's input names.

    Args:
        model: a functional Keras model with two integer inputs of shape `(1,)` (a user code and a
            movie code) and one output (the predicted rating).
        ratings: the Ratings it will be trained on, in the vocabulary the model is bound to (if it was
            trained before); embedding tables fed from an input must have one row per user (per movie)
            of that vocabulary.
        inputs: the names of its user and movie inputs. None: `user_in` and `movie_in`; else the names
            if they say "user" and "item"/"movie"; else the input whose tables have `ratings.n_users`
            rows is the user one (refused when the table sizes cannot tell them apart).

    Returns:
        `model` itself if its inputs are `user_in` and `movie_in`, in this order; else the same
        layers (the very same weights) behind inputs of those names, in that order.

    Raises:
        ArgumentError: the model's inputs, output or embedding sizes do not fit (named).
        VocabularyError: the model was trained on ratings coded in another vocabulary.
    """
    checks.instance("model", model, keras.Model, "a Keras model")
    checks.instance("ratings", ratings, Ratings, "cfnb Ratings")
    if not hasattr(model, "inputs") or not isinstance(getattr(model, "inputs", None), list):
        raise ArgumentError(f"Model {model.name!r} is not a functional model: build it as keras.Model([user, movie], "
                            "output) from two keras.Input layers.")
    names = input_names(model)
    if inputs is not None and (not isinstance(inputs, (tuple, list)) or len(inputs) != 2
                               or not all(isinstance(n, str) for n in inputs)):
        raise ArgumentError(f"inputs must be the names of the user and the movie input, got {inputs!r}.")
    wanted = list(inputs) if inputs is not None else _roles(model, names, ratings)
    if len(names) != 2 or sorted(names) != sorted(wanted):
        raise ArgumentError(f"Model {model.name!r} has inputs {names}; expected two inputs named {wanted}.")
    by_name = dict(zip(names, model.inputs))
    for label, name in zip(("user", "movie"), wanted):
        tensor = by_name[name]
        if "int" not in str(tensor.dtype) or tuple(tensor.shape[1:]) != (1,):
            raise ArgumentError(f"Model {model.name!r}: its {label} input {name!r} is {tensor.dtype} of shape "
                                f"{tuple(tensor.shape)}; expected one integer code per rating: "
                                f"keras.Input(shape=(1,), dtype='int32', name={name!r}).")
    record.check(model, ratings, "the ratings")  # a model bound to (trained on) another vocabulary
    adopted = model if names == [USER_IN, ITEM_IN] else _renamed(model, by_name, wanted, names)
    if adopted is not model and record.trained_on(model) is not None:  # keep its cold-start record
        record.set_trained_on(adopted, record.trained_on(model))
    for rows, n, what, size in zip(record.table_sizes(adopted), (ratings.n_users, ratings.n_items),
                                   ("users", "movies"), ("n_users", "n_items")):
        if rows != n:
            raise ArgumentError(f"Model {model.name!r} has embedding tables of {rows:,} rows for its {what} but the "
                                f"ratings have {n:,} {what}; build them with input_dim=ratings.{size}.")
    return adopted


def _roles(model, names: list[str], ratings: Ratings) -> list[str]:
    """[user input, movie input] of a model adopted without `inputs=`: by table size (the tables say which
    input takes user codes), else by name ("user", "item"/"movie")."""
    if len(names) != 2 or sorted(names) == sorted([USER_IN, ITEM_IN]):
        return [USER_IN, ITEM_IN]
    tables = input_tables(model, names)
    rows = [min(tables[n]) if tables[n] else None for n in names]
    sizes = (ratings.n_users, ratings.n_items)
    said = [("user" in n.lower(), any(w in n.lower() for w in ("item", "movie"))) for n in names]
    for first, second in ((0, 1), (1, 0)):
        if ratings.n_users != ratings.n_items and (rows[first], rows[second]) == sizes:
            return [names[first], names[second]]
    for first, second in ((0, 1), (1, 0)):
        if ratings.n_users == ratings.n_items and said[first] == (True, False) and said[second] == (False, True):
            return [names[first], names[second]]
    raise ArgumentError(f"Model {model.name!r} has inputs {names} with embedding tables of {rows} rows: cfnb cannot "
                        f"tell which takes the user codes ({sizes[0]:,} users) and which the movie codes "
                        f"({sizes[1]:,} movies). Say so with inputs=(user_name, movie_name), or name them "
                        f"{USER_IN!r} and {ITEM_IN!r}.")


def _renamed(model, by_name: dict, wanted: list, names: list) -> keras.Model:
    """The same layers (the same weights) behind inputs named `user_in`, `movie_in`, in this order."""
    fresh = {name: keras.Input(shape=(1,), dtype=by_name[name].dtype, name=new)
             for name, new in zip(wanted, (USER_IN, ITEM_IN))}
    clone = keras.models.clone_model(model, input_tensors=[fresh[name] for name in names],
                                     clone_function=lambda layer: layer)
    # cfnb feeds (user, movie) in this order: the fast engine reads the inputs by position
    return keras.Model([fresh[name] for name in wanted], clone.outputs, name=model.name)


def layer_named(model: keras.Model, name: str, argument: str) -> str:
    """`name` if `model` has a layer of that name, else an ArgumentError naming `argument`."""
    if name not in {layer.name for layer in model.layers}:
        raise ArgumentError(f"{argument}={name!r}: model {model.name!r} has no such layer "
                            f"(its layers: {[layer.name for layer in model.layers]}).")
    return name


def fresh_copy(model: keras.Model, seed: int | None = None) -> keras.Model:
    """The same architecture with new initial weights: rebuilt from its kind, or cloned (own models)."""
    config = config_of(model)
    if config:
        hp = {k: v for k, v in config.items() if k not in ("kind", "n_users", "n_items")}
        return build_model(config["kind"], config["n_users"], config["n_items"], seed=seed, **hp)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return keras.models.clone_model(model)
