"""The fast engines (cfnb.fast on TensorFlow, cfnb.fast_jax on JAX; whichever the run's backend has):
Keras's maths step for step, the lazy update's maths, the callback protocol, seeds, stops."""

import math
import threading

import keras
import numpy as np
import pytest

import cfnb
from helpers import raw_rmse
from cfnb.errors import CfnbError
from cfnb.training.engines import engine_class
from cfnb.training.engines.chunked import unsupported
from cfnb.training.recipes import ADAGRAD
from cfnb.training.fit import compile_model, current_lr


def twins(kind, small, optimizer="adam", **hp):
    """Two models with identical initial weights, compiled alike."""
    if kind == "nn":
        hp = {"dropout_in": 0.0, "dropout_hidden": 0.0, **hp}
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = cfnb.build_model(kind, small.n_users, small.n_items, n_factors=4, **hp)
        models.append(compile_model(model, 1e-2, optimizer=optimizer))
    return models


@pytest.mark.parametrize("kind", ["dot", "bias", "nn"])
@pytest.mark.parametrize("batch_size", [64, 100])  # 100 leaves a partial (padded) last batch
def test_exact_update_is_model_fit_step_for_step(small, kind, batch_size):
    train, val = small.split(seed=1)
    keras_model, fast_model = twins(kind, small)
    keras_model.fit(train.x, train.y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    engine_class()(fast_model, batch_size, update="exact").fit(train.x, train.y, epochs=2, shuffle=False)
    for a, b in zip(keras_model.get_weights(), fast_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)
    for a, b in zip(keras_model.optimizer.variables, fast_model.optimizer.variables):  # iterations, m, v
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6)


@pytest.mark.parametrize("kind, hp", [("dot", {}), ("bias", {"l2": 0.0}), ("nn", {})])  # l2 0: sparse gradients
@pytest.mark.parametrize("optimizer", ["adagrad", ADAGRAD])  # Keras's default accumulator (0.1), and 0
def test_exact_adagrad_is_model_fit_step_for_step(small, kind, hp, optimizer):
    train, _ = small.split(seed=1)
    keras_model, fast_model = twins(kind, small, optimizer=optimizer, **hp)
    keras_model.fit(train.x, train.y, batch_size=100, epochs=2, shuffle=False, verbose=0)
    engine_class()(fast_model, 100, update="exact").fit(train.x, train.y, epochs=2, shuffle=False)
    assert isinstance(fast_model.optimizer, keras.optimizers.Adagrad)
    for a, b in zip(keras_model.get_weights(), fast_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)
    for a, b in zip(keras_model.optimizer.variables, fast_model.optimizer.variables):  # iterations, accumulators
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=2e-6)


def test_bias_l2_and_y_range_match_too(small):
    train, _ = small.split(seed=1)
    keras_model, fast_model = twins("bias", small, bias_l2=1e-3, y_range=(0.5, 5.0))
    keras_model.fit(train.x, train.y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    engine_class()(fast_model, 64).fit(train.x, train.y, epochs=1, shuffle=False)
    for a, b in zip(keras_model.get_weights(), fast_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)


@pytest.mark.parametrize("optimizer", ["adam", ADAGRAD])
def test_lazy_update_touches_only_rows_in_the_batch(small, optimizer):
    train, _ = small.split(seed=1)
    one = {k: v[:64] for k, v in train.x.items()}
    touched = np.unique(one["movie_in"])
    for update, still in (("lazy", True), ("exact", False)):
        model = twins("dot", small, optimizer=optimizer)[0]
        before = model.get_layer("movie_factors").get_weights()[0].copy()
        engine_class()(model, 64, update=update).fit(one, train.y[:64], epochs=1, shuffle=False)
        after = model.get_layer("movie_factors").get_weights()[0]
        others = np.setdiff1d(np.arange(small.n_items), touched)
        assert np.array_equal(before[others], after[others]) == still
        assert not np.allclose(before[touched], after[touched])


def test_auto_engine_is_fast_and_validates_like_keras(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=64, progress=False, seed=0)
    assert model._cfnb_fast_engines  # auto chose the fast engine
    assert history.val_rmse == pytest.approx(raw_rmse(model, val), rel=1e-5)
    assert int(model.optimizer.iterations.numpy()) == 2 * math.ceil(len(train) / 64)


def test_per_step_hooks_see_each_stage_learning_rate(small):
    train, val = small.split(seed=1)
    seen = []
    spy = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(current_lr(spy.model)))
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1), (1e-3, 1)], batch_size=128, progress=False,
                    callbacks=[spy], engine="fast", update="lazy")
    steps = math.ceil(len(train) / 128)
    np.testing.assert_allclose(seen, [1e-2] * steps + [1e-3] * steps, rtol=1e-6)


@pytest.mark.parametrize("update", ["exact", "lazy"])
def test_same_seed_same_numbers(small, update):
    train, val = small.split(seed=1)
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(5)
        model = cfnb.build_model("nn", small.n_users, small.n_items, n_factors=4)  # with dropout
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=64, progress=False, seed=3,
                        engine="fast", update=update)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_second_call_continues_the_optimizer(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], batch_size=64, progress=False)
    momentum = [np.asarray(v).copy() for v in model.optimizer.variables[2:]]
    assert any(np.abs(m).sum() > 0 for m in momentum)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], batch_size=64, progress=False,
                              history=history)
    assert int(model.optimizer.iterations.numpy()) == 2 * math.ceil(len(train) / 64)
    assert history.to_frame()["stage"].tolist() == [1, 2]


def test_stop_and_ctrl_c_under_the_lazy_engine(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    stop = threading.Event()
    stop.set()
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 3)], progress=False, stop=stop,
                              engine="fast", update="lazy")
    assert history.interrupted and len(history) == 1

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 3)], progress=False, callbacks=[CtrlC()],
                              engine="fast", update="lazy", history=history)
    assert history.interrupted and len(history) == 2
    assert raw_rmse(model, val) == pytest.approx(history.val_rmse, rel=1e-5)


def test_models_the_engine_cannot_run_fall_back_or_refuse(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    assert "SGD" in unsupported(model)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False)  # auto: Keras's model.fit
    assert not getattr(model, "_cfnb_fast_engines", None)
    with pytest.raises(CfnbError, match="SGD"):
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, engine="fast")
    with pytest.raises(CfnbError, match="engine"):
        cfnb.fit_stages(model, train, val, progress=False, engine="turbo")
    with pytest.raises(CfnbError, match="update"):
        cfnb.fit_stages(model, train, val, progress=False, update="sparse")
    model.compile(optimizer=keras.optimizers.Adagrad(0.01, clipnorm=1.0), loss="mse")
    assert "Adagrad optimizer has options" in unsupported(model)


def test_fit_stages_compiles_with_the_optimizer_asked_for_and_keeps_it(small):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(0.05, 1)], progress=False, optimizer=ADAGRAD)
    assert type(model.optimizer) is keras.optimizers.Adagrad and model.optimizer.initial_accumulator_value == 0.0
    assert model._cfnb_fast_engines  # the fast engine runs Adagrad
    history = cfnb.fit_stages(model, train, val, stages=[(0.05, 1)], progress=False, optimizer="adagrad",
                              history=history)  # the same optimizer: goes on with its state
    assert len(history) == 2
    with pytest.raises(CfnbError, match="compiled with Adagrad, not Adam"):
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, optimizer="adam")
    assert len(history) == 2 and type(model.optimizer) is keras.optimizers.Adagrad


def test_recommended_recipe_fits(small):
    recipe = cfnb.recommended("bias")
    assert recipe["fit"]["update"] == "lazy" and recipe["build"]["y_range"] == (0.0, 5.5)
    assert recipe["fit"]["optimizer"] == {"class_name": "Adagrad", "config": {"initial_accumulator_value": 0.0}}
    train, val = small.split(seed=1)
    model, history = cfnb.recipes.fit_recipe(recipe, train, val, seed=0, stages=[(1e-2, 1)], batch_size=256)
    assert len(history) == 1 and np.isfinite(history.val_rmse)
    assert recipe["fit"]["optimizer"]["class_name"] == "Adagrad"  # unchanged (Keras rewrites config dicts it is given)
    assert "y_range" in cfnb.recommended("nn")["build"] and "bias_l2" not in cfnb.recommended("nn")["build"]


def lazy_epoch_of_two_batches(model):
    """Train `model` (dot, l2 1e-2) lazily for one epoch of six ratings in batches of 4 (one row twice in the
    first, the second padded). Returns its tables before the epoch, as float64 for the test's formula to
    update in place, and `gradients(batch)`: each table's (row ids, per-occurrence gradients of the
    batch's mean squared error plus the l2 term) at the tables' current values."""
    users, items = np.array([0, 0, 1, 2, 3, 0]), np.array([5, 6, 5, 7, 8, 9])
    y = np.array([4.0, 3.0, 5.0, 1.0, 2.0, 3.5], np.float32)
    tables = {"user_factors": model.get_layer("user_factors").get_weights()[0].astype(np.float64),
              "movie_factors": model.get_layer("movie_factors").get_weights()[0].astype(np.float64)}
    engine_class()(model, 4, update="lazy").fit({"user_in": users, "movie_in": items}, y, epochs=1, shuffle=False)

    def gradients(batch):
        u, m, r = users[batch], items[batch], y[batch]
        U, M = tables["user_factors"], tables["movie_factors"]
        err = (U[u] * M[m]).sum(1) - r
        return {"user_factors": (u, 2 * err[:, None] * M[m] / len(r) + 2 * 1e-2 * U[u]),
                "movie_factors": (m, 2 * err[:, None] * U[u] / len(r) + 2 * 1e-2 * M[m])}
    return tables, gradients


BATCHES = [slice(0, 4), slice(4, 6)]


def test_lazy_update_is_sparse_adam_by_the_formula(small):
    """Two lazy steps (one with a row twice, one padded) against the formula written out in numpy."""
    model = compile_model(cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3, l2=1e-2, seed=0), 1e-2)
    tables, gradients = lazy_epoch_of_two_batches(model)
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in tables.items()}
    for t, batch in enumerate(BATCHES, start=1):
        alpha = 1e-2 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        for name, (ids, g) in gradients(batch).items():
            table, (mom, vel) = tables[name], moments[name]
            for row in np.unique(ids):
                grad = g[ids == row].sum(0)
                mom[row] = 0.9 * mom[row] + 0.1 * grad
                vel[row] = 0.999 * vel[row] + 0.001 * grad ** 2
                table[row] -= alpha * mom[row] / (np.sqrt(vel[row]) + 1e-7)
    for name, table in tables.items():
        np.testing.assert_allclose(model.get_layer(name).get_weights()[0], table, atol=1e-6)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2


def test_lazy_update_is_sparse_adagrad_by_the_formula(small):
    """Two lazy Adagrad steps (one with a row twice, one padded) against the formula in numpy: each
    occurrence's square joins the accumulator, the row moves by lr * (summed gradient) / sqrt(acc + eps)."""
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3, l2=1e-2, seed=0)
    compile_model(model, 0.05, optimizer={"class_name": "Adagrad", "config": {"initial_accumulator_value": 0.1}})
    tables, gradients = lazy_epoch_of_two_batches(model)
    accumulators = {k: np.full_like(v, 0.1) for k, v in tables.items()}
    for batch in BATCHES:
        for name, (ids, g) in gradients(batch).items():
            table, acc = tables[name], accumulators[name]
            for row in np.unique(ids):
                acc[row] += (g[ids == row] ** 2).sum(0)
                table[row] -= 0.05 * g[ids == row].sum(0) / np.sqrt(acc[row] + 1e-7)
    for name, table in tables.items():
        np.testing.assert_allclose(model.get_layer(name).get_weights()[0], table, atol=1e-6)
        slot, = cfnb.backend.optimizer_slots(model.optimizer, model.get_layer(name).embeddings)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(slot), accumulators[name], rtol=1e-5)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2


@pytest.mark.parametrize("update", ["exact", "lazy"])
def test_models_of_one_signature_share_the_compiled_loop_and_each_trains_itself(small, monkeypatch, update):
    """TensorFlow compiles one loop per graph and shape: a second model of the same kind and sizes reuses it
    (no new compile), trains exactly as it would with a loop of its own, and leaves the first model alone."""
    from cfnb import backend, fast

    train, _ = small.split(seed=1)
    first, second = twins("nn", small, dropout_in=0.2)  # with dropout: the seed reaches the shared loop
    alone, _ = twins("nn", small, dropout_in=0.2)
    engines = {}
    for name, model, seed in (("first", first, 3), ("second", second, 5)):
        engines[name] = engine_class()(model, 64, update=update, seed=seed)
        engines[name].fit(train.x, train.y, epochs=1)
    after_first = [w.copy() for w in first.get_weights()]
    if backend.name() == "tensorflow":
        assert engines["second"]._loop is engines["first"]._loop
        monkeypatch.setattr(fast, "_LOOPS", fast.weakref.WeakValueDictionary())  # a loop of its own
    engines["alone"] = engine_class()(alone, 64, update=update, seed=5)
    if backend.name() == "tensorflow":
        assert engines["alone"]._loop is not engines["first"]._loop
    engines["alone"].fit(train.x, train.y, epochs=1)
    for a, b in zip(second.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(second.optimizer.variables, alone.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(first.get_weights(), after_first):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    other = cfnb.build_model("nn", small.n_users, small.n_items + 1, n_factors=4)  # another size: another loop
    compile_model(other, 1e-2)
    if backend.name() == "tensorflow":
        assert engine_class()(other, 64, update=update)._loop is not engines["first"]._loop


def test_a_frozen_layer_is_read_from_each_model_under_a_shared_loop(small):
    """Frozen weights are not trained, but they are each model's own: two models of one signature whose
    frozen movie tables differ predict from their own tables."""
    train, val = small.split(seed=1)
    first, second = twins("dot", small)
    for model in (first, second):
        model.get_layer("movie_factors").trainable = False
        compile_model(model, 1e-2)
    table = second.get_layer("movie_factors").get_weights()[0]
    second.get_layer("movie_factors").set_weights([table[::-1] * 2.0])  # different frozen weights
    frozen = second.get_layer("movie_factors").get_weights()[0].copy()
    for model in (first, second):
        engine = engine_class()(model, 64, seed=0)
        engine.fit(train.x, train.y, epochs=1)
        assert engine.evaluate(val.x, val.y) == pytest.approx(raw_rmse(model, val) ** 2, rel=1e-4)
    np.testing.assert_array_equal(second.get_layer("movie_factors").get_weights()[0], frozen)
    assert not np.allclose(first.get_layer("user_factors").get_weights()[0],
                           second.get_layer("user_factors").get_weights()[0])
