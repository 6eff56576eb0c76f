"""What codes mean and what a model learned: id vocabularies, and the record of a model's training data.

A *vocabulary* is the list of raw user ids and raw item ids behind the codes 0..n-1 (code k is
`user_ids[k]`). Ratings loaded on their own get their own vocabulary, so two files loaded with two
`load_ratings` calls code the same user differently; `train.encode(test_file)` codes a second set in
the first one's vocabulary (ids it does not know get new codes after the known ones, and are cold).

A model is *bound* to the vocabulary of the ratings it was first trained on (or built with,
`build_model(kind, ratings)`), and `fit_stages` records what it was trained on (`TrainedOn`): which
user and item codes had training ratings, the training mean, the rating scale and the biases-only
fit used for cold ids. Every function that takes a model and ratings calls `check` first, so a set
coded in another vocabulary is refused with a message that says how to code it.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field

import numpy as np

from cfnb.data.biases import fit_biases
from cfnb.data.vocabulary import Vocabulary, plain
from cfnb.errors import VocabularyError
from cfnb.models.inputs import table_rows
from cfnb.names import ITEM, RATING, USER


@dataclass
class TrainedOn:
    """What a fitted model was trained on, in its vocabulary's codes.

    Attributes:
        fingerprint, n_users, n_items: the vocabulary (its first `n_users` / `n_items` ids).
        user_counts, item_counts: training ratings per user / item code, one per embedding row (0: cold).
        mean: the training ratings' mean.
        scale: the rating scale `(low, high)`: the declared scale, else the training ratings' range.
        user_offsets, item_offsets: the biases-only fit on the (latest) training ratings (see
            `cfnb.data.biases.fit_biases`), the fallback for cold ids.
        sets: fingerprints of the distinct training sets recorded (fitting twice on one set counts it once).
        engine: which engine ran the latest fit and why (`name`, `backend`, `reason`, `label`), or None.
    """

    fingerprint: str
    n_users: int
    n_items: int
    user_counts: np.ndarray
    item_counts: np.ndarray
    mean: float
    scale: tuple[float, float]
    user_offsets: np.ndarray
    item_offsets: np.ndarray
    sets: list = field(default_factory=list)
    engine: dict | None = None

    @property
    def n(self) -> int:
        """Number of training ratings recorded."""
        return int(self.user_counts.sum())

    def known_users(self, codes) -> np.ndarray:
        """Whether each user code had training ratings (False for -1 and codes beyond the tables)."""
        return _seen(self.user_counts, codes)

    def known_items(self, codes) -> np.ndarray:
        """Whether each item code had training ratings."""
        return _seen(self.item_counts, codes)

    def fallback(self, users, items, clip: bool = True) -> np.ndarray:
        """Training mean + the user's and the item's offset (0 for a cold side), clipped to the scale
        (`clip=False`: unclipped, for rankings, where clipping would tie the best items)."""
        u, i = np.asarray(users, np.int64), np.asarray(items, np.int64)
        score = np.full(len(u), self.mean, dtype=np.float64)
        for codes, known, offsets in ((u, self.known_users(u), self.user_offsets),
                                      (i, self.known_items(i), self.item_offsets)):
            score[known] += offsets[codes[known]]
        return (np.clip(score, *self.scale) if clip else score).astype(np.float32)

    def merged(self, newer: TrainedOn) -> TrainedOn:
        """This record and a newer one on another training set: counts and mean over both, the scale
        spanning both, the newer set's offsets."""
        n_old, n_new = self.n, newer.n
        mean = (self.mean * n_old + newer.mean * n_new) / max(n_old + n_new, 1)
        scale = (min(self.scale[0], newer.scale[0]), max(self.scale[1], newer.scale[1]))
        return TrainedOn(newer.fingerprint, newer.n_users, newer.n_items, self.user_counts + newer.user_counts,
                         self.item_counts + newer.item_counts, mean, scale, newer.user_offsets,
                         newer.item_offsets, [*self.sets, *newer.sets], newer.engine)

    def to_json(self) -> dict:
        """Plain data for `cfnb.save` (arrays as lists)."""
        return {"fingerprint": self.fingerprint, "n_users": self.n_users, "n_items": self.n_items,
                "mean": self.mean, "scale": list(self.scale), "sets": list(self.sets),
                "engine": self.engine}

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-code arrays, for `cfnb.save`."""
        return {"user_counts": self.user_counts, "item_counts": self.item_counts,
                "user_offsets": self.user_offsets, "item_offsets": self.item_offsets}

    @classmethod
    def from_saved(cls, meta: dict, arrays: dict) -> TrainedOn:
        """Inverse of `to_json` + `arrays`."""
        return cls(str(meta["fingerprint"]), int(meta["n_users"]), int(meta["n_items"]),
                   np.asarray(arrays["user_counts"], np.int64), np.asarray(arrays["item_counts"], np.int64),
                   float(meta["mean"]), tuple(float(v) for v in meta["scale"]),
                   np.asarray(arrays["user_offsets"], np.float64), np.asarray(arrays["item_offsets"], np.float64),
                   list(meta.get("sets", [])), meta.get("engine"))


def _seen(counts: np.ndarray, codes) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    ok = (codes >= 0) & (codes < len(counts))
    out = np.zeros(codes.shape, dtype=bool)
    out[ok] = counts[codes[ok]] > 0
    return out


@dataclass
class _Record:
    """Everything cfnb keeps about a model besides its config: the vocabulary it is bound to and what it
    was trained on (a `TrainedOn`, or a `_Pending` one not summarized yet)."""

    binding: tuple | None = None  # (fingerprint, n_users, n_items, name of the set)
    trained: object = None


# One record per model, kept beside it (no attribute on Keras objects), gone with the model.
_RECORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _record(model) -> _Record:
    record = _RECORDS.get(model)
    if record is None:
        record = _RECORDS[model] = _Record()
    return record


def bind(model, ratings) -> None:
    """Bind `model` to the vocabulary of `ratings` (done by `build_model(kind, ratings)` and the first
    fit): its first ids, as many as the model has embedding rows."""
    rows = table_sizes(model)
    sizes = tuple(n if r is None else min(n, r) for n, r in zip(ratings.vocabulary.sizes, rows))
    _record(model).binding = (ratings.vocabulary.fingerprint(*sizes), *sizes, repr(ratings.name))


def bound(model) -> tuple[str, int, int, str] | None:
    """`(fingerprint, n_users, n_items, name)` of the vocabulary `model` is bound to, or None."""
    record = _RECORDS.get(model)
    if record is None:
        return None
    if record.binding is None and record.trained is not None:  # a TrainedOn or a _Pending: both know it
        trained = record.trained
        return (trained.fingerprint, trained.n_users, trained.n_items, "the data it was trained on")
    return record.binding


def trained_on(model) -> TrainedOn | None:
    """What `model` was trained on (recorded by `cfnb.fit_stages`, kept by `save`/`load`), or None."""
    record = _RECORDS.get(model)
    if record is None:
        return None
    if isinstance(record.trained, _Pending):
        record.trained = record.trained.summarize()
    return record.trained


def set_trained_on(model, trained: TrainedOn | None) -> None:
    """Attach a `TrainedOn` record to `model` (used by `cfnb.load`)."""
    record = _record(model)
    record.trained = trained
    if trained is not None:
        record.binding = (trained.fingerprint, trained.n_users, trained.n_items, "the data it was trained on")


def table_sizes(model) -> tuple[int, int]:
    """Embedding rows for users and for items: `cfnb_config`'s sizes, else the smallest `Embedding`
    fed by each input alone (`cfnb.models.inputs.table_rows`: a model where there is none is refused)."""
    config = getattr(model, "cfnb_config", None) or {}
    if "n_users" in config and "n_items" in config:
        return int(config["n_users"]), int(config["n_items"])
    return table_rows(model)


def check(model, ratings, what: str = "ratings", of: str = "the model's") -> None:
    """Refuse `ratings` coded in another vocabulary than `model`'s, or with codes beyond its tables.

    Args:
        model: a Keras model (cfnb's, or any with `user_in`/`movie_in` inputs), or anything else with an
            id vocabulary (a `Ratings`, a negative sampler: `.vocabulary` and `.name`), whose codes
            `ratings` must keep.
        ratings: a `Ratings`.
        what: how to call the ratings in the message ("val", "the training set"...).
        of: how to call the reference in the message ("train's", "the sampler's"...).

    Raises:
        VocabularyError: naming the set and saying how to code it (`train.encode(...)`).
    """
    reference = getattr(model, "vocabulary", None)
    if isinstance(reference, Vocabulary):
        binding = (reference.fingerprint(), *reference.sizes, repr(model.name))
    else:
        binding = bound(model)
    if binding is None:
        return
    fingerprint, n_users, n_items, source = binding
    vocab = ratings.vocabulary
    if not vocab.extends(fingerprint, n_users, n_items):
        raise VocabularyError(
            f"{what} ({ratings.name!r}) is coded with another id vocabulary than {of} ({source}, "
            f"{n_users:,} users, {n_items:,} items): its codes would name other users and movies. Code it in "
            f"{of} vocabulary: train.encode(frame_or_path) or cfnb.load_ratings(path, like=train) "
            "(ids it does not know are kept and marked cold), or split both from one Ratings.")


def check_codes_fit(model, ratings, what: str = "ratings", sides=(USER, ITEM),
                    hint: str = "evaluate them with cfnb.evaluate, which predicts them with the cold-start "
                                "fallback") -> None:
    """Refuse ratings with user or item codes beyond the model's embedding tables (every engine; `sides`:
    which columns to check; `hint`: what else the learner can do with them)."""
    rows = table_sizes(model)
    for label, column, n in (("user", USER, rows[0]), ("movie", ITEM, rows[1])):
        if n is None or not len(ratings) or column not in sides:
            continue
        codes = ratings.frame[column].to_numpy()
        beyond = codes >= n
        if beyond.any():
            ids = ratings.user_ids if label == "user" else ratings.item_ids
            example = ids[int(codes[beyond][0])]
            raise VocabularyError(
                f"{what} ({ratings.name!r}) has {int(beyond.sum()):,} ratings of {label}s the model has no "
                f"embedding row for (e.g. {label} id {plain(example)!r}; the model has {n:,} {label} rows). "
                f"They are new to the model's vocabulary: train on a set that holds them, or {hint}.")


def record_training(model, train, engine: dict | None = None) -> None:
    """Record (or add to) what `model` was trained on: `fit_stages` calls it after fitting on `train`.

    The summary takes a pass or two over the data (the biases-only fit), so it is made on first use
    (`trained_on(model)`), not at the end of every fit; until then the record holds on to `train`.
    """
    record = _record(model)
    old = record.trained
    data_print = _data_fingerprint(train)
    if old is not None and data_print in old.sets:
        old.engine = engine
        return
    pending = record.trained = _Pending(train, table_sizes(model), old, data_print)
    pending.engine = engine
    record.binding = (pending.fingerprint, pending.n_users, pending.n_items, "the data it was trained on")


class _Pending:
    """A training record not summarized yet: the vocabulary and data fingerprints, and the data."""

    def __init__(self, train, rows, old, data_print):
        self.train, self.rows, self.old, self.engine = train, rows, old, None
        sizes = tuple(n if r is None else min(n, int(r)) for n, r in zip(train.vocabulary.sizes, rows))
        self.fingerprint = train.vocabulary.fingerprint(*sizes)
        self.n_users, self.n_items = sizes
        self.sets = [*(old.sets if old is not None else []), data_print]

    def summarize(self) -> TrainedOn:
        record = summarize(self.train, self.rows)
        record.engine = self.engine
        if self.old is None:
            return record
        old = self.old.summarize() if isinstance(self.old, _Pending) else self.old
        return old.merged(record)


def summarize(train, rows=(None, None)) -> TrainedOn:
    """A `TrainedOn` describing `train` for a model with `rows` = (user rows, item rows) embedding rows."""

    n_users = train.n_users if rows[0] is None else int(rows[0])
    n_items = train.n_items if rows[1] is None else int(rows[1])
    f = train.frame
    keep = (f[USER].to_numpy() < n_users) & (f[ITEM].to_numpy() < n_items)
    users, items = f[USER].to_numpy()[keep], f[ITEM].to_numpy()[keep]
    biases = fit_biases(train)
    user_offsets, item_offsets = np.zeros(n_users), np.zeros(n_items)
    user_offsets[:min(n_users, train.n_users)] = biases.user_bias[:n_users]
    item_offsets[:min(n_items, train.n_items)] = biases.item_bias[:n_items]
    sizes = (min(n_users, train.n_users), min(n_items, train.n_items))
    return TrainedOn(train.vocabulary.fingerprint(*sizes), *sizes,
                     np.bincount(users, minlength=n_users).astype(np.int64),
                     np.bincount(items, minlength=n_items).astype(np.int64),
                     float(np.mean(train.y[keep], dtype=np.float64)) if keep.any() else float("nan"),
                     tuple(float(v) for v in train.rating_range), user_offsets, item_offsets,
                     [_data_fingerprint(train)])


def _data_fingerprint(ratings) -> str:
    """Tells training sets apart (a fit resumed on the same set counts it once): sizes, sums, a sample."""
    f = ratings.frame
    h = hashlib.sha256(ratings.vocabulary.fingerprint().encode())
    for column in (USER, ITEM, RATING):
        values = f[column].to_numpy()
        h.update(repr((len(values), float(np.sum(values, dtype=np.float64)))).encode())
        h.update(np.ascontiguousarray(values[::max(len(values) // 4096, 1)]).tobytes())
    return h.hexdigest()[:16]


