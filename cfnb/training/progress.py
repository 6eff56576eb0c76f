"""Progress of a staged fit: a live bar and plot in a notebook, a plain line in a terminal."""

from __future__ import annotations

import sys
import time

import keras

from cfnb.display.history import history_html


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where widgets can show)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_progress(progress, history, total_epochs: int, steps_per_epoch: int):
    """The progress callback asked for: "auto", "notebook", "terminal", or None/False for none."""
    if progress in (None, False):
        return None
    if progress == "auto":
        progress = "notebook" if in_notebook() else "terminal"
    if progress == "notebook":
        return NotebookProgress(history, total_epochs, steps_per_epoch)
    if progress == "terminal":
        return TerminalProgress(history, total_epochs, steps_per_epoch)
    raise ValueError(f"progress must be 'auto', 'notebook', 'terminal' or False, got {progress!r}.")


class _Progress(keras.callbacks.Callback):
    """Counts steps and epochs over all stages of one `fit_stages` call."""

    def __init__(self, history, total_epochs, steps_per_epoch, every=0.2):
        super().__init__()
        self.history, self.total_epochs, self.steps = history, total_epochs, steps_per_epoch
        self.total = total_epochs * steps_per_epoch
        self.done_epochs, self.step, self.every, self._last = 0, 0, every, 0.0
        self.first_row = len(history.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self.step = self.done_epochs * self.steps

    def on_train_batch_end(self, batch, logs=None):
        self.step = self.done_epochs * self.steps + batch + 1
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.update(logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.done_epochs += 1
        self.step = self.done_epochs * self.steps
        self.update(logs or {}, epoch_end=True)

    def text(self, logs) -> str:
        row = self.history.rows[-1] if len(self.history.rows) > self.first_row else None
        parts = [f"epoch {min(self.done_epochs + 1, self.total_epochs)}/{self.total_epochs}"]
        if row:
            parts[0] = f"stage {row['stage']} · epoch {self.done_epochs}/{self.total_epochs}"
            parts.append(f"loss {row['loss']:.4f}")
            if row["val_rmse"] == row["val_rmse"]:
                parts.append(f"val_rmse {row['val_rmse']:.4f}")
        elif "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        return "  ".join(parts)

    def update(self, logs, epoch_end=False):
        raise NotImplementedError

    def close(self):
        pass


class TerminalProgress(_Progress):
    """A plain progress line on stderr, rewritten in place on a terminal; one line kept per epoch."""

    def update(self, logs, epoch_end=False):
        if not epoch_end and not sys.stderr.isatty():
            return  # logs and pipes get one line per epoch, not a stream of carriage returns
        frac = self.step / max(self.total, 1)
        bar = "#" * int(frac * 20)
        sys.stderr.write(f"\r[{bar:<20}] {frac:4.0%}  {self.text(logs)}   ")
        if epoch_end:
            sys.stderr.write("\n")
        sys.stderr.flush()


class NotebookProgress(_Progress):
    """A live progress bar over all stages and a learning-curve plot redrawn each epoch."""

    def __init__(self, history, total_epochs, steps_per_epoch):
        super().__init__(history, total_epochs, steps_per_epoch)
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.IntProgress(value=0, min=0, max=max(self.total, 1), description="Fitting",
                                 bar_style="info", layout=w.Layout(width="60%"))
        self.label = w.HTML("starting…")
        self.plot = w.Output()
        self.box = w.VBox([w.HBox([self.bar, self.label]), self.plot])
        display(self.box)

    def update(self, logs, epoch_end=False):
        self.bar.value = min(self.step, self.bar.max)
        self.label.value = self.text(logs)
        if epoch_end and len(self.history.rows) > 0:
            from IPython.display import HTML, display
            with self.plot:  # a live widget view: theme-following SVG, no PNG copy needed
                self.plot.clear_output(wait=True)
                display(HTML(history_html(self.history, fallback=False)))

    def close(self):
        done = self.step >= self.total
        self.bar.bar_style = "success" if done else "warning"
        self.bar.description = "Done" if done else "Stopped"
