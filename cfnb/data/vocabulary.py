"""Id vocabularies: the raw user and item ids behind codes 0..n-1, with a fingerprint.

Two sets share a vocabulary when one was split from or encoded with the other (`train.encode`);
docs/cold-start.md says how models are bound to one."""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import pandas as pd

from cfnb.errors import VocabularyError


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
    """Ids as bytes that tell 1 from "1" and keep big integers exact, whatever the Index dtype (the ids
    that fit 64 bits give the same bytes in an int64, uint64 or object Index, so prefixes agree)."""
    if ids.dtype == object and len(ids) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                for v in ids):
        ids = integer_index(ids)
    if ids.dtype.kind in "iu":
        return b"i" + np.asarray(ids, dtype=np.int64 if ids.dtype.kind == "i" else np.uint64).tobytes()
    return "\x1f".join(f"{type(v).__name__}:{v}" for v in ids.tolist()).encode("utf-8", "surrogatepass")


def plain(value):
    """A numpy scalar as its Python value, so that messages show an id as 5, not np.int64(5)."""
    return value.item() if isinstance(value, np.generic) else value


def integer_index(ids) -> pd.Index:
    """Whole-number ids (any integer dtype, or Python ints) as int64, else uint64, else exact Python ints."""
    values = pd.Index(ids)
    if values.dtype.kind in "iu" and values.dtype.itemsize < 8 or values.dtype.kind == "i":
        return values.astype(np.int64)
    if values.dtype.kind == "u":
        return values.astype(np.int64) if not len(values) or values.max() <= np.iinfo(np.int64).max else values
    for dtype in (np.int64, np.uint64):
        try:
            return values.astype(dtype)
        except (OverflowError, ValueError, TypeError):
            pass
    return pd.Index(values, dtype=object)


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


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))  # zero-width and soft hyphen
_MAX_EXACT_FLOAT = 2 ** 53


def canonical(text: str) -> str:
    """Text as NFC without invisible characters: two ids equal here but not as given look alike."""
    return unicodedata.normalize("NFC", text.translate(_INVISIBLE))


def decimal_int(text: str) -> int | None:
    """The integer whose exact decimal form `text` is ("7", "-12"; not "07", " 7", "7.0"), else None."""
    if not (text.isascii() and text.lstrip("-").isdigit()):
        return None
    value = int(text)
    return value if str(value) == text else None


def id_kind(index: pd.Index) -> str | None:
    """"number" or "text": the type of a vocabulary's ids (None when it has none)."""
    if not len(index):
        return None
    return "number" if index.dtype.kind in "iuf" or not isinstance(index[0], str) else "text"


def typed_ids(index: pd.Index, raw_ids, label: str, error=VocabularyError) -> np.ndarray:
    """Raw ids in the type of the vocabulary `index`, where the match is exact, else refused with `error`.

    Text is matched to an integer id only in its exact decimal form ("7" to 7), an integer to a text id
    only where its decimal form is one ("7"), a float to an integer id only when whole and below 2**53.
    Ids of the vocabulary's own type are returned as they are (unknown ones stay unknown)."""
    ids = as_id_array(raw_ids)
    kind = id_kind(index)
    if kind is None or (kind == "number" and ids.dtype.kind in "iu") or (kind == "text" and ids.dtype.kind in "US"):
        return ids.astype(object) if ids.dtype.kind in "US" else ids
    out = ids.astype(object)
    for k, v in enumerate(out):
        if isinstance(v, (bool, np.bool_)):  # True == 1 in Python: it would name id 1 silently
            raise error(f"{label} id {bool(v)!r} is True/False, not an id: pass the {label}'s id.")
        if v is None:
            continue
        if isinstance(v, str):
            if kind == "number":
                out[k] = decimal_int(v)
                if out[k] is None:
                    raise error(f"{label} id {v!r} is text, but the vocabulary's {label} ids are integers "
                                f"({index.dtype}, e.g. {plain(index[0])!r}): text is matched to an integer id only "
                                f"in its exact decimal form (e.g. {str(plain(index[0]))!r}).")
        elif isinstance(v, (int, np.integer)):
            out[k] = int(v) if kind == "number" else str(int(v))
            if kind == "text" and index.get_indexer([out[k]])[0] < 0:
                raise error(f"{label} id {int(v)} is a number, but the vocabulary's {label} ids are text (e.g. "
                            f"{index[0]!r}): a number is matched to a text id only in its decimal form "
                            f"({out[k]!r}), and there is no such id.")
        elif isinstance(v, (float, np.floating)):
            if kind == "text":
                raise error(f"{label} id {float(v)!r} is a number, but the vocabulary's {label} ids are text "
                            f"(e.g. {index[0]!r}).")
            if np.isfinite(v) and v == np.round(v):
                if abs(v) >= _MAX_EXACT_FLOAT:
                    raise error(f"{label} id {float(v)!r} is a float, which cannot name an integer id beyond "
                                f"2**53 exactly (it is {int(v)}): pass the id as an int.")
                out[k] = int(v)
    return out


def lookup(index: pd.Index, raw_ids, label: str, error=VocabularyError, lookalikes: bool = True) -> np.ndarray:
    """Codes of raw ids in `index` (-1 for unknown ones), matched as `typed_ids` says; with `lookalikes`,
    an unknown text id that is a known one in another Unicode form is refused (`VocabularyError`)."""
    ids = typed_ids(index, raw_ids, label, error)
    if ids.dtype.kind in "iu" and index.dtype.kind in "iu":
        return _integer_codes(index, ids)
    codes = index.get_indexer(pd.Index(ids.astype(object), dtype=object)).astype(np.int64)
    if lookalikes:
        for given, known in look_alikes(index, ids, codes)[:1]:
            raise VocabularyError(f"{label} id {given!r} differs from the known {label} id {known!r} only in its "
                                  "Unicode form or invisible characters: cfnb keeps text ids exactly as given "
                                  "(docs/bad-input.md), so pass the id as the vocabulary spells it.")
    return codes


def look_alikes(index: pd.Index, ids: np.ndarray, codes: np.ndarray) -> list[tuple[str, str]]:
    """(given, known) pairs: unknown text ids equal to a known id after `canonical`."""
    unknown = [v for v, c in zip(ids, codes) if c < 0 and isinstance(v, str)]
    if not unknown or id_kind(index) != "text":
        return []
    known = {canonical(v): v for v in index if isinstance(v, str)}
    return [(v, known[canonical(v)]) for v in unknown if canonical(v) in known]


def _integer_codes(index: pd.Index, ids: np.ndarray) -> np.ndarray:
    """Codes of integer ids in an integer index, exact across int64 and uint64 (no trip through floats)."""
    wide = np.uint64 if index.dtype.kind == "u" else np.int64
    limit = np.iinfo(wide)
    fits = (ids >= 0) if wide is np.uint64 else (ids <= limit.max) if ids.dtype.kind == "u" else np.ones(len(ids), bool)
    codes = np.full(len(ids), -1, dtype=np.int64)
    table = index if index.dtype == wide else index.astype(wide)
    codes[fits] = table.get_indexer(ids[fits].astype(wide))
    return codes
