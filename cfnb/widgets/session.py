"""What the widget pieces share: the ratings and their split, every model, and the current one."""

from __future__ import annotations

import keras
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import ArgumentError, CfnbError
from cfnb.evaluation.baselines import baselines
from cfnb.models.kinds import default_y_range
from cfnb.names import ITEM_BIAS, ITEM_FACTORS
from cfnb.training.stages import StagedHistory
from cfnb.widgets.workspace import Fit, Run, adopt, compare_frame, layer_named


class Session:
    """The ratings and their split, every model added (built or your own), and the current one.

    Pieces listen to its events: "model" (another model is current), "busy" (a fit started or
    ended) and "runs" (a model was added or fitted).

    Args:
        ratings: all the ratings.
        val_frac, seed: the validation split (the same one for every model and the baselines).
    """

    def __init__(self, ratings: Ratings, val_frac: float = 0.2, seed: int | None = 42):
        checks.instance("ratings", ratings, Ratings, "cfnb Ratings", " Load them with cfnb.movielens() or "
                        "cfnb.load_ratings(...).")
        self.ratings = ratings
        self.train, self.val = ratings.split(val_frac, seed)
        self.runs: list[Run] = []
        self.current: Run | None = None
        self.busy = False
        self._added = 0
        self._baselines = None
        self._listeners: dict[str, list] = {}

    def on(self, event: str, fn):
        """Call `fn()` on `event`: "model", "busy" or "runs"."""
        self._listeners.setdefault(event, []).append(fn)

    def emit(self, event: str):
        """Tell the listeners of `event`."""
        for fn in list(self._listeners.get(event, [])):
            fn()

    @property
    def y_range(self) -> tuple[float, float]:
        """The output range a `y_range` model gets here (`cfnb.models.default_y_range` of the ratings)."""
        return default_y_range(*self.ratings.rating_range)

    @property
    def model(self) -> keras.Model | None:
        """The current model."""
        return self.current.model if self.current else None

    @property
    def history(self) -> StagedHistory | None:
        """The current model's history."""
        return self.current.history if self.current else None

    @property
    def name(self) -> str:
        """The current model's name."""
        return self.current.name if self.current else ""

    @property
    def shown(self) -> list[Run]:
        """The models to compare and choose from: every fitted one, and the current one."""
        return [r for r in self.runs if len(r.history) or r is self.current]

    def add(self, model: keras.Model, name: str | None = None, inputs: tuple[str, str] | None = None,
            item_factors: str = ITEM_FACTORS, item_bias: str = ITEM_BIAS) -> Run:
        """Make `model` the current one, after checking it fits these ratings (see `cfnb.adopt`).

        Args:
            model: a model from `build_model`, or one of your own with two integer inputs.
            name: how tables call it (default "#<n> <kind>").
            inputs: the names of its user and movie inputs (None: found by role, see `cfnb.adopt`).
            movie_factors, movie_bias: the names of its movie factor and bias layers (what Explore shows).
        """
        if self.busy:
            raise CfnbError("A fit is running: Stop it or wait before adding another model.")
        model = adopt(model, self.ratings, inputs)
        for argument, layer, default in (("movie_factors", item_factors, ITEM_FACTORS),
                                         ("movie_bias", item_bias, ITEM_BIAS)):
            if layer != default:
                layer_named(model, layer, argument)
        taken = {r.name for r in self.runs}
        if name is not None:
            checks.instance("name", name, str, "text (how tables call the model)")
            if not name.strip():
                raise ArgumentError("name must not be blank: tables and menus call the model by it.")
            if name in taken:
                raise ArgumentError(f"name={name!r} is taken by another model in this session; choose another.")
        self._added += 1
        run = Run("", model, item_factors=item_factors, item_bias=item_bias)
        if name is None:  # "#<n> <kind>", never one given to another model earlier
            name = f"#{self._added} {run.kind}"
            while name in taken:
                self._added += 1
                name = f"#{self._added} {run.kind}"
        run.name = name
        self.runs.append(run)
        self.current = run
        self.emit("runs")
        self.emit("model")
        return run

    def select(self, run: Run | str):
        """Make a model added earlier (the `Run`, or its name) the current one."""
        if isinstance(run, str):
            found = [r for r in self.runs if r.name == run]
            if not found:
                raise ArgumentError(f"No model named {run!r} in this session: expected one of "
                                    f"{[r.name for r in self.runs]}.")
            run = found[0]
        if run not in self.runs:
            raise ArgumentError("That model is not in this session: add it first.")
        if self.busy and run is not self.current:
            raise CfnbError("A fit is running: choose another model when it ends.")
        if run is not self.current:
            self.current = run
            self.emit("model")

    def set_busy(self, busy: bool):
        """Mark a fit as running (pieces disable what must not change) or ended."""
        self.busy = bool(busy)
        self.emit("busy")

    def record(self, run: Run, fit: Fit):
        """Add a finished (or stopped) fit to `run`'s recipe."""
        run.record(fit)
        self.emit("runs")

    def baselines(self) -> pd.DataFrame:
        """The global-mean and biases-only baselines on this session's split, RMSE and NDCG@10 (computed once)."""
        if self._baselines is None:
            self._baselines = baselines(self.train, self.val)
        return self._baselines

    def frame(self) -> pd.DataFrame:
        """The comparison: baselines, then every model shown (`cfnb.workspace.compare_frame`)."""
        return compare_frame(self.shown, self.baselines(), self.train, self.val)


def session_of(source, **kwargs) -> Session:
    """The `Session` behind `source`: a Session, a piece (its session), or Ratings (a new session)."""
    if isinstance(source, Session):
        return source
    if isinstance(getattr(source, "session", None), Session):
        return source.session
    return Session(source, **kwargs)
