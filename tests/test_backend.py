"""cfnb.backend, the one home of Keras internals: each internal works on the installed Keras (these
fail loudly when a release drops one), and each public route cfnb falls back to works on its own."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import cfnb
from cfnb import backend
from cfnb.training.engines.chunked import unsupported
from cfnb.names import ITEM_IN, USER_IN
from cfnb.training.fit import compile_model

GONE = "was removed or renamed in Keras {v}: update cfnb/backend.py (and the Keras bound in pyproject.toml)"
EDGES = {"user_factors": ["user_in"], "movie_factors": ["movie_in"], "concat": ["user_factors", "movie_factors"],
         "flatten": ["concat"], "dropout_in": ["flatten"], "hidden": ["dropout_in"], "dropout_hidden": ["hidden"],
         "score": ["dropout_hidden"], "user_in": [], "movie_in": []}


def nn(small):
    return cfnb.build_model("nn", small.n_users, small.n_items, n_factors=3, hidden=5, seed=0)


def batch(small, n=8):
    return {USER_IN: np.arange(n).reshape(-1, 1) % small.n_users, ITEM_IN: np.arange(n).reshape(-1, 1) % small.n_items}


def test_every_internal_is_listed_once():
    assert len(backend.INTERNALS) == 5
    assert backend.GRAPH_RUNNER in next(iter(backend.INTERNALS))


# ------------------------------------------------------------------ one test per internal
def test_internal_run_through_graph(small):
    model = nn(small)
    assert callable(getattr(model, backend.GRAPH_RUNNER, None)), f"Functional.{backend.GRAPH_RUNNER} " + GONE.format(
        v=keras.__version__)
    x = batch(small)
    seen = []

    def operation(op):
        seen.append(op.name)
        return op

    out = backend.run_through_graph(model, [x[USER_IN], x[ITEM_IN]], operation)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    assert {"user_factors", "movie_factors", "hidden", "score"} <= set(seen)


def test_internal_adam_slots(small):
    model = compile_model(nn(small), 1e-2)
    model.optimizer.build(model.trainable_variables)
    for name in backend.ADAM_SLOTS:
        assert hasattr(model.optimizer, name), f"Adam.{name} " + GONE.format(v=keras.__version__)
    table = model.get_layer("movie_factors").embeddings
    mom, vel = backend.optimizer_slots(model.optimizer, table)
    assert tuple(mom.shape) == tuple(vel.shape) == tuple(table.shape)
    assert any(mom is v for v in model.optimizer.variables) and any(vel is v for v in model.optimizer.variables)
    x = batch(small, 64)
    model.fit(x, np.full(64, 4.0, np.float32), batch_size=64, epochs=1, verbose=0)
    rows = np.unique(x[ITEM_IN])
    assert np.abs(keras.ops.convert_to_numpy(mom)[rows]).sum() > 0  # the slot Keras's own Adam moved


def test_internal_adagrad_slots(small):
    model = compile_model(nn(small), 0.05, optimizer="adagrad")
    model.optimizer.build(model.trainable_variables)
    for name in backend.ADAGRAD_SLOTS:
        assert hasattr(model.optimizer, name), f"Adagrad.{name} " + GONE.format(v=keras.__version__)
    table = model.get_layer("movie_factors").embeddings
    acc, = backend.optimizer_slots(model.optimizer, table)
    assert tuple(acc.shape) == tuple(table.shape) and any(acc is v for v in model.optimizer.variables)
    x = batch(small, 64)
    model.fit(x, np.full(64, 4.0, np.float32), batch_size=64, epochs=1, verbose=0)
    grown = keras.ops.convert_to_numpy(acc) - 0.1  # Keras's initial accumulator value
    rows = np.unique(x[ITEM_IN])
    assert grown[rows].sum() > 0 and (grown >= 0).all()  # the slot Keras's own Adagrad adds squared gradients to


def test_internal_inbound_nodes(small):
    model = nn(small)
    for layer in model.layers:
        found = backend.inbound_layers(layer)
        assert found is not None, "Operation._inbound_nodes / KerasTensor._keras_history " + GONE.format(
            v=keras.__version__)
        assert found == EDGES[layer.name]


@pytest.mark.backend_independent(reason="a fresh process that sets KERAS_BACKEND=jax itself: the same in every run")
def test_internal_global_seed_state_without_tensorflow():
    """On JAX, seeding through Keras's global state gives keras.utils.set_random_seed's weights, no TensorFlow."""
    code = """
import sys, keras, numpy as np
from cfnb import backend
assert backend._seed_modules() is not None, "keras.src global seed state is gone"
backend.set_random_seed(7)
a = keras.layers.Embedding(5, 3); a.build((None,))
first = np.asarray(a.embeddings.value)
print("tensorflow" in sys.modules)
keras.utils.set_random_seed(7)
b = keras.layers.Embedding(5, 3); b.build((None,))
assert np.array_equal(first, np.asarray(b.embeddings.value)), "not the weights keras.utils.set_random_seed gives"
"""
    done = run_python(code, KERAS_BACKEND="jax")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


# ------------------------------------------------------------------ the public routes, alone
def test_without_the_graph_runner_fits_fall_back_to_model_fit(small, monkeypatch):
    train, val = small.split(seed=1)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=3, seed=0)
    monkeypatch.setattr(backend, "GRAPH_RUNNER", "_run_through_graph_gone")  # a Keras without it
    assert "_run_through_graph_gone" in unsupported(model)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False)  # engine="auto"
    assert len(history) == 1 and np.isfinite(history.val_rmse)
    assert not getattr(model, "_cfnb_fast_engines", None)  # trained by model.fit
    with pytest.raises(cfnb.CfnbError, match="_run_through_graph_gone"):
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, engine="fast")


def test_without_adam_slots_fits_fall_back_to_model_fit(small, monkeypatch):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3, seed=0)
    monkeypatch.setattr(backend, "ADAM_SLOTS", ("_moments_gone", "_velocities", "_get_variable_index"))
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False)
    assert "_moments_gone" in unsupported(model)
    assert len(history) == 1 and not getattr(model, "_cfnb_fast_engines", None)


def test_without_adagrad_slots_fits_fall_back_to_model_fit(small, monkeypatch):
    train, val = small.split(seed=1)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3, seed=0)
    monkeypatch.setattr(backend, "ADAGRAD_SLOTS", ("_accumulators_gone", "_get_variable_index"))
    history = cfnb.fit_stages(model, train, val, stages=[(0.05, 1)], progress=False, optimizer="adagrad")
    assert "_accumulators_gone" in unsupported(model)
    assert len(history) == 1 and not getattr(model, "_cfnb_fast_engines", None)


def test_without_inbound_nodes_the_summary_reads_the_config(small, monkeypatch):
    model = nn(small)
    table = cfnb.summary(model).to_frame()
    picture = cfnb.display.summaries.graph_svg(model)
    monkeypatch.setattr(backend, "INBOUND", ("_inbound_nodes_gone", "_keras_history"))
    assert backend.inbound_layers(model.layers[2]) is None
    assert backend.inbound_from_config(model) == EDGES
    assert cfnb.summary(model).to_frame().equals(table)
    assert cfnb.display.summaries.graph_svg(model) == picture
    assert picture.count("<polyline") == sum(len(v) for v in EDGES.values())


def test_without_global_seed_state_seeding_goes_through_keras(small, monkeypatch):
    monkeypatch.setattr(backend, "SEED_STATE", ("keras.src.no_such_module",) * 3)
    monkeypatch.setattr(sys, "modules", {k: v for k, v in sys.modules.items() if k != "tensorflow"})
    monkeypatch.setattr(backend, "name", lambda: "jax")  # the path a JAX process without TensorFlow takes
    assert backend._seed_modules() is None
    calls = []
    real = keras.utils.set_random_seed
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda seed: (calls.append(seed), real(seed)))
    weights = []
    for _ in range(2):
        backend.set_random_seed(11)
        model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3)
        weights.append(model.get_weights())
    assert calls == [11, 11]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def run_python(code, **env):
    """Run `code` in a fresh Python with extra environment variables."""
    import os

    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env=environment)
