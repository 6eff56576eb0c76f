"""Ratings data: loading, re-indexing ids to contiguous codes, splitting, synthetic data."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

USER, ITEM, RATING = "user", "item", "rating"


@dataclass(frozen=True)
class Ratings:
    """Ratings with ids re-indexed to codes 0..n-1, keeping both directions of the mapping.

    Attributes:
        frame: DataFrame with int32 columns `user`, `item` (codes) and float32 `rating`.
        user_ids: raw user id of each user code (`user_ids[code] -> raw id`).
        item_ids: raw item id of each item code.
        titles: optional item titles indexed by raw item id.
        scale: the declared rating scale `(low, high)`, or None.
    """

    frame: pd.DataFrame
    user_ids: pd.Index
    item_ids: pd.Index
    titles: pd.Series | None = None
    scale: tuple[float, float] | None = None
    name: str = "ratings"
    _user_codes: pd.Series = field(init=False, repr=False, compare=False)
    _item_codes: pd.Series = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_user_codes", pd.Series(np.arange(len(self.user_ids)), index=self.user_ids))
        object.__setattr__(self, "_item_codes", pd.Series(np.arange(len(self.item_ids)), index=self.item_ids))

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
            "user_in": self.frame[USER].to_numpy(np.int32).reshape(-1, 1),
            "movie_in": self.frame[ITEM].to_numpy(np.int32).reshape(-1, 1),
        }

    @property
    def y(self) -> np.ndarray:
        """Ratings as a float32 array of shape (n,)."""
        return self.frame[RATING].to_numpy(np.float32)

    def with_frame(self, frame: pd.DataFrame, name: str | None = None) -> Ratings:
        """The same id mappings over another subset of coded ratings."""
        return Ratings(frame.reset_index(drop=True), self.user_ids, self.item_ids, self.titles, self.scale,
                       name or self.name)

    def split(self, val_frac: float = 0.2, seed: int | None = 42) -> tuple[Ratings, Ratings]:
        """Random train/validation split (the lesson's mask), reproducible with `seed`.

        Args:
            val_frac: fraction of ratings that go to validation, in (0, 1).
            seed: seed of the random mask; the same seed gives the same split.

        Returns:
            `(train, val)`, both sharing this object's id mappings.
        """
        if not 0 < val_frac < 1:
            raise DataError(f"val_frac must be between 0 and 1 (exclusive), got {val_frac!r}.")
        mask = np.random.default_rng(seed).random(len(self.frame)) >= val_frac
        return (self.with_frame(self.frame[mask], f"{self.name} (train)"),
                self.with_frame(self.frame[~mask], f"{self.name} (val)"))

    def user_codes(self, raw_ids) -> np.ndarray:
        """Codes of raw user ids; -1 for ids this mapping does not know."""
        return _lookup(self._user_codes, raw_ids)

    def item_codes(self, raw_ids) -> np.ndarray:
        """Codes of raw item ids; -1 for ids this mapping does not know."""
        return _lookup(self._item_codes, raw_ids)

    def title(self, raw_item_ids) -> list[str]:
        """Titles of raw item ids (the id as text where no title is known)."""
        ids = list(np.atleast_1d(raw_item_ids))
        if self.titles is None:
            return [str(i) for i in ids]
        return [str(self.titles.get(i, i)) for i in ids]

    def to_frame(self) -> pd.DataFrame:
        """Ratings with raw ids (and titles, if known): `user`, `item`, `rating`[, `title`]."""
        out = pd.DataFrame({
            USER: self.user_ids.take(self.frame[USER].to_numpy()),
            ITEM: self.item_ids.take(self.frame[ITEM].to_numpy()),
            RATING: self.frame[RATING].to_numpy(),
        })
        if self.titles is not None:
            out["title"] = self.title(out[ITEM].to_numpy())
        return out

    def __repr__(self) -> str:
        lo, hi = self.rating_range
        return (f"Ratings({self.name!r}: {len(self):,} ratings, {self.n_users:,} users, "
                f"{self.n_items:,} items, ratings {lo:g}..{hi:g})")

    def _repr_html_(self) -> str:
        lo, hi = self.rating_range
        head = self.to_frame().head(5).to_html(index=False)
        return (f"<div><b>{self.name}</b>: {len(self):,} ratings, {self.n_users:,} users, "
                f"{self.n_items:,} items, ratings {lo:g}..{hi:g}{head}</div>")


def _lookup(codes: pd.Series, raw_ids) -> np.ndarray:
    ids = pd.Index(np.atleast_1d(np.asarray(raw_ids, dtype=object if codes.index.dtype == object else None)))
    pos = codes.index.get_indexer(ids)
    return pos.astype(np.int64)


def load_ratings(source, user: str = "userId", item: str = "movieId", rating: str = "rating",
                 scale: tuple[float, float] | None = None, titles: pd.Series | None = None,
                 name: str | None = None) -> Ratings:
    """Load ratings from a CSV path or a DataFrame and re-index ids to contiguous codes.

    Args:
        source: path of a CSV file, or a pandas DataFrame.
        user, item, rating: names of the user id, item id and rating columns.
        scale: declared rating scale `(low, high)`; ratings outside it are an error.
        titles: optional item titles indexed by raw item id.
        name: a short name shown in reprs and tables.

    Returns:
        A `Ratings` object.

    Raises:
        DataError: naming the column, an example row and what was expected.
    """
    frame, name = _read(source, name)
    _require_columns(frame, (user, item, rating), name)
    if len(frame) == 0:
        raise DataError(f"{name} has the columns but no rating rows (header only?): expected at least one row.")
    values = _numeric_ratings(frame, rating, name)
    for col in (user, item):
        missing = frame[col].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataError(f"Column {col!r} of {name} has {int(missing.sum()):,} missing ids; "
                            f"first at row {row}: {_row(frame, row)}. Every rating needs a {col}.")
    if scale is not None:
        lo, hi = scale
        bad = (values < lo) | (values > hi)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"Column {rating!r} of {name} has {int(bad.sum()):,} ratings outside the declared "
                            f"scale {lo:g}..{hi:g}; first at row {row}: {_row(frame, row)}.")
    user_codes, user_ids = pd.factorize(frame[user], sort=True)
    item_codes, item_ids = pd.factorize(frame[item], sort=True)
    coded = pd.DataFrame({USER: user_codes.astype(np.int32), ITEM: item_codes.astype(np.int32),
                          RATING: values.astype(np.float32)})
    return Ratings(coded, pd.Index(user_ids, name=user), pd.Index(item_ids, name=item), titles,
                   tuple(map(float, scale)) if scale is not None else None, name)


def _read(source, name):
    if isinstance(source, pd.DataFrame):
        return source, name or "the ratings frame"
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"Expected a CSV path or a pandas DataFrame of ratings, got {type(source).__name__}.")
    path = Path(source)
    name = name or path.name
    if not path.is_file():
        raise DataError(f"No ratings file at {path}: expected a CSV file with a header row.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: expected a CSV file with a header row and ratings.")
    try:
        return pd.read_csv(path, low_memory=False), name
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a text CSV file (byte {e.start} is not UTF-8): expected ratings as CSV.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as e:
        raise DataError(f"{path} could not be read as CSV ({str(e).strip()}): expected comma-separated "
                        "ratings with a header row.") from None


def _require_columns(frame, columns, name):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{name} has no column {missing[0]!r} (columns present: {list(map(str, frame.columns))}). "
                        f"Pass the right names, e.g. load_ratings(..., user=..., item=..., rating=...).")


def _numeric_ratings(frame, rating, name) -> np.ndarray:
    values = pd.to_numeric(frame[rating], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = frame[rating].iloc[row]
        what = "missing" if pd.isna(raw) else ("infinite" if np.isinf(values[row]) else "not a number")
        raise DataError(f"Column {rating!r} of {name} has {int(bad.sum()):,} ratings that are missing, "
                        f"non-numeric or infinite; first at row {row} ({what}): {_row(frame, row)}. "
                        "Expected a finite number in every row.")
    return values


def _row(frame, row) -> str:
    return repr(frame.iloc[row].to_dict())


def synthetic(n_users: int = 200, n_items: int = 300, n_ratings: int = 10_000, n_factors: int = 5,
              noise: float = 0.3, seed: int = 0, scale: tuple[float, float] = (0.5, 5.0)) -> Ratings:
    """Ratings generated from planted user/item factors and biases, for fast tests and offline demos.

    Returns:
        A `Ratings` named "synthetic"; `ratings = 3.5 + user bias + item bias + user·item + noise`,
        clipped to `scale`. Every user and item appears at least once.
    """
    rng = np.random.default_rng(seed)
    if n_ratings < max(n_users, n_items):
        raise DataError(f"n_ratings ({n_ratings}) must be at least max(n_users, n_items) so every id appears.")
    u = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_ratings - n_users)])
    i = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_ratings - n_items)])[:n_ratings]
    u = u[:n_ratings]
    rng.shuffle(i)
    pu = rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors))
    qi = rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    r = 3.5 + bu[u] + bi[i] + (pu[u] * qi[i]).sum(1) + rng.normal(0, noise, n_ratings)
    r = np.clip(np.round(r * 2) / 2, *scale)
    frame = pd.DataFrame({"userId": u + 1, "movieId": i + 1, "rating": r})
    titles = pd.Series([f"Synthetic movie {k + 1}" for k in range(n_items)], index=np.arange(1, n_items + 1))
    return load_ratings(frame, titles=titles, name="synthetic", scale=scale)
