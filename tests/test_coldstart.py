"""Cold start: users and movies with no training rating are predicted by the fallback, counted, and
said so; the model remembers what it was trained on, through save/load too."""

import warnings

import numpy as np
import pytest

import cfnb
from cfnb.data.biases import fit_biases

COLD_USERS, COLD_ITEMS = [0, 1, 2, 3, 4], [0, 1, 2]  # codes whose every rating goes to validation


@pytest.fixture(scope="module")
def cold_split(small):
    f = small.frame
    to_val = f["user"].isin(COLD_USERS) | f["item"].isin(COLD_ITEMS) | (np.arange(len(f)) % 5 == 0)
    return small.with_frame(f[~to_val], "train"), small.with_frame(f[to_val], "val")


def fitted(kind, small, train, val, **hp):
    model = cfnb.build_model(kind, small.n_users, small.n_items, n_factors=4, seed=0, **hp)
    cfnb.fit_stages(model, train, val, stages=[(2e-2, 3)], batch_size=128, progress=False, seed=0)
    return model


@pytest.fixture(scope="module")
def bias_model(small, cold_split):
    return fitted("bias", small, *cold_split)


def raw(ratings, users, items):
    return ratings.user_ids.take(users), ratings.item_ids.take(items)


def expected_fallback(train, users, items):
    """Training mean + the biases-only offsets of each known side, recomputed here from the codes."""
    b = fit_biases(train)
    seen_u = np.bincount(train.frame["user"], minlength=train.n_users) > 0
    seen_i = np.bincount(train.frame["item"], minlength=train.n_items) > 0
    return np.clip(b.mean + np.where(seen_u[users], b.user_bias[users], 0) + np.where(seen_i[items], b.item_bias[items], 0),
                   0.5, 5.0)


def test_the_fit_records_what_the_model_was_trained_on(small, cold_split, bias_model):
    train, _ = cold_split
    record = cfnb.trained_on(bias_model)
    assert record.n == len(train)
    assert record.mean == pytest.approx(float(train.y.astype(np.float64).mean()))
    assert record.scale == (0.5, 5.0)
    assert not record.known_users(COLD_USERS).any() and record.known_users([10, 20]).all()
    assert not record.known_items(COLD_ITEMS).any()


def test_evaluate_counts_cold_users_and_items_without_being_told(small, cold_split, bias_model):
    train, val = cold_split
    result = cfnb.evaluate(bias_model, val)
    vf = val.frame
    cold_rows = vf["user"].isin(COLD_USERS) | vf["item"].isin(COLD_ITEMS)
    assert (result["n_cold_users"], result["n_cold_items"]) == (len(COLD_USERS), len(COLD_ITEMS))
    assert result["n_cold"] == int(cold_rows.sum()) > 0
    assert result["n"] == len(val)
    assert cfnb.evaluate(bias_model, val, train=train) == result  # train= agrees with the record


def test_evaluate_is_the_rmse_of_predict_recomputed_from_raw_ids(small, cold_split, bias_model):
    _, val = cold_split
    f = val.to_frame()
    pred = cfnb.predict(bias_model, small, f["user"], f["item"], unknown="fallback")
    rmse = float(np.sqrt(np.mean((pred.astype(np.float64) - f["rating"].to_numpy()) ** 2)))
    assert cfnb.evaluate(bias_model, val)["rmse"] == pytest.approx(rmse, abs=1e-6)


def test_fallback_is_mean_plus_known_sides_offsets(small, cold_split, bias_model):
    train, _ = cold_split
    users, items = [COLD_USERS[0], 10, COLD_USERS[1]], [10, COLD_ITEMS[0], COLD_ITEMS[1]]
    got = cfnb.predict(bias_model, small, *raw(small, users, items), unknown="fallback")
    np.testing.assert_allclose(got, expected_fallback(train, np.array(users), np.array(items)), rtol=1e-5)
    never_seen = cfnb.predict(bias_model, small, [-123456, 10**30], [small.item_ids[10]] * 2, unknown="fallback")
    np.testing.assert_allclose(never_seen, expected_fallback(train, np.array([COLD_USERS[0]]), np.array([10]))[0],
                               rtol=1e-5)


def test_warm_pairs_are_the_model_itself(small, cold_split, bias_model):
    users, items = raw(small, [10, 20, 30], [10, 20, 30])
    direct = bias_model.predict({"user_in": np.array([[10], [20], [30]], np.int32),
                                 "movie_in": np.array([[10], [20], [30]], np.int32)}, verbose=0).reshape(-1)
    np.testing.assert_allclose(cfnb.predict(bias_model, small, users, items, clip=False), direct, rtol=1e-6)
    np.testing.assert_allclose(cfnb.predict(bias_model, small, users, items), np.clip(direct, 0.5, 5), rtol=1e-6)


def test_unknown_ids_raise_a_clear_error_by_default(small, cold_split, bias_model):
    with pytest.raises(cfnb.CfnbError, match=r"user id\(s\) have no training rating.*123456.*unknown='fallback'"):
        cfnb.predict(bias_model, small, [123456], [small.item_ids[10]])
    only_in_val = int(small.user_ids[COLD_USERS[0]])  # in the full Ratings, but never trained on
    with pytest.raises(cfnb.CfnbError, match=rf"e\.g\. {only_in_val}\. "):
        cfnb.predict(bias_model, small, [only_in_val], [small.item_ids[10]])
    with pytest.raises(cfnb.CfnbError, match="movie id"):
        cfnb.predict(bias_model, small, [small.user_ids[10]], [10**30])
    with pytest.raises(cfnb.VocabularyError, match="item id 'Star Wars' is text.*integers"):  # not cold: refused
        cfnb.predict(bias_model, small, [small.user_ids[10]], ["Star Wars"], unknown="fallback")
    with pytest.raises(cfnb.CfnbError, match="unknown must be one of"):
        cfnb.predict(bias_model, small, 1, 1, unknown="zero")
    with pytest.raises(cfnb.CfnbError, match="same length"):
        cfnb.predict(bias_model, small, [1, 2, 3], [1, 2])


@pytest.mark.parametrize("kind", ["dot", "bias", "nn"])
def test_cold_users_get_fallback_recommendations_on_the_scale(small, cold_split, kind, tmp_path):
    train, val = cold_split
    model = fitted(kind, small, train, val, **({"hidden": 8} if kind == "nn" else {}))
    cold_user = small.user_ids[COLD_USERS[0]]
    path = tmp_path / f"{kind}.cfnb"
    cfnb.save(model, train, path)
    loaded, _ = cfnb.load(path)
    for m in (model, loaded):
        with pytest.warns(cfnb.DataWarning, match="no training rating.*fallback"):
            recs = cfnb.recommend(m, small, cold_user, n=8)
        assert "fallback" in recs.attrs["note"]
        assert recs["predicted"].between(0.5, 5.0).all()
        codes = small.item_codes(recs["item"])
        np.testing.assert_allclose(recs["predicted"], expected_fallback(train, np.full(8, COLD_USERS[0]), codes),
                                   rtol=1e-5)
        assert not np.isin(codes, COLD_ITEMS).any()  # movies never trained on are not recommended
    warm = small.user_ids[10]
    with warnings.catch_warnings():
        warnings.simplefilter("error", cfnb.DataWarning)
        recs = cfnb.recommend(model, small, warm, n=5)
    assert "note" not in recs.attrs and recs["predicted"].between(0.5, 5.0).all()


def test_predictions_are_clipped_to_the_scale_unless_raw_is_asked(small, cold_split):
    train, val = cold_split
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=3, seed=1)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0)
    model.get_layer("movie_bias").set_weights([np.full((small.n_items, 1), 9.0, np.float32)])  # way past 5 stars
    users, items = raw(small, [10, 11], [10, 11])
    assert (cfnb.predict(model, small, users, items) == 5.0).all()
    assert (cfnb.predict(model, small, users, items, clip=False) > 8).all()
    assert cfnb.evaluate(model, val)["rmse"] < cfnb.evaluate(model, val, clip=False)["rmse"]


def test_ratings_that_do_not_fit_an_unfitted_model_are_named(small):
    model = cfnb.build_model("dot", 5, 5, n_factors=2)
    with pytest.raises(cfnb.CfnbError, match="pass the Ratings the model was built"):
        cfnb.evaluate(model, small)
    with pytest.raises(cfnb.CfnbError, match="embedding rows for 5"):
        cfnb.predict(model, small, small.user_ids[-1], small.item_ids[-1])


def test_fitting_again_on_the_same_set_counts_it_once_and_another_set_adds(small, cold_split):
    train, val = cold_split
    model = fitted("dot", small, train, val)
    cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False, seed=1)  # resume on the same set
    assert cfnb.trained_on(model).n == len(train)
    extra = val.with_frame(val.frame.iloc[:40], "extra")
    cfnb.fit_stages(model, extra, stages=[(1e-3, 1)], progress=False, seed=1)
    record = cfnb.trained_on(model)
    assert record.n == len(train) + 40
    assert record.mean == pytest.approx(float(np.concatenate([train.y, extra.y]).astype(np.float64).mean()))
