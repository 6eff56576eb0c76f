"""The plain functions under the Lab: runs and their recipes, the comparison table, adopting a model of one's own."""

import keras
import numpy as np
import pytest

import cfnb
from cfnb.widgets.workspace import Fit, Run, adopt, compare_frame, fresh_copy


def fitted_run(small, name, kind, stages, batch_size=256):
    train, val = small.split(seed=3)
    model = cfnb.build_model(kind, small.n_users, small.n_items, n_factors=3, seed=0)
    run = Run(name, model)
    history = cfnb.fit_stages(model, train, val, stages=stages, batch_size=batch_size, progress=False,
                              history=run.history)
    run.record(Fit(tuple(cfnb.Stage(*s) for s in stages), batch_size, "fast", "exact", 1.5))
    return run, history, (train, val)


def test_compare_frame_lists_baselines_then_runs_with_recipe_and_best(small):
    bias, _, (train, val) = fitted_run(small, "#1 bias", "bias", [(1e-2, 3), (1e-3, 1)])
    dot, _, _ = fitted_run(small, "#2 dot", "dot", [(1e-2, 1)], batch_size=64)
    dot.record(Fit((cfnb.Stage(1e-3, 1),), 512, "keras", "exact", 0.5))
    frame = compare_frame([bias, dot], cfnb.baselines(train, val))
    assert frame["model"].tolist() == ["global mean", "user + movie biases", "#1 bias", "#2 dot"]
    assert frame["kind"].tolist() == ["baseline", "baseline", "bias", "dot"]
    assert frame["stages"].tolist()[2:] == ["1e-02×3, 1e-03×1", "1e-02×1"]
    assert frame["batch_size"].tolist()[2:] == ["256", "64, 512"]
    assert frame["engine"].tolist()[2:] == ["fast exact", "fast exact, keras exact"]
    assert frame["seconds"].tolist()[2:] == [1.5, 2.0] and frame["epochs"].tolist()[2:] == [4, 1]
    assert frame["val_rmse"].iloc[2] == pytest.approx(bias.history.val_rmse)
    assert frame["best"].sum() == 1 and frame.loc[frame["best"], "val_rmse"].iloc[0] == frame["val_rmse"].min()
    assert "3 factors" in frame["hyperparameters"].iloc[2]


def test_a_stopped_run_is_marked_and_shows_the_epochs_it_ran(small):
    train, val = small.split(seed=3)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=3)
    run, stop = Run("#1 bias", model), __import__("threading").Event()
    stop.set()
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 3), (1e-3, 2)], progress=False, history=run.history, stop=stop)
    frame = compare_frame([run], cfnb.baselines(train, val))
    assert frame["model"].iloc[-1] == "#1 bias (stopped)" and frame["stages"].iloc[-1] == "1e-02×1"


def test_adopt_keeps_a_model_with_cfnb_names_and_renames_others_sharing_the_layers(small):
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2)
    assert adopt(model, small) is model
    u = keras.Input((1,), dtype="int32", name="movie")  # declared first, on purpose
    v = keras.Input((1,), dtype="int32", name="user")
    me = keras.layers.Embedding(small.n_items, 2, name="m")(u)
    ue = keras.layers.Embedding(small.n_users, 2, name="u")(v)
    mine = keras.Model([u, v], keras.layers.Flatten()(keras.layers.Dot(axes=2)([ue, me])))
    adopted = adopt(mine, small, inputs=("user", "movie"))
    assert [t.name for t in adopted.inputs] == ["user_in", "movie_in"]  # cfnb's order (the fast engine reads it)
    assert adopted.get_layer("m") is mine.get_layer("m")
    x = small.x
    np.testing.assert_allclose(adopted.predict(x, verbose=0), mine.predict([x["movie_in"], x["user_in"]], verbose=0))
    history = cfnb.fit_stages(adopted, *small.split(seed=1), stages=[(1e-2, 1)], progress=False)
    assert len(history) == 1 and np.isfinite(history.val_rmse)
    # cfnb's names in the other order: the same layers, behind inputs in cfnb's order
    m, u = keras.Input((1,), dtype="int32", name="movie_in"), keras.Input((1,), dtype="int32", name="user_in")
    out = keras.layers.Flatten()(keras.layers.Dot(axes=2)([mine.get_layer("u")(u), mine.get_layer("m")(m)]))
    reordered = adopt(keras.Model([m, u], out), small)
    assert [t.name for t in reordered.inputs] == ["user_in", "movie_in"]
    np.testing.assert_allclose(reordered.predict(x, verbose=0), adopted.predict(x, verbose=0))


@pytest.mark.parametrize("inputs, message", [
    (("user", "film"), r"has inputs \['movie', 'user'\]; expected two inputs named \['user', 'film'\]"),
    (("user",), "inputs must be the names of the user and the movie input"),
])
def test_adopt_names_what_does_not_fit(small, inputs, message):
    u = keras.Input((1,), dtype="int32", name="movie")
    v = keras.Input((1,), dtype="int32", name="user")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([u, v]))
    with pytest.raises(cfnb.CfnbError, match=message):
        adopt(keras.Model([u, v], out), small, inputs=inputs)


def test_fresh_copy_has_the_same_architecture_and_new_weights(small):
    model = cfnb.build_model("nn", small.n_users, small.n_items, n_factors=3, hidden=4, seed=1)
    copy = fresh_copy(model, seed=2)
    assert copy.cfnb_config == model.cfnb_config and copy.count_params() == model.count_params()
    assert not np.allclose(copy.get_weights()[0], model.get_weights()[0])
    np.testing.assert_array_equal(fresh_copy(model, seed=1).get_weights()[0], model.get_weights()[0])


def test_adopt_refuses_a_model_bound_to_another_vocabulary(small):
    frame = small.to_frame()
    frame["user"] = frame["user"].astype(str) + "-elsewhere"  # the same sizes, other users
    other = cfnb.load_ratings(frame, user="user", item="item", rating="rating", duplicates="keep")
    model = cfnb.build_model("dot", other, n_factors=2)  # bound to `other`'s vocabulary
    assert model.cfnb_config["n_users"] == small.n_users
    with pytest.raises(cfnb.errors.VocabularyError, match="another id vocabulary"):
        adopt(model, small)


def test_compare_frame_has_rmse_and_ndcg_side_by_side(small):
    bias, _, (train, val) = fitted_run(small, "#1 bias", "bias", [(1e-2, 2)])
    unfitted = Run("#2 dot", cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3))
    table = cfnb.baselines(train, val)
    frame = compare_frame([bias, unfitted], table, train, val)
    assert frame.columns.tolist()[8:10] == ["val_rmse", "ndcg@10"]
    assert np.isnan(frame["ndcg@10"].iloc[0]) and frame["ndcg@10"].iloc[1] == table["ndcg@10"].iloc[1]
    assert frame["ndcg@10"].iloc[2] == cfnb.ranking_metrics(bias.model, train, val)["ndcg"] > 0
    assert np.isnan(frame["ndcg@10"].iloc[3])  # nothing fitted, nothing ranked
    assert np.isnan(compare_frame([bias], table)["ndcg@10"].iloc[-1])  # no split given: not ranked


def test_a_runs_ndcg_is_ranked_again_only_after_more_training(small, monkeypatch):
    run, _, (train, val) = fitted_run(small, "#1 bias", "bias", [(1e-2, 1)])
    calls = []
    real = cfnb.workspace.ranking_metrics
    monkeypatch.setattr(cfnb.workspace, "ranking_metrics", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = run.ndcg(train, val)
    assert run.ndcg(train, val) == first and len(calls) == 1
    cfnb.fit_stages(run.model, train, val, stages=[(1e-2, 1)], progress=False, history=run.history)
    run.ndcg(train, val)
    assert len(calls) == 2
