"""Staged fits: learning rate per stage, one history across stages, clean interruption."""

import threading

import keras
import numpy as np
import pytest

import cfnb
from cfnb.training import current_lr


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
    assert history.val_rmse == pytest.approx(cfnb.evaluate(model, val)["rmse"], rel=1e-4)
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
