"""Issue 19, class 7: every count a report gives (users ranked or skipped, ratings that could not be ranked,
duplicates merged, ids new to a vocabulary, val ratings left out of val_rmse) recomputed here from the raw
ids, and compared exactly."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.evaluation.baselines import popularity


def frames(seed=0):
    """A training frame and a test frame in raw ids: the test frame has users and movies the training frame
    lacks, pairs also rated in training, and repeated pairs."""
    rng = np.random.default_rng(seed)
    train = pd.DataFrame({"userId": rng.integers(0, 30, 600) * 7, "movieId": rng.integers(0, 40, 600) * 3,
                          "rating": rng.integers(1, 6, 600).astype(float)}).drop_duplicates(["userId", "movieId"])
    test = pd.DataFrame({"userId": rng.integers(0, 36, 200) * 7, "movieId": rng.integers(0, 45, 200) * 3,
                         "rating": rng.integers(1, 6, 200).astype(float)})
    return train, pd.concat([test, test.iloc[:15]], ignore_index=True)  # 15 repeated rows at least


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return call(*args, **kwargs), [str(w.message) for w in caught]


def test_ranking_metrics_counts_match_the_raw_ids():
    """Failed before: n_unrankable counted distinct pairs, not ratings, and the users left with nothing
    to rank were not counted at all (now n_users_skipped)."""
    train_frame, test_frame = frames()
    train = cfnb.load_ratings(train_frame)
    test, _ = quiet(train.encode, test_frame, duplicates="keep")
    got = cfnb.ranking_metrics(popularity(train).score, train, test, k=5, relevant=4.0)
    assert {key: got[key] for key in RANKING_COUNTS} == raw_ranking_counts(train_frame, test_frame, 4.0)


RANKING_COUNTS = ("n_unrankable", "n_users", "n_users_skipped", "n_cold_users", "n_items")


def raw_ranking_counts(train_frame, test_frame, relevant):
    """ranking_metrics' counts, from the raw ids of the two frames (columns userId, movieId, rating)."""
    seen = set(zip(train_frame.userId, train_frame.movieId))
    liked = test_frame[test_frame.rating >= relevant] if relevant is not None else test_frame
    rankable = liked.movieId.isin(set(train_frame.movieId)) & ~pd.Series(
        [p in seen for p in zip(liked.userId, liked.movieId)], index=liked.index, dtype=bool)
    users = set(liked.userId[rankable])
    return {"n_unrankable": int((~rankable).sum()), "n_users": len(users),
            "n_users_skipped": len(set(liked.userId) - users), "n_cold_users": len(users - set(train_frame.userId)),
            "n_items": train_frame.movieId.nunique()}


def test_hit_rate_ndcg_counts_match_the_raw_ids():
    train_frame, test_frame = frames(1)
    train = cfnb.load_ratings(train_frame)
    test, _ = quiet(train.encode, test_frame, duplicates="keep")
    got = cfnb.hit_rate_ndcg(popularity(train).score, train, test, n_negatives=5)
    ok = test_frame.userId.isin(set(train_frame.userId)) & test_frame.movieId.isin(set(train_frame.movieId))
    assert (got["n"], got["n_skipped"]) == (int(ok.sum()), int((~ok).sum()))


@pytest.mark.parametrize("policy", ["mean", "first", "last"])
def test_the_duplicate_warning_counts_pairs_and_rows(policy):
    _, test_frame = frames(2)
    sizes = test_frame.groupby(["userId", "movieId"]).size()
    loaded, said = quiet(cfnb.load_ratings, test_frame, duplicates=policy)
    (message,) = [m for m in said if "more than once" in m]
    found = re.search(r"rates ([\d,]+) .* \(([\d,]+) rows", message).groups()
    pairs, rows = (int(s.replace(",", "")) for s in found)
    assert (pairs, rows) == (int((sizes > 1).sum()), int(sizes[sizes > 1].sum()))
    assert len(loaded) == len(sizes)


def test_encode_counts_new_ids_and_their_ratings():
    """Failed before: a part of an encoded set (with_frame, split) reported the whole set's new ids."""
    train_frame, test_frame = frames(3)
    train = cfnb.load_ratings(train_frame)
    test, said = quiet(train.encode, test_frame, duplicates="keep")
    new_users = set(test_frame.userId) - set(train_frame.userId)
    new_items = set(test_frame.movieId) - set(train_frame.movieId)
    cold = test_frame.userId.isin(new_users) | test_frame.movieId.isin(new_items)
    assert (test.n_new_users, test.n_new_items) == (len(new_users), len(new_items))
    (message,) = [m for m in said if "does not know" in m]
    assert f"{len(new_users):,} users and {len(new_items):,} items" in message
    assert f"({int(cold.sum()):,} of its {len(test_frame):,} ratings)" in message
    part = test.with_frame(test.frame.iloc[:40])
    raw = part.to_frame()
    assert part.n_new_users == len(set(raw["user"]) & new_users)
    assert part.n_new_items == len(set(raw["item"]) & new_items)


def test_fit_stages_counts_the_val_ratings_it_leaves_out():
    train_frame, test_frame = frames(4)
    train = cfnb.load_ratings(train_frame)
    val, _ = quiet(train.encode, test_frame, duplicates="keep")
    new = ~test_frame.userId.isin(set(train_frame.userId)) | ~test_frame.movieId.isin(set(train_frame.movieId))
    model = cfnb.build_model("bias", train.n_users, train.n_items, n_factors=2, seed=0)
    with pytest.warns(cfnb.DataWarning, match=rf"has {int(new.sum()):,} ratings of users or movies new"):
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0)
