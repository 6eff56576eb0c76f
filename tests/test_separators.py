"""Separators (issue 19, class 5): any single character, non-ASCII ones included, and MovieLens's `::`
load exactly; a separator that cannot work (it would cut the numbers apart) is refused with the reason."""

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cfnb

ROWS = [(196, 242, 3.5, 881250949), (186, 302, 3.0, 891717742), (22, 377, 1.0, 878887116)]
HEADER = ["userId", "movieId", "rating", "timestamp"]
NUMBER_CHARS = "0123456789.+-eE"  # what the numbers in ROWS (or any rating / timestamp) may be written with
pytestmark = [pytest.mark.filterwarnings("ignore::cfnb.errors.DataWarning"),
              pytest.mark.backend_independent(reason="reading delimited files with pandas: no Keras")]


def write(path, sep, encoding="utf-8"):
    lines = [sep.join(HEADER)] + [sep.join(map(str, row)) for row in ROWS]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def loaded(ratings):
    return [tuple(x) for x in ratings.to_frame()[["user", "item", "rating", "timestamp"]].itertuples(index=False)]


@pytest.mark.parametrize("sep", ["::", "§", "é", "→", "😀", "\u00a0", "€€", "→→", ";", "\t", " ", "|", "x", "\\"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_any_separator_loads_exactly(tmp_path, sep, encoding):
    path = write(tmp_path / "r.txt", sep, encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert loaded(cfnb.load_ratings(path, sep=sep, encoding=encoding)) == ROWS


@pytest.mark.parametrize("sep", ["§", "é", "£"])
def test_a_non_ascii_separator_in_a_latin1_file(tmp_path, sep):
    path = write(tmp_path / "r.txt", sep, "latin-1")
    assert loaded(cfnb.load_ratings(path, sep=sep, encoding="latin-1")) == ROWS
    assert loaded(cfnb.load_ratings(path, sep=sep)) == ROWS  # not UTF-8: read as Latin-1


@pytest.mark.parametrize("sep", ["1", ".", "-", "5", "٣", "1.", ":5"])
def test_a_separator_that_would_cut_numbers_apart_is_refused_with_the_reason(tmp_path, sep):
    """Before: '.' loaded 4.5 as 4.0 without a word, and a digit failed with a tokenizer error."""
    path = write(tmp_path / "r.txt", ",")
    with pytest.raises(cfnb.errors.ArgumentError, match=r"sep .*numbers"):
        cfnb.load_ratings(path, sep=sep)


@settings(max_examples=60, deadline=None)
@given(sep=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\"\x00" + NUMBER_CHARS + "".join(HEADER))
       .filter(lambda c: not c.isdecimal() and not c.isspace() or c in " \t"))
def test_any_single_character_separator_round_trips(tmp_path_factory, sep):
    path = write(tmp_path_factory.mktemp("sep") / "r.txt", sep)
    assert loaded(cfnb.load_ratings(path, sep=sep)) == ROWS
