"""Staged fits: learning rate per stage, one history across stages, clean interruption."""

import threading

import keras
import numpy as np
import pytest

import cfnb
from helpers import raw_rmse
from cfnb.training.fit import current_lr


class LrSpy(keras.callbacks.Callback):
    """Reads the optimizer's learning rate at every batch."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(current_lr(self.model))


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after `n` batches, as Ctrl-C in a notebook would."""

    def __init__(self, n):
        super().__init__()
        self.n, self.count = n, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.count == self.n:
            raise KeyboardInterrupt


def test_learning_rate_in_effect_per_stage(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    spy = LrSpy()
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1), (1e-3, 1)], batch_size=256,
                              progress=False, callbacks=[spy])
    steps = int(np.ceil(len(train) / 256))
    assert len(spy.seen) == 2 * steps
    np.testing.assert_allclose(spy.seen[:steps], 1e-2, rtol=1e-6)
    np.testing.assert_allclose(spy.seen[steps:], 1e-3, rtol=1e-6)
    np.testing.assert_allclose(history.to_frame()["lr"], [1e-2, 1e-3], rtol=1e-6)


def test_history_spans_stages(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2), (1e-3, 1)], batch_size=128, progress=False)
    frame = history.to_frame()
    assert list(frame.columns) == ["stage", "epoch", "lr", "loss", "val_loss", "val_rmse", "seconds"]
    assert frame["stage"].tolist() == [1, 1, 2]
    assert frame["epoch"].tolist() == [1, 2, 3]
    assert (frame["seconds"] > 0).all()
    assert history.val_rmse == pytest.approx(raw_rmse(model, val), rel=1e-4)
    assert history._repr_png_().startswith(b"\x89PNG")


def test_fit_learns_planted_structure(small):
    train, val = small.split(seed=2)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=5, l2=1e-5)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 6)], batch_size=64, progress=False, seed=0)
    mean_rmse = float(np.sqrt(np.mean((val.y - train.y.mean()) ** 2)))
    assert history.val_rmse < 0.9 * mean_rmse


def test_keyboard_interrupt_keeps_weights_and_history(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    before = model.get_layer("movie_factors").get_weights()[0].copy()
    steps = int(np.ceil(len(train) / 64))
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2), (1e-3, 2)], batch_size=64, progress=False,
                              callbacks=[InterruptAt(steps + 5)])
    assert history.interrupted
    assert len(history.to_frame()) == 1  # the first epoch finished, the second was cut short
    after = model.get_layer("movie_factors").get_weights()[0]
    assert not np.allclose(before, after)
    assert np.isfinite(cfnb.evaluate(model, val)["rmse"])


def test_stop_event_ends_fit(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    stop = threading.Event()
    stop.set()
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 3), (1e-3, 3)], progress=False, stop=stop)
    assert history.interrupted
    assert len(history) <= 1


@pytest.mark.parametrize("stages", [[], [(0, 1)], [(1e-3, 0)], [(-1, 2)], [("x", 1)], [(1e-3, 1.5)]])
def test_bad_stages_are_rejected_before_fitting(small, stages):
    model = cfnb.build_model("dot", small.n_users, small.n_items)
    with pytest.raises(cfnb.CfnbError, match="(?i)stage"):
        cfnb.fit_stages(model, small, stages=stages, progress=False)
    assert not model.compiled


def test_terminal_progress_prints_a_line_per_epoch(small, capsys):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=512, progress="terminal")
    err = capsys.readouterr().err
    assert "stage 1" in err and "val_rmse" in err and "100%" in err


class StopAt(keras.callbacks.Callback):
    """Sets a stop event after `n` batches, as the widgets' Stop button does."""

    def __init__(self, n, event):
        super().__init__()
        self.n, self.event, self.count = n, event, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.count == self.n:
            self.event.set()


def test_history_continues_the_remaining_stages_on_the_same_weights_and_optimizer(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4, seed=0)
    steps = int(np.ceil(len(train) / 256))
    stop = threading.Event()
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2), (1e-3, 2)], batch_size=256, progress=False,
                              stop=stop, callbacks=[StopAt(steps + 3, stop)])
    assert history.interrupted and history.to_frame()["epoch"].tolist() == [1, 2]  # the second cut short
    assert history.remaining() == [(2, cfnb.Stage(1e-3, 2))]
    stopped_weights = [w.copy() for w in model.get_weights()]
    optimizer, steps_taken = model.optimizer, int(model.optimizer.iterations)
    assert steps < steps_taken <= 2 * steps  # (the fast engine hears Stop at the end of a chunk of steps)

    spy = LrSpy()
    again = cfnb.fit_stages(model, train, val, history=history, batch_size=256, progress=False, callbacks=[spy])
    assert again is history and not history.interrupted and history.remaining() == []
    frame = history.to_frame()
    assert frame["stage"].tolist() == [1, 1, 2, 2] and frame["epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(frame["lr"], [1e-2, 1e-2, 1e-3, 1e-3], rtol=1e-6)
    np.testing.assert_allclose(spy.seen, 1e-3, rtol=1e-6)
    # The same optimizer went on counting its steps (Adam's moments and step count were not reset).
    assert model.optimizer is optimizer and int(optimizer.iterations) == steps_taken + 2 * steps
    assert len(spy.seen) == 2 * steps
    assert any(not np.array_equal(a, b) for a, b in zip(stopped_weights, model.get_weights()))

    with pytest.raises(cfnb.CfnbError, match="ran all its 2 planned stage"):
        cfnb.fit_stages(model, train, val, history=history, progress=False)
    cfnb.fit_stages(model, train, val, stages=[(1e-4, 1)], history=history, batch_size=256, progress=False)
    assert history.to_frame()["stage"].tolist()[-1] == 3 and history.to_frame()["epoch"].tolist()[-1] == 5
    assert history.stages == [cfnb.Stage(1e-2, 2), cfnb.Stage(1e-3, 2), cfnb.Stage(1e-4, 1)]


def test_new_stages_after_a_stop_replace_what_was_left(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4, seed=0)
    stop = threading.Event()
    stop.set()  # stops in the first batch: one (short) epoch of stage 1 recorded
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 3), (1e-3, 3)], batch_size=256,
                              progress=False, stop=stop)
    assert len(history) == 1 and history.remaining()[0] == (1, cfnb.Stage(1e-2, 2))
    cfnb.fit_stages(model, train, val, stages=[(5e-3, 1)], history=history, batch_size=256, progress=False)
    assert history.stages == [cfnb.Stage(1e-2, 1), cfnb.Stage(5e-3, 1)] and history.remaining() == []
    assert history.to_frame()[["stage", "epoch"]].values.tolist() == [[1, 1], [2, 2]]


def test_without_stages_a_new_history_runs_the_lessons(small):
    train, _ = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2)
    history = cfnb.fit_stages(model, train, batch_size=1024, progress=False)
    assert history.stages == [cfnb.Stage(*s) for s in cfnb.LESSON_STAGES]
    assert history.to_frame()["stage"].tolist() == [1] * 4 + [2] * 4
