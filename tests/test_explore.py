"""The pure functions under the widgets: baselines and interpretation (bias tables, PCA, recommendations)."""

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.data.biases import fit_biases
from cfnb.evaluation.baselines import global_mean_rmse
from cfnb.evaluation.metrics import rmse
from cfnb.evaluation.explore import factor_pca, item_bias as item_bias, most_rated, rated_highest, recommend
from cfnb.display.pca import pca_png


@pytest.fixture(scope="module")
def split(small):
    return small.split(0.2, seed=0)


@pytest.fixture(scope="module")
def fitted(small, split):
    """A bias model fitted briefly on the synthetic ratings."""
    train, val = split
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    cfnb.fit_stages(model, train, val, [(1e-2, 3)], batch_size=128, progress=False, seed=0)
    return model


def test_global_mean_rmse_is_the_spread_around_the_train_mean(split):
    train, val = split
    expected = np.sqrt(np.mean((val.y - train.y.mean()) ** 2))
    assert global_mean_rmse(train, val) == pytest.approx(expected, rel=1e-6)


def test_biases_solve_the_regularised_least_squares(split):
    train, _ = split
    reg = 3.0
    b = fit_biases(train, reg=reg, iters=200)
    u, i, r = train.frame["user"].to_numpy(), train.frame["item"].to_numpy(), train.y.astype(float)
    resid = r - b.mean - b.user_bias[u] - b.item_bias[i]
    # Stationarity of sum(resid^2) + reg * (|bu|^2 + |bi|^2) in every bias (the mean held fixed).
    np.testing.assert_allclose(np.bincount(i, resid, train.n_items), reg * b.item_bias, atol=1e-6)
    np.testing.assert_allclose(np.bincount(u, resid, train.n_users), reg * b.user_bias, atol=1e-6)


def test_biases_beat_the_mean_on_planted_biases(split):
    train, val = split
    table = cfnb.baselines(train, val)
    assert list(table["name"]) == ["global mean", "user + movie biases"]
    mean_rmse, bias_rmse = table["val_rmse"]
    assert bias_rmse < mean_rmse
    assert table["params"].iloc[1] == 1 + train.n_users + train.n_items
    assert rmse(fit_biases(train).predict(val), val.y) == pytest.approx(bias_rmse)


def test_baselines_reject_an_empty_split(small):
    with pytest.raises(cfnb.CfnbError, match="non-empty"):
        cfnb.baselines(small, small.with_frame(small.frame.iloc[:0]))


def test_movie_bias_tables_are_sorted_and_titled(small, fitted):
    high, low = item_bias(fitted, small, n=5, top=40)
    assert list(high.columns) == ["item", "title", "bias", "n", "mean_rating"]
    assert len(high) == len(low) == 5
    assert high["bias"].is_monotonic_decreasing and low["bias"].is_monotonic_increasing
    assert high["bias"].iloc[-1] >= low["bias"].iloc[-1]
    weights = fitted.get_layer("movie_bias").get_weights()[0][:, 0]
    code = small.item_codes([high["item"].iloc[0]])[0]
    assert high["bias"].iloc[0] == pytest.approx(weights[code])
    assert high["title"].iloc[0] == small.title(high["item"].iloc[0])[0]
    considered = set(small.item_ids[most_rated(small, 40)])
    assert set(high["item"]) <= considered and set(low["item"]) <= considered


def test_movie_bias_explains_models_without_one(small):
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3)
    with pytest.raises(cfnb.CfnbError, match="no movie bias"):
        item_bias(model, small)


def test_factor_pca_projects_the_most_rated(small, fitted):
    table, explained = factor_pca(fitted, small, top=50)
    assert len(table) == 50 and {"pc1", "pc2", "title", "n"} <= set(table.columns)
    assert table["n"].is_monotonic_decreasing
    assert explained[0] >= explained[1] >= 0 and explained.sum() <= 1 + 1e-9
    assert abs(table["pc1"].mean()) < 1e-9  # centred
    assert pca_png(table, explained, labels=10)[:8] == b"\x89PNG\r\n\x1a\n"


def test_recommend_excludes_rated_and_ranks_by_prediction(small, fitted):
    user = small.user_ids[3]
    recs = recommend(fitted, small, user, n=8)
    assert len(recs) == 8 and recs["predicted"].is_monotonic_decreasing
    rated = set(small.to_frame().query("user == @user")["item"])
    assert not rated & set(recs["item"])
    np.testing.assert_allclose(recs["predicted"], cfnb.predict(fitted, small, user, recs["item"].to_numpy()),
                               rtol=1e-5)
    unseen = sorted(set(small.item_ids) - rated)
    best = cfnb.predict(fitted, small, user, unseen).max()
    assert recs["predicted"].iloc[0] == pytest.approx(best, rel=1e-5)


def test_recommend_accepts_the_id_as_text_and_rejects_unknown_ids(small, fitted):
    user = small.user_ids[0]
    pd.testing.assert_frame_equal(recommend(fitted, small, str(user), n=3), recommend(fitted, small, user, n=3))
    with pytest.raises(cfnb.CfnbError, match="Unknown user id"):
        recommend(fitted, small, 10**30)
    with pytest.raises(cfnb.VocabularyError, match="user id 'no such user' is text"):
        recommend(fitted, small, "no such user")


def test_rated_highest_lists_the_users_top_ratings(small):
    user = small.user_ids[5]
    top = rated_highest(small, user, n=4)
    mine = small.to_frame().query("user == @user")
    assert top["rating"].is_monotonic_decreasing
    assert top["rating"].iloc[0] == mine["rating"].max()
    assert set(top["item"]) <= set(mine["item"])


def test_recommendations_on_movielens_exclude_what_user_1_rated(movielens_small):
    model = cfnb.build_model("bias", movielens_small.n_users, movielens_small.n_items, n_factors=5)
    recs = recommend(model, movielens_small, 1, n=20)
    rated = set(movielens_small.to_frame().query("user == 1")["item"])
    assert len(rated) > 100 and not rated & set(recs["item"])
    assert recs["title"].str.len().gt(0).all()


def test_explore_with_tables_smaller_than_the_ratings_vocabulary_gives_predicts_check(small):
    """Issue 19, class 13: movie_bias and factor_pca indexed the model's tables with the ratings' codes
    (IndexError) when the model, trained on part of a vocabulary, has fewer rows than the ratings have
    movies; recommend, movie_bias and factor_pca now make predict's checks."""
    unbound = cfnb.build_model("bias", small.n_users - 5, small.n_items - 5, n_factors=3, seed=0)
    for name, call in (("predict", lambda m: cfnb.predict(m, small, small.user_ids[:3], small.item_ids[:3])),
                       ("recommend", lambda m: cfnb.recommend(m, small, small.user_ids[0])),
                       ("movie_bias", lambda m: cfnb.movie_bias(m, small)),
                       ("factor_pca", lambda m: cfnb.factor_pca(m, small))):
        with pytest.raises(cfnb.CfnbError, match="embedding rows for 55 and 75"):
            call(unbound)
    rows = (small.n_users - 10, small.n_items - 10)
    part = small.with_frame(small.frame[(small.frame["user"] < rows[0]) & (small.frame["item"] < rows[1])])
    trained = cfnb.build_model("bias", *rows, n_factors=3, seed=0)
    cfnb.fit_stages(trained, part, stages=[(1e-2, 1)], progress=False, seed=0)
    n_beyond = int((small.frame["item"].to_numpy() >= rows[1]).sum())
    for call in (cfnb.movie_bias, cfnb.factor_pca):
        with pytest.raises(cfnb.VocabularyError, match=f"{n_beyond:,} ratings of movies the model has no embedding"):
            call(trained, small)
    highest, _ = cfnb.movie_bias(trained, part)  # the set it was trained on is fine
    assert len(highest) == 10
    with pytest.warns(cfnb.DataWarning, match="cold-start"):
        cold = cfnb.recommend(trained, small, small.user_ids[rows[0] + 1])  # a user with no row: the fallback
    assert (cold["item"].map(dict(zip(small.item_ids, range(small.n_items)))) < rows[1]).all()
