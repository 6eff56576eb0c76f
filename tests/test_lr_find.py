"""cfnb.lr_find: fastai's learning-rate range test on a copy; the model itself does not change."""

import keras
import numpy as np
import pytest

import cfnb
from cfnb.errors import ArgumentError
from cfnb.training.lr_finder import BETA, LRFind, _valley, suggest, why_no_suggestion


@pytest.fixture(scope="module")
def data():
    ratings = cfnb.synthetic(n_users=120, n_items=150, n_ratings=12000, seed=1)
    return ratings.split(0.2, seed=1)


def state(model):
    """Weights and optimizer variables, as numpy copies."""
    weights = [np.array(w) for w in model.get_weights()]
    optimizer = getattr(model, "optimizer", None)
    slots = [np.array(keras.ops.convert_to_numpy(v)) for v in optimizer.variables] if optimizer is not None else []
    return weights, slots


def assert_bitwise_equal(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert len(a[0]) == len(b[0]) and len(a[1]) == len(b[1])


def test_range_test_on_a_fresh_model(data):
    train, _ = data
    model = cfnb.build_model("bias", train.n_users, train.n_items, seed=0)
    before = state(model)
    result = cfnb.lr_find(model, train, steps=200, seed=0)
    assert isinstance(result, LRFind)
    assert_bitwise_equal(before, state(model))
    assert not getattr(model, "compiled", False)  # not compiled behind the user's back
    assert 10 <= len(result.lrs) <= 200 and len(result.losses) == len(result.lrs) == len(result.raw_losses)
    assert result.lrs[0] == pytest.approx(1e-6)
    assert np.all(np.diff(np.log(result.lrs)) == pytest.approx(np.log(1e6) / 199))  # exponential schedule
    assert 1e-6 <= result.suggestion <= 1.0
    assert set(result.suggestions) == {"valley", "steep", "minimum"}
    assert all(1e-7 <= v <= 1.0 for v in result.suggestions.values())
    frame = result.to_frame()
    assert list(frame.columns) == ["lr", "loss", "raw_loss"] and len(frame) == len(result.lrs)
    # fastai's debiased exponential smoothing of the raw losses
    avg, expect = 0.0, []
    for k, loss in enumerate(result.raw_losses):
        avg = BETA * avg + (1 - BETA) * loss
        expect.append(avg / (1 - BETA ** (k + 1)))
    np.testing.assert_allclose(result.losses, expect, rtol=1e-6)
    assert "suggestion" in repr(result)


def test_stops_when_the_loss_diverges(data):
    train, _ = data
    model = cfnb.build_model("dot", train.n_users, train.n_items, seed=0)
    result = cfnb.lr_find(model, train, start_lr=1e-3, end_lr=1e3, steps=300, seed=0)
    assert result.diverged and len(result.lrs) < 300
    assert result.losses[-1] > 4 * result.losses.min() or not np.isfinite(result.losses[-1])


def test_the_suggestion_is_a_rate_that_trains(data):
    """A fresh model trained one epoch at the suggested rate ends far lower than at the start rate."""
    train, val = data
    result = cfnb.lr_find(cfnb.build_model("bias", train.n_users, train.n_items, seed=0), train, seed=0)

    def one_epoch(lr):
        model = cfnb.build_model("bias", train.n_users, train.n_items, seed=0)
        start = cfnb.evaluate(model, val)["rmse"]
        cfnb.fit_stages(model, train, val, stages=[(lr, 1)], progress=False, seed=0)
        return start, cfnb.evaluate(model, val)["rmse"]

    start, at_suggestion = one_epoch(result.suggestion)
    _, at_start_lr = one_epoch(1e-6)
    assert at_suggestion < 0.8 * start
    assert at_suggestion < at_start_lr - 0.5


def test_a_fitted_model_keeps_its_weights_and_optimizer_state(data):
    train, val = data
    model = cfnb.build_model("nn", train.n_users, train.n_items, seed=0)
    cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False, seed=0)
    before = state(model)
    assert len(before[1]) > 2 and int(before[1][0]) > 0  # Adam has taken steps and holds moments
    lr_before = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    result = cfnb.lr_find(model, train, steps=60, seed=0)
    assert_bitwise_equal(before, state(model))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == lr_before
    # the model still fits on as before (its optimizer was not swapped or rebuilt)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False, seed=0)
    assert len(history) == 1 and np.isfinite(history.val_rmse)
    assert result.suggestion > 0


def test_the_copy_starts_from_the_models_weights_and_optimizer_state(data):
    """The first batch of the range test on a trained model has its low loss, not a fresh model's."""
    train, val = data
    model = cfnb.build_model("bias", train.n_users, train.n_items, seed=0)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 3)], progress=False, seed=0)
    fresh = cfnb.lr_find(cfnb.build_model("bias", train.n_users, train.n_items, seed=0), train, steps=20, seed=0)
    trained = cfnb.lr_find(model, train, steps=20, seed=0)
    assert trained.raw_losses[0] < 0.5 * fresh.raw_losses[0]


def test_same_seed_same_result(data):
    train, _ = data
    runs = [cfnb.lr_find(cfnb.build_model("dot", train.n_users, train.n_items, seed=0), train, steps=40, seed=3)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].raw_losses, runs[1].raw_losses)


def test_plot_and_notebook_display(data):
    train, _ = data
    result = cfnb.lr_find(cfnb.build_model("dot", train.n_users, train.n_items, seed=0), train, steps=30, seed=0)
    html = result._repr_html_()
    assert "<svg" in html and "currentColor" in html
    assert result._repr_png_()[:4] == b"\x89PNG"
    ax = result.figure().axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning rate"


def fastai_valley(losses):
    """fastai's `valley` loop (fastai/callback/schedule.py), written out as it is there."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_valley_is_fastais_rule():
    # the longest decreasing subsequence runs from 5.1 (index 1) to 1.65 (index 12): 12 points;
    # fastai's start is one before it (index 0), and the suggestion is 1/3 + 1/6 of the way: 0 + 4 + 2
    losses = np.array([5.0, 5.1, 5.0, 4.8, 4.5, 4.0, 3.4, 2.8, 2.3, 2.0, 1.8, 1.7, 1.65, 2.0, 3.0])
    assert _valley(losses) == fastai_valley(losses) == 6
    rng = np.random.default_rng(0)
    for _ in range(200):
        noisy = np.cumsum(rng.normal(0, 1, rng.integers(2, 60)))
        assert _valley(noisy) == fastai_valley(list(noisy))
    lrs = np.logspace(-6, 0, len(losses))
    s = suggest(lrs, losses, steps=len(losses))
    # like fastai, the first steps // 10 points and the last 5 are left out: indices 1..9 remain
    assert s["minimum"] == pytest.approx(lrs[9] / 10)  # fastai's "minimum": the lowest loss's rate / 10
    assert s["valley"] == lrs[1 + _valley(losses[1:10])]
    assert s["steep"] == lrs[1 + int(np.argmin(np.diff(losses[1:10]) / np.diff(np.log(lrs[1:10]))))]


@pytest.mark.parametrize("kwargs, match", [
    ({"start_lr": 0}, "start_lr must be in"), ({"end_lr": -1}, "end_lr must be in"),
    ({"start_lr": 1e-2, "end_lr": 1e-3}, "start_lr must be below end_lr"), ({"steps": 5}, "steps must be at least 10"),
    ({"batch_size": 0}, "batch_size must be at least 1"), ({"seed": -1}, "seed must be at least 0"),
    ({"steps": "many"}, "steps must be a whole number"),
])
def test_bad_arguments_are_named(data, kwargs, match):
    train, _ = data
    model = cfnb.build_model("dot", train.n_users, train.n_items)
    with pytest.raises(ArgumentError, match=match):
        cfnb.lr_find(model, train, **kwargs)


def test_bad_model_or_ratings(data):
    train, _ = data
    with pytest.raises(ArgumentError, match="model must be a Keras model"):
        cfnb.lr_find("bias", train)
    model = cfnb.build_model("dot", train.n_users, train.n_items)
    with pytest.raises(ArgumentError, match="train must be cfnb Ratings"):
        cfnb.lr_find(model, train.frame)
    with pytest.raises(ArgumentError, match="train has no ratings"):
        cfnb.lr_find(model, train.with_frame(train.frame.iloc[:0]))


def test_refuses_ratings_in_another_vocabulary(data):
    train, val = data
    model = cfnb.build_model("dot", train.n_users, train.n_items, seed=0)
    cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False, seed=0)  # binds its vocabulary
    frame = train.to_frame()
    frame["user"] = frame["user"].map(lambda u: f"u{u}")  # the same ratings, coded in another order
    foreign = cfnb.load_ratings(frame, user="user", item="item", rating="rating", duplicates="keep", scale=(0.5, 5))
    with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
        cfnb.lr_find(model, foreign)
    small = cfnb.build_model("dot", 5, 5)
    with pytest.raises(cfnb.VocabularyError, match="no embedding row"):
        cfnb.lr_find(small, train)


JAX_SCRIPT = """
import numpy as np, keras, cfnb
assert keras.backend.backend() == "jax"
r = cfnb.synthetic(n_users=60, n_items=80, n_ratings=3000, seed=0)
train, _ = r.split(0.2, seed=0)
model = cfnb.build_model("nn", r.n_users, r.n_items, seed=0)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
for k in range(3):  # a few steps, so that Adam holds a step count and moments
    model.train_on_batch({n: v[k * 64:(k + 1) * 64] for n, v in train.x.items()}, train.y[k * 64:(k + 1) * 64])
state = lambda: model.get_weights() + [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
before = state()
result = cfnb.lr_find(model, train, steps=40, seed=0)
after = state()
assert all(np.array_equal(a, b) for a, b in zip(before, after)) and 1e-6 <= result.suggestion <= 1
print("ok", len(result.lrs))
"""


def test_works_on_the_jax_backend():
    """Backend-neutral: the same range test on JAX, leaving a fitted model's state unchanged."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ok")


def smoothed(raw):
    """fastai's debiased smoothing, as lr_find applies it."""
    avg, out = 0.0, []
    for k, loss in enumerate(raw):
        avg = BETA * avg + (1 - BETA) * loss
        out.append(avg / (1 - BETA ** (k + 1)))
    return np.array(out)


def blow_up_at(raw, smooth):
    """Index of the first loss past the blow-up: not finite, or above 4x the best smoothed loss before it."""
    best = np.minimum.accumulate(np.r_[np.inf, smooth[:-1]])
    bad = ~np.isfinite(raw) | ~np.isfinite(smooth) | (raw > 4 * best) | (smooth > 4 * best)
    return int(np.argmax(bad)) if bad.any() else None


def test_a_loss_that_rises_from_the_first_rate_gives_no_suggestion_and_says_why():
    """Issue 19, class 8: failed before (the first rate, at which the loss was already going up, was suggested)."""
    raw = 1.3 ** np.arange(12)
    smooth = smoothed(raw)
    lrs = np.logspace(-2, 2, 250)[:len(raw)]
    s = suggest(lrs, smooth, steps=250, raw=raw)
    assert s == {"valley": None, "steep": None, "minimum": None}
    found = LRFind(lrs, smooth, raw, None, s, diverged=True, reason=why_no_suggestion(lrs, smooth, raw))
    assert "never went down" in found.reason and "start_lr" in found.reason
    assert "no suggestion" in repr(found)
    found.figure()  # plots without a suggestion to mark


@pytest.mark.parametrize("seed", range(20))
def test_suggestions_come_from_before_the_blow_up(seed):
    """Random curves that go down, then blow up (the raw loss first, the smoothed one a few batches later):
    every suggested rate is below the rate where the loss blew up."""
    rng = np.random.default_rng(seed)
    down = rng.integers(3, 40)
    raw = np.r_[np.linspace(1, 0.3, down) * rng.uniform(0.9, 1.1, down), 0.3 * rng.uniform(2, 20) ** np.arange(1, 8)]
    smooth = smoothed(raw)
    at = blow_up_at(raw, smooth)
    stop = at + int(np.argmax(smooth[at:] > 4 * smooth[:at].min())) if (smooth[at:] > 4 * smooth[:at].min()).any() \
        else len(raw) - 1
    lrs = np.logspace(-6, 0, 250)[:stop + 1]
    for name, lr in suggest(lrs, smooth[:stop + 1], steps=250, raw=raw[:stop + 1]).items():
        assert lr is None or lr < lrs[at], f"{name} {lr:g} is at or past the blow-up ({lrs[at]:g})"


def test_lr_find_that_diverges_at_once_says_why(data):
    """Issue 19, class 8: failed before (it suggested the very rate at which the loss blew up)."""
    train, _ = data
    model = cfnb.build_model("bias", train.n_users, train.n_items, seed=0)
    result = cfnb.lr_find(model, train, start_lr=1e3, end_lr=1e6, steps=100, seed=0)
    assert result.diverged
    assert result.suggestion is None and all(v is None for v in result.suggestions.values())
    assert "start_lr" in result.reason
    result.figure()


def test_the_lab_without_a_suggestion_says_why_and_keeps_stage_1(data, monkeypatch):
    """Issue 19, class 8: a range test whose loss never went down has no suggestion; the Lab's Fit panel
    says why and leaves stage 1's rate as it was."""
    import cfnb.widgets.fit as fit_widget

    lrs, raw = np.logspace(2, 3, 12), 1.3 ** np.arange(12)
    found = LRFind(lrs, raw, raw, None, {"valley": None, "steep": None, "minimum": None}, True,
                   why_no_suggestion(lrs, raw, raw))
    monkeypatch.setattr(fit_widget, "lr_find", lambda *args, **kwargs: found)
    lab = cfnb.Lab(data[0], stages=[(1e-3, 2)], batch_size=64, background=False)
    lab.builder.build()
    lab.fit.lr_button.click()
    assert lab.errors == [], lab.errors
    assert lab.fit.stages[0] == (1e-3, 2)
    assert "No learning rate to suggest: the loss never went down" in lab.fit.message.value
