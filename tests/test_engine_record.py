"""fit_stages records which engine ran and why, on the history and in the model's trained-on record."""

import keras
import pytest

import cfnb


@pytest.fixture(scope="module")
def data(small):
    return small.split(val_frac=0.2, seed=0)


def _fit(data, kind="bias", **options):
    train, val = data
    model = cfnb.build_model(kind, train.n_users, train.n_items, n_factors=4, seed=0)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], batch_size=256, progress=False, seed=0,
                              **options)
    return model, history


def test_the_fast_engine_is_recorded_with_its_reason(data):
    model, history = _fit(data)
    assert history.engine.name == "fast"
    assert history.engine.backend == keras.backend.backend()
    assert "auto" in history.engine.reason and keras.backend.backend() in history.engine.label
    assert cfnb.trained_on(model).engine == history.engine.to_json()


def test_keras_asked_for_is_recorded_as_asked(data):
    model, history = _fit(data, engine="keras")
    assert (history.engine.name, history.engine.reason) == ("keras", "engine='keras' was asked for")
    assert cfnb.trained_on(model).engine["name"] == "keras"


def test_a_model_the_fast_engine_cannot_train_says_why(data):
    train, val = data
    u = keras.Input((1,), dtype="int32", name="user_in")
    i = keras.Input((1,), dtype="int32", name="movie_in")
    eu = keras.layers.Embedding(train.n_users, 3)(u)
    ei = keras.layers.Embedding(train.n_items, 3)(i)
    out = keras.layers.Flatten()(keras.layers.Dot(axes=2)([keras.layers.LayerNormalization()(eu), ei]))
    model = keras.Model([u, i], out)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], batch_size=256, progress=False, seed=0)
    assert history.engine.name == "keras"
    assert history.engine.reason.startswith("the fast engine cannot train it: ")
    assert "LayerNormalization" in history.engine.reason


def test_implicit_feedback_is_recorded_as_keras(data):
    train, val = data
    model = cfnb.build_model("gmf", train.n_users, train.n_items, seed=0)
    history = cfnb.fit_stages(model, train.implicit(), val.implicit(), stages=[(1e-2, 1)], batch_size=256,
                              progress=False, seed=0, loss="bce", negatives=1)
    assert history.engine.name == "keras" and "bce" in history.engine.reason


def test_the_record_of_the_engine_survives_save_and_load(data, tmp_path):
    model, history = _fit(data)
    cfnb.save(model, data[0], tmp_path / "m.cfnb")
    loaded, _ = cfnb.load(tmp_path / "m.cfnb")
    assert cfnb.trained_on(loaded).engine == history.engine.to_json()


def test_a_history_before_any_fit_has_no_engine():
    assert cfnb.StagedHistory().engine is None
