"""Ratings data: loading, re-indexing ids to contiguous codes, splitting, synthetic data."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import checks, delimited
from .errors import ArgumentTypeError, DataError
from .vocabulary import Vocabulary, plain

USER, ITEM, RATING, TIMESTAMP = "user", "item", "rating", "timestamp"
DUPLICATE_POLICIES = ("mean", "last", "first", "keep", "error")
USUAL_NAMES = ("userId", "movieId", "rating")  # MovieLens's, load_ratings's defaults


class DataWarning(UserWarning):
    """Ratings that cfnb can use but that are probably not what you meant (duplicates, one user...)."""


@dataclass(frozen=True)
class Ratings:
    """Ratings with ids re-indexed to codes 0..n-1, keeping both directions of the mapping.

    Attributes:
        frame: DataFrame with int32 columns `user`, `item` (codes) and float32 `rating`, and int64
            `timestamp` (seconds since 1970) where the source had one; `split`, `with_frame`,
            `encode`, `to_frame` and `cfnb.save` / `cfnb.load` keep it.
        user_ids: raw user id of each user code (`user_ids[code] -> raw id`).
        item_ids: raw item id of each item code.
        titles: optional item titles indexed by raw item id.
        scale: the declared rating scale `(low, high)`, or None.
        vocabulary: the ids behind the codes (`cfnb.vocabulary.Vocabulary`), shared by every set
            split from or encoded with this one.
    """

    frame: pd.DataFrame
    user_ids: pd.Index
    item_ids: pd.Index
    titles: pd.Series | None = None
    scale: tuple[float, float] | None = None
    name: str = "ratings"
    vocabulary: Vocabulary | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.vocabulary is None:
            object.__setattr__(self, "vocabulary", Vocabulary(self.user_ids, self.item_ids))

    @property
    def n_users(self) -> int:
        """Number of distinct users in the mapping (embedding rows needed)."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items in the mapping (embedding rows needed)."""
        return len(self.item_ids)

    @property
    def rating_range(self) -> tuple[float, float]:
        """Lowest and highest rating present (or the declared scale, if given)."""
        if self.scale is not None:
            return self.scale
        r = self.frame[RATING]
        return (float(r.min()), float(r.max())) if len(r) else (float("nan"), float("nan"))

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def x(self) -> dict[str, np.ndarray]:
        """Model inputs: `{"user_in": codes, "movie_in": codes}`, each of shape (n, 1)."""
        from .models import MOVIE_IN, USER_IN

        return {
            USER_IN: self.frame[USER].to_numpy(np.int32).reshape(-1, 1),
            MOVIE_IN: self.frame[ITEM].to_numpy(np.int32).reshape(-1, 1),
        }

    @property
    def y(self) -> np.ndarray:
        """Ratings as a float32 array of shape (n,)."""
        return self.frame[RATING].to_numpy(np.float32)

    def with_frame(self, frame: pd.DataFrame, name: str | None = None) -> Ratings:
        """The same id mappings (the same vocabulary) over another subset of coded ratings."""
        return Ratings(frame.reset_index(drop=True), self.user_ids, self.item_ids, self.titles, self.scale,
                       name or self.name, self.vocabulary)

    @property
    def n_new_users(self) -> int:
        """Users this set's vocabulary adds to the one it was encoded in (cold to a model trained there)."""
        return self.n_users - self.vocabulary.base[0] if self.vocabulary.base else 0

    @property
    def n_new_items(self) -> int:
        """Items this set's vocabulary adds to the one it was encoded in."""
        return self.n_items - self.vocabulary.base[1] if self.vocabulary.base else 0

    def encode(self, source, **load_kwargs) -> Ratings:
        """Another set of ratings coded in THIS set's vocabulary, so a model trained here can score it.

        Args:
            source: a CSV path, a DataFrame (read with `load_ratings(source, **load_kwargs)`), or a
                `Ratings` loaded on its own.
            **load_kwargs: `load_ratings` options (column names, `duplicates`...). The scale and titles
                default to this set's.

        Returns:
            A `Ratings` whose codes mean what they mean here. Ids this vocabulary does not know are kept:
            they get new codes after the known ones (`n_new_users`, `n_new_items`), and a `DataWarning`
            counts them. A model trained here treats them as cold (`cfnb.evaluate` predicts them with the
            fallback).
        """
        if isinstance(source, Ratings):
            if load_kwargs:
                raise ArgumentTypeError(f"encode() got load options {sorted(load_kwargs)} with a Ratings source; "
                                        "pass a path or a DataFrame to load.")
            other = source
        else:
            load_kwargs.setdefault("scale", self.scale)
            load_kwargs.setdefault("titles", self.titles)
            other = load_ratings(source, **load_kwargs)
        raw_users = other.user_ids.take(other.frame[USER].to_numpy())
        raw_items = other.item_ids.take(other.frame[ITEM].to_numpy())
        user_ids, users, n_new_u = _extend(self.user_ids, raw_users, self.user_codes(raw_users), "user", other.name)
        item_ids, items, n_new_i = _extend(self.item_ids, raw_items, self.item_codes(raw_items), "item", other.name)
        frame = other.frame.assign(**{USER: users.astype(np.int32), ITEM: items.astype(np.int32)})
        vocabulary = (self.vocabulary if not (n_new_u or n_new_i) else
                      Vocabulary(user_ids, item_ids, base=self.vocabulary.sizes))
        if n_new_u or n_new_i:
            rows = int(((users >= self.n_users) | (items >= self.n_items)).sum())
            warnings.warn(f"{other.name} has {n_new_u:,} users and {n_new_i:,} items that {self.name!r} does not "
                          f"know ({rows:,} of its {len(other):,} ratings). They are kept with new codes after "
                          f"the known ones and are cold to a model trained on {self.name!r}: cfnb.evaluate "
                          "predicts them with the cold-start fallback.", DataWarning, stacklevel=2)
        titles = self.titles if self.titles is not None else other.titles
        return Ratings(frame, user_ids, item_ids, titles, self.scale or other.scale, other.name, vocabulary)

    def split(self, val_frac: float = 0.2, seed: int | None = 42) -> tuple[Ratings, Ratings]:
        """Random train/validation split (the lesson's mask), reproducible with `seed`.

        Args:
            val_frac: fraction of ratings that go to validation, in (0, 1).
            seed: seed of the random mask; the same seed gives the same split.

        Returns:
            `(train, val)`, both sharing this object's id mappings.
        """
        val_frac = checks.real("val_frac", val_frac, 0.0, 1.0, low_open=True, high_open=True)
        seed = checks.seed("seed", seed)
        mask = np.random.default_rng(seed).random(len(self.frame)) >= val_frac
        return (self.with_frame(self.frame[mask], f"{self.name} (train)"),
                self.with_frame(self.frame[~mask], f"{self.name} (val)"))

    def implicit(self, threshold: float | None = None) -> Ratings:
        """Interactions instead of ratings (implicit feedback): who rated what, not how.

        Args:
            threshold: None (default) makes every rating an interaction, as He et al. did with
                MovieLens; a number keeps only the ratings >= threshold (the movies a user liked).

        Returns:
            A `Ratings` in this set's vocabulary with one row per (user, item) pair kept, rating 1.0,
            scale (0, 1) (1: an interaction, 0: none); other columns (a timestamp) are kept. A pair
            rated more than once keeps its latest row (by timestamp, if there is one). Train with
            `fit_stages(..., loss="bce")` (see `cfnb.implicit`).
        """
        f = self.frame
        if threshold is not None:
            threshold = checks.real("threshold", threshold)
            f = f[f[RATING].to_numpy() >= threshold]
            if not len(f):
                raise DataError(f"{self.name!r} has no rating >= {threshold:g} (its ratings are "
                                f"{self.rating_range[0]:g}..{self.rating_range[1]:g}): no interaction is left.")
        latest = f.sort_values(TIMESTAMP, kind="stable") if TIMESTAMP in f.columns else f
        f = latest.drop_duplicates([USER, ITEM], keep="last").sort_index()
        name = f"{self.name} (implicit{'' if threshold is None else f', ratings >= {threshold:g}'})"
        return Ratings(f.assign(**{RATING: np.float32(1.0)}).reset_index(drop=True), self.user_ids, self.item_ids,
                       self.titles, (0.0, 1.0), name, self.vocabulary)

    def user_codes(self, raw_ids) -> np.ndarray:
        """Codes of raw user ids; -1 for ids this mapping does not know."""
        return _lookup(self.user_ids, raw_ids)

    def item_codes(self, raw_ids) -> np.ndarray:
        """Codes of raw item ids; -1 for ids this mapping does not know."""
        return _lookup(self.item_ids, raw_ids)

    def title(self, raw_item_ids) -> list[str]:
        """Titles of raw item ids (the id as text where no title is known)."""
        ids = list(np.atleast_1d(raw_item_ids))
        if self.titles is None:
            return [str(i) for i in ids]
        return [str(self.titles.get(i, i)) for i in ids]

    def to_frame(self) -> pd.DataFrame:
        """Ratings with raw ids (and titles, if known): `user`, `item`, `rating`[, `timestamp`][, `title`]."""
        out = pd.DataFrame({
            USER: self.user_ids.take(self.frame[USER].to_numpy()),
            ITEM: self.item_ids.take(self.frame[ITEM].to_numpy()),
            RATING: self.frame[RATING].to_numpy(),
        })
        if TIMESTAMP in self.frame:
            out[TIMESTAMP] = self.frame[TIMESTAMP].to_numpy()
        if self.titles is not None:
            out["title"] = self.title(out[ITEM].to_numpy())
        return out

    def __repr__(self) -> str:
        lo, hi = self.rating_range
        new = (f", {self.n_new_users:,} users and {self.n_new_items:,} items new to the vocabulary it was "
               "encoded in" if self.n_new_users or self.n_new_items else "")
        return (f"Ratings({self.name!r}: {len(self):,} ratings, {self.n_users:,} users, "
                f"{self.n_items:,} items, ratings {lo:g}..{hi:g}{new})")

    def _repr_html_(self) -> str:
        lo, hi = self.rating_range
        head = self.to_frame().head(5).to_html(index=False)
        return (f"<div><b>{self.name}</b>: {len(self):,} ratings, {self.n_users:,} users, "
                f"{self.n_items:,} items, ratings {lo:g}..{hi:g}{head}</div>")


def _lookup(index: pd.Index, raw_ids) -> np.ndarray:
    ids = as_id_array(raw_ids)
    if ids.dtype.kind in "iuf" and index.dtype.kind in "iuf":
        return index.get_indexer(ids).astype(np.int64)
    # Object path: keeps 1 and "1" apart and big integers exact, whatever mix the caller passes.
    return index.get_indexer(pd.Index(ids.astype(object), dtype=object)).astype(np.int64)


def as_id_array(raw_ids) -> np.ndarray:
    """Raw ids (a scalar, a list, an array, a Series) as a 1-d array, without coercing mixed types to text."""
    if isinstance(raw_ids, (pd.Index, pd.Series, np.ndarray)):
        return np.asarray(raw_ids).reshape(-1)
    if isinstance(raw_ids, (str, bytes)) or not hasattr(raw_ids, "__iter__"):
        raw_ids = [raw_ids]
    values = list(raw_ids)
    kinds = {type(v) for v in values}
    if values and all(issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_)) for k in kinds):
        try:
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            pass
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _extend(known: pd.Index, raw: pd.Index, codes: np.ndarray, label: str, name: str):
    """`known` plus the ids of `raw` it lacks (sorted, after the known ones), and every row's code."""
    missing = codes < 0
    if not missing.any():
        return known, codes, 0
    new = pd.Index(pd.unique(raw[missing]))
    try:
        new = new.sort_values()
    except TypeError:
        pass
    kinds = {_id_kind(known), _id_kind(new)} - {None}
    if len(kinds) > 1:
        raise DataError(f"{name} has {label} ids of another type than the vocabulary it is encoded in (e.g. "
                        f"{plain(new[0])!r} against {plain(known[0])!r}): convert one of the two id columns "
                        "first, e.g. frame[col] = frame[col].astype(str).")
    ids = known.append(new) if len(known) else new
    codes = codes.copy()
    codes[missing] = len(known) + new.get_indexer(raw[missing])
    return pd.Index(ids, name=known.name), codes, len(new)


def _id_kind(index: pd.Index) -> str | None:
    if not len(index):
        return None
    return "text" if isinstance(index[0], str) else "number"


def load_ratings(source, user: str = "userId", item: str = "movieId", rating: str = "rating",
                 scale: tuple[float, float] | None = None, titles=None,
                 name: str | None = None, duplicates: str = "mean", like: Ratings | None = None, *,
                 sep: str | None = None, header="infer", names=None, encoding: str | None = None,
                 timestamp: str | None = TIMESTAMP) -> Ratings:
    """Load ratings from a delimited text file or a DataFrame and re-index ids to contiguous codes.

    Args:
        source: path of a text file of ratings (CSV, tab-, `::`-, `|`- or `;`-separated), or a
            pandas DataFrame.
        user, item, rating: names of the user id, item id and rating columns.
        scale: declared rating scale `(low, high)`; ratings outside it are an error.
        titles: optional item titles: a Series indexed by raw item id, or a movies DataFrame with the
            item id column (named like `item`) and a `title` column (e.g. MovieLens's movies.csv).
        name: a short name shown in reprs and tables.
        duplicates: what to do with several ratings of the same (user, item) pair: "mean" (default:
            average them into one rating), "last" / "first" (keep the last / first in file order),
            "keep" (keep them all), or "error". Every policy but "keep" and "error" warns
            (`DataWarning`) with the number of pairs affected.
        like: code the ratings in the vocabulary of this `Ratings` (e.g. a test file in the training
            set's), as `like.encode(...)` does: ids it does not know are kept, with new codes, and cold.
        sep: the file's separator (taken literally, `::` too); None detects `,`, tab, `::`, `|` or `;`
            where exactly one of them separates every line of the file's start.
        header: "infer" (default: the first row names the columns, unless `names` are given; a first
            row of numbers is refused as data, never used as names), 0 (the first row names the columns
            and `names` replace them) or None (the file has no header row).
        names: column names for a file without a header row, e.g. `["userId", "movieId", "rating",
            "timestamp"]`; with `header=None` and no `names`, the columns are `user`, `item`, `rating`
            and `timestamp`, in that order.
        encoding: the file's text encoding; None reads UTF-8, or Latin-1 for a text file that is not
            UTF-8 (a `DataWarning` says so where that changes text ids).
        timestamp: the column of rating times (whole seconds since 1970, or datetimes in a frame),
            kept as int64 `frame["timestamp"]` where the source has it; None leaves it out.

    Ids may be whole numbers (any size, negative too) or text, but not a mix of both in one column;
    whole-valued float ids (``10.0``) are read as integers; spaces around text ids are stripped (with
    a `DataWarning`). The README ("Bad input") lists every case.

    Returns:
        A `Ratings` object.

    Raises:
        DataError: naming the column, an example row and what was expected.
    """
    if like is not None:
        checks.instance("like", like, Ratings, "a cfnb Ratings (the set whose vocabulary to use)")
        return like.encode(source, user=user, item=item, rating=rating, scale=scale if scale is not None else like.scale,
                           titles=titles if titles is not None else like.titles, name=name, duplicates=duplicates,
                           sep=sep, header=header, names=names, encoding=encoding, timestamp=timestamp)
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
    users = _ids(frame, user, name)
    items = _ids(frame, item, name)
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
                          DataWarning, stacklevel=2)
    if table is not None and table.encoding == "latin-1" and encoding is None:
        _warn_latin1(name, [col for col, ids in ((user, user_ids), (item, item_ids)) if ids.dtype.kind not in "iuf"])
    return Ratings(coded, pd.Index(user_ids, name=user), pd.Index(item_ids, name=item),
                   as_titles(titles, item, name), scale, name)


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
                      "e.g. encoding='cp1252'.", DataWarning, stacklevel=3)


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


def _ids(frame, col, name) -> pd.Series:
    """The id column, checked: no missing ids; whole numbers (any size) or text, not both."""
    ids = frame[col]
    missing = ids.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"Column {col!r} of {name} has {int(missing.sum()):,} missing ids; "
                        f"first at row {row}: {_row(frame, row)}. Every rating needs a {col}.")
    kind = pd.api.types.infer_dtype(ids, skipna=False)
    if kind == "integer":
        if ids.dtype == object:  # Python ints: keep those beyond 64 bits exact, as objects
            for dtype in ("int64", "uint64"):
                try:
                    return ids.astype(dtype)
                except (OverflowError, ValueError, TypeError):
                    pass
        return ids
    if kind == "string":
        return _stripped(ids, col, name, frame)
    if kind in ("floating", "mixed-integer-float", "decimal"):
        numbers = pd.to_numeric(ids, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2.0 ** 53)
        if whole.all():
            return pd.Series(numbers.astype(np.int64), index=ids.index, name=ids.name)
        row = int(np.flatnonzero(~whole)[0])
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
                  f"{'their mean' if policy == 'mean' else 'the ' + policy + ' one'}).", DataWarning, stacklevel=3)
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
                      "one id.", DataWarning, stacklevel=4)
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
                      f"{plain(out.index[repeated][0])!r}); kept the first title of each.", DataWarning, stacklevel=3)
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


def synthetic(n_users: int = 200, n_items: int = 300, n_ratings: int = 10_000, n_factors: int = 5,
              noise: float = 0.3, seed: int = 0, scale: tuple[float, float] = (0.5, 5.0), lean: bool = False,
              chunk: int = 1_000_000) -> Ratings:
    """Ratings generated from planted user/item factors and biases, for fast tests and offline demos.

    With `lean=True` (millions of ratings, e.g. MovieLens 25M's size for `cfnb bench --scale`):
    long-tailed item popularity, made `chunk` ratings at a time in float32 (a smaller set is the first
    ratings of a larger one with the same seed), codes as ids, no titles, and no id is sure to appear.

    Returns:
        A `Ratings` named "synthetic"; `ratings = 3.5 + user bias + item bias + user·item + noise`,
        rounded to half stars and clipped to `scale`. Every user and item appears at least once (unless lean).
    """
    rng = np.random.default_rng(seed)

    def planted(dtype):
        pu = rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors)).astype(dtype)
        qi = rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors)).astype(dtype)
        return pu, qi, rng.normal(0, 0.3, n_users).astype(dtype), rng.normal(0, 0.5, n_items).astype(dtype)

    if lean:
        pu, qi, bu, bi = planted(np.float32)
        popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
        cdf = np.cumsum(popularity / popularity.sum())
        users, items = np.empty(n_ratings, np.int32), np.empty(n_ratings, np.int32)
        ratings = np.empty(n_ratings, np.float32)
        for k, lo in enumerate(range(0, n_ratings, chunk)):
            part = np.random.default_rng([seed, k])
            n = min(chunk, n_ratings - lo)
            u = users[lo:lo + n] = part.integers(0, n_users, n, dtype=np.int32)
            i = items[lo:lo + n] = np.minimum(np.searchsorted(cdf, part.random(n)), n_items - 1)
            r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", pu[u], qi[i]) + part.normal(0, noise, n).astype(np.float32)
            ratings[lo:lo + n] = np.clip(np.round(r * 2) / 2, *scale)
        frame = pd.DataFrame({USER: users, ITEM: items, RATING: ratings})
        return Ratings(frame, pd.RangeIndex(n_users, name=USER), pd.RangeIndex(n_items, name=ITEM), scale=scale,
                       name="synthetic")
    if n_ratings < max(n_users, n_items):
        raise DataError(f"n_ratings ({n_ratings}) must be at least max(n_users, n_items) so every id appears.")
    u = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_ratings - n_users)])
    i = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_ratings - n_items)])[:n_ratings]
    u = u[:n_ratings]
    rng.shuffle(i)
    pu, qi, bu, bi = planted(np.float64)
    r = 3.5 + bu[u] + bi[i] + (pu[u] * qi[i]).sum(1) + rng.normal(0, noise, n_ratings)
    r = np.clip(np.round(r * 2) / 2, *scale)
    frame = pd.DataFrame({"userId": u + 1, "movieId": i + 1, "rating": r})
    titles = pd.Series([f"Synthetic movie {k + 1}" for k in range(n_items)], index=np.arange(1, n_items + 1))
    # Random pairs repeat; keep them all, as the planted-structure data always has.
    return load_ratings(frame, titles=titles, name="synthetic", scale=scale, duplicates="keep")
