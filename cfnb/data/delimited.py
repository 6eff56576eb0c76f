"""Reading delimited text files: the separator (detected where unambiguous), headerless files, encodings.

`read_delimited` is what `cfnb.load_ratings` and `cfnb.movielens` read files with. It knows the
separators MovieLens has used over the years (`,` in the CSV sets, a tab in 100k's `u.data`, `|` in
100k's `u.item`, `::` in 1M/10M's `.dat` files) and `;`, and falls back from UTF-8 to Latin-1 for
text files such as 100k's `u.item`. Every failure is a `DataError` naming the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from cfnb import checks
from cfnb.errors import ArgumentError, ArgumentTypeError, DataError

SEPARATORS = ("::", "\t", "|", ";", ",")  # the ones `sep=None` can detect
SEPARATOR_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "'|'", "::": "'::'"}
NUMBER_SIGNS = ".+-"  # written in numbers, so never a separator (nor a digit)
HEADERS = ("infer", 0, None)
DEFAULTS = {"sep": None, "header": "infer", "names": None, "encoding": None}  # read_delimited's options
SAMPLE_BYTES = 1 << 16  # how much of a file separator detection looks at
SAMPLE_LINES = 50
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_QUOTED = re.compile(r'"[^"\n]*"')
_STAND_INS = [*range(0x1F, 0x0D, -1), *range(0x08, 0x00, -1)]  # control bytes that can stand in for a long separator
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # bytes no text file holds (binary data)


class Table(NamedTuple):
    """What `read_delimited` read: the frame, and the separator and encoding it used."""

    frame: pd.DataFrame
    sep: str
    encoding: str


def sep_name(sep: str) -> str:
    """How a separator reads in a message: "comma", "tab", "'::'"..."""
    return SEPARATOR_NAMES.get(sep, repr(sep))


def looks_like_number(value) -> bool:
    """True for a number, or text that is one ("5", "4.5", "881250949"); not for "nan" or "inf"."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == value and abs(value) != float("inf")
    return isinstance(value, str) and _NUMBER.fullmatch(value) is not None


def check_options(sep, header, names, encoding):
    """The reading options, checked at the door (see `cfnb.load_ratings`)."""
    if sep is not None:
        checks.instance("sep", sep, str, "a separator string such as ',', '\\t', '::' or '|', or None to detect it")
        if sep == "" or any(c in sep for c in "\r\n\""):
            raise ArgumentError(f"sep must be a non-empty separator without quotes or line breaks, got {sep!r}.")
        if any(c.isdecimal() or c in NUMBER_SIGNS for c in sep):
            raise ArgumentError(f"sep {sep!r} holds a digit or one of {NUMBER_SIGNS!r}: it would cut the numbers "
                                "(ratings, timestamps, ids) apart. Use another separator, such as ',', '\\t' or '::'.")
    if isinstance(header, bool) or header not in HEADERS:
        raise ArgumentError(f"header must be 'infer' (the first row names the columns unless it is data), 0 "
                            f"(it does) or None (the file has no header row), got {header!r}.")
    if names is not None:
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise ArgumentTypeError(f"names must be a list of column names, got {type(names).__name__} {names!r}.")
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) < len(names):
            raise ArgumentError(f"names must be distinct, non-empty column names, got {list(names)!r}.")
    if encoding is not None:
        checks.instance("encoding", encoding, str, "the name of a text encoding such as 'utf-8' or 'latin-1'")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ArgumentError(f"encoding {encoding!r} is not a text encoding Python knows (e.g. 'utf-8', "
                                "'latin-1', 'cp1252').") from None


def detect_sep(path: Path) -> str:
    """The separator of a delimited text file, from its first lines: the one of `SEPARATORS` that
    every line holds equally often (quoted text aside). Comma when none is; a `DataError` when
    several are."""
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if _CONTROL.search(sample):
        return ","  # binary: let the reader say it is not text
    lines = sample.decode("latin-1").splitlines()  # separators are ASCII, so any ASCII-based encoding reads them
    if len(sample) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    lines = [_QUOTED.sub("", line) for line in lines if line.strip()][:SAMPLE_LINES]
    if not lines:
        return ","
    found = []
    for sep in SEPARATORS:
        counts = {line.count(sep) for line in lines}
        if len(counts) == 1 and counts != {0}:
            found.append(sep)
    if len(found) > 1:
        raise DataError(f"{path} could be separated by {' or '.join(map(repr, found))} (every line of its start "
                        f"holds each equally often, e.g. {lines[0][:120]!r}). Pass the separator, "
                        f"e.g. load_ratings(..., sep={found[-1]!r}).")
    return found[0] if found else ","


def read_delimited(path: Path, sep: str | None = None, header="infer", names=None, encoding: str | None = None,
                   usecols=None, quoting: int | None = None) -> Table:
    """Read a delimited text file into a DataFrame.

    Args:
        path: the file.
        sep: the separator, any string (taken literally; `::` and non-ASCII ones too) without a digit,
            '.', '+' or '-'; None detects it (`detect_sep`).
        header: "infer" (the first row names the columns, unless `names` are given), 0 (it does, and
            `names` replace them) or None (no header row: the columns are `names`, or 0, 1, ...).
        names: column names, for a file without a header row.
        encoding: the text encoding; None tries UTF-8, then Latin-1 for a text file that is not UTF-8.
        usecols: read only these columns (positions or names).
        quoting: a `csv.QUOTE_*` constant; by default quotes are honoured, except with a separator of
            more than one character (MovieLens's `::` files have unbalanced quotes in titles).

    Returns:
        `Table(frame, sep, encoding)`, with the separator and encoding used.

    Raises:
        DataError: the file is not text, or does not parse with that separator.
    """
    sep = detect_sep(path) if sep is None else sep
    pandas_header = (None if names is not None else 0) if header == "infer" else header
    options = dict(header=pandas_header, names=names, usecols=usecols, index_col=False, low_memory=False)
    if len(sep) > 1:
        options["quoting"] = csv.QUOTE_NONE if quoting is None else quoting
    elif quoting is not None:
        options["quoting"] = quoting
    for enc in ([encoding] if encoding else ["utf-8", "latin-1"]):
        if enc == "latin-1" and not encoding and not _is_text(path):
            break
        try:
            return Table(_parse(path, sep, enc, options), sep, enc)
        except UnicodeDecodeError as e:
            error = e
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as e:
            raise DataError(f"{path} could not be read as CSV ({str(e).strip()[:300]}; separator {sep!r}): "
                            f"expected {sep_name(sep)}-separated ratings, one per line.") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{path} could not be read as CSV ({type(e).__name__}: {str(e).strip()[:200]}; "
                            f"separator {sep!r}): expected {sep_name(sep)}-separated ratings, one per line.") from None
    if encoding:
        raise DataError(f"{path} is not {encoding} text (byte {error.start}: {error.reason}). Pass the file's "
                        "encoding, e.g. encoding='latin-1'.") from None
    raise DataError(f"{path} is not a text CSV file (byte {error.start} is not UTF-8): expected ratings as CSV.") from None


def _parse(path: Path, sep: str, encoding: str, options: dict) -> pd.DataFrame:
    """pandas's fast C engine takes a one-byte ASCII separator only: a longer one (`::`) or a non-ASCII
    one (`§`) is replaced in the bytes by a control byte that the file does not hold, where that is
    safe; else the slow Python engine reads it."""
    source, single = path, sep
    if len(sep) > 1 or not sep.isascii():  # pandas measures the separator in UTF-8 bytes
        single = None
        if _byte_safe(encoding) and _encodes(sep, encoding):
            data, encoded = path.read_bytes(), sep.encode(encoding)
            single = next((chr(b) for b in _STAND_INS if bytes([b]) not in data), None)
            if single is not None:
                source = io.BytesIO(data.replace(encoded, single.encode()))
        if single is None:
            options = dict(options, engine="python", sep=re.escape(sep))
            options.pop("low_memory")
    kwargs = dict(options)
    kwargs.setdefault("sep", single)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)  # fewer names than columns: read those
        return pd.read_csv(source, encoding=encoding, **kwargs)


def _encodes(sep: str, encoding: str) -> bool:
    try:
        return bool(sep.encode(encoding))
    except UnicodeEncodeError:
        return False


def _byte_safe(encoding: str) -> bool:
    """Whether a run of bytes can be replaced in a file of `encoding` without cutting a character:
    UTF-8 (no character's bytes hold another's) and the one-byte ASCII-based encodings."""
    name = codecs.lookup(encoding).name
    return name in ("utf-8", "ascii", "latin-1", "iso8859-1") or name.startswith(("iso8859-", "cp125"))


def _is_text(path: Path) -> bool:
    """No byte of the file is a control character that text does not use (NUL, ...)."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            if _CONTROL.search(block):
                return False
    return True
