"""Property tests for ids of every integer dtype (int8..int64, uint8..uint64) and beyond 64 bits, edges
included: they round-trip exactly through load (frame and file), split, encode, codes, predict, save and
load, and text in their exact decimal form names the same ids; text ids are kept exactly as given and
look-alikes (Unicode forms, zero-width characters) are said."""

import unicodedata
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
import pytest
from hypothesis import strategies as st

import cfnb

pytestmark = pytest.mark.backend_independent(reason="ids through pandas, the vocabulary and the saved file's id lists: the model only scores")

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
QUICK = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def edges(dtype) -> list[int]:
    info = np.iinfo(dtype)
    return [int(info.min), int(info.max), int(info.max) - 1, int(info.min) + 1, 0, 1]


@st.composite
def id_columns(draw, n):
    """n ids of one integer dtype (edges often), or Python ints beyond 64 bits; and the dtype's name."""
    dtype = draw(st.sampled_from([*DTYPES, "python"]))
    if dtype == "python":
        values = st.sampled_from([2**64, -(2**63) - 1, 10**30, -1, 2**63]) | st.integers(-(2**80), 2**80)
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object), dtype
    info = np.iinfo(dtype)
    values = st.sampled_from(edges(dtype)) | st.integers(int(info.min), int(info.max))
    return pd.Series(np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)), dtype


@st.composite
def rating_frames(draw):
    n = draw(st.integers(4, 12))
    users, user_dtype = draw(id_columns(n))
    items, _ = draw(id_columns(n))
    ratings = draw(st.lists(st.sampled_from([1.0, 2.5, 4.0, 5.0]), min_size=n, max_size=n))
    return pd.DataFrame({"userId": users, "movieId": items, "rating": ratings}), user_dtype


def loaded(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.DataWarning)
        return cfnb.load_ratings(source, duplicates="keep", **kwargs)


def exact(values) -> list[int]:
    return [int(v) for v in values]


@given(rating_frames())
@QUICK
def test_ids_of_every_integer_dtype_round_trip_exactly(tmp_path_factory, data):
    source, dtype = data
    r = loaded(source)
    assert sorted(exact(r.user_ids)) == sorted(set(exact(source["userId"])))
    assert exact(r.to_frame()["user"]) == exact(source["userId"])
    assert exact(r.to_frame()["item"]) == exact(source["movieId"])
    assert all(isinstance(v, (int, np.integer)) for v in r.user_ids)
    codes = r.user_codes(list(source["userId"]))
    assert list(codes) == list(r.frame["user"])
    assert list(r.user_codes([str(int(v)) for v in source["userId"]])) == list(codes)  # the decimal form
    if dtype != "python":
        assert list(r.user_codes(source["userId"].to_numpy())) == list(codes)
    path = tmp_path_factory.mktemp("ids") / "r.csv"
    source.to_csv(path, index=False)
    from_file = loaded(path)
    assert exact(from_file.user_ids) == exact(r.user_ids) and exact(from_file.item_ids) == exact(r.item_ids)
    assert from_file.vocabulary.fingerprint() == r.vocabulary.fingerprint()


@given(rating_frames(), st.sampled_from(DTYPES))
@QUICK
def test_split_and_encode_keep_ids_exact_across_dtypes(data, other_dtype):
    source, _ = data
    r = loaded(source)
    train, val = r.split(0.5, seed=0)
    again = train.encode(val.to_frame(), user="user", item="item", duplicates="keep")
    assert exact(again.to_frame()["user"]) == exact(val.to_frame()["user"])
    assert exact(again.user_ids[: train.n_users]) == exact(train.user_ids)
    info = np.iinfo(other_dtype)
    other = pd.DataFrame({"userId": np.array([info.max, info.min], dtype=other_dtype),
                          "movieId": np.array([info.min, info.max], dtype=other_dtype), "rating": [1.0, 2.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.DataWarning)
        both = r.encode(other)
    assert exact(both.to_frame()["user"]) == [int(info.max), int(info.min)]
    assert exact(both.user_ids[: r.n_users]) == exact(r.user_ids)
    assert both.vocabulary.extends(r.vocabulary.fingerprint(), r.n_users, r.n_items)


@given(rating_frames())
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_predict_save_and_load_keep_ids_exact(tmp_path_factory, data):
    source, _ = data
    r = loaded(source)
    model = cfnb.build_model("dot", r.n_users, r.n_items, n_factors=2, seed=0)
    users, items = list(source["userId"]), list(source["movieId"])
    pred = cfnb.predict(model, r, users, items)
    np.testing.assert_array_equal(pred, cfnb.predict(model, r, [str(int(u)) for u in users], items))
    path = cfnb.save(model, r, tmp_path_factory.mktemp("saved") / "m.cfnb")
    model2, back = cfnb.load(path)
    assert exact(back.user_ids) == exact(r.user_ids) and exact(back.item_ids) == exact(r.item_ids)
    assert back.vocabulary.fingerprint() == r.vocabulary.fingerprint()
    np.testing.assert_array_equal(cfnb.predict(model2, back, users, items), pred)


text_ids = st.lists(st.sampled_from(["a", "\u00e9", "e\u0301", "\u200b", "1", "\u00c5", "A\u030a"]), min_size=1,
                    max_size=3).map("".join)


@given(st.lists(text_ids, min_size=2, max_size=10))
@QUICK
def test_text_ids_are_kept_exactly_and_look_alikes_are_said(users):
    source = pd.DataFrame({"userId": users, "movieId": list(range(len(users))), "rating": [3.0] * len(users)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cfnb.DataWarning)
        r = cfnb.load_ratings(source, duplicates="keep")
    assert list(r.to_frame()["user"]) == users  # never normalised
    assert list(r.user_codes(users)) == list(r.frame["user"])  # every id as given is found
    canon = {unicodedata.normalize("NFC", u.replace("\u200b", "")) for u in set(users)}
    said = any("Unicode form" in str(w.message) for w in caught)
    assert said == (len(canon) < len(set(users)))
