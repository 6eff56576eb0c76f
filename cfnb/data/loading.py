"""Reading ratings: columns, ids, ratings, timestamps and titles checked, ids coded 0..n-1.

Every bad input gets a DataError naming the column, a row and what was expected (docs/bad-input.md)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data import delimited
from cfnb.data.ids import file_texts, keyed_like, warn_look_alikes, warn_merged
from cfnb.data.vocabulary import as_id_array, integer_index, plain
from cfnb.errors import ArgumentTypeError, DataError, DataWarning
from cfnb.names import ITEM, RATING, TIMESTAMP, USER

DUPLICATE_POLICIES = ("mean", "last", "first", "keep", "error")


USUAL_NAMES = ("userId", "movieId", "rating")  # MovieLens's, load_ratings's defaults


def _check_columns(frame, columns, timestamp, name, source, table, header, names):
    """The rating columns are there (named in the usual order for a headerless file), with rows."""
    if table is not None and header is None and names is None:  # the usual order: user, item, rating, time
        usual = [*columns, timestamp or TIMESTAMP]
        frame.columns = [*usual, *(f"column{k + 1}" for k in range(4, len(frame.columns)))][:len(frame.columns)]
    if len(frame.columns) == 0:
        raise DataError(f"{name} is empty (no columns, no rows): expected columns {columns[0]!r}, {columns[1]!r} "
                        f"and {columns[2]!r} with one rating per row.")
    if table is not None and header == "infer" and names is None:
        _refuse_data_as_header(frame, columns, name, source, table)
    _require_columns(frame, columns, name, table)
    if len(frame) == 0:
        raise DataError(f"{name} has the columns but no rating rows (header only?): expected at least one row.")


def _warn_latin1(name, text_columns):
    """Say that a file was read as Latin-1, where that decides how its text ids read."""
    if text_columns:
        warnings.warn(f"{name} is not UTF-8, so it was read as Latin-1 (ISO-8859-1), and its text ids (column "
                      f"{text_columns[0]!r}) read as in that encoding. If the file has another encoding, pass it, "
                      "e.g. encoding='cp1252'.", DataWarning, stacklevel=4)


def _first(index):
    return index[0] if len(index) else None


def _check_scale(scale):
    if scale is None:
        return None
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise DataError(f"scale must be a pair of numbers (low, high), got {scale!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DataError(f"scale must be two finite numbers with low < high, got {scale!r}.")
    return (lo, hi)


def _ids(frame, col, name, table=None, texts=None) -> pd.Series:
    """The id column, checked: no missing ids; whole numbers (any size) or text, not both.

    `table`: how a file was read (None for a frame); `texts`: the column as the file writes it."""
    ids = frame[col]
    missing = ids.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"Column {col!r} of {name} has {int(missing.sum()):,} missing ids; "
                        f"first at row {row}: {_row(frame, row)}. Every rating needs a {col}.")
    kind = pd.api.types.infer_dtype(ids, skipna=False)
    if kind == "string" and table is not None and ids.str.fullmatch(r"\s*[+-]?[0-9]+\s*").all():
        ids, texts, kind = ids.map(int), ids, "integer"  # integers beyond int64 of both signs, kept as text
    if kind == "integer":
        ids = pd.Series(np.asarray(integer_index(ids)), index=ids.index, name=ids.name)
        if texts is not None:
            warn_merged(texts, ids, col, name)
        return ids
    if kind == "string":
        stripped = _stripped(ids, col, name, frame)
        warn_look_alikes(stripped, col, name)
        return stripped
    if kind in ("floating", "mixed-integer-float", "decimal"):
        numbers = pd.to_numeric(ids, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2.0 ** 53)
        if whole.all():
            return pd.Series(numbers.astype(np.int64), index=ids.index, name=ids.name)
        row = int(np.flatnonzero(~whole)[0])
        if np.isfinite(numbers[row]) and numbers[row] == np.round(numbers[row]):  # whole, but not exact
            raise DataError(f"Column {col!r} of {name} holds ids as floats beyond 2**53, which cannot be exact "
                            f"(a float there stands for several integers); first at row {row}: {_row(frame, row)}. "
                            "Give the ids as integers or text (e.g. read the column with dtype='int64' or str).")
        raise DataError(f"Column {col!r} of {name} has {int((~whole).sum()):,} ids that are not whole numbers; "
                        f"first at row {row}: {_row(frame, row)}. Expected whole-number or text ids.")
    types = ids.map(lambda v: type(v).__name__)
    if kind == "mixed-integer" or ({"str", "int"} <= set(types)):
        rows = [int(np.flatnonzero(types.to_numpy() == t)[0]) for t in sorted(set(types))[:2]]
        raise DataError(f"Column {col!r} of {name} mixes id types ({', '.join(sorted(set(types)))}), so 1 and "
                        f"'1' would be different ids; e.g. row {rows[0]}: {_row(frame, rows[0])} and row "
                        f"{rows[-1]}: {_row(frame, rows[-1])}. Expected one type: convert the column first, "
                        f"e.g. frame[{col!r}] = frame[{col!r}].astype(str).")
    ok = types.isin(["str", "int"]).to_numpy()
    row = int(np.flatnonzero(~ok)[0]) if (~ok).any() else 0
    raise DataError(f"Column {col!r} of {name} holds ids of type {types.iloc[row]} (pandas sees {kind}); "
                    f"first at row {row}: {_row(frame, row)}. Expected whole numbers or text.")


def _deduplicate(coded, policy, frame, columns, name):
    dup = coded.duplicated([USER, ITEM], keep=False).to_numpy()
    if not dup.any() or policy == "keep":
        return coded
    n_pairs = int(coded[dup].groupby([USER, ITEM]).ngroups)
    row = int(np.flatnonzero(dup)[0])
    what = (f"{name} rates {n_pairs:,} (user, item) pairs more than once ({int(dup.sum()):,} rows, columns "
            f"{columns[0]!r}, {columns[1]!r}); first at row {row}: {_row(frame, row)}")
    if policy == "error":
        raise DataError(f"{what}. Expected one rating per pair; pass duplicates='mean', 'last', 'first' or 'keep'.")
    if policy == "mean":  # the mean rating, at the time of the latest
        how = {RATING: "mean", **({TIMESTAMP: "max"} if TIMESTAMP in coded else {})}
        out = coded.groupby([USER, ITEM], sort=False, as_index=False).agg(how)
    else:
        out = coded.drop_duplicates([USER, ITEM], keep=policy)
    warnings.warn(f"{what}. Kept one rating per pair (duplicates={policy!r}: "
                  f"{'their mean' if policy == 'mean' else 'the ' + policy + ' one'}).", DataWarning, stacklevel=4)
    types = {USER: np.int32, ITEM: np.int32, RATING: np.float32, TIMESTAMP: np.int64}
    return out.astype({c: t for c, t in types.items() if c in out}).reset_index(drop=True)


def _read(source, name, **options):
    """The source as a DataFrame, its name, and how a file was read (`delimited.Table`; None for a frame)."""
    if isinstance(source, pd.DataFrame):
        given = [k for k, v in options.items() if v != delimited.DEFAULTS[k]]
        if given:
            raise ArgumentTypeError(f"{given[0]}= is for reading a file, but the ratings are a DataFrame: name "
                                    "its columns with user=, item=, rating= instead.")
        return source, name or "the ratings frame", None
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"Expected a CSV path or a pandas DataFrame of ratings, got {type(source).__name__}.")
    path = Path(source)
    name = name or path.name
    if not path.is_file():
        raise DataError(f"No ratings file at {path}: expected a CSV file with a header row.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: expected a CSV file with a header row and ratings.")
    table = delimited.read_delimited(path, **options)
    return table.frame, name, table


def _refuse_data_as_header(frame, columns, name, path, table):
    """A first row of numbers is data, not column names: refuse it, saying how to read the file."""
    header = [str(c) for c in frame.columns]
    chosen = [c for c in columns if c in header and delimited.looks_like_number(c)]
    if not (chosen or all(delimited.looks_like_number(c) for c in header)):
        return
    with open(path, encoding=table.encoding, errors="replace") as f:
        first = f.readline().strip()
    usual = [c if not delimited.looks_like_number(c) else default for c, default in zip(columns, USUAL_NAMES)]
    names = [*usual, TIMESTAMP, *(f"column{k + 1}" for k in range(4, len(header)))][:max(len(header), 3)]
    raise DataError(f"{name} has no header row: its first row ({first[:120]!r}) is a rating, which would be read "
                    "as column names and lost. Read it as a file without a header row: "
                    f"load_ratings({str(path)!r}, sep={table.sep!r}, header=None, names={names!r}).")


def _require_columns(frame, columns, name, table=None):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = list(map(str, frame.columns))
        hint = ""
        if table is not None and any(delimited.looks_like_number(c) for c in present):
            hint = (" Its first row looks like data: if the file has no header row, pass header=None, "
                    f"names=[...] (e.g. names={[*columns, TIMESTAMP][:max(len(present), 3)]!r}).")
        elif table is not None and len(present) < len(columns):
            hint = (f" Is it a {delimited.sep_name(table.sep)}-separated file with a header row? If not, pass "
                    "sep=... (e.g. sep='\\t'), or header=None, names=[...] for a file without a header row.")
        raise DataError(f"{name} has no column {missing[0]!r} (columns present: {present[:20]}).{hint} "
                        f"Pass the right names, e.g. load_ratings(..., user=..., item=..., rating=...).")
    if len(set(columns)) < len(columns):
        raise DataError(f"The user, item and rating columns must be three different columns, got {list(columns)}.")
    for c in columns:
        if int((frame.columns == c).sum()) > 1:
            raise DataError(f"{name} has {int((frame.columns == c).sum())} columns named {c!r}: expected one.")


def _stripped(ids, col, name, frame) -> pd.Series:
    """Text ids without surrounding spaces ("ann " is "ann"), with a warning if any had them."""
    stripped = ids.str.strip()
    changed = (stripped != ids).to_numpy(dtype=bool)
    if changed.any():
        row = int(np.flatnonzero(changed)[0])
        warnings.warn(f"Column {col!r} of {name} has {int(changed.sum()):,} text ids with spaces around them; first "
                      f"at row {row}: {_row(frame, row)}. The spaces were removed, so that 'ann ' and 'ann' are "
                      "one id.", DataWarning, stacklevel=5)
    blank = (stripped == "").to_numpy(dtype=bool)
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DataError(f"Column {col!r} of {name} has {int(blank.sum()):,} blank ids; first at row {row}: "
                        f"{_row(frame, row)}. Every rating needs a {col}.")
    return stripped


def _timestamps(frame, col, name) -> np.ndarray | None:
    """The timestamp column as int64 seconds since 1970, or None where there is none."""
    if col is None or col not in frame.columns:
        if col is not None and col != TIMESTAMP:
            raise DataError(f"{name} has no column {col!r} (columns present: {list(map(str, frame.columns))[:20]}): "
                            "pass the name of its timestamp column, or timestamp=None.")
        return None
    column = frame[col]
    if isinstance(column, pd.DataFrame):
        raise DataError(f"{name} has {column.shape[1]} columns named {col!r}: expected one.")
    if pd.api.types.is_datetime64_any_dtype(column):
        missing = column.isna().to_numpy()
        seconds = np.zeros(len(column), dtype=np.int64)
        if not missing.all():
            seconds[~missing] = ((column[~missing].dt.tz_localize(None) if column.dt.tz is not None else
                                  column[~missing]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
        bad = missing
    elif pd.api.types.is_integer_dtype(column) and not column.isna().any():
        return column.to_numpy(dtype=np.int64)
    else:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if pd.api.types.is_bool_dtype(column):
            numbers[:] = np.nan
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2.0 ** 62))
        seconds = np.where(bad, 0, numbers).astype(np.int64)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"Column {col!r} of {name} has {int(bad.sum()):,} timestamps that are missing or not whole "
                        f"numbers; first at row {row}: {_row(frame, row)}. Expected whole seconds since 1970 in every "
                        "row, or pass timestamp=None to leave the column out.")
    return seconds


def as_titles(titles, item: str = "movieId", name: str = "the ratings") -> pd.Series | None:
    """Item titles as a Series of text indexed by raw item id, from a Series, a dict or a movies DataFrame.

    Args:
        titles: None; a Series of titles indexed by item id; a dict `{item id: title}`; or a DataFrame
            with a `title` column and the item ids in a column (or the index) named `item`.
        item: the name of the item id column.
        name: the ratings' name, for messages.
    """
    if titles is None:
        return None
    if isinstance(titles, pd.DataFrame):
        ids = (titles[item] if item in titles.columns else
               titles.index.to_series() if titles.index.name == item else None)
        if ids is None or "title" not in titles.columns or isinstance(ids, pd.DataFrame):
            raise DataError(f"titles for {name} is a DataFrame with columns {list(map(str, titles.columns))[:20]}: "
                            f"expected a movies table with the item id column {item!r} and a 'title' column "
                            "(e.g. MovieLens's movies.csv), or a Series of titles indexed by item id.")
        titles = pd.Series(titles["title"].to_numpy(), index=ids.to_numpy())
    elif isinstance(titles, Mapping):
        titles = pd.Series(list(titles.values()), index=as_id_array(list(titles.keys())), dtype=object)
    elif not isinstance(titles, pd.Series):
        raise ArgumentTypeError(f"titles must be a pandas Series of titles indexed by item id, or a movies DataFrame "
                                f"with columns {item!r} and 'title', got {type(titles).__name__}.")
    titles = titles[titles.notna().to_numpy()]
    index = pd.Index(titles.index)
    if index.dtype.kind == "f" and np.all(np.isfinite(index)) and np.all(index == np.round(index)):
        index = index.astype(np.int64)
    elif pd.api.types.infer_dtype(index) == "string":
        index = pd.Index(index.str.strip(), dtype=object)
    out = pd.Series([str(t).strip() for t in titles.to_numpy()], index=index, dtype=object)
    repeated = out.index.duplicated()
    if repeated.any():
        warnings.warn(f"titles for {name} name {int(repeated.sum()):,} item ids more than once (e.g. "
                      f"{plain(out.index[repeated][0])!r}); kept the first title of each.", DataWarning, stacklevel=4)
        out = out[~repeated]
    return out


def _numeric_ratings(frame, rating, name, header_hint=False) -> np.ndarray:
    column = frame[rating]
    if pd.api.types.is_bool_dtype(column) or pd.api.types.infer_dtype(column, skipna=True) == "boolean":
        raise DataError(f"Column {rating!r} of {name} holds True/False values, e.g. row 0: {_row(frame, 0)}. "
                        "Expected a finite number in every row.")
    try:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = np.array([_to_float(v) for v in column], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= np.finfo(np.float32).max)  # NaN, infinite, or beyond float32
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = frame[rating].iloc[row]
        what = ("missing" if pd.isna(raw) else "infinite" if np.isinf(values[row]) else
                "not a number" if np.isnan(values[row]) else "too large")
        hint = (" Its first row looks like a header row: drop header=None (and names=) to read it as one."
                if header_hint and row == 0 and what == "not a number" else "")
        raise DataError(f"Column {rating!r} of {name} has {int(bad.sum()):,} ratings that are missing, "
                        f"non-numeric, infinite or too large; first at row {row} ({what}): {_row(frame, row)}. "
                        f"Expected a finite number in every row.{hint}")
    return values


def _to_float(value) -> float:
    if isinstance(value, (bool, np.bool_)):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return np.nan


def _row(frame, row) -> str:
    text = repr({c: plain(frame.iloc[row, k]) for k, c in enumerate(frame.columns[:8])})
    return text if len(text) < 300 else text[:300] + "...}"


class Coded(NamedTuple):
    """Ratings read and coded, as plain data: what `Ratings` is made of."""

    frame: pd.DataFrame
    user_ids: pd.Index
    item_ids: pd.Index
    titles: pd.Series | None
    scale: tuple[float, float] | None
    name: str


def read_ratings(source, user, item, rating, scale, titles, name, duplicates, *, sep, header, names, encoding,
                 timestamp) -> Coded:
    """Read, check and code ratings (the work of `load_ratings`, which documents the arguments)."""
    if duplicates not in DUPLICATE_POLICIES:
        raise DataError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}.")
    scale = _check_scale(scale)
    if timestamp is not None:
        checks.instance("timestamp", timestamp, str, "the name of the timestamp column, or None")
    delimited.check_options(sep, header, names, encoding)
    if timestamp in (user, item, rating):
        raise DataError(f"The timestamp column must not be the user, item or rating column, got {timestamp!r}.")
    frame, name, table = _read(source, name, sep=sep, header=header, names=names, encoding=encoding)
    _check_columns(frame, (user, item, rating), timestamp, name, source, table, header, names)
    values = _numeric_ratings(frame, rating, name, header_hint=table is not None and header is None)
    texts = file_texts(source, table, frame, (user, item), header, names)
    users = _ids(frame, user, name, table, texts.get(user))
    items = _ids(frame, item, name, table, texts.get(item))
    times = _timestamps(frame, timestamp, name)
    if scale is not None:
        lo, hi = scale
        bad = (values < lo) | (values > hi)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"Column {rating!r} of {name} has {int(bad.sum()):,} ratings outside the declared "
                            f"scale {lo:g}..{hi:g}; first at row {row}: {_row(frame, row)}.")
    user_codes, user_ids = pd.factorize(users, sort=True)
    item_codes, item_ids = pd.factorize(items, sort=True)
    coded = pd.DataFrame({USER: user_codes.astype(np.int32), ITEM: item_codes.astype(np.int32),
                          RATING: values.astype(np.float32)})
    if times is not None:
        coded[TIMESTAMP] = times
    coded = _deduplicate(coded, duplicates, frame, (user, item), name)
    for label, n, col in (("user", len(user_ids), user), ("item", len(item_ids), item)):
        if n == 1:
            warnings.warn(f"{name} has a single {label} (column {col!r}, id {plain(_first(user_ids if label == 'user' else item_ids))!r}): "
                          f"a model can still be fitted, but it cannot learn how {label}s differ.",
                          DataWarning, stacklevel=3)
    if table is not None and table.encoding == "latin-1" and encoding is None:
        _warn_latin1(name, [col for col, ids in ((user, user_ids), (item, item_ids)) if ids.dtype.kind not in "iuf"])
    return Coded(coded, pd.Index(user_ids, name=user), pd.Index(item_ids, name=item),
                 keyed_like(as_titles(titles, item, name), item_ids), scale, name)

