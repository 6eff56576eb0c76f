"""Id vocabularies: the raw user and item ids behind codes 0..n-1, with a fingerprint.

Two sets share a vocabulary when one was split from or encoded with the other (`train.encode`);
docs/cold-start.md says how models are bound to one."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


class Vocabulary:
    """The raw ids behind user and item codes, with a fingerprint of any prefix (cached).

    Args:
        user_ids, item_ids: raw ids in code order (`pd.Index`).
        base: `(n_users, n_items)` of the vocabulary this one extends (its first ids), if any.
    """

    def __init__(self, user_ids: pd.Index, item_ids: pd.Index, base: tuple[int, int] | None = None):
        self.user_ids, self.item_ids, self.base = user_ids, item_ids, base
        self._prints: dict[tuple[int, int], str] = {}

    @property
    def sizes(self) -> tuple[int, int]:
        """`(n_users, n_items)`."""
        return len(self.user_ids), len(self.item_ids)

    def fingerprint(self, n_users: int | None = None, n_items: int | None = None) -> str:
        """A short hash of the first `n_users` user ids and `n_items` item ids (all by default)."""
        key = (len(self.user_ids) if n_users is None else int(n_users),
               len(self.item_ids) if n_items is None else int(n_items))
        if key not in self._prints:
            h = hashlib.sha256()
            for ids, n in ((self.user_ids, key[0]), (self.item_ids, key[1])):
                h.update(_id_bytes(ids[:n]))
                h.update(b"\x00|")
            self._prints[key] = h.hexdigest()[:16]
        return self._prints[key]

    def extends(self, fingerprint: str, n_users: int, n_items: int) -> bool:
        """True if this vocabulary's first `n_users`/`n_items` ids are the ones `fingerprint` names."""
        return (len(self.user_ids) >= n_users and len(self.item_ids) >= n_items
                and self.fingerprint(n_users, n_items) == fingerprint)


def _id_bytes(ids: pd.Index) -> bytes:
    """Ids as bytes that tell 1 from "1" and keep big integers exact, whatever the Index dtype."""
    if ids.dtype.kind in "iu":
        return b"i" + np.asarray(ids, dtype=np.int64 if ids.dtype.kind == "i" else np.uint64).tobytes()
    return "\x1f".join(f"{type(v).__name__}:{v}" for v in ids.tolist()).encode("utf-8", "surrogatepass")


def plain(value):
    """A numpy scalar as its Python value, so that messages show an id as 5, not np.int64(5)."""
    return value.item() if isinstance(value, np.generic) else value


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
