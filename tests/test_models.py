"""The lesson's three graphs: sizes, names, hyperparameters, y_range, saving."""

import keras
import numpy as np
import pytest

import cfnb


LESSON_KINDS = ("dot", "bias", "nn")  # the NCF kinds have their own sizes (tests/test_kinds.py)


@pytest.mark.parametrize("kind", LESSON_KINDS)
def test_lesson_embedding_sizes_on_2016_data(kind):
    model = cfnb.build_model(kind, 668, 10325)
    assert model.get_layer("user_factors").count_params() == 33_400
    assert model.get_layer("movie_factors").count_params() == 516_250
    assert [t.name for t in model.inputs] == ["user_in", "movie_in"]


def test_bias_model_adds_one_bias_per_user_and_movie():
    model = cfnb.build_model("bias", 668, 10325)
    assert model.get_layer("user_bias").count_params() == 668
    assert model.get_layer("movie_bias").count_params() == 10325
    assert model.count_params() == 33_400 + 516_250 + 668 + 10_325


def test_nn_layers_follow_the_lesson():
    model = cfnb.build_model("nn", 10, 20)
    assert model.get_layer("dropout_in").rate == pytest.approx(0.3)
    assert model.get_layer("hidden").units == 70
    assert model.get_layer("hidden").activation.__name__ == "relu"
    assert model.get_layer("dropout_hidden").rate == pytest.approx(0.75)
    assert model.output.shape[-1] == 1


def test_hyperparameters_are_parameters():
    model = cfnb.build_model("nn", 10, 20, n_factors=8, hidden=5, dropout_in=0.1, l2=0.0)
    assert model.get_layer("user_factors").output_dim == 8
    assert model.get_layer("user_factors").embeddings_regularizer is None
    assert model.get_layer("hidden").units == 5
    assert model.cfnb_config["n_factors"] == 8


def test_l2_is_on_the_factor_embeddings():
    model = cfnb.build_model("dot", 10, 20)
    reg = model.get_layer("movie_factors").embeddings_regularizer
    assert reg.get_config()["l2"] == pytest.approx(1e-4)


def test_y_range_squashes_output():
    model = cfnb.build_model("bias", 5, 5, y_range=(0.5, 5.0))
    for w in model.weights:
        w.assign(np.full(w.shape, 10.0, dtype="float32"))
    out = model.predict({"user_in": np.array([[0]]), "movie_in": np.array([[1]])}, verbose=0)
    assert 0.5 <= float(out[0, 0]) <= 5.0


def test_unknown_kind_and_hyperparameter_are_clear():
    with pytest.raises(ValueError, match="kind"):
        cfnb.build_model("svd", 5, 5)
    with pytest.raises(TypeError, match="hidden"):
        cfnb.build_model("dot", 5, 5, hidden=3)


@pytest.mark.parametrize("kind", cfnb.KINDS)
def test_models_save_and_load_with_keras_format(kind, tmp_path):
    model = cfnb.build_model(kind, 7, 9, y_range=(0, 5.5))
    x = {"user_in": np.arange(7).reshape(-1, 1) % 7, "movie_in": np.arange(7).reshape(-1, 1)}
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("kind", cfnb.KINDS)
def test_seed_builds_the_same_weights(kind):
    a = cfnb.build_model(kind, 11, 13, seed=5)
    b = cfnb.build_model(kind, 11, 13, seed=5)
    c = cfnb.build_model(kind, 11, 13, seed=6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_layer("movie_factors").get_weights()[0], c.get_layer("movie_factors").get_weights()[0])
