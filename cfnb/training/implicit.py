"""Implicit feedback: who rated what, not how. Sampled negatives and a logistic loss (He et al. 2017).

`fit_stages(model, train, val, loss="bce", negatives=4)` trains on every interaction and, for each,
`negatives` items the user never interacted with, drawn afresh each epoch from the seed;
docs/implicit.md says how they are drawn and what the history's columns mean then."""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError, DataWarning, VocabularyError
from cfnb.models import record
from cfnb.names import ITEM, ITEM_IN, RATING, USER, USER_IN

__all__ = ["LOSSES", "NegativeSampler", "training_pairs", "logistic_loss", "compile_bce", "compiled_loss"]

LOSSES = ("mse", "bce")
_REJECTION_ROUNDS = 32
STEPS_PER_CALL = 16  # Keras steps per compiled call in a bce fit (see compile_bce)


def logistic_loss() -> keras.losses.Loss:
    """Binary cross-entropy on the model's raw scores (logits): the loss of `fit_stages(loss="bce")`."""
    return keras.losses.BinaryCrossentropy(from_logits=True, name="bce")


def compile_bce(model: keras.Model, optimizer, **compile_kwargs) -> keras.Model:
    """Compile for `fit_stages(loss="bce")`: the logistic loss, and (unless given) Keras running
    `STEPS_PER_CALL` steps per compiled call, XLA-compiled: a bce epoch has `1 + negatives` times
    as many rows as the ratings, and one call per step made it 2x slower. Callbacks then see a batch
    end every `STEPS_PER_CALL` steps, so Stop ends a fit within that many steps."""
    compile_kwargs.setdefault("steps_per_execution", STEPS_PER_CALL)
    if keras.backend.backend() in ("tensorflow", "jax"):
        compile_kwargs.setdefault("jit_compile", True)
    model.compile(optimizer=optimizer, loss=logistic_loss(), **compile_kwargs)
    return model


def compiled_loss(model: keras.Model) -> str | None:
    """"bce" for a model compiled with `logistic_loss()`, "mse" for mean squared error, else None."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, keras.losses.BinaryCrossentropy) and loss.from_logits:
        return "bce"
    if loss in ("mse", "mean_squared_error") or isinstance(loss, keras.losses.MeanSquaredError):
        return "mse"
    return None


def check_loss(model: keras.Model, loss: str) -> None:
    """Refuse to fit with `loss` a model compiled for the other cfnb loss (its optimizer state is kept
    across fits, so cfnb does not recompile it behind the learner's back)."""
    have = compiled_loss(model)
    if (loss == "bce" and have != "bce") or (loss == "mse" and have == "bce"):
        shown = {"bce": "binary cross-entropy from logits", "mse": "mean squared error"}.get(have, repr(model.loss))
        raise CfnbError(f"fit_stages(loss={loss!r}) got a model compiled with {shown}: build a fresh model (fit_stages "
                        f"compiles it), or compile it with cfnb.training.compile_model(model, lr, loss={loss!r}).")


class NegativeSampler:
    """Draws items a user has no interaction with, uniformly from the catalogue, with a seed.

    Args:
        positives: the interactions (every row is one): for each user, the items that are not negatives.
        seed: the random streams' seed; None draws one.
        catalogue: the item codes to draw from; by default those with at least one interaction.

    It keeps the vocabulary of `positives` (`vocabulary`, `name`): its item codes are that vocabulary's,
    and the functions that take a sampler with other ratings refuse ratings coded in another one.
    """

    def __init__(self, positives: Ratings, seed: int | None = None, catalogue: np.ndarray | None = None):
        checks.instance("positives", positives, Ratings, "a cfnb Ratings")
        self.vocabulary, self.name = positives.vocabulary, f"negative sampler of {positives.name}"
        f = positives.frame
        self.users = f[USER].to_numpy(np.int64)
        self.items = f[ITEM].to_numpy(np.int64)
        self.n_items = max(positives.n_items, int(self.items.max(initial=-1)) + 1)
        self.catalogue = (np.flatnonzero(np.bincount(self.items, minlength=self.n_items) > 0) if catalogue is None
                          else _catalogue(catalogue, positives))
        self.keys = np.unique(self.users * self.n_items + self.items)  # distinct positive pairs, sorted
        self.seed = int(np.random.SeedSequence().entropy % 2 ** 63) if seed is None else int(seed)
        inside = self.keys[np.isin(self.keys % self.n_items, self.catalogue)]
        counts = np.bincount(inside // self.n_items, minlength=positives.n_users)
        self.full = np.flatnonzero(counts >= len(self.catalogue))  # users with no item left to draw

    def rng(self, *stream: int) -> np.random.Generator:
        """The random generator of one stream (`(0, epoch)` for training, `(1,)` for validation)."""
        return np.random.default_rng([self.seed, *stream])

    def is_positive(self, users, items) -> np.ndarray:
        """Whether each (user, item) pair is an interaction."""
        query = np.asarray(users, np.int64) * self.n_items + np.asarray(items, np.int64)
        at = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return self.keys[at] == query

    def draw(self, users, rng: np.random.Generator) -> np.ndarray:
        """One negative item for each entry of `users` (which must all have one left to draw)."""
        users = np.asarray(users, np.int64)
        items = self.catalogue[rng.integers(0, len(self.catalogue), len(users))]
        bad = np.flatnonzero(self.is_positive(users, items))
        for _ in range(_REJECTION_ROUNDS):  # rejection sampling, as He et al.'s code
            if not len(bad):
                return items
            items[bad] = self.catalogue[rng.integers(0, len(self.catalogue), len(bad))]
            bad = bad[self.is_positive(users[bad], items[bad])]
        for user in np.unique(users[bad]):  # users with almost every item: draw from what is left
            rows = bad[users[bad] == user]
            seen = self.items[self.users == user]
            items[rows] = rng.choice(np.setdiff1d(self.catalogue, seen), len(rows))
        return items

    def pairs(self, users, items, negatives: int, rng: np.random.Generator):
        """`users, items, labels`: the given positives (label 1) and `negatives` drawn items for each
        (label 0), in a random order. Users with no item left to draw get no negatives."""
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        neg_users = np.repeat(users, negatives)
        if len(self.full):
            neg_users = neg_users[~np.isin(neg_users, self.full)]
        neg_items = self.draw(neg_users, rng)
        order = rng.permutation(len(users) + len(neg_users))
        return (np.concatenate([users, neg_users])[order], np.concatenate([items, neg_items])[order],
                np.concatenate([np.ones(len(users), np.float32), np.zeros(len(neg_users), np.float32)])[order])


def _catalogue(catalogue, positives: Ratings) -> np.ndarray:
    """A given catalogue as int64 item codes, each one of `positives`' vocabulary."""
    given = np.asarray(catalogue)
    if given.dtype.kind not in "iu" and not (given.dtype.kind == "f" and np.all(np.mod(given, 1) == 0)):
        raise VocabularyError(f"catalogue must be item codes (whole numbers) of {positives.name!r}'s vocabulary, got "
                              f"{given.dtype} values.")
    given = given.astype(np.int64).reshape(-1)
    if not len(given):
        raise VocabularyError("catalogue is empty: there is no item to draw negatives from.")
    outside = (given < 0) | (given >= positives.n_items)
    if outside.any():
        raise VocabularyError(f"catalogue has {int(outside.sum()):,} codes outside {positives.name!r}'s vocabulary (e.g. "
                              f"code {int(given[outside][0])}; it has {positives.n_items:,} items, codes 0.."
                              f"{positives.n_items - 1}): codes from another set name other items. Take them from "
                              "this set (e.g. its item_codes(raw_ids)).")
    return given


def training_pairs(train: Ratings, negatives: int = 4, seed: int = 0, epoch: int = 0):
    """The labelled pairs `fit_stages(loss="bce")` trains on in one epoch (see the module docstring).

    Args:
        train: the interactions (every row a positive).
        negatives: negatives per positive, a whole number >= 1.
        seed, epoch: the same pair gives the same negatives and order.

    Returns:
        `(users, items, labels)`: int64 codes and float32 labels (1 for a positive, 0 for a negative),
        `len(train) * (1 + negatives)` of each (fewer if some user has interacted with every item).
    """
    negatives = checks.whole("negatives", negatives)
    sampler = _sampler(train, checks.seed("seed", seed))
    f = train.frame
    return sampler.pairs(f[USER].to_numpy(), f[ITEM].to_numpy(), negatives,
                         sampler.rng(0, checks.whole("epoch", epoch, minimum=0)))


def _sampler(train: Ratings, seed) -> NegativeSampler:
    sampler = NegativeSampler(train, seed)
    if len(sampler.full):
        warnings.warn(f"{len(sampler.full):,} users of {train.name!r} have interacted with every item of its catalogue "
                      f"(e.g. user id {train.user_ids[int(sampler.full[0])]!r}): no negative can be drawn for them, so "
                      "their interactions train as positives only.", DataWarning, stacklevel=3)
    return sampler


class EpochPairs(keras.utils.PyDataset):
    """Batches of one epoch's positives and freshly drawn negatives, for `model.fit`.

    Keras calls `on_epoch_begin` before each epoch: the data then moves to the next epoch's sample,
    drawn from `(seed, epoch)`, so every epoch sees new negatives in a new order.
    """

    def __init__(self, train: Ratings, sampler: NegativeSampler, negatives: int, batch_size: int, first_epoch: int):
        super().__init__()
        record.check(sampler, train, "train", "the sampler's")
        f = train.frame
        self.users, self.items = f[USER].to_numpy(np.int64), f[ITEM].to_numpy(np.int64)
        self.sampler, self.negatives, self.batch_size = sampler, negatives, batch_size
        self.epoch = self.next_epoch = first_epoch
        self._cached = (None, None)
        self.n = len(self.users) * (1 + negatives) - negatives * int(np.isin(self.users, sampler.full).sum())

    @property
    def num_batches(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def on_epoch_begin(self):
        self.epoch, self.next_epoch = self.next_epoch, self.next_epoch + 1

    def data(self):
        """`(users, items, labels)` of the current epoch (drawn once, then cached)."""
        if self._cached[0] != self.epoch:
            self._cached = (self.epoch, self.sampler.pairs(self.users, self.items, self.negatives,
                                                           self.sampler.rng(0, self.epoch)))
        return self._cached[1]

    def __getitem__(self, k):
        users, items, labels = self.data()
        rows = slice(k * self.batch_size, (k + 1) * self.batch_size)
        return ({USER_IN: users[rows].astype(np.int32).reshape(-1, 1),
                 ITEM_IN: items[rows].astype(np.int32).reshape(-1, 1)}, labels[rows])


def validation_pairs(train: Ratings, val: Ratings, negatives: int, sampler: NegativeSampler):
    """`val`'s positives and `negatives` drawn negatives for each (from the training catalogue, none of the
    user's `train` or `val` items), as Keras validation data `(x, y)`; drawn from the validation stream."""
    record.check(train, val, "val", "train's")
    record.check(sampler, train, "train", "the sampler's")
    both = train.with_frame(pd.concat([train.frame[[USER, ITEM]], val.frame[[USER, ITEM]]], ignore_index=True))
    held = NegativeSampler(both, sampler.seed, sampler.catalogue)
    f = val.frame
    users, items, labels = held.pairs(f[USER].to_numpy(), f[ITEM].to_numpy(), negatives, held.rng(1))
    return ({USER_IN: users.astype(np.int32).reshape(-1, 1), ITEM_IN: items.astype(np.int32).reshape(-1, 1)}, labels)


def bce_runner(model: keras.Model, engine: str, train: Ratings, val: Ratings | None, negatives, batch_size: int,
               seed: int | None, first_epoch: int):
    """What `fit_stages(loss="bce")` runs: `(run, steps_per_epoch, validation_data)`, where
    `run(x, y, epochs, validation_data, callbacks)` fits on freshly sampled pairs (x and y unused)."""
    negatives = checks.whole("negatives", negatives)
    if engine == "fast":
        raise CfnbError("engine='fast' cannot train loss='bce' yet: it has only the mean squared error. "
                        "Use engine='auto' or 'keras'.")
    check_loss(model, "bce")
    sampler = _sampler(train, seed)
    data = EpochPairs(train, sampler, negatives, batch_size, first_epoch)
    validation = validation_pairs(train, val, negatives, sampler) if val is not None and len(val) else None

    def run(x, y, epochs, validation_data, callbacks):
        model.fit(data, epochs=epochs, validation_data=validation, verbose=0, shuffle=False, callbacks=callbacks)
    return run, data.num_batches, validation


def as_trained(train: Ratings) -> Ratings:
    """What a bce fit records as the model's training data (`cfnb.trained_on`): the interactions, with an
    unbounded scale, since the model's output is a logit that predictions must not clip."""
    frame = train.frame.assign(**{RATING: np.float32(1.0)})
    return Ratings(frame, train.user_ids, train.item_ids, train.titles, (-math.inf, math.inf), train.name,
                   train.vocabulary)
