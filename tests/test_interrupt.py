"""Ctrl-C or Stop at any point of fit_stages leaves a usable model whose weights match the history,
and a second fit_stages(..., history=history) continues from there.

These tests use only fit_stages's public surface (Keras callbacks, the stop event, a real SIGALRM
turned into KeyboardInterrupt), so they keep guarding whatever training loop runs inside.
"""

import math
import os
import signal
import threading
import time

import keras
import numpy as np
import pytest

import cfnb

BATCH = 128
STAGES = [(1e-2, 2), (1e-3, 2)]


@pytest.fixture(params=["auto", "keras"])
def engine(request):
    """Both trainers behind fit_stages: the default (fast where it can) and Keras's model.fit."""
    return request.param


@pytest.fixture(scope="module")
def data(small):
    return small.split(seed=7)


def steps(train):
    return math.ceil(len(train) / BATCH)


class At(keras.callbacks.Callback):
    """Runs `action` at the n-th call of the Keras hook `hook` (on_train_batch_end, on_test_batch_end...)."""

    def __init__(self, hook, n, action):
        super().__init__()
        self.hook, self.n, self.action, self.count, self.fired = hook, n, action, 0, False

    def __getattribute__(self, name):
        if name == object.__getattribute__(self, "hook"):
            return object.__getattribute__(self, "_tick")
        return object.__getattribute__(self, name)

    def _tick(self, *args, **kwargs):
        self.count += 1
        if self.count == self.n and not self.fired:
            self.fired = True
            self.action()


def ctrl_c():
    raise KeyboardInterrupt


def fresh(small):
    keras.utils.set_random_seed(0)
    return cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)


def assert_consistent(model, history, train, val, exact_steps=True):
    """The history's last row describes the weights in the model, and the optimizer agrees."""
    frame = history.to_frame()
    assert frame["epoch"].tolist() == list(range(1, len(frame) + 1))
    assert frame["stage"].is_monotonic_increasing
    pred = cfnb.predict(model, train, train.user_ids[:5], train.item_ids[:5], unknown="fallback")
    assert np.isfinite(pred).all()  # usable
    if len(frame):  # the history's val_rmse scores the raw model output on every val rating
        raw = model.predict(val.x, verbose=0).reshape(-1)
        assert np.sqrt(np.mean((raw - val.y) ** 2)) == pytest.approx(history.val_rmse, rel=1e-4, abs=1e-5)
    if exact_steps:  # Ctrl-C rolls back to the end of the last recorded (whole) epoch
        assert int(model.optimizer.iterations.numpy()) == len(frame) * steps(train)


def assert_continues(model, history, train, val):
    before = len(history)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], batch_size=BATCH, progress=False,
                              history=history)
    assert not history.interrupted
    assert len(history) == before + 1
    assert_consistent(model, history, train, val, exact_steps=False)


CTRL_C_POINTS = {
    # where: (hook, n-th call, rows recorded when it lands)
    "first batch": ("on_train_batch_end", 1, 0),
    "mid epoch 2": ("on_train_batch_end", "steps+3", 1),
    "during validation": ("on_test_batch_end", "val+1", 1),  # first batch of epoch 2's validation
    "after an epoch is recorded": ("on_epoch_end", 1, 1),
    "between stages": ("on_train_begin", 2, 2),
    "last batch": ("on_train_batch_end", "4*steps", 3),
}


@pytest.mark.parametrize("where", list(CTRL_C_POINTS))
def test_ctrl_c_anywhere_leaves_weights_matching_the_history(small, data, where, engine):
    train, val = data
    hook, n, rows = CTRL_C_POINTS[where]
    n_val = math.ceil(len(val) / BATCH)
    n = eval(n, {"steps": steps(train), "val": n_val}) if isinstance(n, str) else n
    model = fresh(small)
    initial = model.get_weights()
    spy = At(hook, n, ctrl_c)
    history = cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, callbacks=[spy],
                              engine=engine)
    assert spy.fired, f"{hook} was never called {n} times: the interrupt did not happen"
    assert history.interrupted
    assert len(history) == rows
    assert_consistent(model, history, train, val)
    if rows == 0:
        for a, b in zip(initial, model.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert_continues(model, history, train, val)


STOP_POINTS = {
    # where: (hook, n-th call, rows recorded: the short epoch counts as a row)
    "mid epoch 2": ("on_train_batch_end", "steps+3", {2}),
    "during validation": ("on_test_batch_end", "val+1", {2, 3}),  # end of stage 1: stop there, or 1 batch on
    "between stages": ("on_epoch_end", 2, {2, 3}),
}


@pytest.mark.parametrize("where", list(STOP_POINTS))
def test_stop_anywhere_records_the_short_epoch_and_continues(small, data, where, engine):
    train, val = data
    hook, n, rows = STOP_POINTS[where]
    n = eval(n, {"steps": steps(train), "val": math.ceil(len(val) / BATCH)}) if isinstance(n, str) else n
    model = fresh(small)
    stop = threading.Event()
    spy = At(hook, n, stop.set)
    history = cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, stop=stop,
                              callbacks=[spy], engine=engine)
    assert spy.fired and history.interrupted
    assert len(history) in rows
    assert_consistent(model, history, train, val, exact_steps=False)
    assert_continues(model, history, train, val)


def test_real_ctrl_c_at_random_moments(small, data, engine):
    """A real SIGINT (what Ctrl-C and JupyterLab's "Interrupt kernel" send) at random moments of the
    fit stops it after the current batch: no exception lands inside Keras or TensorFlow."""
    train, val = data
    stray = []
    previous = signal.signal(signal.SIGINT, lambda *_: stray.append(1))  # one landing after a fit
    try:
        model = fresh(small)
        start = time.perf_counter()
        cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, engine=engine)
        full = time.perf_counter() - start
        rng = np.random.default_rng(0)
        for delay in sorted(rng.uniform(0.02, full, 3)):
            model = fresh(small)
            timer = threading.Timer(float(delay), os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            history = cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False,
                                      engine=engine)
            timer.join()
            assert_consistent(model, history, train, val, exact_steps=False)
        assert_continues(model, history, train, val)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_second_ctrl_c_raises_at_once_and_rolls_back(small, data, engine):
    """Ctrl-C twice: the second is a KeyboardInterrupt, and the model goes back to the last recorded epoch."""
    train, val = data
    model = fresh(small)

    def twice():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    history = cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, engine=engine,
                              callbacks=[At("on_train_batch_end", steps(train) + 2, twice)])
    assert history.interrupted
    assert len(history) == 1
    assert_consistent(model, history, train, val, exact_steps=True)
    assert_continues(model, history, train, val)


def test_ctrl_c_while_an_epoch_is_being_saved_keeps_history_and_weights_in_step(small, data, engine):
    """Issue 19, class 13: a KeyboardInterrupt landing inside the end-of-epoch copy of the weights (after
    the epoch's row was recorded) put back the epoch before's weights, so the history's last val_rmse
    described other weights than the model's. Failed before."""
    train, val = data
    model = fresh(small)
    real, calls = model.get_weights, []

    def get_weights():  # 1: the copy at the start, 2: end of epoch 1, 3: end of epoch 2
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real()

    model.get_weights = get_weights
    history = cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, engine=engine)
    del model.get_weights
    assert history.interrupted and len(history) == 2
    assert_consistent(model, history, train, val)


class Raises(keras.callbacks.Callback):
    """A learner's callback with a bug: raises at the n-th call of `hook`."""

    def __init__(self, hook, n):
        super().__init__()
        self.hook, self.n, self.count = hook, n, 0
        setattr(self, hook, self._tick)

    def _tick(self, *args, **kwargs):
        self.count += 1
        if self.count == self.n:
            raise ZeroDivisionError("my bug")


@pytest.mark.parametrize("hook, n, rows", [("on_train_batch_end", "steps+3", 1), ("on_epoch_end", 2, 2),
                                           ("on_test_batch_end", 1, 0)])
def test_a_callback_that_raises_is_named_and_no_work_is_lost(small, data, engine, hook, n, rows):
    """Issue 19, class 6: a callback's own error escaped fit_stages as it was, with the history lost and
    the weights mid-epoch. Now: a CallbackError naming the callback and the hook, carrying the history,
    whose last row describes the model's weights. Failed before."""
    train, val = data
    n = eval(n, {"steps": steps(train)}) if isinstance(n, str) else n
    model = fresh(small)
    with pytest.raises(cfnb.errors.CallbackError, match=rf"callbacks\[1\] \(Raises\).*{hook}.*ZeroDivisionError: "
                                                        "my bug") as caught:
        cfnb.fit_stages(model, train, val, stages=STAGES, batch_size=BATCH, progress=False, engine=engine,
                        callbacks=[keras.callbacks.Callback(), Raises(hook, n)])
    history = caught.value.history
    assert isinstance(caught.value.original, ZeroDivisionError)
    assert history.interrupted and len(history) == rows
    assert_consistent(model, history, train, val)
    assert_continues(model, history, train, val)
