"""The callbacks `fit_stages` adds to every fit (the history's rows, Stop and Ctrl-C, the checkpoint
that Ctrl-C falls back to), and the guard around the learner's own callbacks."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import keras
import numpy as np

from cfnb.errors import CallbackError
from cfnb.training.stages import StagedHistory

class Recorder(keras.callbacks.Callback):
    """Append one history row per epoch, reading the learning rate actually in effect."""

    def __init__(self, history: StagedHistory, stage: int, first_epoch: int):
        super().__init__()
        self.history, self.stage, self.first_epoch = history, stage, first_epoch
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.history.rows.append({
            "stage": self.stage, "epoch": self.first_epoch + epoch + 1,
            "lr": current_lr(self.model),
            "loss": float(logs.get("loss", np.nan)), "val_loss": float(logs.get("val_loss", np.nan)),
            "val_rmse": float(logs.get("val_rmse", np.nan)), "seconds": time.perf_counter() - self._start,
        })


class StopWhen(keras.callbacks.Callback):
    """Stop training after the current batch once any of `events` is set (Stop button, Ctrl-C)."""

    def __init__(self, *events: threading.Event):
        super().__init__()
        self.events = events

    def on_train_batch_end(self, batch, logs=None):
        if any(event.is_set() for event in self.events):
            self.model.stop_training = True


@contextlib.contextmanager
def ctrl_c_stops(event: threading.Event):
    """In the main thread, a first Ctrl-C sets `event` (stop after the current batch, no exception
    inside Keras or TensorFlow); a second one raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Checkpoint(keras.callbacks.Callback):
    """The model and optimizer state at the end of the last recorded epoch, to fall back to on Ctrl-C.

    A KeyboardInterrupt can land anywhere (mid-batch, mid-update, during validation); restoring this
    copy makes the weights match the history's last row exactly, so a later `fit_stages(...,
    history=history)` continues from a consistent state. A host-side copy per epoch is cheap next
    to the epoch itself.
    """

    def __init__(self, model: keras.Model, history: StagedHistory):
        super().__init__()
        self._cfnb_model, self.history = model, history
        self.take()

    def take(self):
        """Copy the state, then keep it with the row count in one step: an interrupt landing mid-copy
        leaves the previous state with its own count (and `restore` then sees the newer row)."""
        rows = len(self.history.rows)
        weights = self._cfnb_model.get_weights()
        slots = [np.array(keras.ops.convert_to_numpy(v)) for v in self._cfnb_model.optimizer.variables]
        self.state = (rows, weights, slots)

    @property
    def slots(self) -> list:
        """The optimizer variables' values, as last copied."""
        return self.state[2]

    def on_epoch_end(self, epoch, logs=None):
        self.take()

    def restore(self) -> None:
        """Put back the last epoch's state, unless a row was recorded after it (then the weights match)."""
        rows, weights, slots = self.state
        if len(self.history.rows) != rows:
            return
        self._cfnb_model.set_weights(weights)
        variables = self._cfnb_model.optimizer.variables
        if len(variables) == len(slots):
            for variable, value in zip(variables, slots):
                variable.assign(value)


def current_lr(model: keras.Model) -> float:
    """The learning rate the model's optimizer will use for its next step."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class Guarded(keras.callbacks.Callback):
    """A learner's callback, called through: an error it raises (not a KeyboardInterrupt, which stops the
    fit as Ctrl-C does) becomes a `CallbackError` naming it (`label`) and the hook."""

    def __init__(self, inner: keras.callbacks.Callback, label: str):
        super().__init__()
        self.inner, self.label = inner, label

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)


def _guard(hook: str):
    def call(self, *args, **kwargs):
        try:
            return getattr(self.inner, hook)(*args, **kwargs)
        except (KeyboardInterrupt, CallbackError):
            raise
        except Exception as error:
            raised = CallbackError(
                f"{self.label}.{hook} raised {type(error).__name__}: {error}. The fit stopped there; the model "
                "holds the weights of the history's last row, and the error's .history is the fit so far (pass "
                "it as history= to go on once the callback is fixed).")
            raised.original = error  # Keras's traceback filter drops __cause__ on the way out of model.fit
            raise raised from error
    call.__name__ = hook
    return call


for _hook in _HOOKS:
    setattr(Guarded, _hook, _guard(_hook))


def guarded(callbacks) -> tuple:
    """Each of the learner's `callbacks` (already checked to be Keras callbacks) in a `Guarded`."""
    return tuple(Guarded(c, f"callbacks[{k}] ({type(c).__name__})") for k, c in enumerate(callbacks))
