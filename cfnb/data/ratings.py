"""Ratings data: loading, re-indexing ids to contiguous codes, splitting, synthetic data."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data import splits
from cfnb.data.loading import read_ratings
from cfnb.data.vocabulary import Vocabulary, id_kind, integer_index, look_alikes, lookup, plain, typed_ids
from cfnb.errors import ArgumentTypeError, DataError, DataWarning
from cfnb.names import ITEM, ITEM_IN, RATING, TIMESTAMP, USER, USER_IN


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
        vocabulary: the ids behind the codes (`cfnb.data.vocabulary.Vocabulary`), shared by every set
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

        return {
            USER_IN: self.frame[USER].to_numpy(np.int32).reshape(-1, 1),
            ITEM_IN: self.frame[ITEM].to_numpy(np.int32).reshape(-1, 1),
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
        """Users of this set new to the vocabulary it was encoded in (cold to a model trained there)."""
        return self._n_new(USER, 0)

    @property
    def n_new_items(self) -> int:
        """Items of this set new to the vocabulary it was encoded in."""
        return self._n_new(ITEM, 1)

    def _n_new(self, column: str, side: int) -> int:
        """Distinct codes in this set's ratings past the base vocabulary's (a part of an encoded set counts its own)."""
        if not self.vocabulary.base:
            return 0
        codes = self.frame[column].to_numpy()
        return int(len(np.unique(codes[codes >= self.vocabulary.base[side]])))

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
        user_ids, users, n_new_u = _extend(self.user_ids, other.user_ids, other.frame[USER], "user", other.name)
        item_ids, items, n_new_i = _extend(self.item_ids, other.item_ids, other.frame[ITEM], "item", other.name)
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

    def split(self, val_frac: float = 0.2, seed: int | None = 42, how: str = "random") -> tuple[Ratings, Ratings]:
        """Train/validation split, reproducible with `seed`; docs/data.md says what each `how` measures.

        Args:
            val_frac: fraction of ratings that go to validation, in (0, 1).
            seed: seed of the draw; the same seed gives the same split.
            how: "random" (the lesson's mask, default); "user" (each user with n >= 2 ratings sends
                round(val_frac * n) of them, at least 1 and at most n - 1, to validation); "time" (one
                global cut: no validation rating is earlier than any training rating); "user_time" (each
                user's latest ratings, as many as "user" sends). The time splits need timestamps.

        Returns:
            `(train, val)`, both sharing this object's id mappings.
        """
        val_frac = checks.real("val_frac", val_frac, 0.0, 1.0, low_open=True, high_open=True)
        seed = checks.seed("seed", seed)
        checks.one_of("how", how, splits.HOWS)
        val = splits.val_mask(self.frame, val_frac, seed, how, self.name)
        return (self.with_frame(self.frame[~val], f"{self.name} (train)"),
                self.with_frame(self.frame[val], f"{self.name} (val)"))

    def folds(self, k: int = 5, how: str = "random", seed: int | None = 42):
        """`k` (train, test) pairs whose tests partition the ratings, for cross-validation.

        Args:
            k: the number of folds, 2 .. the number of ratings.
            how: "random" (each rating in one test, folds of equal size) or "user" (each user's ratings
                dealt round the folds, so every test holds about 1/k of each user's ratings).
            seed: the same seed gives the same folds.

        Yields:
            `(train, test)` Ratings, in this object's vocabulary.
        """
        k = splits.check_folds(k, len(self), how)
        folds = splits.fold_numbers(self.frame, k, checks.seed("seed", seed), how)
        for fold in range(k):
            test = folds == fold
            yield (self.with_frame(self.frame[~test], f"{self.name} (fold {fold + 1} train)"),
                   self.with_frame(self.frame[test], f"{self.name} (fold {fold + 1} test)"))

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
        """Codes of raw user ids; -1 for ids this mapping does not know.

        Text is matched to integer ids only in its exact decimal form ("7" is 7), and the reverse; an id
        of the other type that does not match, or a look-alike of a known text id (another Unicode form),
        is refused with a `VocabularyError` (docs/bad-input.md)."""
        return lookup(self.user_ids, raw_ids, "user")

    def item_codes(self, raw_ids) -> np.ndarray:
        """Codes of raw item ids; -1 for ids this mapping does not know (matched as `user_codes` says)."""
        return lookup(self.item_ids, raw_ids, "item")

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


def _extend(known: pd.Index, other_ids: pd.Index, other_codes, label: str, name: str):
    """`known` plus the ids of another set it lacks (sorted, after the known ones), and every row's code."""
    what = f"{name} has {label} ids of another type than the vocabulary it is encoded in"
    try:
        raw = typed_ids(known, other_ids, label, DataError)
    except DataError as e:
        raise DataError(f"{what}: {e} Convert one of the two id columns first, e.g. "
                        "frame[col] = frame[col].astype(str).") from None
    own = lookup(known, raw, label, lookalikes=False)
    alike = look_alikes(known, raw, own)
    if alike:
        warnings.warn(f"{name} has {len(alike):,} {label} ids that differ from known ids only in their Unicode form "
                      f"or invisible characters, e.g. {alike[0][0]!r} and the known {alike[0][1]!r}: cfnb keeps text "
                      "ids exactly as given, so they are new ids (docs/bad-input.md).", DataWarning, stacklevel=4)
    codes = own[np.asarray(other_codes)]
    missing = own < 0
    if not missing.any():
        return known, codes, 0
    new = pd.Index(raw[missing], dtype=object)
    try:
        new = new.sort_values()
    except TypeError:
        pass
    if len({id_kind(known), id_kind(new)} - {None}) > 1:
        raise DataError(f"{what} (e.g. {plain(new[0])!r} against {plain(known[0])!r}): convert one of the two "
                        "id columns first, e.g. frame[col] = frame[col].astype(str).")
    ids = pd.Index(np.concatenate([np.asarray(known, dtype=object), np.asarray(new, dtype=object)]), dtype=object)
    if id_kind(ids) == "number":
        ids = integer_index(ids)
    own = own.copy()
    own[missing] = len(known) + new.get_indexer(pd.Index(raw[missing], dtype=object))
    return pd.Index(ids, name=known.name), own[np.asarray(other_codes)], len(new)


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
    a `DataWarning`). Integer ids of any dtype are kept exact (int64, uint64 where needed, Python ints
    beyond 64 bits); text ids are kept exactly as given, never Unicode-normalised (a `DataWarning` names
    ids that differ only in their Unicode form or invisible characters, and a file that writes one
    number two ways, "007" and "7"). docs/bad-input.md lists every case.

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
    return Ratings(*read_ratings(source, user, item, rating, scale, titles, name, duplicates, sep=sep,
                                 header=header, names=names, encoding=encoding, timestamp=timestamp))


