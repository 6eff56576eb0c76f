"""Every bad ratings input gets a clear DataError (or a documented DataWarning), never a pandas traceback.

Each case here is a row of the README's bad-input table.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.errors import DataWarning

pytestmark = pytest.mark.backend_independent(
    reason="ratings input checks: pandas and numpy only, no Keras")


def frame(**columns):
    base = {"userId": [10, 10, 7, 99, 7], "movieId": [5, 300, 5, 42, 42], "rating": [4.0, 3.5, 5.0, 1.0, 2.5]}
    base.update(columns)
    return pd.DataFrame(base)


# (case, frame, keyword arguments, every text the message must contain)
BAD_FRAMES = [
    ("missing rating column", frame().drop(columns="rating"), {}, ["'rating'", "columns present", "load_ratings(..."]),
    ("misnamed user column", frame().rename(columns={"userId": "user_id"}), {}, ["'userId'", "user_id"]),
    ("non-numeric rating", frame(rating=["4", "x", "3", "1", "2"]), {}, ["'rating'", "row 1", "not a number", "'x'"]),
    ("missing rating", frame(rating=[4, None, 3, 1, 2]), {}, ["'rating'", "row 1", "missing"]),
    ("infinite rating", frame(rating=[4, 3, np.inf, 1, 2]), {}, ["'rating'", "row 2", "infinite"]),
    ("True/False ratings", frame(rating=[True, False, True, True, False]), {}, ["'rating'", "True/False"]),
    ("outside the scale", frame(rating=[4, 3, 7, 1, 2]), {"scale": (0.5, 5)}, ["'rating'", "row 2", "0.5..5", "7"]),
    ("bad scale", frame(), {"scale": (5, 1)}, ["scale", "low < high"]),
    ("empty frame", pd.DataFrame(), {}, ["empty", "'userId'"]),
    ("columns, no rows", frame().iloc[:0], {}, ["no rating rows"]),
    ("missing user id", frame(userId=[1, None, 2, 3, 4]), {}, ["'userId'", "row 1", "missing"]),
    ("mixed int/str ids", frame(userId=[1, "a", 2, 3, 4]), {}, ["'userId'", "mixes id types", "row 1", "astype(str)"]),
    ("fractional ids", frame(movieId=[1.0, 2.5, 3.0, 4.0, 5.0]), {}, ["'movieId'", "not whole numbers", "row 1"]),
    ("bool ids", frame(movieId=[True, False, True, True, False]), {}, ["'movieId'", "bool", "row 0"]),
    ("bytes ids", frame(userId=[b"a", b"b", b"a", b"c", b"d"]), {}, ["'userId'", "bytes"]),
    ("same column twice", frame(), {"user": "userId", "item": "userId"}, ["three different columns"]),
    ("duplicate column name", pd.concat([frame(), frame()[["rating"]]], axis=1), {}, ["2 columns named 'rating'"]),
    ("duplicates='error'", frame(movieId=[5, 5, 5, 42, 42]), {"duplicates": "error"}, ["pairs more than once", "row 0"]),
    ("unknown duplicates policy", frame(), {"duplicates": "max"}, ["duplicates must be one of"]),
]


@pytest.mark.parametrize("case, bad, kwargs, texts", BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES])
def test_bad_frames_get_a_clear_data_error(case, bad, kwargs, texts):
    with pytest.raises(cfnb.DataError) as info:
        cfnb.load_ratings(bad, **kwargs)
    message = str(info.value)
    for text in texts:
        assert text in message, f"{case}: {text!r} not in {message!r}"
    assert info.value.__cause__ is None and info.value.__suppress_context__ or info.value.__context__ is None


BAD_FILES = [
    ("empty file", b"", ["empty"]),
    ("whitespace only", b"\n\n  \n", ["could not be read as CSV"]),
    ("header-only CSV", b"userId,movieId,rating\n", ["no rating rows", "header only"]),
    ("binary (zip) file", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x81" * 20, ["not a text CSV"]),
    ("not a CSV (JSON)", b'{"userId": 1, "movieId": 2}\n', ["no column", "comma-separated file with a header"]),
    ("two separators fit", b"userId;movieId,rating\n1;2,3\n", ["could be separated by ';' or ','", "sep="]),
    ("headerless, numbers", b"1\t2\t3\t881250949\n", ["has no header row", "header=None, names=["]),
    ("headerless, text ids", b"ann,toy,5\n", ["no column 'userId'", "looks like data", "header=None"]),
    ("ragged CSV", b"userId,movieId,rating\n1,2,3\n1,2,3,4,5\n", ["could not be read as CSV"]),
    ("text rating in CSV", b"userId,movieId,rating\n1,2,3\n1,3,great\n", ["'rating'", "row 1", "'great'"]),
]


@pytest.mark.parametrize("case, content, texts", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_get_a_clear_data_error(tmp_path, case, content, texts):
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    with pytest.raises(cfnb.DataError) as info:
        cfnb.load_ratings(path)
    for text in texts:
        assert text in str(info.value), f"{case}: {text!r} not in {str(info.value)!r}"


def test_a_semicolon_separated_file_loads(tmp_path):
    """It used to be refused as "not comma-separated"; the separator is detected now."""
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"userId;movieId;rating\n1;2;3\n2;3;4\n")
    assert len(cfnb.load_ratings(path)) == 2


def test_missing_path_and_wrong_source_type(tmp_path):
    with pytest.raises(cfnb.DataError, match="No ratings file"):
        cfnb.load_ratings(tmp_path / "nope.csv")
    with pytest.raises(cfnb.DataError, match="No ratings file"):
        cfnb.load_ratings(tmp_path)  # a folder
    with pytest.raises(cfnb.DataError, match="CSV path or a pandas DataFrame"):
        cfnb.load_ratings([[1, 2, 3]])


def test_duplicates_are_averaged_with_a_warning_by_default():
    bad = frame(movieId=[5, 5, 5, 42, 42], rating=[4.0, 3.0, 5.0, 1.0, 2.0])
    with pytest.warns(DataWarning, match=r"1 \(user, item\) pairs more than once \(2 rows"):
        r = cfnb.load_ratings(bad)
    table = r.to_frame().set_index(["user", "item"])["rating"]
    assert len(r) == 4 and table[(10, 5)] == 3.5 and table[(7, 42)] == 2.0


@pytest.mark.parametrize("policy, expected, n", [("last", 3.0, 4), ("first", 4.0, 4), ("keep", None, 5)])
def test_duplicate_policies(policy, expected, n):
    bad = frame(movieId=[5, 5, 5, 42, 42], rating=[4.0, 3.0, 5.0, 1.0, 2.0])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = cfnb.load_ratings(bad, duplicates=policy)
    assert len(r) == n
    assert (len(seen) == 1) == (policy != "keep")
    if expected is not None:
        assert r.to_frame().set_index(["user", "item"])["rating"][(10, 5)] == expected


@pytest.mark.parametrize("column", ["userId", "movieId"])
def test_a_single_user_or_item_loads_with_a_warning(column):
    with pytest.warns(DataWarning, match="single"):
        r = cfnb.load_ratings(frame(**{column: [1, 1, 1, 1, 1]}), duplicates="keep")
    assert (r.n_users if column == "userId" else r.n_items) == 1


def test_text_big_and_negative_ids_round_trip_exactly(tmp_path):
    big = 10**25  # beyond 64 bits: kept exact, as a Python int
    f = pd.DataFrame({"userId": ["ann", "bob", "ann", "zoé"], "movieId": [-3, big, 2**63 + 5, -3],
                      "rating": [1, 2, 3, 4]})
    r = cfnb.load_ratings(f)
    assert list(r.to_frame()["user"]) == ["ann", "bob", "ann", "zoé"]
    assert list(r.to_frame()["item"]) == [-3, big, 2**63 + 5, -3]
    assert list(r.item_codes([big, -3, 2**63 + 5, 7])) == [2, 0, 1, -1]
    assert list(r.user_codes(["zoé"])) == [2]
    with pytest.raises(cfnb.VocabularyError, match="user id 1 is a number"):  # not silently unknown (issue 19)
        r.user_codes(["zoé", 1])
    path = tmp_path / "r.csv"
    f.to_csv(path, index=False)
    from_file = cfnb.load_ratings(path)
    assert list(from_file.to_frame()["item"]) == [-3, big, 2**63 + 5, -3]


def test_whole_float_ids_become_integers():
    r = cfnb.load_ratings(frame(movieId=[5.0, 300.0, 5.0, 42.0, 42.0]))
    assert r.item_ids.dtype.kind == "i" and list(r.item_ids) == [5, 42, 300]
    assert list(r.item_codes([42, 42.0, "42"])) == [1, 1, 1]  # text in its exact decimal form names 42


def test_messages_show_the_ids_as_written():
    with pytest.raises(cfnb.DataError, match=r"'userId': 7, 'movieId': 5, 'rating': 'x'"):
        cfnb.load_ratings(frame(rating=["4", "3", "x", "1", "2"]))
