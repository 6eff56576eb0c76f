"""Ids of every integer size, text ids in other Unicode forms, and ids given as text to an integer
vocabulary (or the reverse): kept exact, matched only where the match is exact, else refused or said."""

import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest

import cfnb

pytestmark = pytest.mark.backend_independent(reason="ids through pandas, the vocabulary and the saved file's id lists: the model only scores")

I64, U64 = np.iinfo(np.int64), np.iinfo(np.uint64)


def frame(users, items=None, ratings=None):
    n = len(users)
    return pd.DataFrame({"userId": users, "movieId": list(range(n)) if items is None else items,
                         "rating": ratings or [float(1 + k % 5) for k in range(n)]})


@pytest.fixture(scope="module")
def int_model():
    r = cfnb.load_ratings(frame([1, 2, 3, 1, 2, 3], [5, 6, 7, 6, 7, 5]))
    model = cfnb.build_model("bias", r.n_users, r.n_items, n_factors=2, seed=0)
    cfnb.fit_stages(model, r, None, stages=[(1e-2, 1)], batch_size=4, progress=False, seed=0)
    return model, r


# Class 1: integer ids of every size are exact.

def test_a_float_never_matches_an_integer_id_it_cannot_name_exactly():
    r = cfnb.load_ratings(frame(np.array([I64.max - 1, 1], dtype=np.int64)))
    assert list(r.user_codes([1.0])) == [0]  # a whole float names a small id exactly
    with pytest.raises(cfnb.VocabularyError, match=r"user id 9.223372036854776e\+18 is a float.*exactly"):
        r.user_codes(np.array([float(I64.max)]))  # the float is 2**63: no int64 id is it


def test_encoding_uint64_ids_into_an_int64_vocabulary_keeps_them_exact():
    train = cfnb.load_ratings(frame(np.array([I64.max - 1, 1], dtype=np.int64)))
    other = frame(np.array([2**63 + 5, 1, I64.max - 1], dtype=np.uint64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.DataWarning)
        both = train.encode(other)
    assert list(both.user_ids) == [1, I64.max - 1, 2**63 + 5]
    assert all(isinstance(v, (int, np.integer)) for v in both.user_ids)
    assert list(both.to_frame()["user"]) == [2**63 + 5, 1, I64.max - 1]
    back = cfnb.load_ratings(frame(np.array([-5, 1], dtype=np.int64)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.DataWarning)
        mixed = back.encode(frame(np.array([U64.max], dtype=np.uint64)))
    assert list(mixed.user_ids) == [-5, 1, U64.max]


def test_a_file_of_ids_beyond_int64_of_both_signs_stays_integers(tmp_path):
    path = tmp_path / "r.csv"
    for big in ([U64.max], [U64.max, 10**30]):
        path.write_text("userId,movieId,rating\n-1,1,1\n" + "".join(f"{v},2,2\n" for v in big))
        r = cfnb.load_ratings(path)
        assert list(r.user_ids) == [-1, *big]
        assert all(isinstance(v, (int, np.integer)) for v in r.user_ids)
        assert list(r.user_codes([U64.max, -1])) == [1, 0]


def test_float_ids_too_large_to_be_exact_are_refused_before_training():
    with pytest.raises(cfnb.DataError, match=r"'userId'.*floats beyond 2\*\*53.*cannot be exact"):
        cfnb.load_ratings(frame([1.0, float(2**60)]))


def test_small_and_nullable_integer_dtypes_give_the_same_vocabulary():
    plain_ = cfnb.load_ratings(frame(np.array([3, -2, 7], dtype=np.int64)))
    for dtype in ("int8", "int16", "int32", "Int64", "Int8"):
        r = cfnb.load_ratings(frame(pd.array([3, -2, 7], dtype=dtype)))
        assert r.vocabulary.fingerprint() == plain_.vocabulary.fingerprint(), dtype
        assert r.user_ids.dtype == np.int64, dtype
    r = cfnb.load_ratings(frame(pd.array([3, 2**63, 7], dtype="UInt64")))
    assert r.user_ids.dtype == np.uint64 and list(r.user_ids) == [3, 7, 2**63]


# Class 13: ids given as text to an integer vocabulary, or the reverse.

def test_text_in_the_exact_decimal_form_is_matched_else_refused(int_model):
    model, r = int_model
    np.testing.assert_array_equal(cfnb.predict(model, r, ["1", "3"], ["5", 7]),
                                  cfnb.predict(model, r, [1, 3], [5, 7]))
    assert list(r.user_codes(["2"])) == [1]
    for bad in ("01", " 1", "1.0", "x"):
        with pytest.raises(cfnb.VocabularyError, match=f"user id {bad!r} is text.*integers"):
            cfnb.predict(model, r, [bad], [5], unknown="fallback")
        with pytest.raises(cfnb.VocabularyError, match=f"user id {bad!r} is text"):
            cfnb.recommend(model, r, bad)
        with pytest.raises(cfnb.VocabularyError, match=f"user id {bad!r} is text"):
            cfnb.rated_highest(r, bad)
    assert cfnb.rated_highest(r, "1").equals(cfnb.rated_highest(r, 1))
    assert cfnb.recommend(model, r, "2", n=2).equals(cfnb.recommend(model, r, 2, n=2))


def test_true_and_false_never_name_the_ids_1_and_0(int_model):
    _, r = int_model
    for ids in ([True], [np.bool_(True), 2]):
        with pytest.raises(cfnb.VocabularyError, match="user id True is True/False, not an id"):
            r.user_codes(ids)


def test_an_integer_is_matched_to_text_ids_only_in_its_decimal_form():
    r = cfnb.load_ratings(frame(["1", "2", "ann"]))
    assert list(r.user_codes([2, np.int64(1)])) == [1, 0]
    with pytest.raises(cfnb.VocabularyError, match="user id 7 is a number.*text"):
        r.user_codes([7])


def test_leading_zeros_in_a_file_are_not_merged_without_a_word(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating\n007,1,1\n7,2,2\n8,1,3\n")
    with pytest.warns(cfnb.DataWarning, match=r"'userId'.*leading zeros.*'007'.*7"):
        r = cfnb.load_ratings(path)
    assert r.n_users == 2


def test_titles_keyed_by_text_ids_are_found_for_integer_ids():
    for titles in ({"1": "A", "2": "B"}, pd.DataFrame({"movieId": ["1", "2"], "title": ["A", "B"]})):
        r = cfnb.load_ratings(frame([1, 2], [1, 2]), titles=titles)
        assert r.title([1, 2]) == ["A", "B"]
    r = cfnb.load_ratings(frame([1, 2], ["1", "2"]), titles={1: "A", 2: "B"})
    assert r.title(["1", "2"]) == ["A", "B"]


# Class 3: text ids are kept exactly as given, and look-alikes are said.

NFC, NFD = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")


def test_ids_equal_after_normalisation_are_kept_apart_with_a_warning():
    assert NFC != NFD
    with pytest.warns(cfnb.DataWarning, match="'userId'.*Unicode"):
        r = cfnb.load_ratings(frame([NFC, NFD, "ann"]))
    assert r.n_users == 3 and NFC in list(r.user_ids) and NFD in list(r.user_ids)
    with pytest.warns(cfnb.DataWarning, match="'movieId'.*invisible"):
        cfnb.load_ratings(frame([1, 2], ["ab", "a\u200bb"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cfnb.DataWarning)
        cfnb.load_ratings(frame([NFC, "ann"]))


def test_a_look_alike_of_a_known_id_is_refused_not_cold(tmp_path):
    r = cfnb.load_ratings(frame([NFC, "ann", NFC], [1, 2, 2]))
    model = cfnb.build_model("bias", r.n_users, r.n_items, n_factors=2, seed=0)
    cfnb.fit_stages(model, r, None, stages=[(1e-2, 1)], batch_size=4, progress=False, seed=0)
    for call in (lambda: cfnb.predict(model, r, [NFD], [1], unknown="fallback"),
                 lambda: cfnb.recommend(model, r, NFD), lambda: cfnb.rated_highest(r, "ann\u200b")):
        with pytest.raises(cfnb.VocabularyError, match="differs from the known user id"):
            call()
    with pytest.warns(cfnb.DataWarning, match="differ from known ids only"):
        both = r.encode(frame([NFD], [1]))
    assert both.n_users == 3
    path = cfnb.save(model, r, tmp_path / "m.cfnb")
    _, back = cfnb.load(path)
    assert list(back.user_ids) == list(r.user_ids)
