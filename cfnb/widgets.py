"""JupyterLab widgets over cfnb's functions: build, fit in stages, compare and explore models by clicking.

`Lab(ratings)` puts the whole flow in one place; `Builder`, `StagedFit`, `Compare` and `Explore` also
work alone. They share a `Session` (the ratings, their train/val split, the model in hand and every fit).
Every callback is guarded: an exception shows in the piece's own message area (and in `.errors`)
instead of vanishing, as callback output otherwise does in JupyterLab.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import threading
import time
import traceback
import warnings

import ipywidgets as w
import keras
import pandas as pd

from . import explore as ex
from .baselines import baselines
from .data import Ratings
from .display import history_png, summary
from .errors import CfnbError
from .models import KINDS, build_model, config_of, count_params, describe, kind_of
from .training import LESSON_STAGES, StagedHistory, fit_stages, parse_stages

log = logging.getLogger(__name__)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
_CSS = """<style>
.cfnb-table table {border-collapse: collapse; font-size: 12px; margin: 4px 0;
  font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, inherit);}
.cfnb-table th, .cfnb-table td {padding: 2px 8px; text-align: left; background: transparent; color: inherit;
  border-bottom: 1px solid var(--jp-border-color2, rgba(128,128,128,0.35));}
.cfnb-table th {border-bottom: 2px solid var(--jp-border-color1, rgba(128,128,128,0.6));}
.cfnb-table td.num, .cfnb-table th.num {text-align: right; font-variant-numeric: tabular-nums;}
.cfnb-table tr.best td {background: rgba(92,184,92,0.25); font-weight: bold;}
.cfnb-table tr.baseline td {font-style: italic;}
</style>"""


def table_html(frame: pd.DataFrame, formats: dict | None = None, row_classes=None) -> str:
    """A small theme-aware HTML table (numbers right-aligned; optional per-row CSS classes)."""
    formats, e = formats or {}, html.escape
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
    head = "".join(f"<th class='{'num' if c in numeric else ''}'>{e(str(c))}</th>" for c in frame.columns)
    body = []
    for k, (_, row) in enumerate(frame.iterrows()):
        cls = row_classes[k] if row_classes is not None else ""
        cells = "".join(
            f"<td class='{'num' if c in numeric else ''}'>{e(_fmt(row[c], formats.get(c)))}</td>" for c in frame.columns)
        body.append(f"<tr class='{cls}'>{cells}</tr>")
    return f"{_CSS}<div class='cfnb-table'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _fmt(value, spec) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if spec:
        return format(value, spec)
    return f"{value:,}" if isinstance(value, int) else str(value)


class Session:
    """What the pieces share: the ratings and their split, the model in hand, and every fit so far.

    Args:
        ratings: all the ratings.
        val_frac, seed: the validation split (the same one for every model and the baselines).
    """

    def __init__(self, ratings: Ratings, val_frac: float = 0.2, seed: int | None = 42):
        if not isinstance(ratings, Ratings):
            raise CfnbError(f"Expected cfnb Ratings (e.g. cfnb.movielens()), got {type(ratings).__name__}.")
        self.ratings = ratings
        self.train, self.val = ratings.split(val_frac, seed)
        self.model: keras.Model | None = None
        self.name = ""
        self.history: StagedHistory | None = None
        self.runs: list[dict] = []
        self.busy = False
        self._built = 0
        self._baselines = None
        self._listeners: dict[str, list] = {}

    def on(self, event: str, fn):
        """Call `fn()` on `event`: "model" (a new model in hand), "busy" (fit started/ended), "runs"."""
        self._listeners.setdefault(event, []).append(fn)

    def emit(self, event: str):
        """Tell the listeners of `event`."""
        for fn in list(self._listeners.get(event, [])):
            fn()

    @property
    def y_range(self) -> tuple[float, float]:
        """fastai's output range: half a star beyond the lowest and highest rating."""
        lo, hi = self.ratings.rating_range
        return (lo - 0.5, hi + 0.5)

    def set_model(self, model: keras.Model, name: str | None = None):
        """Make `model` the model in hand, with a fresh history."""
        self._built += 1
        self.model, self.history = model, StagedHistory()
        self.name = name or f"#{self._built} {config_of(model).get('kind', model.name)}"
        self.emit("model")

    def set_busy(self, busy: bool):
        """Mark a fit as running (pieces disable what must not change) or ended."""
        self.busy = bool(busy)
        self.emit("busy")

    def record(self, model: keras.Model, history: StagedHistory, name: str):
        """Add (or update, for a model fitted again) the run of `model` in the comparison."""
        config = config_of(model)
        run = {"model": name, "kind": config.get("kind", "?"), "hyperparameters": describe(config) if config else "",
               "params": int(model.count_params()), "epochs": len(history), "val_rmse": history.val_rmse,
               "seconds": history.seconds, "stopped": history.interrupted, "keras_model": model, "history": history}
        for k, old in enumerate(self.runs):
            if old["keras_model"] is model:
                self.runs[k] = run
                break
        else:
            self.runs.append(run)
        self.emit("runs")

    def baselines(self) -> pd.DataFrame:
        """The global-mean and biases-only baselines on this session's split (computed once)."""
        if self._baselines is None:
            self._baselines = baselines(self.train, self.val)
        return self._baselines


def session_of(source, **kwargs) -> Session:
    """The `Session` behind `source`: a Session, a piece (its session), or Ratings (a new session)."""
    if isinstance(source, Session):
        return source
    if isinstance(getattr(source, "session", None), Session):
        return source.session
    return Session(source, **kwargs)


class _Piece(w.VBox):
    """A widget box with a message line; every callback it registers is guarded."""

    def __init__(self, session: Session, children, css: str):
        super().__init__()
        self.session, self.errors = session, []
        self.message = w.HTML()
        self.message.add_class("cfnb-message")
        self.children = [*children, self.message]
        self.add_class("cfnb-piece")
        self.add_class(css)

    def guard(self, fn):
        """`fn` wrapped so that any exception shows in this piece instead of escaping."""
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the point is that nothing is lost
                self.show_error(e)
        return guarded

    def on_click(self, button: w.Button, fn):
        """Run `fn()` (guarded) when `button` is clicked."""
        button.on_click(self.guard(lambda _: fn()))

    def on_change(self, widget: w.Widget, fn):
        """Run `fn()` (guarded) when `widget`'s value changes."""
        widget.observe(self.guard(lambda _: fn()), names="value")

    def say(self, text: str, level: str = "info"):
        """Show a one-line message (level "info", "ok" or "error")."""
        colour = {"ok": "var(--jp-success-color1, #2e7d32)", "error": "var(--jp-error-color1, #c62828)"}.get(
            level, "var(--jp-ui-font-color2, #666)")
        self.message.value = f"<span class='cfnb-{level}' style='color:{colour}'>{html.escape(text)}</span>"

    def show_error(self, error: BaseException):
        """Show an exception: cfnb's own errors as their message, others with the traceback folded."""
        self.errors.append(error)
        if isinstance(error, CfnbError):
            self.say(str(error), "error")
            return
        log.exception("cfnb widget callback failed", exc_info=error)
        tb = html.escape("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        self.say(f"Unexpected error: {type(error).__name__}: {error}", "error")
        self.message.value += f"<details><summary>traceback</summary><pre>{tb}</pre></details>"


class Builder(_Piece):
    """Choose dot / bias / NN and its hyperparameters; the parameter count follows; Build shows the summary.

    Args:
        source: Ratings, a Session, or another piece (to share its session).
        kind, n_factors, l2, hidden, dropout_in, dropout_hidden: starting values (see `build_model`).
        y_range: whether the output is squashed into the rating range (fastai's y_range).
        seed: if given, every Build starts from the same initial weights (for a given configuration).
    """

    def __init__(self, source, kind: str = "bias", n_factors: int = 50, l2: float = 1e-4, hidden: int = 70,
                 dropout_in: float = 0.3, dropout_hidden: float = 0.75, y_range: bool = False,
                 seed: int | None = None):
        session = session_of(source)
        self.seed = seed
        wide = {"description_width": "100px"}
        self.kind = w.ToggleButtons(options=list(KINDS), value=kind, description="Model", style=wide,
                                    tooltips=["dot product of factors", "dot product plus user and movie biases",
                                              "neural net on concatenated factors"])
        self.factors = w.IntSlider(n_factors, min=1, max=200, description="Factors", style=wide)
        self.l2 = w.FloatLogSlider(l2, base=10, min=-7, max=-1, description="L2 (factors)", style=wide,
                                   readout_format=".1e")
        self.hidden = w.IntSlider(hidden, min=1, max=500, description="Hidden units", style=wide)
        self.dropout_in = w.FloatSlider(dropout_in, min=0, max=0.95, step=0.05, description="Dropout in",
                                        style=wide)
        self.dropout_hidden = w.FloatSlider(dropout_hidden, min=0, max=0.95, step=0.05,
                                            description="Dropout hidden", style=wide)
        lo, hi = session.y_range
        self.y_range = w.Checkbox(y_range, description=f"y_range: squash output into {lo:g}..{hi:g}",
                                  indent=False)
        self.params = w.HTML()
        self.build_button = w.Button(description="Build", button_style="primary", icon="cubes")
        self.output = w.HTML()
        self.nn_box = w.VBox([self.hidden, self.dropout_in, self.dropout_hidden])
        for widget, css in ((self.factors, "cfnb-factors"), (self.l2, "cfnb-l2"), (self.hidden, "cfnb-hidden"),
                            (self.params, "cfnb-params"), (self.build_button, "cfnb-build"),
                            (self.output, "cfnb-summary-out"), (self.kind, "cfnb-kind")):
            widget.add_class(css)
        super().__init__(session, [
            self.kind, self.factors, self.l2, self.nn_box, self.y_range,
            w.HBox([self.build_button, self.params], layout=w.Layout(align_items="center")), self.output],
            "cfnb-builder")
        for widget in (self.kind, self.factors, self.hidden):
            self.on_change(widget, self.update)
        self.on_click(self.build_button, self.build)
        session.on("busy", self.guard(self._lock))
        self.update()

    def hyperparameters(self) -> dict:
        """The `build_model` keyword arguments the controls describe, for the chosen kind."""
        hp = {"n_factors": int(self.factors.value), "l2": float(f"{self.l2.value:.3g}"),
              "y_range": self.session.y_range if self.y_range.value else None}
        if self.kind.value == "nn":
            hp.update(hidden=int(self.hidden.value), dropout_in=round(float(self.dropout_in.value), 4),
                      dropout_hidden=round(float(self.dropout_hidden.value), 4))
        return {k: v for k, v in hp.items() if k in kind_of(self.kind.value).defaults}

    def n_params(self) -> int:
        """Parameter count of the model the controls describe."""
        return count_params(self.kind.value, self.session.ratings.n_users, self.session.ratings.n_items,
                            **self.hyperparameters())

    def update(self):
        """Show the NN controls only for NN models and refresh the parameter count."""
        self.nn_box.layout.display = None if self.kind.value == "nn" else "none"
        self.params.value = f"<b>{self.n_params():,}</b> parameters"

    def build(self) -> keras.Model:
        """Build the model the controls describe, make it the session's model and show its summary."""
        if self.session.busy:
            raise CfnbError("A fit is running: Stop it or wait before building another model.")
        kind, hp = self.kind.value, self.hyperparameters()
        if self.seed is not None:
            keras.utils.set_random_seed(int(self.seed))
        model = build_model(kind, self.session.ratings.n_users, self.session.ratings.n_items, **hp)
        self.session.set_model(model)
        self.output.value = summary(model)._repr_html_()
        self.say(f"Built {self.session.name}: {model.count_params():,} parameters. Next: Fit.", "ok")
        return model

    @property
    def model(self) -> keras.Model | None:
        """The session's model in hand (the last one built)."""
        return self.session.model

    def _lock(self):
        self.build_button.disabled = self.session.busy


class _Live(keras.callbacks.Callback):
    """Feeds a StagedFit's bar, status line and plot from inside the fit; never raises into Keras."""

    def __init__(self, piece: StagedFit, stages, steps: int):
        super().__init__()
        self.piece, self.stages, self.steps = piece, stages, steps
        self.total_epochs = sum(s.epochs for s in stages)
        self.epochs, self.batch, self._last = 0, 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.batch = batch + 1
        now = time.perf_counter()
        if now - self._last > 0.15:
            self._last = now
            self.piece.guard(self.piece._show_progress)(self)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs, self.batch = self.epochs + 1, 0
        self.piece.guard(self.piece._show_epoch)(self)

    @property
    def stage(self) -> int:
        """Index (from 0) of the stage now running."""
        left = min(self.epochs, self.total_epochs - 1)
        for k, s in enumerate(self.stages):
            if left < s.epochs:
                return k
            left -= s.epochs
        return len(self.stages) - 1


class StagedFit(_Piece):
    """An editable list of (learning rate, epochs) stages, a batch size, Fit and Stop, and live progress.

    Args:
        source: a Session or another piece (e.g. a Builder) whose model to fit, or Ratings.
        stages: starting stages, `(lr, epochs)` pairs.
        batch_size: starting batch size (one of `BATCH_SIZES`).
        background: fit in a background thread so that Stop is heard while fitting (`wait()` joins it);
            False fits in the calling thread.
        seed: seed for a reproducible fit (None: not seeded).
    """

    def __init__(self, source, stages=LESSON_STAGES, batch_size: int = 256, background: bool = True,
                 seed: int | None = None):
        session = session_of(source)
        self.background, self.seed = background, seed
        self.history: StagedHistory | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._rows = w.VBox()
        self.add_button = w.Button(description="Add stage", icon="plus")
        self.batch_size = w.Dropdown(options=list(BATCH_SIZES), value=batch_size, description="Batch size")
        self.fit_button = w.Button(description="Fit", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress",
                                      layout=w.Layout(width="420px"))
        self.status = w.HTML("Build a model, then Fit.")
        self.curve = w.Image(format="png", layout=w.Layout(display="none", max_width="640px"))
        for widget, css in ((self.add_button, "cfnb-add-stage"), (self.batch_size, "cfnb-batch"),
                            (self.fit_button, "cfnb-fit"), (self.stop_button, "cfnb-stop"),
                            (self.progress, "cfnb-progress"), (self.status, "cfnb-status"),
                            (self.curve, "cfnb-curve")):
            widget.add_class(css)
        super().__init__(session, [
            w.HTML("<b>Stages</b> (learning rate, epochs), run in order:"), self._rows, self.add_button,
            w.HBox([self.batch_size, self.fit_button, self.stop_button]),
            w.HBox([self.progress, self.status], layout=w.Layout(align_items="center")), self.curve],
            "cfnb-staged-fit")
        self.stages = stages
        self.on_click(self.add_button, self.add_stage)
        self.on_click(self.fit_button, self.run)
        self.on_click(self.stop_button, self.stop)
        session.on("model", self.guard(self._reset))
        session.on("busy", self.guard(self._lock))

    @property
    def stages(self) -> list[tuple]:
        """The stages as typed in, `(lr, epochs)` pairs (validated only when fitting)."""
        return [(row.children[1].value, row.children[2].value) for row in self._rows.children]

    @stages.setter
    def stages(self, stages):
        self._rows.children = []
        for lr, epochs in stages:
            self.add_stage(lr, epochs)

    def add_stage(self, lr: float | None = None, epochs: int | None = None):
        """Append a stage row (default: a tenth of the last stage's rate and its epochs; else 1e-2 for 2)."""
        last = self.stages[-1] if self._rows.children else None
        if lr is None:
            lr = float(f"{last[0] / 10:.3g}") if last else 1e-2
        if epochs is None:
            epochs = last[1] if last else 2
        lr_box = w.FloatText(lr, description="lr", layout=w.Layout(width="170px"), style={"description_width": "30px"})
        epochs_box = w.IntText(epochs, description="epochs", layout=w.Layout(width="150px"),
                               style={"description_width": "50px"})
        remove = w.Button(icon="times", tooltip="remove this stage", layout=w.Layout(width="36px"))
        label = w.Label()
        row = w.HBox([label, lr_box, epochs_box, remove])
        row.add_class("cfnb-stage")
        remove.add_class("cfnb-remove-stage")
        self.on_click(remove, lambda: self.remove_stage(row))
        self._rows.children = [*self._rows.children, row]
        self._number()

    def remove_stage(self, row_or_index):
        """Remove a stage row (the row widget, or its index)."""
        rows = list(self._rows.children)
        row = rows[row_or_index] if isinstance(row_or_index, int) else row_or_index
        self._rows.children = [r for r in rows if r is not row]
        self._number()

    def _number(self):
        for k, row in enumerate(self._rows.children):
            row.children[0].value = f"Stage {k + 1}"

    @property
    def fitting(self) -> bool:
        """True while a fit runs."""
        return self._thread is not None and self._thread.is_alive()

    def run(self, wait: bool = False):
        """Fit the session's model through the stages (what Fit does); invalid input fits nothing.

        Args:
            wait: block until the fit ends (only matters for background fits).
        """
        if self.session.busy or self.fitting:
            raise CfnbError("A fit is already running.")
        model = self.session.model
        if model is None:
            raise CfnbError("No model to fit yet: choose one above and click Build.")
        stages = parse_stages(self.stages)
        batch_size = int(self.batch_size.value)
        history, name = self.session.history, self.session.name
        steps = math.ceil(len(self.session.train) / batch_size)
        live = _Live(self, stages, steps)
        live.first = len(history)
        self.history = history
        self._stop = threading.Event()
        self.progress.max, self.progress.value, self.progress.bar_style = live.total_epochs * steps, 0, "info"
        self.status.value = "starting…"
        self.say(f"Fitting {name}: {len(stages)} stage(s), {live.total_epochs} epoch(s), batch size {batch_size}.")
        self.session.set_busy(True)

        def fit():
            error, start = None, time.perf_counter()
            try:
                fit_stages(model, self.session.train, self.session.val, stages, batch_size=batch_size,
                           progress=False, callbacks=[live], history=history, stop=self._stop, seed=self.seed)
            except Exception as e:  # noqa: BLE001 - shown below, never lost in the thread
                error = e
            finally:
                self.guard(self._finish)(model, history, name, live, error, time.perf_counter() - start)

        if self.background:
            self._thread = threading.Thread(target=fit, name="cfnb-fit", daemon=True)
            self._thread.start()
            if wait:
                self.wait()
        else:
            fit()
        return self

    def wait(self, timeout: float | None = None) -> StagedFit:
        """Block until the running fit (if any) ends, or `timeout` seconds pass."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self

    def stop(self):
        """End the running fit after the current batch, keeping the weights and history (what Stop does)."""
        if not self.session.busy:
            self.say("Nothing is fitting.")
            return
        self._stop.set()
        self.status.value = "stopping after the current batch…"

    def _finish(self, model, history, name, live, error, seconds):
        try:
            if error is not None:
                self.progress.bar_style = "danger"
                self.show_error(error)
            if len(history):
                self._plot(history)
                self.session.record(model, history, name)
            done = error is None and not history.interrupted
            if done:
                self.progress.value = self.progress.max
            self.progress.bar_style = "success" if done else ("warning" if error is None else "danger")
            rmse = f", val RMSE {history.val_rmse:.4f}" if len(history) else ""
            state = "done" if done else ("stopped" if error is None else "failed")
            epochs = len(history) - live.first
            self.status.value = html.escape(f"{state}: {epochs}/{live.total_epochs} epochs in {seconds:.1f} s{rmse}")
            if error is None:
                self.say(f"{name} {state} after {len(history)} epoch(s) in all{rmse}.", "ok" if done else "info")
        finally:
            self.session.set_busy(False)

    def _show_progress(self, live: _Live):
        self.progress.value = min(live.epochs * live.steps + live.batch, self.progress.max)
        stage = live.stage
        text = (f"stage {stage + 1}/{len(live.stages)} (lr {live.stages[stage].lr:.0e}) · "
                f"epoch {min(live.epochs + 1, live.total_epochs)}/{live.total_epochs}")
        if self.history is not None and len(self.history):
            row = self.history.rows[-1]
            text += f" · loss {row['loss']:.4f} · val RMSE {row['val_rmse']:.4f}"
        self.status.value = html.escape(text)

    def _show_epoch(self, live: _Live):
        self._show_progress(live)
        if self.history is not None and len(self.history):
            self._plot(self.history)

    def _plot(self, history: StagedHistory):
        with warnings.catch_warnings():  # a tight_layout warning would land in whichever cell runs next
            warnings.simplefilter("ignore", UserWarning)
            self.curve.value = history_png(history)
        self.curve.layout.display = None

    def _reset(self):
        self.history = self.session.history
        self.progress.value, self.progress.bar_style = 0, ""
        self.curve.layout.display = "none"
        self.status.value = html.escape(f"ready to fit {self.session.name}")

    def _lock(self):
        busy = self.session.busy
        for widget in (self.fit_button, self.add_button, self.batch_size):
            widget.disabled = busy
        for row in self._rows.children:
            for widget in row.children[1:]:
                widget.disabled = busy
        self.stop_button.disabled = not busy


class Compare(_Piece):
    """Every model fitted in the session side by side with the two baselines; the best is highlighted.

    Args:
        source: a Session or another piece (to share its session), or Ratings.
    """

    def __init__(self, source):
        session = session_of(source)
        self.table = w.HTML()
        self.table.add_class("cfnb-compare-out")
        super().__init__(session, [self.table], "cfnb-compare")
        session.on("runs", self.guard(self.refresh))
        self.guard(self.refresh)()

    def frame(self) -> pd.DataFrame:
        """Baselines and fitted models: model, kind, hyperparameters, params, epochs, val_rmse, seconds, best."""
        base = self.session.baselines()
        rows = [{"model": name, "kind": "baseline", "hyperparameters": "", "params": int(p), "epochs": None,
                 "val_rmse": float(r), "seconds": float(s)}
                for name, p, r, s in base[["name", "params", "val_rmse", "seconds"]].itertuples(index=False)]
        for run in self.session.runs:
            rows.append({k: run[k] for k in ("model", "kind", "hyperparameters", "params", "epochs", "val_rmse",
                                             "seconds")})
            if run["stopped"]:
                rows[-1]["model"] += " (stopped)"
        frame = pd.DataFrame(rows)
        frame["best"] = frame["val_rmse"] == frame["val_rmse"].min()
        return frame

    def refresh(self):
        """Redraw the table from the session's runs."""
        frame = self.frame()
        classes = ["best" if b else ("baseline" if k == "baseline" else "") for b, k in zip(frame["best"], frame["kind"])]
        shown = frame.drop(columns="best").rename(columns={"val_rmse": "val RMSE", "seconds": "fit seconds"})
        shown["model"] = [m + ("  ★ best" if b else "") for m, b in zip(frame["model"], frame["best"])]
        shown["epochs"] = ["–" if e != e or e is None else str(int(e)) for e in frame["epochs"]]
        self.table.value = table_html(shown, {"val RMSE": ".4f", "fit seconds": ".2f", "params": ","},
                                      row_classes=classes)
        n = len(self.session.runs)
        self.say(f"{n} model(s) fitted; validation set: {len(self.session.val):,} ratings." if n else
                 "No model fitted yet: the baselines to beat, on the same validation split.")


class Explore(_Piece):
    """fastai lesson 4's interpretation of the model in hand: biases, factor PCA, recommendations.

    Args:
        source: a Session or another piece (to share its session), or Ratings.
        model: explore this model instead of the session's model in hand.
        n: rows in each table; top: how many of the most-rated movies to consider; labels: titles on the plot.
    """

    def __init__(self, source, model: keras.Model | None = None, n: int = 10, top: int = 1000, labels: int = 30):
        session = session_of(source)
        self._model, self.top, self.labels = model, top, labels
        users = list(session.ratings.user_ids)
        self.user = (w.Dropdown(options=users, value=users[0], description="User") if len(users) <= 5000 else
                     w.Text(str(users[0]), description="User id"))
        self.n = w.IntSlider(n, min=1, max=50, description="Top N")
        self.explore_button = w.Button(description="Explore model", icon="search", button_style="info")
        self.biases = w.HTML()
        self.pca = w.Image(format="png", layout=w.Layout(display="none", max_width="750px"))
        self.recommendations = w.HTML()
        for widget, css in ((self.explore_button, "cfnb-explore-button"), (self.biases, "cfnb-biases"),
                            (self.pca, "cfnb-pca"), (self.recommendations, "cfnb-recs"), (self.user, "cfnb-user")):
            widget.add_class(css)
        super().__init__(session, [w.HBox([self.explore_button, self.user, self.n]), self.biases, self.pca,
                                   self.recommendations], "cfnb-explore")
        self.on_click(self.explore_button, self.refresh)
        self.on_change(self.user, self.show_recommendations)
        self.on_change(self.n, self.show_recommendations)
        session.on("busy", self.guard(self._lock))

    @property
    def model(self) -> keras.Model | None:
        """The model explored: the one given, else the session's model in hand."""
        return self._model if self._model is not None else self.session.model

    def _check(self) -> keras.Model:
        if self.session.busy and self._model is None:
            raise CfnbError("A fit is running: explore the model when it ends.")
        if self.model is None:
            raise CfnbError("No model to explore yet: Build and Fit one first.")
        return self.model

    def refresh(self):
        """Biases, the PCA picture and recommendations for the model in hand (what the button does)."""
        model, r = self._check(), self.session.ratings
        try:
            high, low = ex.movie_bias(model, r, n=int(self.n.value), top=self.top)
            fmt = {"bias": ".3f", "mean_rating": ".2f"}
            self.biases.value = (
                "<div style='display:flex; gap:24px; flex-wrap:wrap'>"
                f"<div><b>Highest movie bias</b>{table_html(high.drop(columns='item'), fmt)}</div>"
                f"<div><b>Lowest movie bias</b>{table_html(low.drop(columns='item'), fmt)}</div></div>")
        except CfnbError as e:
            self.biases.value = f"<i>{html.escape(str(e))}</i>"
        table, explained = ex.factor_pca(model, r, top=self.top)
        self.pca.value = ex.pca_png(table, explained, labels=self.labels)
        self.pca.layout.display = None
        self.show_recommendations()
        self.say(f"Exploring {self.session.name if self._model is None else self._model.name}.", "ok")

    def show_recommendations(self):
        """Top-N unseen movies for the chosen user next to the movies they rated highest."""
        if self.model is None or (self.session.busy and self._model is None):
            return
        model, r, n, user = self.model, self.session.ratings, int(self.n.value), self.user.value
        recs = ex.recommend(model, r, user, n=n)
        mine = ex.rated_highest(r, user, n=n)
        self.recommendations.value = (
            "<div style='display:flex; gap:24px; flex-wrap:wrap'>"
            f"<div><b>Recommended for user {html.escape(str(user))}</b> (not yet rated)"
            f"{table_html(recs.drop(columns='item'), {'predicted': '.2f'})}</div>"
            f"<div><b>Rated highest by user {html.escape(str(user))}</b>"
            f"{table_html(mine.drop(columns='item'), {'rating': '.1f'})}</div></div>")

    def _lock(self):
        self.explore_button.disabled = self.session.busy and self._model is None


def _section(title: str, body: w.Widget) -> w.VBox:
    return w.VBox([w.HTML(f"<h3 style='margin:12px 0 4px'>{html.escape(title)}</h3>"), body])


class Lab(w.VBox):
    """The whole flow in one place: build, fit in stages, compare with the baselines, explore.

    Args:
        ratings: all the ratings (e.g. `cfnb.movielens()`).
        val_frac: the fraction of ratings held out for validation (the same split for every model and the
            baselines).
        seed: seeds the split, each model's initial weights and each fit (None: the split uses 42, the rest
            is not seeded).
        stages, batch_size: the fit's starting stages and batch size.
        kind: the model kind selected at first.
        background: fit in a background thread (so Stop works while fitting).
    """

    def __init__(self, ratings: Ratings, val_frac: float = 0.2, seed: int | None = 42, stages=LESSON_STAGES,
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
        self.children = [intro, _section("1 · Build a model", self.builder), _section("2 · Fit in stages", self.fit),
                         _section("3 · Compare", self.compare), _section("4 · Explore", self.explore)]
        self.add_class("cfnb-lab")

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
        """The model in hand."""
        return self.session.model

    def wait(self, timeout: float | None = None) -> Lab:
        """Block until a running fit ends."""
        self.fit.wait(timeout)
        return self
