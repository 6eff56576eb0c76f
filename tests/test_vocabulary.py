"""One id vocabulary: a set loaded on its own is coded in the training set's vocabulary, numbers are
recomputable from raw ids, and a set coded in another vocabulary is refused everywhere."""

import warnings

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.data.biases import fit_biases


def planted_frames(seed=0, n_users=40, n_items=50, n=2500):
    """Raw-id train and test frames with planted factors; test has 3 users and 2 movies train lacks."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    p, q = rng.normal(0, 0.6, (n_users, 3)), rng.normal(0, 0.6, (n_items, 3))
    r = np.clip(np.round(2 * (3.5 + (p[u] * q[i]).sum(1) + rng.normal(0, 0.3, n))) / 2, 1, 5)
    frame = pd.DataFrame({"userId": 1000 + 7 * u, "movieId": 50 + 3 * i, "rating": r}).drop_duplicates(["userId", "movieId"])
    test_mask = rng.random(len(frame)) < 0.2
    test_mask |= frame["userId"].isin(1000 + 7 * np.arange(3)).to_numpy()   # users only in test
    test_mask |= frame["movieId"].isin(50 + 3 * np.arange(2)).to_numpy()    # movies only in test
    return frame[~test_mask].reset_index(drop=True), frame[test_mask].reset_index(drop=True)


def numpy_rmse_by_raw_ids(model, train_frame, test_frame):
    """The dot model's RMSE on test, recomputed from raw ids with the model's weights and numpy alone."""
    users, items = np.unique(train_frame["userId"]), np.unique(train_frame["movieId"])  # sorted: train's codes
    U = model.get_layer("user_factors").get_weights()[0].astype(np.float64)
    M = model.get_layer("movie_factors").get_weights()[0].astype(np.float64)
    tu, ti = np.searchsorted(users, test_frame["userId"]), np.searchsorted(items, test_frame["movieId"])
    warm_u = (tu < len(users)) & (users[np.minimum(tu, len(users) - 1)] == test_frame["userId"].to_numpy())
    warm_i = (ti < len(items)) & (items[np.minimum(ti, len(items) - 1)] == test_frame["movieId"].to_numpy())
    train = cfnb.load_ratings(train_frame, scale=(1, 5))  # the biases-only fallback, from train alone
    b = fit_biases(train)
    pred = np.where(warm_u & warm_i, (U[np.where(warm_u, tu, 0)] * M[np.where(warm_i, ti, 0)]).sum(1),
                    b.mean + np.where(warm_u, b.user_bias[np.where(warm_u, tu, 0)], 0)
                    + np.where(warm_i, b.item_bias[np.where(warm_i, ti, 0)], 0))
    pred = np.clip(pred.astype(np.float32), 1, 5)
    return float(np.sqrt(np.mean((pred.astype(np.float64) - test_frame["rating"].to_numpy()) ** 2)))


def test_two_csv_files_loaded_separately_score_by_raw_id(tmp_path):
    train_frame, test_frame = planted_frames()
    train_frame.to_csv(tmp_path / "train.csv", index=False)
    test_frame.to_csv(tmp_path / "test.csv", index=False)
    train = cfnb.load_ratings(tmp_path / "train.csv", scale=(1, 5))
    with pytest.warns(cfnb.DataWarning, match=r"3 users and 2 items that 'train.csv' does not know"):
        test = cfnb.load_ratings(tmp_path / "test.csv", like=train)
    assert (test.n_new_users, test.n_new_items) == (3, 2)
    assert len(test) == len(test_frame)  # nothing dropped
    model = cfnb.build_model("dot", train, n_factors=3, l2=0.0, seed=0)
    with pytest.warns(cfnb.DataWarning, match="per-epoch val_rmse leaves them out"):
        cfnb.fit_stages(model, train, test, stages=[(2e-2, 3)], batch_size=64, progress=False, seed=0)
    result = cfnb.evaluate(model, test)
    assert result["rmse"] == pytest.approx(numpy_rmse_by_raw_ids(model, train_frame, test_frame), abs=1e-6)
    assert result["n_cold_users"] == 3 and result["n_cold_items"] == 2 and result["n"] == len(test_frame)
    # The same file loaded on its own codes other users: refused, not scored.
    alone = cfnb.load_ratings(tmp_path / "test.csv", scale=(1, 5))
    with pytest.raises(cfnb.VocabularyError, match=r"another id vocabulary.*train.encode"):
        cfnb.evaluate(model, alone)


def test_encode_keeps_known_codes_and_appends_new_ids_sorted():
    train_frame, test_frame = planted_frames(seed=1)
    train = cfnb.load_ratings(train_frame)
    with pytest.warns(cfnb.DataWarning):
        test = train.encode(test_frame)
    assert list(test.user_ids[:train.n_users]) == list(train.user_ids)
    new = list(test.user_ids[train.n_users:])
    assert new == sorted(set(test_frame["userId"]) - set(train_frame["userId"]))
    back = test.to_frame()  # raw ids survive the coding
    pd.testing.assert_frame_equal(back[["user", "item"]].astype("int64"),
                                  test_frame[["userId", "movieId"]].set_axis(["user", "item"], axis=1).astype("int64"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cfnb.DataWarning)
        same = train.encode(train_frame.iloc[:50])  # nothing new: the very same vocabulary, no warning
    assert same.vocabulary is train.vocabulary


def test_encode_refuses_ids_of_another_type():
    train = cfnb.load_ratings(pd.DataFrame({"userId": [1, 2], "movieId": [1, 2], "rating": [3.0, 4.0]}))
    other = pd.DataFrame({"userId": ["ann"], "movieId": [1], "rating": [4.0]})
    with pytest.raises(cfnb.DataError, match="ids of another type"):
        train.encode(other)


@pytest.fixture(scope="module")
def fitted(small):
    train, val = small.split(seed=3)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=3, seed=0)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0)
    return model, train, val


@pytest.fixture(scope="module")
def foreign(small):
    """The same ratings coded in another vocabulary (ids relabelled, so codes name other users)."""
    frame = small.to_frame()
    frame["user"] = frame["user"].map(lambda u: f"u{u}")  # text ids sort in another order
    return cfnb.load_ratings(frame, user="user", item="item", rating="rating", duplicates="keep", scale=(0.5, 5))


def every_function(model, ratings, tmp_path):
    yield "fit_stages", lambda: cfnb.fit_stages(model, ratings, stages=[(1e-3, 1)], progress=False)
    yield "fit_stages val", lambda: cfnb.fit_stages(model, cfnb.synthetic(n_users=60, n_items=80, n_ratings=3000),
                                                      ratings, stages=[(1e-3, 1)], progress=False)
    yield "evaluate", lambda: cfnb.evaluate(model, ratings)
    yield "predict", lambda: cfnb.predict(model, ratings, ratings.user_ids[:1], ratings.item_ids[:1])
    yield "predictions_table", lambda: cfnb.predictions_table(model, ratings)
    yield "recommend", lambda: cfnb.recommend(model, ratings, ratings.user_ids[0])
    yield "movie_bias", lambda: cfnb.movie_bias(model, ratings)
    yield "factor_pca", lambda: cfnb.factor_pca(model, ratings)
    yield "save", lambda: cfnb.save(model, ratings, tmp_path / "m.cfnb")


def test_every_function_refuses_another_vocabulary(fitted, foreign, tmp_path):
    model, train, _ = fitted
    weights = [w.copy() for w in model.get_weights()]
    for name, call in every_function(model, foreign, tmp_path):
        with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
            call()
    assert not (tmp_path / "m.cfnb").exists()
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)  # nothing trained on the wrong codes


def test_baselines_refuse_a_val_set_in_another_vocabulary(small, foreign):
    train, _ = small.split(seed=3)
    with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
        cfnb.baselines(train, foreign)


def test_widgets_refuse_a_model_bound_to_another_vocabulary(fitted, foreign):
    model, _, _ = fitted
    explore = cfnb.Explore(foreign, model=model)
    with pytest.raises(cfnb.VocabularyError):
        explore.refresh()  # what the Explore button does (the button shows the same error in the widget)


def test_build_model_with_ratings_binds_it_at_once(small, foreign):
    model = cfnb.build_model("dot", small, n_factors=2)
    assert model.get_layer("user_factors").input_dim == small.n_users
    with pytest.raises(cfnb.VocabularyError):
        cfnb.fit_stages(model, foreign, stages=[(1e-3, 1)], progress=False)
    with pytest.raises(TypeError, match="no n_items"):
        cfnb.build_model("dot", small, 5)


@pytest.mark.parametrize("engine", ["fast", "keras"])
def test_codes_beyond_the_tables_are_an_error_in_every_engine(small, engine):
    model = cfnb.build_model("dot", small.n_users - 5, small.n_items, n_factors=2)
    with pytest.raises(cfnb.VocabularyError, match=r"no embedding row for.*the model has 55 user rows"):
        cfnb.fit_stages(model, small, stages=[(1e-3, 1)], progress=False, engine=engine)
    assert cfnb.trained_on(model) is None


def test_fit_stages_on_a_data_frame_says_how_to_convert(small):
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2)
    with pytest.raises(cfnb.ArgumentTypeError, match=r"train must be a cfnb Ratings.*load_ratings\(frame\)"):
        cfnb.fit_stages(model, small.to_frame(), progress=False)
    with pytest.raises(TypeError, match="val must be"):
        cfnb.fit_stages(model, small, small.to_frame(), progress=False)


def test_a_100k_style_base_and_test_pair_scores_by_raw_id(tmp_path):
    """u1.base / u1.test: tab-separated, no header, user item rating timestamp; loaded apart."""
    train_frame, test_frame = planted_frames(seed=2)
    for frame, name in ((train_frame, "u1.base"), (test_frame, "u1.test")):
        frame.assign(timestamp=881250949 + np.arange(len(frame))).to_csv(tmp_path / name, sep="\t", header=False,
                                                                         index=False)
    columns = dict(sep="\t", header=None, names=["userId", "movieId", "rating", "timestamp"], scale=(1, 5))
    train = cfnb.load_ratings(tmp_path / "u1.base", **columns)
    with pytest.warns(cfnb.DataWarning, match="does not know"):
        test = cfnb.load_ratings(tmp_path / "u1.test", like=train, **columns)
    assert len(train) == len(train_frame) and len(test) == len(test_frame)  # no first rating lost as a header
    model = cfnb.build_model("dot", train, n_factors=3, l2=0.0, seed=1)
    with pytest.warns(cfnb.DataWarning):
        cfnb.fit_stages(model, train, test, stages=[(2e-2, 2)], batch_size=64, progress=False, seed=1)
    assert cfnb.evaluate(model, test)["rmse"] == pytest.approx(
        numpy_rmse_by_raw_ids(model, train_frame, test_frame), abs=1e-6)


def helpers_taking_two_sets(train, other):
    """Every helper that takes two sets (or a set and a sampler made from another), with `other` second."""
    from cfnb.evaluation.baselines import popularity
    from cfnb.evaluation.ranking import rank_scores
    from cfnb.training.implicit import NegativeSampler, validation_pairs

    scorer = popularity(train).score
    yield "sample_negatives", lambda: cfnb.sample_negatives(train, other, 5)
    yield "hit_rate_ndcg", lambda: cfnb.hit_rate_ndcg(scorer, train, other, 5)
    yield "ranking_metrics", lambda: cfnb.ranking_metrics(scorer, train, other)
    yield "rank_scores", lambda: rank_scores(scorer, train, other)
    yield "baselines", lambda: cfnb.baselines(train, other)
    yield "ranking_baselines", lambda: cfnb.ranking_baselines(train, other)
    yield "validation_pairs val", lambda: validation_pairs(train, other, 2, NegativeSampler(train, 0))
    yield "validation_pairs sampler", lambda: validation_pairs(train, train, 2, NegativeSampler(other, 0))


def test_every_helper_taking_two_sets_refuses_another_vocabulary(small, foreign):
    """Issue 19, class 2: failed before for sample_negatives, rank_scores and validation_pairs, which
    took a second set's codes as if they were the first one's."""
    train, _ = small.split(seed=3)
    for name, call in helpers_taking_two_sets(train, foreign):
        with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
            call()
            pytest.fail(f"{name} took a set coded in another vocabulary")


def test_a_sampler_catalogue_of_codes_outside_the_vocabulary_is_refused(small):
    """Issue 19, class 2: item codes from elsewhere (beyond the vocabulary, negative, not whole) were drawn as
    negatives; failed before."""
    from cfnb.training.implicit import NegativeSampler

    for catalogue, match in (([0, small.n_items], rf"code {small.n_items};.*{small.n_items} items"),
                             ([-1, 2], "code -1"), ([0.5, 1], "whole numbers"), ([], "empty")):
        with pytest.raises(cfnb.VocabularyError, match=match):
            NegativeSampler(small, 0, np.array(catalogue))
    assert NegativeSampler(small, 0, np.array([3, 1])).catalogue.tolist() == [3, 1]
