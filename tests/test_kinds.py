"""The NCF paper's kinds (gmf, mlp, neumf): their graphs, parameter counts by hand, and every path a
kind takes (summary, bce and MSE fits, save/load, Explore, the Builder) with no special case."""

import keras
import numpy as np
import pytest

import cfnb
from cfnb.names import ITEM_FACTORS, ITEM_MLP_FACTORS, USER_FACTORS, USER_MLP_FACTORS
from cfnb.models.build import build_model, count_params
from cfnb.models.kinds import kind_of

NCF_KINDS = ("gmf", "mlp", "neumf")
U, I = 7, 11  # a small config, counted by hand below


def dense(n_in, n_out):
    return n_in * n_out + n_out


def tower(f, n_layers):
    """Dense relu widths f*2**(L-1) .. f on the concatenated embeddings of 2f each (input 4f)."""
    widths = [f * 2 ** (k - 1) for k in range(n_layers, 0, -1)]
    return sum(dense(a, b) for a, b in zip([4 * f, *widths], widths))


@pytest.mark.parametrize("f, n_layers", [(4, 3), (8, 1), (3, 2)])
def test_parameter_counts_by_hand(f, n_layers):
    gmf = (U + I) * f + dense(f, 1)
    mlp = (U + I) * 2 * f + tower(f, n_layers) + dense(f, 1)
    neumf = (U + I) * f + (U + I) * 2 * f + tower(f, n_layers) + dense(2 * f, 1)
    assert count_params("gmf", U, I, n_factors=f) == gmf
    assert count_params("mlp", U, I, n_factors=f, n_layers=n_layers) == mlp
    assert count_params("neumf", U, I, n_factors=f, n_layers=n_layers) == neumf


def test_the_papers_setup_for_8_predictive_factors():
    """He et al. 4.1: predictive factors 8, three hidden layers 32 -> 16 -> 8, embeddings of 16."""
    model = build_model("mlp", U, I)
    assert model.cfnb_config["n_factors"] == 8 and model.cfnb_config["n_layers"] == 3
    assert model.get_layer(USER_FACTORS).output_dim == model.get_layer(ITEM_FACTORS).output_dim == 16
    towers = [la for la in model.layers if isinstance(la, keras.layers.Dense)]
    assert [(la.units, la.activation.__name__) for la in towers] == [(32, "relu"), (16, "relu"), (8, "relu"),
                                                                    (1, "linear")]
    neumf = build_model("neumf", U, I)
    assert neumf.get_layer(USER_FACTORS).output_dim == 8 and neumf.get_layer(USER_MLP_FACTORS).output_dim == 16
    assert neumf.get_layer(ITEM_MLP_FACTORS).input_dim == I
    assert neumf.get_layer("score").input.shape[-1] == 16  # GMF's 8 beside the tower's last 8
    gmf = build_model("gmf", U, I)
    assert isinstance(gmf.get_layer("product"), keras.layers.Multiply)


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_outputs_are_raw_scores_and_y_range_squashes_them(kind):
    x = {"user_in": np.arange(5).reshape(-1, 1), "movie_in": np.arange(5).reshape(-1, 1)}
    outputs = []
    for y_range in (None, (0.5, 5.5)):
        model = build_model(kind, U, I, seed=1, y_range=y_range)
        for w in model.weights:
            w.assign(np.full(w.shape, 1.0, dtype="float32"))
        outputs.append(model.predict(x, verbose=0))
    assert build_model(kind, U, I).layers[-1].name == "score"
    assert build_model(kind, U, I).layers[-1].activation.__name__ == "linear"
    assert np.all(outputs[0] > 5.5)  # a raw score: no sigmoid, no bound
    assert np.all((outputs[1] >= 0.5) & (outputs[1] <= 5.5))


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_each_kind_summarises_with_its_layers(kind):
    model = build_model(kind, U, I, n_factors=4)
    text, page = str(cfnb.summary(model)), cfnb.summary(model)._repr_html_()
    assert f"Total params: {model.count_params():,}" in text
    assert USER_FACTORS in text and "score" in text and "<svg" in page
    assert kind_of(kind).description.split(":")[0].lower() == kind


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_each_kind_fits_with_bce_and_round_trips_through_save_and_load(kind, small, tmp_path):
    interactions = small.implicit()
    train, val = interactions.split(0.2, seed=0)
    model = build_model(kind, interactions, seed=0, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=128, loss="bce", seed=0, progress=False)
    frame = history.to_frame()
    assert len(frame) == 2 and np.isfinite(frame["loss"]).all() and np.isfinite(frame["val_loss"]).all()
    assert frame["loss"].iloc[1] < np.log(2)  # better than a coin (the logistic loss of score 0)
    path = cfnb.save(model, train, tmp_path / f"{kind}.cfnb")
    again, ratings = cfnb.load(path)
    users, items = train.user_ids[:6], train.item_ids[:6]
    before = cfnb.predict(model, train, users, items, unknown="fallback")
    after = cfnb.predict(again, ratings, users, items, unknown="fallback")
    np.testing.assert_array_equal(before, after)
    assert again.cfnb_config == model.cfnb_config


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_one_graph_serves_ratings_too(kind, small):
    """No sigmoid in the graph: the same kinds fit explicit ratings with the lesson's MSE."""
    train, val = small.split(0.2, seed=0)
    model = build_model(kind, small, seed=0, n_factors=4, y_range=(0, 5.5))
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 3)], batch_size=64, seed=0, progress=False)
    rmse = history.to_frame()["val_rmse"]
    assert rmse.iloc[-1] < rmse.iloc[0] and rmse.iloc[-1] < 1.2


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_explore_finds_the_movie_factors(kind, small):
    model = build_model(kind, small, seed=0, n_factors=3)
    table, explained = cfnb.factor_pca(model, small, top=20)
    assert len(table) == 20 and len(explained) == 2
    with pytest.raises(cfnb.CfnbError, match="no movie bias"):
        cfnb.movie_bias(model, small)


@pytest.mark.parametrize("kind", NCF_KINDS)
def test_the_builder_counts_and_builds_each_kind(kind, small):
    builder = cfnb.Builder(small, kind=kind)
    model = builder.build()
    assert model.cfnb_config["kind"] == kind
    assert f"<b>{model.count_params():,}</b>" in builder.params.value
    assert model.count_params() == count_params(kind, small.n_users, small.n_items, **builder.hyperparameters())


def test_new_hyperparameter_is_checked_and_described():
    with pytest.raises(cfnb.ArgumentError, match="n_layers"):
        build_model("mlp", U, I, n_layers=0)
    with pytest.raises(cfnb.ArgumentTypeError, match="n_layers"):
        build_model("gmf", U, I, n_layers=2)  # gmf has no tower
    described = cfnb.models.describe(build_model("neumf", U, I, n_layers=2).cfnb_config)
    assert "8 factors" in described and "2 layers" in described
