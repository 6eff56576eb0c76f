"""Property tests: random small rating frames (mixed id types, NaNs, duplicates), and files written from
them with any separator, with or without a header row, either load into consistent codes and mappings,
or raise cfnb's own error type, never anything else."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfnb
from cfnb.data.loading import DUPLICATE_POLICIES

pytestmark = pytest.mark.backend_independent(
    reason="ratings parsing properties: pandas and numpy only, no Keras")

ints = st.one_of(st.integers(-5, 5), st.integers(-(2**70), 2**70))
ids = st.one_of(
    ints, ints,
    st.text(alphabet="ab1é -", min_size=0, max_size=3),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (f == f and f % 1)) | st.just(2.0),
    st.floats(-3, 3), st.none(), st.booleans(),
)
ratings = st.one_of(st.floats(0, 5), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 8),
                    st.sampled_from(["4", "x", "", None, " 3.5"]), st.booleans())


def id_column(kind_of_ids):
    """A column drawn from one id family most of the time (so loading often succeeds), else mixed."""
    return st.one_of(
        st.lists(st.integers(-3, 6), min_size=1, max_size=12),
        st.lists(st.sampled_from(["a", "b", "c", "é"]), min_size=1, max_size=12),
        st.lists(kind_of_ids, min_size=1, max_size=12),
    )


@st.composite
def rating_frames(draw):
    users = draw(id_column(ids))
    n = len(users)
    items = draw(st.lists(ids, min_size=n, max_size=n) | st.lists(st.integers(0, 4), min_size=n, max_size=n))
    values = draw(st.lists(ratings, min_size=n, max_size=n) | st.lists(st.floats(0.5, 5), min_size=n, max_size=n))
    return pd.DataFrame({"userId": pd.Series(users, dtype=object if draw(st.booleans()) else None),
                         "movieId": items, "rating": values})


def same_id(a, b) -> bool:
    a, b = _norm(a), _norm(b)
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return a == b


def check_consistent(r: cfnb.Ratings, source: pd.DataFrame, policy: str):
    f = r.frame
    assert list(f.columns) == ["user", "item", "rating"]
    assert f["user"].dtype == np.int32 and f["item"].dtype == np.int32 and f["rating"].dtype == np.float32
    assert set(f["user"]) == set(range(r.n_users)) and set(f["item"]) == set(range(r.n_items))
    assert r.user_ids.is_unique and r.item_ids.is_unique
    assert np.isfinite(r.y).all()
    # Mappings both ways: raw id -> code -> raw id.
    assert list(r.user_codes(r.user_ids)) == list(range(r.n_users))
    assert list(r.item_codes(r.item_ids)) == list(range(r.n_items))
    out = r.to_frame()
    if policy == "keep":
        assert len(out) == len(source)
        for (u, i, v), (su, si, sv) in zip(out.itertuples(index=False), source.itertuples(index=False)):
            assert same_id(u, su) and same_id(i, si)
            assert math.isclose(v, float(sv), rel_tol=1e-6, abs_tol=1e-6)
    else:
        pairs = {(repr(u), repr(i)) for u, i in zip(out["user"], out["item"])}
        assert len(pairs) == len(out)  # one rating per pair
        src = {(repr(_norm(u)), repr(_norm(i))) for u, i in zip(source["userId"], source["movieId"])}
        assert pairs == src


def _norm(v):
    """An id as cfnb keeps it: whole floats as ints, text without surrounding spaces."""
    if isinstance(v, str):
        return v.strip()
    return int(v) if isinstance(v, (float, np.floating)) and float(v).is_integer() else (
        v.item() if isinstance(v, np.generic) else v)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rating_frames(), st.sampled_from([p for p in DUPLICATE_POLICIES]))
def test_loading_random_frames_succeeds_consistently_or_raises_cfnb_error(source, policy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.data.DataWarning)
        try:
            r = cfnb.load_ratings(source, duplicates=policy)
        except cfnb.CfnbError as e:
            assert str(e)
            return
    check_consistent(r, source, policy)


@settings(max_examples=60, deadline=None)
@given(rating_frames())
def test_random_csv_files_load_or_raise_cfnb_error(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("fuzz") / "r.csv"
    source.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.data.DataWarning)
        try:
            r = cfnb.load_ratings(path, duplicates="keep")
        except cfnb.CfnbError:
            return
    assert len(r) == len(source)
    assert set(r.frame["user"]) == set(range(r.n_users))


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_as_a_file_raise_cfnb_error_or_load(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("bytes") / "r.csv"
    path.write_bytes(b"userId,movieId,rating\n" + content if content[:1] == b"1" else content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.data.DataWarning)
        try:
            cfnb.load_ratings(path)
        except cfnb.CfnbError:
            pass


SEPARATORS = [",", "\t", "::", "|", ";"]


def write_delimited(path, frame: pd.DataFrame, sep: str, header: bool):
    """The frame as text with any separator (pandas writes only one-character ones); missing values empty."""
    def cell(v):
        return "" if v is None or (isinstance(v, float) and v != v) else str(v)
    lines = [sep.join(frame.columns)] if header else []
    lines += [sep.join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def loaded_or_error(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cfnb.data.DataWarning)
        try:
            r = cfnb.load_ratings(path, duplicates="keep", **kwargs)
        except cfnb.CfnbError as e:
            return type(e)
    return r.to_frame().to_dict("list")


@settings(max_examples=60, deadline=None)
@given(rating_frames(), st.sampled_from(SEPARATORS), st.booleans())
def test_files_in_any_separator_load_the_same_detected_or_given(tmp_path_factory, source, sep, header):
    path = tmp_path_factory.mktemp("sep") / "r.txt"
    source = source.assign(timestamp=range(1_000_000_000, 1_000_000_000 + len(source)))
    write_delimited(path, source, sep, header)
    read = {} if header else {"header": None, "names": list(source.columns)}
    detected, given = loaded_or_error(path, **read), loaded_or_error(path, sep=sep, **read)
    assert detected == given
    if isinstance(detected, dict):
        assert len(detected["user"]) == len(source)  # every row, the first one too
        assert detected["timestamp"] == list(source["timestamp"])


@settings(max_examples=40, deadline=None)
@given(rating_frames(), st.sampled_from(SEPARATORS))
def test_a_headerless_file_never_loses_its_first_row_to_the_header(tmp_path_factory, source, sep):
    path = tmp_path_factory.mktemp("headerless") / "r.txt"
    write_delimited(path, source, sep, header=False)
    assert isinstance(loaded_or_error(path), type)  # refused, always
    first = [str(v) for v in source.iloc[0]]
    if len(set(first)) == 3 and all(first):  # passing the first row's values as the column names
        outcome = loaded_or_error(path, user=first[0], item=first[1], rating=first[2])
        if isinstance(outcome, dict):  # only possible when that row's rating was no number anyway
            assert not cfnb.delimited.looks_like_number(first[2]) and len(outcome["user"]) == len(source) - 1
