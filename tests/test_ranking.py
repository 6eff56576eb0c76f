"""Ranking metrics: a hand-computed example, the random expectation, an oracle, edge cases, the
baselines, and the fast (embedding-table) path against model.predict."""

import math
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.data.biases import fit_biases
from cfnb.evaluation.baselines import popularity
from cfnb.names import ITEM_FACTORS, USER_FACTORS
from cfnb.evaluation.ranking import rank_scores, top_k
from cfnb.evaluation.scoring import _table_formula, model_scorer
from cfnb.models.record import summarize, table_sizes

# ----------------------------------------------------------------------- the hand-computed example
# 3 users, 6 items. Training items: user 0 {0, 1}, user 1 {2, 3}, user 2 {4, 5, 0}; every item has a
# training rating, so the catalogue is all 6. Relevant (>= 4) test items: user 0 {2, 3} (item 4 is
# rated 2.0), user 1 {0} (item 5 is rated 3.0), user 2 {1, 2, 3}.
TRAIN = [(0, 0, 3.0), (0, 1, 4.0), (1, 2, 2.0), (1, 3, 5.0), (2, 4, 1.0), (2, 5, 3.0), (2, 0, 4.0)]
TEST = [(0, 2, 5.0), (0, 3, 4.0), (0, 4, 2.0), (1, 0, 4.5), (1, 5, 3.0), (2, 1, 4.0), (2, 2, 4.0), (2, 3, 5.0)]
SCORES = np.array([[9, 8, 1, 5, 6, 3],     # user 0, candidates 2..5 ranked 4, 3, 5, 2
                   [2, 7, 0, 0, 4, 1],     # user 1, candidates 0, 1, 4, 5 ranked 1, 4, 0, 5
                   [0, 3, 2, 6, 0, 0]],    # user 2, candidates 1, 2, 3 ranked 3, 1, 2
                  dtype=np.float32)
L3 = math.log2(3)
EXPECTED = {
    # k = 2: user 0's list [4, 3] has one hit at rank 2 (of 2 relevant); user 1's [1, 4] none;
    # user 2's [3, 1] two hits at ranks 1 and 2 (of 3 relevant). Coverage: items {1, 3, 4} of 6.
    2: {"precision": (1 / 2 + 0 + 2 / 2) / 3,
        "recall": (1 / 2 + 0 + 2 / 3) / 3,
        "ndcg": ((1 / L3) / (1 + 1 / L3) + 0 + (1 + 1 / L3) / (1 + 1 / L3)) / 3,
        "hit_rate": 2 / 3, "coverage": 3 / 6, "n_users": 3},
    # k = 10, more than any user's candidates: the lists are every candidate, precision still / 10.
    # user 0 [4, 3, 5, 2]: hits at 2 and 4; user 1 [1, 4, 0, 5]: hit at 3; user 2 [3, 1, 2]: all 3.
    10: {"precision": (2 / 10 + 1 / 10 + 3 / 10) / 3,
         "recall": 1.0,
         "ndcg": ((1 / L3 + 1 / math.log2(5)) / (1 + 1 / L3) + (1 / 2) / 1 + 1.0) / 3,
         "hit_rate": 1.0, "coverage": 6 / 6, "n_users": 3},
}


@pytest.fixture(scope="module")
def hand():
    rows = pd.DataFrame([*TRAIN, *TEST], columns=["userId", "movieId", "rating"])
    ratings = cfnb.load_ratings(rows, name="hand")
    is_train = np.arange(len(rows)) < len(TRAIN)
    return ratings.with_frame(ratings.frame[is_train], "train"), ratings.with_frame(ratings.frame[~is_train], "test")


def matrix_scorer(matrix):
    """The documented seam: a scorer reading a (users x items) matrix of scores."""
    return lambda users, items: np.asarray(matrix)[users][:, items]


def fixed_dot_model(matrix):
    """A cfnb dot model whose user factors are the rows of `matrix` and movie factors the identity."""
    n_users, n_items = matrix.shape
    model = cfnb.build_model("dot", n_users, n_items, n_factors=n_items, l2=0.0)
    model.get_layer(USER_FACTORS).set_weights([matrix])
    model.get_layer(ITEM_FACTORS).set_weights([np.eye(n_items, dtype=np.float32)])
    return model


def plain_keras_model(matrix):
    """The same scores from a Keras model cfnb did not build (scored through model.predict)."""
    n_users, n_items = matrix.shape
    u = keras.Input((1,), dtype="int32", name="user_in")
    m = keras.Input((1,), dtype="int32", name="movie_in")
    pu = keras.layers.Embedding(n_users, n_items, name="p")(u)
    qi = keras.layers.Embedding(n_items, n_items, name="q")(m)
    model = keras.Model([u, m], keras.layers.Flatten()(keras.layers.Dot(axes=2)([pu, qi])))
    model.get_layer("p").set_weights([matrix])
    model.get_layer("q").set_weights([np.eye(n_items, dtype=np.float32)])
    return model


@pytest.mark.parametrize("k", [2, 10])
@pytest.mark.parametrize("how", ["scores matrix", "cfnb dot model", "plain Keras model"])
def test_hand_computed_example(hand, k, how):
    train, test = hand
    model = {"scores matrix": matrix_scorer(SCORES), "cfnb dot model": fixed_dot_model(SCORES),
             "plain Keras model": plain_keras_model(SCORES)}[how]
    if how == "cfnb dot model":
        assert _table_formula(model) is not None  # really the embedding-table path
    got = cfnb.ranking_metrics(model, train, test, k=k)
    for key, value in EXPECTED[k].items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert (got["k"], got["n_items"], got["n_cold_users"], got["n_unrankable"]) == (k, 6, 0, 0)


def test_the_relevance_threshold_and_implicit_feedback(hand):
    train, test = hand
    # relevant=5: user 0 {2}, user 2 {3}; user 1 has none. k=2 lists: [4, 3] and [3, 1].
    got = cfnb.ranking_metrics(matrix_scorer(SCORES), train, test, k=2, relevant=5.0)
    assert got["n_users"] == 2 and got["hit_rate"] == 1 / 2 and got["recall"] == 1 / 2
    assert got["ndcg"] == pytest.approx((0 + 1) / 2)
    # relevant=None: every test rating counts: user 0 {2, 3, 4}, user 1 {0, 5}, user 2 {1, 2, 3}.
    got = cfnb.ranking_metrics(matrix_scorer(SCORES), train, test, k=2, relevant=None)
    assert got["n_users"] == 3 and got["hit_rate"] == 2 / 3
    assert got["precision"] == pytest.approx((2 / 2 + 0 + 2 / 2) / 3)


def test_ties_go_to_the_lower_item_code():
    scores = np.array([[1.0, 3.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0, 2.0], [5, 4, 3, 2, 1]])
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 1], [0, 1]]
    assert top_k(scores, 4).tolist() == [[1, 2, 3, 0], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert top_k(np.array([[-np.inf, 1.0, -np.inf]]), 3).tolist() == [[1, 0, 2]]


def test_the_top_k_of_random_scores_is_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, (50, 40)).astype(float)  # many ties
    for k in (1, 5, 40):
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        assert (top_k(scores, k) == expected).all()


# ----------------------------------------------------------------------- random and oracle models
@pytest.fixture(scope="module")
def synthetic_split():
    ratings = cfnb.synthetic(n_users=150, n_items=200, n_ratings=9000, seed=3)
    return ratings.split(0.3, seed=1)


def per_user(train, test, relevant=4.0):
    """Each evaluated user's candidates C and relevant items R, recomputed with pandas."""
    tr, te = train.frame, test.frame
    catalogue = set(tr["item"])
    seen = tr.groupby("user")["item"].agg(set)
    liked = te[te["rating"] >= relevant].groupby("user")["item"].agg(set)
    out = []
    for user, items in liked.items():
        mine = seen.get(user, set())
        rel = (items & catalogue) - mine
        if rel:
            out.append((len(catalogue - mine), len(rel)))
    return np.array(out)


def test_a_random_model_scores_the_random_expectation(synthetic_split):
    """Random scores make each list a uniform draw of k candidates: hits are hypergeometric."""
    train, test = synthetic_split
    k = 10
    c, r = per_user(train, test).T
    rng = np.random.default_rng(7)
    got = cfnb.ranking_metrics(lambda users, items: rng.random((len(users), len(items))), train, test, k=k)
    assert got["n_users"] == len(c)
    n = len(c)
    # precision: E[hits] = k R / C; variance k (R/C)(1 - R/C)(C - k)/(C - 1), users independent.
    var_hits = k * (r / c) * (1 - r / c) * (c - k) / (c - 1)
    mean_p, se_p = np.mean(r / c), math.sqrt(np.sum(var_hits)) / (n * k)
    assert abs(got["precision"] - mean_p) < 4 * se_p
    # hit rate: P(no hit) = C(C - R, k) / C(C, k).
    p_hit = np.array([1 - math.comb(ci - ri, k) / math.comb(ci, k) for ci, ri in zip(c, r)])
    se_h = math.sqrt(np.sum(p_hit * (1 - p_hit))) / n
    assert abs(got["hit_rate"] - p_hit.mean()) < 4 * se_h
    # recall = hits / R: E = k / C, variance the hits' over R squared.
    assert abs(got["recall"] - np.mean(k / c)) < 4 * math.sqrt(np.sum(var_hits / r ** 2)) / n
    assert got["precision"] < 0.5 * cfnb.ranking_metrics(oracle(test), train, test, k=k)["precision"]


def oracle(test, relevant=4.0):
    """Scores 1 for each of the user's relevant test items, 0 elsewhere."""
    f = test.frame[test.frame["rating"] >= relevant]
    liked = np.zeros((test.n_users, test.n_items))
    liked[f["user"], f["item"]] = 1.0
    return lambda users, items: liked[users][:, items]


def test_a_model_that_scores_every_test_item_highest_gets_hit_rate_1(synthetic_split):
    train, test = synthetic_split
    c, r = per_user(train, test).T
    for k in (1, 5, 10):
        got = cfnb.ranking_metrics(oracle(test), train, test, k=k)
        assert got["hit_rate"] == 1.0 and got["ndcg"] == pytest.approx(1.0)
        assert got["precision"] == pytest.approx(np.mean(np.minimum(k, r) / k))
        assert got["recall"] == pytest.approx(np.mean(np.minimum(k, r) / r))


# ------------------------------------------------------------------------------------ edge cases
def test_users_with_no_candidates_and_items_outside_the_catalogue(hand):
    train, test = hand
    f = train.frame
    # user 2 also rated items 1, 2, 3 in training: no candidates left, so not evaluated, and its
    # relevant test ratings cannot be ranked; item 5 leaves the catalogue (no training rating).
    more = pd.DataFrame({"user": np.int32([2, 2, 2]), "item": np.int32([1, 2, 3]), "rating": np.float32([3, 3, 3])})
    train2 = train.with_frame(pd.concat([f[f["item"] != 5], more]))
    got = cfnb.ranking_metrics(matrix_scorer(SCORES), train2, test, k=2)
    assert got["n_users"] == 2 and got["n_items"] == 5
    assert got["n_unrankable"] == 3  # user 2's relevant 1, 2, 3 (item 5 was not relevant)
    # user 0 [4, 3]: hit at 2; user 1, candidates {0, 1, 4}: [1, 4]: none.
    assert got["hit_rate"] == 1 / 2 and got["coverage"] == pytest.approx(3 / 5)


def test_a_cold_test_user_is_ranked_by_the_fallback(hand):
    train, test = hand
    # user 3 has no training rating: the model path ranks for them with training mean + item offsets.
    cold = pd.DataFrame({"userId": [3, 3], "movieId": [4, 1], "rating": [5.0, 4.0]})
    with pytest.warns(cfnb.DataWarning, match="1 users and 0 items"):
        test2 = train.encode(pd.concat([test.to_frame().rename(columns={"user": "userId", "item": "movieId"}), cold]))
    model = fixed_dot_model(np.vstack([SCORES, np.zeros((1, 6), np.float32)]))
    only_cold = test2.with_frame(test2.frame[test2.frame["user"] == 3])
    got = cfnb.ranking_metrics(model, train, only_cold, k=2)
    assert got["n_cold_users"] == 1 and got["n_users"] == 1
    assert got == {**cfnb.ranking_metrics(fit_biases(train).score, train, only_cold, k=2), "n_cold_users": 1}
    assert cfnb.ranking_metrics(model, train, test2, k=2)["n_users"] == 4


def test_no_relevant_test_rating_gives_nan_with_zero_users(hand):
    train, test = hand
    got = cfnb.ranking_metrics(matrix_scorer(SCORES), train, test.with_frame(test.frame.iloc[:0]))
    assert got["n_users"] == 0 and all(math.isnan(got[m]) for m in ("precision", "recall", "ndcg", "hit_rate"))


def test_bad_arguments_get_cfnb_errors(hand, small):
    train, test = hand
    scorer = matrix_scorer(SCORES)
    for kwargs, message in (({"k": 0}, "k must be at least 1"), ({"k": 2.5}, "k must be a whole number"),
                            ({"relevant": "4"}, "relevant must be a number"),
                            ({"batch_size": None}, "batch_size must be a whole number")):
        with pytest.raises(cfnb.ArgumentError, match=message):
            cfnb.ranking_metrics(scorer, train, test, **kwargs)
    with pytest.raises(cfnb.ArgumentTypeError, match="model must be a Keras model or a scorer"):
        cfnb.ranking_metrics("bias", train, test)
    with pytest.raises(cfnb.ArgumentTypeError, match="test must be a cfnb Ratings.*train.encode"):
        cfnb.ranking_metrics(scorer, train, test.to_frame())
    with pytest.raises(cfnb.VocabularyError, match="test .* another id vocabulary .*train.encode"):
        cfnb.ranking_metrics(scorer, train, small)
    with pytest.raises(cfnb.CfnbError, match="train .* is empty"):
        cfnb.ranking_metrics(scorer, train.with_frame(train.frame.iloc[:0]), test)
    with pytest.raises(cfnb.CfnbError, match="shape"):
        cfnb.ranking_metrics(lambda u, i: np.zeros((len(u), 2)), train, test)
    with pytest.raises(cfnb.CfnbError, match="NaN"):
        cfnb.ranking_metrics(lambda u, i: np.full((len(u), len(i)), np.nan), train, test)


def test_a_model_bound_to_another_vocabulary_is_refused(small, hand):
    train, test = hand
    model = cfnb.build_model("dot", small, n_factors=2)
    with pytest.raises(cfnb.VocabularyError, match="train .* another id vocabulary"):
        cfnb.ranking_metrics(model, train, test)
    strain, _ = small.split(0.2, seed=0)
    with pytest.raises(cfnb.VocabularyError, match="test .* another id vocabulary"):
        cfnb.ranking_metrics(model, strain, test)


# ------------------------------------------------------------------------- fast path, baselines
@pytest.mark.parametrize("kind,hp", [("dot", {}), ("bias", {}), ("bias", {"y_range": (0.0, 5.5)})])
def test_the_table_path_ranks_as_model_predict_does(small, kind, hp):
    train, val = small.split(0.2, seed=0)
    model = cfnb.build_model(kind, small, n_factors=4, seed=1, **hp)
    cfnb.fit_stages(model, train, val, stages=[(2e-2, 2)], batch_size=128, progress=False, seed=0)
    known = summarize(train)
    fast, slow = model_scorer(model, known), model_scorer(model, known, tables=False)
    users, items = np.arange(small.n_users), np.arange(small.n_items)
    np.testing.assert_allclose(fast(users, items), slow(users, items), rtol=1e-5, atol=1e-5)
    grid = np.random.default_rng(0).integers(0, small.n_items, (small.n_users, 7))
    np.testing.assert_allclose(fast(users, grid), slow(users, grid), rtol=1e-5, atol=1e-5)
    a, b = rank_scores(fast, train, val), rank_scores(slow, train, val)
    assert a == pytest.approx(b, abs=0.02)


def test_the_table_path_is_only_for_the_dot_and_bias_graphs(small):
    assert _table_formula(cfnb.build_model("nn", small, n_factors=2)) is None
    assert _table_formula(plain_keras_model(SCORES)) is None
    assert _table_formula(cfnb.build_model("bias", small, n_factors=2)) is not None


def test_ranking_baselines(synthetic_split):
    train, test = synthetic_split
    table = cfnb.ranking_baselines(train, test, k=5)
    assert list(table["name"]) == ["most popular", "user + movie biases"]
    assert {"precision", "recall", "ndcg", "hit_rate", "coverage", "n_users"} <= set(table.columns)
    assert table.iloc[0]["ndcg"] == cfnb.ranking_metrics(popularity(train).score, train, test, k=5)["ndcg"]
    assert table.iloc[1]["ndcg"] == cfnb.ranking_metrics(fit_biases(train).score, train, test, k=5)["ndcg"]
    # everyone gets the same most-popular list, minus what they rated: few distinct items are shown
    assert table.iloc[0]["coverage"] < 0.2


def test_popularity_ranks_by_training_count(hand):
    train, _ = hand
    scores = popularity(train).score(np.array([0, 1]), np.arange(6))
    assert scores.tolist() == [[2, 1, 1, 1, 1, 1]] * 2


def test_baselines_table_has_the_ndcg_of_the_biases(synthetic_split):
    train, test = synthetic_split
    table = cfnb.baselines(train, test)
    assert math.isnan(table.iloc[0]["ndcg@10"])
    assert table.iloc[1]["ndcg@10"] == cfnb.ranking_metrics(fit_biases(train).score, train, test)["ndcg"]
    assert "ndcg@5" in cfnb.baselines(train, test, k=5).columns


# ------------------------------------------------------------------ every kind, and as recommend ranks
@pytest.fixture(scope="module")
def split_with_a_cold_user(small):
    """A split of `small` whose training part has no rating by the first user (cold: ranked by the fallback)."""
    train, val = small.split(0.2, seed=0)
    return train.with_frame(train.frame[train.frame["user"] != 0], "train, user 0 cold"), val


@pytest.mark.parametrize("kind", list(cfnb.models.REGISTRY))
def test_every_registered_kind_is_ranked(split_with_a_cold_user, small, kind):
    """Every kind in the registry (on this backend): finite metrics, the cold user counted, and the
    scores are model.predict's (the table path, where a kind has one, agrees with it)."""
    train, val = split_with_a_cold_user
    model = cfnb.build_model(kind, small, seed=1)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], batch_size=256, progress=False, seed=0)
    got = cfnb.ranking_metrics(model, train, val, k=5)
    assert got["n_users"] > 0 and got["n_cold_users"] == 1
    assert all(0 <= got[m] <= 1 for m in ("precision", "recall", "ndcg", "hit_rate", "coverage"))
    slow = rank_scores(model_scorer(model, summarize(train, table_sizes(model)), tables=False), train, val, k=5)
    assert got == pytest.approx(slow, abs=0.02)


@pytest.mark.parametrize("kind,hp", [("bias", {"y_range": (0.0, 5.5)}), ("nn", {})])
def test_a_users_list_is_what_recommend_ranks_unclipped(split_with_a_cold_user, small, kind, hp):
    """The ranked list of a warm and of a cold user is `cfnb.recommend(..., clip=False)`'s: same
    scores (model or cold-start fallback), same exclusions, same tie rule."""
    train, val = split_with_a_cold_user
    model = cfnb.build_model(kind, small, seed=1, **hp)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=256, progress=False, seed=0)
    scorer = model_scorer(model, summarize(train, table_sizes(model)))
    catalogue = np.flatnonzero(np.bincount(train.frame["item"], minlength=train.n_items) > 0)
    for user in (0, 1):  # 0 is cold, 1 is warm
        scores = scorer(np.array([user]), catalogue)
        rated = np.isin(catalogue, train.frame.loc[train.frame["user"] == user, "item"])
        scores[:, rated] = -np.inf
        ours = catalogue[top_k(scores, 10)[0]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cfnb.DataWarning)  # the cold user's note
            theirs = cfnb.recommend(model, train, small.user_ids[user], n=10, clip=False)
        assert ours.tolist() == small.item_ids.get_indexer(theirs["item"]).tolist()
        np.testing.assert_allclose(np.sort(scores[0])[::-1][:10], theirs["predicted"], rtol=1e-5, atol=1e-5)
