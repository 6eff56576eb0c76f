"""The staged fit: editable stages, Fit / Continue / Start over / Stop, live progress and learning curve."""

from __future__ import annotations

import html
import math
import threading
import time
import warnings

import ipywidgets as w
import keras

from cfnb.display.figures import figure_html
from cfnb.display.history import history_html
from cfnb.errors import CfnbError
from cfnb.training.fit import fit_stages
from cfnb.training.lr_finder import lr_find
from cfnb.training.stages import StagedHistory, parse_stages
from cfnb.widgets.base import Piece
from cfnb.widgets.session import session_of
from cfnb.widgets.stages import StageList, lesson_stages, stage_at
from cfnb.widgets.workspace import Fit, fresh_copy

BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class _Live(keras.callbacks.Callback):
    """Feeds a StagedFit's bar, status line and plot from inside the fit; never raises into Keras."""

    def __init__(self, piece: StagedFit, history: StagedHistory, steps: int):
        super().__init__()
        self.piece, self.history, self.steps = piece, history, steps
        self.first, self.epochs, self.batch, self._last = len(history), 0, 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.batch = batch + 1
        now = time.perf_counter()
        if now - self._last > 0.15:
            self._last = now
            self.piece.guard(self.piece._show_progress)(self)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs, self.batch = self.epochs + 1, 0
        self.piece.guard(self.piece._show_epoch)(self)


class StagedFit(Piece):
    """Stages of (learning rate, epochs), a batch size, Fit / Continue / Start over / Stop, live progress.

    Fit runs the stages on the current model. After a Stop or a finished fit, Continue goes on with
    the same weights and optimizer state and one history (epochs count on): the stages the stop left,
    or else the stages above as more. Start over fits a fresh copy of the model (new weights) as a
    new model, so both stay in the comparison. Find lr runs fastai's learning-rate range test
    (`cfnb.lr_find`, on a copy: the model is not changed), plots it and sets stage 1's rate to its
    suggestion.

    Args:
        source: a Session or another piece (e.g. a Builder) whose current model to fit, or Ratings.
        stages: starting stages, `(lr, epochs)` pairs; None: the lesson's for the current model's kind
            (`LESSON_NN_STAGES` for "nn", else `LESSON_STAGES`), following the kind until edited.
        batch_size: starting batch size (one of `BATCH_SIZES`).
        background: fit in a background thread so that Stop is heard while fitting (`wait()` joins it);
            False fits in the calling thread.
        seed: seed for a reproducible fit and fresh start (None: not seeded).
    """

    def __init__(self, source, stages=None, batch_size: int = 256, background: bool = True,
                 seed: int | None = None):
        session = session_of(source)
        self.background, self.seed = background, seed
        self._thread: threading.Thread | None = None
        self._stop, self._stopping = threading.Event(), False
        self.stage_list = StageList(stages if stages is not None else lesson_stages(None), self.guard_later)
        self.stage_list.edited = stages is not None
        self.batch_size = w.Dropdown(options=list(BATCH_SIZES), value=batch_size, description="Batch size")
        self.fit_button = w.Button(description="Fit", button_style="success", icon="play",
                                   tooltip="fit the current model through the stages")
        self.start_over_button = w.Button(description="Start over", icon="undo", disabled=True,
                                          tooltip="fit a fresh copy of the current model (new weights)")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="end the fit after the current batch, keeping what was learned")
        self.lr_button = w.Button(description="Find lr", icon="search",
                                  tooltip="learning-rate range test on a copy of the model; fills in stage 1's rate")
        self.lr_plot = w.HTML(layout=w.Layout(display="none", max_width="640px"))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress",
                                      layout=w.Layout(width="420px"))
        self.status = w.HTML("Build a model, then Fit.")
        self.curve = w.HTML(layout=w.Layout(display="none", max_width="640px"))
        self.buttons = w.HBox([self.batch_size, self.fit_button, self.start_over_button, self.stop_button,
                               self.lr_button])
        for widget, css in ((self.batch_size, "cfnb-batch"),
                            (self.fit_button, "cfnb-fit"), (self.start_over_button, "cfnb-start-over"),
                            (self.stop_button, "cfnb-stop"), (self.progress, "cfnb-progress"),
                            (self.status, "cfnb-status"), (self.curve, "cfnb-curve"),
                            (self.lr_button, "cfnb-find-lr"), (self.lr_plot, "cfnb-lr-plot")):
            widget.add_class(css)
        super().__init__(session, [
            self.stage_list, self.lr_plot, self.buttons, w.HBox([self.progress, self.status], layout=w.Layout(align_items="center")),
            self.curve], "cfnb-staged-fit")
        self.on_click(self.fit_button, self.run)
        self.on_click(self.start_over_button, self.start_over)
        self.on_click(self.stop_button, self.stop)
        self.on_click(self.lr_button, self.find_lr)
        self.listen("model", self._reset)
        self.listen("busy", self._lock)

    # ----------------------------------------------------------------------------------- stages
    def guard_later(self, fn):
        """`Piece.guard`, usable before the piece is set up (the stage list is made first)."""
        return lambda *args: self.guard(fn)(*args)

    @property
    def stages(self) -> list[tuple]:
        """The stages as typed in, `(lr, epochs)` pairs (validated only when fitting)."""
        return self.stage_list.stages

    @stages.setter
    def stages(self, stages):
        self.stage_list.set(stages, edited=True)

    @property
    def add_button(self) -> w.Button:
        """The stage list's Add stage button."""
        return self.stage_list.add_button

    def add_stage(self, lr: float | None = None, epochs: int | None = None):
        """Append a stage (default: a tenth of the last stage's rate and its epochs)."""
        self.stage_list.add(lr, epochs, edit=True)

    def _kind(self) -> str | None:
        run = self.session.current
        return run.kind if run else None

    # -------------------------------------------------------------------------------- fitting
    @property
    def fitting(self) -> bool:
        """True while a fit runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def history(self) -> StagedHistory | None:
        """The current model's history."""
        return self.session.history

    def run(self, wait: bool = False) -> StagedFit:
        """Fit, or continue, the current model (what the Fit / Continue button does).

        A model never fitted runs the stages above. A fitted one continues: the stages a Stop left,
        or, when its plan is done, the stages above as more epochs. Invalid stages fit nothing.

        Args:
            wait: block until the fit ends (only matters for background fits).
        """
        if self.session.busy or self.fitting:
            raise CfnbError("A fit is already running.")
        run = self.session.current
        if run is None:
            raise CfnbError("No model to fit yet: choose one above and click Build.")
        left = [stage for _, stage in run.history.remaining()] if len(run.history) else []
        stages = None if left else parse_stages(self.stages)
        return self._start(run, stages, tuple(left or stages), wait)

    def start_over(self, wait: bool = False) -> StagedFit:
        """Fit a fresh copy of the current model (new initial weights) through the stages, as a new model."""
        if self.session.busy or self.fitting:
            raise CfnbError("A fit is already running.")
        old = self.session.current
        if old is None:
            raise CfnbError("No model to start over: choose one above and click Build.")
        parse_stages(self.stages)  # before adding a model that would then not be fitted
        self.session.add(fresh_copy(old.model, seed=self.seed), item_factors=old.item_factors,
                         item_bias=old.item_bias)
        return self.run(wait)

    def _start(self, run, stages, planned: tuple, wait: bool) -> StagedFit:
        batch_size, history = int(self.batch_size.value), run.history
        epochs = sum(s.epochs for s in planned)
        steps = math.ceil(len(self.session.train) / batch_size)
        live = _Live(self, history, steps)
        self._stop, self._stopping = threading.Event(), False
        self.progress.max, self.progress.value, self.progress.bar_style = epochs * steps, 0, "info"
        self.status.value = "starting…"
        self.say(f"Fitting {run.name}: {epochs} epoch(s) from epoch {len(history) + 1}, batch size {batch_size}.")
        self.session.set_busy(True)

        def fit():
            error, start = None, time.perf_counter()
            try:
                fit_stages(run.model, self.session.train, self.session.val, stages, batch_size=batch_size,
                           progress=False, callbacks=[live], history=history, stop=self._stop, seed=self.seed)
            except Exception as e:  # noqa: BLE001 - shown below, never lost in the thread
                error = e
            finally:
                engine = history.engine.name if history.engine is not None else "none"  # as fit_stages recorded it
                record = Fit(planned, batch_size, engine, "exact", time.perf_counter() - start)
                self.guard(self._finish)(run, record, live, error)

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
        self._stopping = True
        self.stop_button.disabled, self.stop_button.description = True, "Stopping…"
        self.status.value = "stopping after the current batch…"

    def find_lr(self):
        """fastai's learning-rate range test on a copy of the current model (what Find lr does).

        Plots the loss against the learning rate and sets stage 1's rate to the suggestion; the model,
        its weights and optimizer state are not changed.
        """
        if self.session.busy or self.fitting:
            raise CfnbError("A fit is running: find a learning rate when it ends.")
        run = self.session.current
        if run is None:
            raise CfnbError("No model yet: Build one first, then Find lr.")
        self.status.value = html.escape(f"finding a learning rate for {run.name}…")
        self.session.set_busy(True)
        try:
            result = lr_find(run.model, self.session.train, batch_size=int(self.batch_size.value), seed=self.seed)
        finally:
            self.session.set_busy(False)
        self.lr_plot.value = figure_html(result.figure(), fallback=False)
        self.lr_plot.layout.display = None
        if result.suggestion is None:
            self.status.value = html.escape(f"ready to fit {run.name}" if not len(run.history) else
                                            self._state_line(run, run.name))
            self.say(f"No learning rate to suggest: {result.reason}", "error")
            return result
        rate = float(f"{result.suggestion:.2g}")
        self.stage_list.set_rate(0, rate)
        others = ", ".join(f"{k} {v:.1e}" for k, v in result.suggestions.items() if k != "valley")
        self.status.value = html.escape(f"ready to fit {run.name}" if not len(run.history) else
                                        self._state_line(run, run.name))
        self.say(f"Suggested learning rate {rate:.1e} (fastai's valley; {others}): set as stage 1's rate.", "ok")
        return result

    def _finish(self, run, record: Fit, live: _Live, error):
        history = run.history
        try:
            if error is not None:
                self.progress.bar_style = "danger"
                self.show_error(error)
            done = error is None and not history.interrupted
            if done:
                self.progress.value = self.progress.max
            self.progress.bar_style = "success" if done else ("warning" if error is None else "danger")
        finally:
            self.session.set_busy(False)
        if len(history) > live.first:
            self.session.record(run, record)
        if len(history):
            self._plot(history)
        state = "done" if done else ("stopped" if error is None else "failed")
        self.status.value = html.escape(self._state_line(run, state))
        if error is None:
            self.say(self._next_step(run, state), "ok" if done else "info")

    def _state_line(self, run, state: str) -> str:
        h = run.history
        total = sum(s.epochs for s in h.stages) if h.stages else len(h)
        rmse = f" · val RMSE {h.val_rmse:.4f}" if len(h) else ""
        return f"{state}: {len(h)}/{total} epochs · fit time {run.seconds:.1f} s{rmse}"

    def _next_step(self, run, state: str) -> str:
        h = run.history
        left = sum(s.epochs for _, s in h.remaining())
        go_on = (f"Continue runs the {left} epoch(s) left on the same weights" if left else
                 f"Continue fits the stages above as more epochs, from epoch {len(h) + 1}")
        return f"{run.name} {state} after {len(h)} epoch(s). {go_on}; Start over fits a fresh copy."

    def _show_progress(self, live: _Live):
        if self._stopping:
            return  # "stopping…" stays up until the fit ends
        self.progress.value = min(live.epochs * live.steps + live.batch, self.progress.max)
        history = live.history
        total = sum(s.epochs for s in history.stages)
        epoch = min(len(history) + (0 if live.batch == 0 else 1), total) or 1
        number, stage = stage_at(history, epoch)
        text = f"stage {number}/{len(history.stages)} (lr {stage.lr:.0e}) · epoch {epoch}/{total}"
        if len(history):
            row = history.rows[-1]
            text += f" · loss {row['loss']:.4f} · val RMSE {row['val_rmse']:.4f}"
        self.status.value = html.escape(text)

    def _show_epoch(self, live: _Live):
        self._show_progress(live)
        if len(live.history):
            self._plot(live.history)

    def _plot(self, history: StagedHistory):
        with warnings.catch_warnings():  # a layout warning would land in whichever cell runs next
            warnings.simplefilter("ignore", UserWarning)
            self.curve.value = history_html(history, fallback=False)
        self.curve.layout.display = None

    def _reset(self):
        """Another model is current: its stages (if not edited), curve, state and buttons."""
        run = self.session.current
        if not self.stage_list.edited:
            self.stage_list.set(lesson_stages(self._kind()))
        self.progress.value, self.progress.bar_style = 0, ""
        self.say("")
        if run is not None and len(run.history):
            self._plot(run.history)
            self.status.value = html.escape(self._state_line(run, run.name))
        else:
            self.curve.layout.display = "none"
            self.status.value = html.escape(f"ready to fit {run.name}" if run else "Build a model, then Fit.")
        self._lock()

    def _lock(self):
        busy, run = self.session.busy, self.session.current
        fitted = run is not None and len(run.history) > 0
        for widget in (self.fit_button, self.batch_size, self.lr_button):
            widget.disabled = busy
        self.stage_list.lock(busy)
        self.start_over_button.disabled = busy or not fitted
        self.fit_button.description = "Continue" if fitted else "Fit"
        if not busy:
            self.stop_button.description = "Stop"
        self.stop_button.disabled = not busy or self._stopping
