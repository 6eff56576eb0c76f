"""Explore: fastai lesson 4's look inside a model (biases, factor map, recommendations), following the selection."""

from __future__ import annotations

import html
import warnings

import ipywidgets as w
import keras

from cfnb.display.pca import pca_html
from cfnb.errors import CfnbError, DataWarning
from cfnb.evaluation import explore as ex
from cfnb.widgets.base import Piece, note, table_html
from cfnb.widgets.session import session_of
from cfnb.widgets.workspace import Run

_SIDE_BY_SIDE = "<div style='display:flex; gap:24px; flex-wrap:wrap'>{}</div>"


class Explore(Piece):
    """The movie biases, a PCA map of the movie factors, and recommendations for any user.

    It shows the session's current model and follows it: choosing another model in Compare, or a
    fit ending, redraws what is shown. For a model of your own it looks for the layers named when
    it was added (`Lab.add(..., movie_factors=, movie_bias=)`), and says what it cannot show.

    Args:
        source: a Session or another piece (to share its session), or Ratings.
        model: explore this model instead of the session's current one.
        n: rows in each table; top: how many of the most-rated movies to consider; labels: titles on the plot.
    """

    def __init__(self, source, model: keras.Model | None = None, n: int = 10, top: int = 1000, labels: int = 30):
        session = session_of(source)
        self._run = Run(model.name, model) if model is not None else None
        self.top, self.labels, self._shown = top, labels, False
        users = list(session.ratings.user_ids)
        self.user = (w.Dropdown(options=users, value=users[0], description="User") if len(users) <= 5000 else
                     w.Text(str(users[0]), description="User id"))
        self.n = w.IntSlider(n, min=1, max=50, description="Top N", continuous_update=False)
        self.explore_button = w.Button(description="Explore model", icon="search", button_style="info")
        self.biases = w.HTML()
        self.pca = w.HTML(layout=w.Layout(display="none", max_width="750px"))
        self.pca_note = w.HTML()
        self.recommendations = w.HTML()
        for widget, css in ((self.explore_button, "cfnb-explore-button"), (self.biases, "cfnb-biases"),
                            (self.pca, "cfnb-pca"), (self.pca_note, "cfnb-pca-note"),
                            (self.recommendations, "cfnb-recs"), (self.user, "cfnb-user"), (self.n, "cfnb-top-n")):
            widget.add_class(css)
        super().__init__(session, [w.HBox([self.explore_button, self.user, self.n]), self.biases, self.pca,
                                   self.pca_note, self.recommendations], "cfnb-explore")
        self.on_click(self.explore_button, self.refresh)
        self.on_change(self.user, self.show_recommendations)
        self.on_change(self.n, self._redraw_tables)
        self.listen("busy", self._lock)
        if self._run is None:
            self.listen("model", self._follow)
            self.listen("runs", self._follow)

    @property
    def run(self) -> Run | None:
        """What is explored: the model given, else the session's current one."""
        return self._run if self._run is not None else self.session.current

    @property
    def model(self) -> keras.Model | None:
        """The model explored."""
        return self.run.model if self.run is not None else None

    def _check(self) -> Run:
        if self.session.busy and self._run is None:
            raise CfnbError("A fit is running: explore the model when it ends.")
        if self.run is None:
            raise CfnbError("No model to explore yet: Build and Fit one first.")
        return self.run

    def refresh(self):
        """Biases, the PCA picture and recommendations for the model (what the button does)."""
        run = self._check()
        self.show_biases()
        self.show_pca()
        self.show_recommendations()
        self._shown = True
        fitted = "" if len(run.history) else " (not fitted yet: its numbers are its random initial weights)"
        self.say(f"Exploring {run.name}{fitted}.", "ok" if len(run.history) else "info")

    def show_biases(self):
        """The movies with the highest and lowest learned bias, or a note saying why there are none."""
        run, r = self._check(), self.session.ratings
        try:
            high, low = ex.item_bias(run.model, r, n=int(self.n.value), top=self.top, layer=run.item_bias)
        except CfnbError as e:
            self.biases.value = note(f"No bias tables for {run.name}: {e}")
            return
        fmt = {"bias": ".3f", "mean_rating": ".2f"}
        self.biases.value = _SIDE_BY_SIDE.format(
            f"<div><b>Highest movie bias</b>{table_html(high.drop(columns='item'), fmt)}</div>"
            f"<div><b>Lowest movie bias</b>{table_html(low.drop(columns='item'), fmt)}</div>")

    def show_pca(self):
        """The movie factors' PCA map, or a note saying why it cannot be drawn (e.g. a 1-factor model)."""
        run = self._check()
        self.pca.layout.display, self.pca_note.value = "none", ""
        factors = ex.layer_weights(run.model, run.item_factors)
        if factors is not None and factors.shape[1] < 2:
            self.pca_note.value = note(f"No factor map for {run.name}: it has one factor per movie, so there is "
                                       "no second direction to draw (build it with 2 factors or more).")
            return
        try:
            table, explained = ex.factor_pca(run.model, self.session.ratings, top=self.top, layer=run.item_factors)
        except CfnbError as e:
            self.pca_note.value = note(f"No factor map for {run.name}: {e}")
            return
        self.pca.value = pca_html(table, explained, labels=self.labels, fallback=False)
        self.pca.layout.display = None

    def show_recommendations(self):
        """Top-N unseen movies for the chosen user next to the movies they rated highest."""
        if self.run is None or (self.session.busy and self._run is None):
            return
        model, r, n, user = self.model, self.session.ratings, int(self.n.value), self.user.value
        with warnings.catch_warnings():  # a cold user's note shows here, not in whichever cell runs next
            warnings.simplefilter("ignore", DataWarning)
            recs = ex.recommend(model, r, user, n=n)
        mine = ex.rated_highest(r, user, n=n)
        who = html.escape(str(user))
        cold = note(recs.attrs["note"]) if recs.attrs.get("note") else ""
        self.recommendations.value = cold + _SIDE_BY_SIDE.format(
            f"<div><b>Recommended for user {who}</b> (not yet rated)"
            f"{table_html(recs.drop(columns='item'), {'predicted': '.2f'})}</div>"
            f"<div><b>Rated highest by user {who}</b>{table_html(mine.drop(columns='item'), {'rating': '.1f'})}</div>")

    def _redraw_tables(self):
        if self._shown and self.run is not None and not (self.session.busy and self._run is None):
            self.show_biases()
            self.show_recommendations()

    def _follow(self):
        """Another model is current, or a fit ended: redraw if something was shown, else clear."""
        if self.session.busy:
            return
        run = self.run
        if self._shown and run is not None and len(run.history):
            self.refresh()
            return
        self.biases.value = self.recommendations.value = self.pca_note.value = ""
        self.pca.layout.display = "none"
        if run is None:
            self.say("")
        elif len(run.history):
            self.say(f"Click Explore model to look inside {run.name}.")
        else:
            self.say(f"{run.name} is not fitted yet: Fit it, then Explore.")

    def _lock(self):
        self.explore_button.disabled = self.session.busy and self._run is None
