"""Ratings loading, re-indexing, splitting, and the MovieLens data home."""

import numpy as np
import pandas as pd
import pytest

import cfnb

pytestmark = pytest.mark.backend_independent(
    reason="ratings loading, re-indexing and splitting: pandas and numpy only, no Keras")


def frame():
    return pd.DataFrame({"userId": [10, 10, 7, 99, 7], "movieId": [5, 300, 5, 42, 42],
                         "rating": [4.0, 3.5, 5.0, 1.0, 2.5]})


def test_codes_are_contiguous_and_mappings_both_ways():
    r = cfnb.load_ratings(frame())
    assert (r.n_users, r.n_items, len(r)) == (3, 3, 5)
    assert sorted(r.frame.user.unique()) == [0, 1, 2]
    raw = r.user_ids.take(r.frame.user.to_numpy())
    assert list(raw) == [10, 10, 7, 99, 7]
    assert list(r.user_codes([99, 7, 12345])) == [2, 0, -1]
    assert r.rating_range == (1.0, 5.0)
    pd.testing.assert_frame_equal(r.to_frame()[["user", "item", "rating"]].astype({"rating": "float64"}),
                                  frame().set_axis(["user", "item", "rating"], axis=1), check_dtype=False)


def test_csv_and_frame_load_the_same(tmp_path):
    path = tmp_path / "r.csv"
    frame().to_csv(path, index=False)
    a, b = cfnb.load_ratings(path), cfnb.load_ratings(frame())
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_split_is_seeded_disjoint_and_sized(small):
    t1, v1 = small.split(0.2, seed=3)
    t2, v2 = small.split(0.2, seed=3)
    t3, _ = small.split(0.2, seed=4)
    pd.testing.assert_frame_equal(t1.frame, t2.frame)
    assert not t1.frame.equals(t3.frame)
    assert len(t1) + len(v1) == len(small)
    assert abs(len(v1) / len(small) - 0.2) < 0.03
    assert t1.n_users == small.n_users  # splits share the mappings


@pytest.mark.parametrize("bad, match", [
    (frame().drop(columns="rating"), "column 'rating'"),
    (frame().assign(rating=["4", "x", "3", "1", "2"]), "row 1"),
    (frame().assign(rating=[4, None, 3, 1, 2]), "missing"),
    (frame().iloc[:0], "no rating rows"),
])
def test_bad_frames_name_the_problem(bad, match):
    with pytest.raises(cfnb.DataError, match=match):
        cfnb.load_ratings(bad)


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(cfnb.DataError, match="empty"):
        cfnb.load_ratings(path)


def test_movielens_2016_matches_the_lesson():
    r = cfnb.movielens("ml-latest-small-2016", download=False)
    assert (len(r), r.n_users, r.n_items) == (105_339, 668, 10_325)
    assert all(not t.endswith(" ") for t in r.titles)
    assert r.title(1) == ["Toy Story (1995)"]


def test_movielens_today(movielens_small):
    r = movielens_small
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9_724)
    assert r.rating_range == (0.5, 5.0)


def test_missing_set_without_download_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CFNB_DATA_HOME", str(tmp_path))
    with pytest.raises(cfnb.DownloadError, match="CFNB_DATA_HOME"):
        cfnb.movielens("ml-latest-small", download=False)


def test_synthetic_has_planted_structure():
    r = cfnb.synthetic(n_users=30, n_items=40, n_ratings=2000, seed=1)
    assert (r.n_users, r.n_items) == (30, 40)
    per_item = r.frame.groupby("item").rating.mean()
    assert per_item.std() > 0.2  # planted item biases show in the means
    assert np.all((r.y >= 0.5) & (r.y <= 5.0))
