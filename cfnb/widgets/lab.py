"""The Lab: build, fit in stages, compare and explore in one place, on one split."""

from __future__ import annotations

import html

import ipywidgets as w
import keras

from cfnb.data.ratings import Ratings
from cfnb.names import ITEM_BIAS, ITEM_FACTORS
from cfnb.widgets.base import section
from cfnb.widgets.builder import Builder
from cfnb.widgets.compare import Compare
from cfnb.widgets.explore import Explore
from cfnb.widgets.fit import StagedFit
from cfnb.widgets.session import Session
from cfnb.widgets.workspace import Run


class Lab(w.VBox):
    """The whole flow in one place: build (or add your own model), fit in stages, compare, explore.

    Args:
        ratings: all the ratings (e.g. `cfnb.movielens()`).
        val_frac: the fraction of ratings held out for validation (the same split for every model and the
            baselines).
        seed: seeds the split, each model's initial weights and each fit (None: the split uses 42, the rest
            is not seeded).
        stages: the fit's starting stages (None: the lesson's for the chosen kind); batch_size: its batch size.
        kind: the model kind selected at first.
        background: fit in a background thread (so Stop works while fitting).
    """

    def __init__(self, ratings: Ratings, val_frac: float = 0.2, seed: int | None = 42, stages=None,
                 batch_size: int = 256, kind: str = "bias", background: bool = True):
        super().__init__()
        self.session = Session(ratings, val_frac, 42 if seed is None else seed)
        self.builder = Builder(self.session, kind=kind, seed=seed)
        self.fit = StagedFit(self.session, stages=stages, batch_size=batch_size, background=background, seed=seed)
        self.compare = Compare(self.session)
        self.explore = Explore(self.session)
        r, s = ratings, self.session
        intro = w.HTML(f"<b>{html.escape(r.name)}</b>: {len(r):,} ratings by {r.n_users:,} users of {r.n_items:,} "
                       f"movies; {len(s.train):,} to train on, {len(s.val):,} to validate on.")
        self.children = [intro, section("1 · Build a model", self.builder), section("2 · Fit in stages", self.fit),
                         section("3 · Compare", self.compare), section("4 · Explore", self.explore)]
        self.add_class("cfnb-lab")

    def add(self, model: keras.Model, name: str | None = None, inputs: tuple[str, str] | None = None,
            item_factors: str = ITEM_FACTORS, item_bias: str = ITEM_BIAS) -> Run:
        """Bring your own model: make a Keras model written in a cell the current one.

        Its summary shows in the Builder; Fit, Compare and Explore then work on it as on a built one.

        Args:
            model: a functional Keras model with two integer inputs of shape `(1,)` (user and movie
                codes: `ratings.n_users` and `ratings.n_items` embedding rows) and one output.
            name: how the Lab calls it: non-blank text, not taken (default "#<n> own", never a taken one).
            inputs: the names of its user and movie inputs (None: found by role, see `cfnb.adopt`).
            movie_factors, movie_bias: the names of its movie factor and movie bias embedding layers,
                for Explore (default: cfnb's `movie_factors` and `movie_bias`; a missing one is skipped
                with a note).

        Returns:
            The session's `Run` for it (`run.model` is the model trained here: `model` itself, or its
            layers behind inputs renamed to `user_in` / `movie_in`).

        Raises:
            ArgumentError: inputs, output or embedding sizes that do not fit the ratings (named).
        """
        run = self.session.add(model, name, inputs=inputs, item_factors=item_factors, item_bias=item_bias)
        self.builder.say(f"Added {run.name}: {run.model.count_params():,} parameters. Next: Fit.", "ok")
        return run

    @property
    def pieces(self) -> tuple:
        """The four pieces: builder, fit, compare, explore."""
        return (self.builder, self.fit, self.compare, self.explore)

    @property
    def errors(self) -> list:
        """Every exception any piece caught and showed."""
        return [e for piece in self.pieces for e in piece.errors]

    @property
    def model(self) -> keras.Model | None:
        """The current model."""
        return self.session.model

    def wait(self, timeout: float | None = None) -> Lab:
        """Block until a running fit ends."""
        self.fit.wait(timeout)
        return self
