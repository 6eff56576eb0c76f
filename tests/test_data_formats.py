"""Reading any delimited ratings file: separators (given or detected), headerless files, encodings,
timestamps, text-id whitespace and titles. Each bad case is a row of the README's bad-input table."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.errors import DataWarning

ROWS = [(196, 242, 3.0, 881250949), (186, 302, 3.0, 891717742), (22, 377, 1.0, 878887116),
        (244, 51, 2.0, 880606923), (196, 51, 4.5, 886397596)]
HEADER = ["userId", "movieId", "rating", "timestamp"]
pytestmark = [pytest.mark.filterwarnings("ignore:.*has a single (user|item):cfnb.data.DataWarning"),
              pytest.mark.backend_independent(reason="delimited-text parsing: pandas and numpy only, no Keras")]


def write(path, rows=ROWS, sep=",", header=True, encoding="utf-8"):
    lines = ([sep.join(HEADER)] if header else []) + [sep.join(f"{v:g}" if isinstance(v, float) else str(v)
                                                               for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def as_tuples(r: cfnb.Ratings):
    return [tuple(x) for x in r.to_frame()[["user", "item", "rating", "timestamp"]].itertuples(index=False)]


def quiet(**kwargs):
    """load_ratings that fails on any warning."""
    def load(source):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return cfnb.load_ratings(source, **kwargs)
    return load


# --- separators -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", "\t", "::", "|", ";"])
def test_each_separator_is_detected_and_can_be_given(tmp_path, sep):
    path = write(tmp_path / "r.txt", sep=sep)
    detected = quiet()(path)
    given = quiet(sep=sep)(path)
    assert as_tuples(detected) == as_tuples(given) == ROWS
    assert detected.frame["timestamp"].dtype == np.int64


@pytest.mark.parametrize("sep", ["\t", "::", "|"])
def test_headerless_files_load_with_header_none(tmp_path, sep):
    path = write(tmp_path / "r.txt", sep=sep, header=False)
    by_names = quiet(sep=sep, header=None, names=HEADER)(path)
    usual_order = quiet(header=None)(path)  # no names: user, item, rating, timestamp, in that order
    assert as_tuples(by_names) == as_tuples(usual_order) == ROWS


def test_names_with_header_zero_rename_the_header(tmp_path):
    path = write(tmp_path / "r.csv")
    r = quiet(header=0, names=["u", "i", "r", "t"], user="u", item="i", rating="r", timestamp="t")(path)
    assert len(r) == len(ROWS) and list(r.frame["timestamp"]) == [t for *_, t in ROWS]


def test_fewer_names_than_columns_read_those_columns(tmp_path):
    path = write(tmp_path / "r.tsv", sep="\t", header=False)
    r = quiet(header=None, names=["userId", "movieId", "rating"])(path)
    assert len(r) == len(ROWS) and "timestamp" not in r.frame


def test_an_ambiguous_separator_must_be_given(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("userId;movieId,rating\n1;2,3\n2;2,4\n")
    with pytest.raises(cfnb.DataError, match=r"could be separated by ';' or ','.*sep="):
        cfnb.load_ratings(path)
    path.write_text("userId;movie,Id;rating\n1;2;3\n2;2;4\n")  # a comma only in the header: not a separator
    assert len(cfnb.load_ratings(path, item="movie,Id", duplicates="keep")) == 2


def test_quoted_commas_do_not_count_as_separators(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('userId,movieId,rating\n"Smith, Ann",1,4\n"Lee, Bo",2,3\nCy,1,5\n')
    r = quiet()(path)
    assert sorted(r.user_ids) == ["Cy", "Lee, Bo", "Smith, Ann"]


def test_double_colon_files_read_the_same_by_the_fast_and_the_python_engine(tmp_path):
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978300275\n"
    (tmp_path / "ratings.dat").write_text(text)  # UTF-8: '::' stands in by one byte for the C engine
    (tmp_path / "ratings16.dat").write_bytes(text.encode("utf-16"))  # UTF-16 cannot: pandas's Python engine
    fast = cfnb.load_ratings(tmp_path / "ratings.dat", header=None)
    slow = cfnb.load_ratings(tmp_path / "ratings16.dat", sep="::", header=None, encoding="utf-16")
    assert as_tuples(fast) == as_tuples(slow) == [(1, 1193, 5.0, 978300760), (1, 661, 3.0, 978302109),
                                                  (2, 1193, 4.0, 978300275)]


# --- headerless files are never read with their first rating as the header --------------------------


@pytest.mark.parametrize("sep", [",", "\t", "::", "|", ";"])
def test_a_first_row_of_numbers_is_refused_with_the_exact_fix(tmp_path, sep):
    path = write(tmp_path / "u.data", sep=sep, header=False)
    with pytest.raises(cfnb.DataError) as info:
        cfnb.load_ratings(path)
    message = str(info.value)
    assert "has no header row" in message and "header=None" in message
    call = re.search(r"load_ratings\((.*)\)\.$", message).group(1)
    fixed = eval(f"cfnb.load_ratings({call})")  # the suggested call, as written in the message
    assert as_tuples(fixed) == ROWS  # every rating, the first one too


def test_passing_the_first_row_as_column_names_cannot_drop_the_first_rating(tmp_path):
    """The old error listed the columns present (the first rating's values); passing them lost that rating."""
    path = write(tmp_path / "u.data", sep="\t", header=False)
    with pytest.raises(cfnb.DataError, match="has no header row") as info:
        cfnb.load_ratings(path, user="196", item="242", rating="3")
    assert "names=['userId', 'movieId', 'rating', 'timestamp']" in str(info.value)
    text = tmp_path / "text.csv"  # text ids: the rating column's name is still a number
    text.write_text("ann,toy,5\nbob,toy,4\nann,car,2\n")
    with pytest.raises(cfnb.DataError, match="no column 'userId'.*looks like data.*header=None"):
        cfnb.load_ratings(text)
    with pytest.raises(cfnb.DataError, match="has no header row"):
        cfnb.load_ratings(text, user="ann", item="toy", rating="5")
    assert len(cfnb.load_ratings(text, header=None)) == 3


def test_header_zero_trusts_the_first_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,5\n1,2,3\n2,2,4\n")  # a rating column really named "5"
    assert len(cfnb.load_ratings(path, rating="5", header=0)) == 2


def test_header_none_on_a_file_with_a_header_names_the_header_row(tmp_path):
    path = write(tmp_path / "r.csv")
    with pytest.raises(cfnb.DataError, match=r"row 0 \(not a number\): \{'userId': 'userId'.*looks like a header row: drop header=None"):
        cfnb.load_ratings(path, header=None, names=HEADER)


# --- encodings ----------------------------------------------------------------------------------------


def test_latin1_file_falls_back_and_warns_only_where_text_ids_change(tmp_path):
    numeric = tmp_path / "numeric.csv"
    numeric.write_bytes("userId,movieId,rating,note\n1,2,3,caf\xe9\n2,3,4,x\n".encode("latin-1"))
    r = quiet()(numeric)  # ids are numbers: which encoding read the note does not matter
    assert len(r) == 2
    text = tmp_path / "text.csv"
    text.write_bytes("userId,movieId,rating\nzo\xe9,1,4\nbo,2,3\n".encode("latin-1"))
    with pytest.warns(DataWarning, match="not UTF-8, so it was read as Latin-1.*column 'userId'"):
        r = cfnb.load_ratings(text)
    assert list(r.user_ids) == ["bo", "zoé"]
    assert list(quiet(encoding="latin-1")(text).user_ids) == ["bo", "zoé"]  # said explicitly: no warning
    with pytest.raises(cfnb.DataError, match="is not utf-8 text.*encoding="):
        cfnb.load_ratings(text, encoding="utf-8")


def test_utf8_stays_utf8(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("userId,movieId,rating\nzoé,1,4\nbo,2,3\n".encode("utf-8"))
    assert sorted(quiet()(path).user_ids) == ["bo", "zoé"]


def test_binary_files_are_still_not_text(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"userId,movieId,rating\n1,2,3\n\x00\x01\xff\xfe" * 5)
    with pytest.raises(cfnb.DataError, match="is not a text CSV file"):
        cfnb.load_ratings(path)


# --- options at the door -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, text", [
    ({"sep": 5}, cfnb.CfnbError, "sep must be a separator string"),
    ({"sep": ""}, cfnb.CfnbError, "sep must be a non-empty separator"),
    ({"sep": '"'}, cfnb.CfnbError, "without quotes"),
    ({"header": 1}, cfnb.CfnbError, "header must be 'infer'"),
    ({"header": True}, cfnb.CfnbError, "header must be 'infer'"),
    ({"names": "abc"}, TypeError, "names must be a list"),
    ({"names": ["a", "a", "b"]}, cfnb.CfnbError, "distinct"),
    ({"encoding": "klingon"}, cfnb.CfnbError, "not a text encoding"),
    ({"encoding": 8}, TypeError, "encoding must be"),
    ({"timestamp": 3}, TypeError, "timestamp must be"),
    ({"timestamp": "rating"}, cfnb.CfnbError, "timestamp column must not be"),
])
def test_reading_options_are_checked(tmp_path, kwargs, error, text):
    path = write(tmp_path / "r.csv")
    with pytest.raises(error, match=re.escape(text)) as info:
        cfnb.load_ratings(path, **kwargs)
    assert isinstance(info.value, cfnb.CfnbError)


def test_file_options_with_a_frame_are_refused():
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [3.0, 4.0]})
    for option in ({"sep": "\t"}, {"header": None}, {"names": ["a", "b", "c"]}, {"encoding": "latin-1"}):
        with pytest.raises(TypeError, match=f"{next(iter(option))}= is for reading a file"):
            cfnb.load_ratings(frame, **option)


# --- text ids: surrounding whitespace -------------------------------------------------------------------


def test_spaces_around_text_ids_are_stripped_with_a_warning(tmp_path):
    frame = pd.DataFrame({"userId": ["ann", "ann ", " bob", "bob"], "movieId": ["x", "y", " x", "z"],
                          "rating": [1.0, 2.0, 3.0, 4.0]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = cfnb.load_ratings(frame)
    messages = [str(w.message) for w in seen if issubclass(w.category, DataWarning)]
    assert any("Column 'userId'" in m and "2 text ids with spaces around them" in m and "row 1" in m
               and "'ann '" in m for m in messages)
    assert any("Column 'movieId'" in m and "1 text ids" in m and "row 2" in m for m in messages)
    assert list(r.user_ids) == ["ann", "bob"] and list(r.item_ids) == ["x", "y", "z"]
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating\nann,1,4\nann ,2,3\n")
    with pytest.warns(DataWarning, match="spaces around them"):
        assert cfnb.load_ratings(path).n_users == 1


def test_blank_text_ids_are_missing_ids():
    frame = pd.DataFrame({"userId": ["ann", "  ", "bob"], "movieId": [1, 2, 3], "rating": [1.0, 2.0, 3.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(cfnb.DataError, match="'userId' of .* 1 blank ids; first at row 1.*needs a userId"):
            cfnb.load_ratings(frame)


# --- timestamps -------------------------------------------------------------------------------------------


@pytest.fixture
def stamped(tmp_path):
    return cfnb.load_ratings(write(tmp_path / "r.csv"))


def test_timestamps_are_kept_through_split_with_frame_encode_and_to_frame(stamped, tmp_path):
    assert stamped.frame["timestamp"].dtype == np.int64
    by_pair = {(u, i): t for u, i, _, t in ROWS}
    train, val = stamped.split(0.4, seed=1)
    for part in (train, val, stamped.with_frame(stamped.frame.iloc[::2])):
        assert part.frame["timestamp"].dtype == np.int64
        assert all(by_pair[(u, i)] == t for u, i, _, t in as_tuples(part))
    other = write(tmp_path / "test.tsv", rows=[(196, 377, 2.0, 900000000), (1, 242, 5.0, 900000001)], sep="\t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # user 1 is new to the vocabulary
        coded = cfnb.load_ratings(other, like=train)
    assert list(coded.frame["timestamp"]) == [900000000, 900000001]
    assert list(coded.to_frame()["timestamp"]) == [900000000, 900000001]


@pytest.mark.backend_dependent  # saves and loads a Keras model
def test_timestamps_survive_save_and_load_and_old_files_without_them_load(stamped, tmp_path):
    model = cfnb.build_model("dot", stamped.n_users, stamped.n_items, n_factors=2)
    loaded, back = cfnb.load(cfnb.save(model, stamped, tmp_path / "m.cfnb"))
    pd.testing.assert_frame_equal(back.frame, stamped.frame)
    plain = stamped.with_frame(stamped.frame.drop(columns="timestamp"))  # what files saved before held
    loaded, back = cfnb.load(cfnb.save(model, plain, tmp_path / "old.cfnb"))
    assert "timestamp" not in back.frame and len(back) == len(stamped)


def test_timestamps_from_a_frame_and_from_datetimes():
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [3.0, 4.0],
                          "when": pd.to_datetime(["1970-01-02 00:00:00", "2001-09-09 01:46:40"])})
    r = cfnb.load_ratings(frame, timestamp="when")
    assert list(r.frame["timestamp"]) == [86_400, 1_000_000_000]
    assert "timestamp" not in cfnb.load_ratings(frame).frame  # no column named "timestamp": none kept
    assert "timestamp" not in cfnb.load_ratings(frame.rename(columns={"when": "timestamp"}), timestamp=None).frame


@pytest.mark.parametrize("values, what", [([1.0, None], "missing"), ([1.5, 2.0], "not whole"),
                                          (["soon", "2"], "not whole"), ([True, False], "not whole")])
def test_bad_timestamps_name_the_row(values, what):
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [3.0, 4.0], "timestamp": values})
    with pytest.raises(cfnb.DataError, match=r"'timestamp' of .* timestamps that are missing or not whole numbers; "
                                             r"first at row \d.*timestamp=None"):
        cfnb.load_ratings(frame)


def test_a_named_timestamp_column_must_exist():
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [3.0, 4.0]})
    with pytest.raises(cfnb.DataError, match="no column 'when'.*timestamp=None"):
        cfnb.load_ratings(frame, timestamp="when")


def test_averaged_duplicates_keep_the_latest_time():
    frame = pd.DataFrame({"userId": [1, 1, 2], "movieId": [1, 1, 1], "rating": [3.0, 4.0, 5.0],
                          "timestamp": [200, 100, 50]})
    with pytest.warns(DataWarning, match="more than once"):
        r = cfnb.load_ratings(frame)
    assert as_tuples(r) == [(1, 1, 3.5, 200), (2, 1, 5.0, 50)]
    with pytest.warns(DataWarning):
        assert as_tuples(cfnb.load_ratings(frame, duplicates="last")) == [(1, 1, 4.0, 100), (2, 1, 5.0, 50)]


# --- titles -------------------------------------------------------------------------------------------------


def ratings_frame():
    return pd.DataFrame({"userId": [1, 2, 2], "movieId": [10, 20, 10], "rating": [3.0, 4.0, 5.0]})


@pytest.mark.parametrize("titles", [
    pd.Series(["Heat (1995) ", "Alien (1979)"], index=[10, 20]),
    {10: "Heat (1995)", 20: "Alien (1979)"},
    pd.DataFrame({"movieId": [20, 10, 30], "title": ["Alien (1979)", "Heat (1995)", "Up (2009)"],
                  "genres": ["Horror", "Crime", "Comedy"]}),  # as pandas reads MovieLens's movies.csv
    pd.DataFrame({"movieId": [20.0, 10.0], "title": ["Alien (1979)", "Heat (1995)"]}).set_index("movieId"),
])
def test_titles_as_a_series_a_dict_or_a_movies_frame(titles):
    r = cfnb.load_ratings(ratings_frame(), titles=titles)
    assert r.title([10, 20, 99]) == ["Heat (1995)", "Alien (1979)", "99"]
    assert list(r.to_frame()["title"]) == ["Heat (1995)", "Alien (1979)", "Heat (1995)"]


@pytest.mark.parametrize("titles, error, text", [
    (pd.DataFrame({"id": [10], "name": ["Heat"]}), cfnb.DataError, "expected a movies table with the item id column"),
    (["Heat", "Alien"], TypeError, "titles must be a pandas Series"),
    ("Heat", TypeError, "titles must be a pandas Series"),
])
def test_other_titles_get_a_clear_error(titles, error, text):
    with pytest.raises(error, match=re.escape(text)) as info:
        cfnb.load_ratings(ratings_frame(), titles=titles)
    assert isinstance(info.value, cfnb.CfnbError)


def test_repeated_title_ids_keep_the_first_with_a_warning():
    titles = pd.Series(["Heat", "Heat (1995)", "Alien"], index=[10, 10, 20])
    with pytest.warns(DataWarning, match="1 item ids more than once"):
        r = cfnb.load_ratings(ratings_frame(), titles=titles)
    assert r.title(10) == ["Heat"]
