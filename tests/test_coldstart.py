"""Cold start: users and movies with no training rating are predicted from what is known, and counted."""

import numpy as np
import pytest

import cfnb

COLD_USERS, COLD_ITEMS = [0, 1, 2, 3, 4], [0, 1, 2]  # codes whose every rating goes to validation


@pytest.fixture(scope="module")
def cold_split(small):
    f = small.frame
    to_val = f["user"].isin(COLD_USERS) | f["item"].isin(COLD_ITEMS) | (np.arange(len(f)) % 5 == 0)
    return small.with_frame(f[~to_val], "train"), small.with_frame(f[to_val], "val")


@pytest.fixture(scope="module")
def bias_model(small, cold_split):
    train, val = cold_split
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    cfnb.fit_stages(model, train, val, stages=[(2e-2, 4)], batch_size=128, progress=False, seed=0)
    return model


def raw(ratings, users, items):
    return ratings.user_ids.take(users), ratings.item_ids.take(items)


def test_evaluate_counts_cold_users_and_items(small, cold_split, bias_model):
    train, val = cold_split
    result = cfnb.evaluate(bias_model, val, train=train)
    vf = val.frame
    cold_rows = vf["user"].isin(COLD_USERS) | vf["item"].isin(COLD_ITEMS)
    assert (result["n_cold_users"], result["n_cold_items"]) == (len(COLD_USERS), len(COLD_ITEMS))
    assert result["n_cold"] == int(cold_rows.sum()) > 0
    assert result["n"] == len(val)
    plain = cfnb.evaluate(bias_model, val)
    assert set(plain) == {"rmse", "mae", "n"}  # without train: as before, nothing to tell cold from warm


def test_fallback_beats_untrained_embedding_rows(cold_split, bias_model):
    train, val = cold_split
    vf = val.frame
    cold = val.with_frame(vf[vf["user"].isin(COLD_USERS) | vf["item"].isin(COLD_ITEMS)])
    untrained = cfnb.evaluate(bias_model, cold)["rmse"]
    fallback = cfnb.evaluate(bias_model, cold, train=train)["rmse"]
    assert fallback < 0.8 * untrained
    assert fallback < 1.5


def test_fallback_is_mean_plus_known_side_bias(small, cold_split, bias_model):
    train, _ = cold_split
    mean = float(train.y.astype(np.float64).mean())
    ub = bias_model.get_layer("user_bias").get_weights()[0][:, 0].astype(np.float64)
    mb = bias_model.get_layer("movie_bias").get_weights()[0][:, 0].astype(np.float64)
    warm_user, warm_item = 10, 10
    users, items = raw(small, [COLD_USERS[0], warm_user, COLD_USERS[1]], [warm_item, COLD_ITEMS[0], COLD_ITEMS[1]])
    got = cfnb.predict(bias_model, train, users, items, unknown="fallback")
    expected = [mean + mb[warm_item] - mb[train.frame["item"]].mean(),   # cold user, known movie
                mean + ub[warm_user] - ub[train.frame["user"]].mean(),   # known user, cold movie
                mean]                                                    # both cold
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    never_seen = cfnb.predict(bias_model, train, ["no such user", 10**30], [small.item_ids[warm_item]] * 2,
                              unknown="fallback")
    np.testing.assert_allclose(never_seen, expected[0], rtol=1e-5)


def test_warm_pairs_are_the_model_itself(small, cold_split, bias_model):
    train, _ = cold_split
    users, items = raw(small, [10, 20, 30], [10, 20, 30])
    direct = bias_model.predict({"user_in": np.array([[10], [20], [30]], np.int32),
                                 "movie_in": np.array([[10], [20], [30]], np.int32)}, verbose=0).reshape(-1)
    np.testing.assert_allclose(cfnb.predict(bias_model, train, users, items, unknown="fallback"), direct, rtol=1e-6)
    np.testing.assert_allclose(cfnb.predict(bias_model, train, users, items), direct, rtol=1e-6)


def test_unknown_ids_raise_a_clear_error_by_default(small, cold_split, bias_model):
    train, _ = cold_split
    with pytest.raises(cfnb.CfnbError, match=r"user id\(s\) have no rating in 'train'.*123456.*unknown='fallback'"):
        cfnb.predict(bias_model, train, [123456], [small.item_ids[10]])
    only_in_val = int(small.user_ids[COLD_USERS[0]])
    with pytest.raises(cfnb.CfnbError, match=rf"e\.g\. {only_in_val}\. "):
        cfnb.predict(bias_model, train, [only_in_val], [small.item_ids[10]])
    with pytest.raises(cfnb.CfnbError, match="movie id"):
        cfnb.predict(bias_model, train, [small.user_ids[10]], ["Star Wars"])
    with pytest.raises(cfnb.CfnbError, match="unknown must be one of"):
        cfnb.predict(bias_model, train, 1, 1, unknown="zero")
    with pytest.raises(cfnb.CfnbError, match="same length"):
        cfnb.predict(bias_model, train, [1, 2, 3], [1, 2])


@pytest.mark.parametrize("kind", ["dot", "nn"])
def test_models_without_biases_fall_back_to_the_global_mean(small, cold_split, kind):
    train, val = cold_split
    model = cfnb.build_model(kind, small.n_users, small.n_items, n_factors=3, **({"hidden": 8} if kind == "nn" else {}))
    model.compile(optimizer="adam", loss="mse")
    users, items = raw(small, [COLD_USERS[0], 10], [10, COLD_ITEMS[0]])
    np.testing.assert_allclose(cfnb.predict(model, train, users, items, unknown="fallback"),
                               train.y.mean(), rtol=1e-5)
    assert cfnb.evaluate(model, val, train=train)["n_cold_users"] == len(COLD_USERS)


def test_y_range_fallback_stays_on_the_scale(small, cold_split):
    train, _ = cold_split
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=3, y_range=(0.5, 5.0))
    model.get_layer("movie_bias").set_weights([np.full((small.n_items, 1), 0.0, np.float32)])
    users, items = raw(small, [COLD_USERS[0], COLD_USERS[0]], [10, COLD_ITEMS[0]])
    got = cfnb.predict(model, train, users, items, unknown="fallback")
    np.testing.assert_allclose(got, train.y.mean(), rtol=1e-4)  # zero biases: back to the mean exactly
    model.get_layer("movie_bias").set_weights([np.full((small.n_items, 1), 50.0, np.float32)])
    model.get_layer("movie_bias").set_weights([np.where(np.arange(small.n_items)[:, None] == 10, 50.0, 0.0)
                                               .astype(np.float32)])
    high = cfnb.predict(model, train, users[:1], items[:1], unknown="fallback")
    assert 4.9 < high[0] <= 5.0


def test_ratings_that_do_not_fit_the_model_are_named(small):
    model = cfnb.build_model("dot", 5, 5, n_factors=2)
    with pytest.raises(cfnb.CfnbError, match="pass the Ratings the model was built"):
        cfnb.evaluate(model, small)
    with pytest.raises(cfnb.CfnbError, match="embedding rows for 5"):
        cfnb.predict(model, small, small.user_ids[-1], small.item_ids[-1])


def test_evaluate_with_train_from_other_mappings(small, cold_split, bias_model):
    """Held-out data loaded on its own (other codes) is matched to train by raw id."""
    train, val = cold_split
    separate = cfnb.load_ratings(val.to_frame(), user="user", item="item", rating="rating", duplicates="keep")
    a = cfnb.evaluate(bias_model, val, train=train)
    b = cfnb.evaluate(bias_model, separate, train=train)
    assert a["n_cold_users"] == b["n_cold_users"] and a["n_cold"] == b["n_cold"]
    assert a["rmse"] == pytest.approx(b["rmse"], rel=1e-6)
