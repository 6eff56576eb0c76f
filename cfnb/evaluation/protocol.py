"""The NCF evaluation protocol (He et al. 2017), seeded: leave-last-out, sampled negatives, HR@k and
NDCG@k. docs/ranking.md gives the details (99 negatives as in the released test files, ties, seeds)."""

from __future__ import annotations

import numpy as np

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import DataError
from cfnb.evaluation.ranking import as_scorer, call_scorer, check_same_vocabulary
from cfnb.evaluation.scoring import BLOCK_PAIRS
from cfnb.names import ITEM, TIMESTAMP, USER


def leave_last_out(ratings: Ratings, seed: int = 0) -> tuple[Ratings, Ratings]:
    """Hold out each user's latest interaction: the NCF paper's leave-one-out split.

    Args:
        ratings: ratings (or interactions) with a `timestamp` column in `ratings.frame`.
        seed: breaks ties: when several of a user's ratings share the latest timestamp (common: a
            user rates many movies in one second), the held-out one is drawn among them at random
            with this seed. The same seed gives the same split.

    Returns:
        `(train, test)`, both in `ratings`' vocabulary: `test` holds one interaction per user who has
        at least two (a user with a single one keeps it in `train`: with nothing to train on, the
        model could not rank for them), `train` holds everything else.

    Raises:
        DataError: `ratings` has no timestamp column (or a missing timestamp).
    """
    checks.instance("ratings", ratings, Ratings, "a cfnb Ratings")
    seed = checks.whole("seed", seed, minimum=0)
    f = ratings.frame
    if TIMESTAMP not in f.columns:
        raise DataError(f"{ratings.name!r} has no {TIMESTAMP!r} column, so there is no 'last' interaction to hold "
                        f"out (columns: {list(map(str, f.columns))}). Load ratings that keep their timestamps "
                        "(MovieLens files have one), or split at random with ratings.split(...).")
    time = f[TIMESTAMP].to_numpy()
    if f[TIMESTAMP].isna().any():
        row = int(np.flatnonzero(f[TIMESTAMP].isna().to_numpy())[0])
        raise DataError(f"{ratings.name!r} has {int(f[TIMESTAMP].isna().sum()):,} ratings without a timestamp; "
                        f"first at row {row}. leave_last_out needs a time for every rating.")
    users = f[USER].to_numpy()
    tie = np.random.default_rng(seed).random(len(f))
    order = np.lexsort((tie, time, users))  # by user, then time, then the seeded tie-breaker
    last = order[np.r_[users[order][1:] != users[order][:-1], True]]
    counts = np.bincount(users, minlength=ratings.n_users)
    last = np.sort(last[counts[users[last]] >= 2])
    held = np.zeros(len(f), bool)
    held[last] = True
    return (ratings.with_frame(f[~held], f"{ratings.name} (train)"),
            ratings.with_frame(f[held], f"{ratings.name} (test)"))


def sample_negatives(train: Ratings, test: Ratings, n_negatives: int = 99, seed: int = 0) -> np.ndarray:
    """For each test interaction, `n_negatives` items its user never interacted with, drawn at random.

    Negatives are drawn without replacement from the items with at least one training interaction
    (the ones a model learned), leaving out every item the user has in `train` or in `test`.

    Args:
        train, test: a split of the same `Ratings` (e.g. from `leave_last_out`).
        n_negatives: items per test interaction, a whole number >= 1.
        seed: the same seed gives the same negatives.

    Returns:
        An int array of item codes, shape `(len(test), n_negatives)`, row j for test row j. Where a
        user has fewer candidates than `n_negatives`, the row ends with -1.
    """
    checks.instance("train", train, Ratings, "a cfnb Ratings")
    checks.instance("test", test, Ratings, "a cfnb Ratings")
    check_same_vocabulary(train, test)
    n_negatives = checks.whole("n_negatives", n_negatives)
    seed = checks.whole("seed", seed, minimum=0)
    n_items = max(train.n_items, test.n_items)
    catalogue = np.bincount(train.frame[ITEM].to_numpy(), minlength=n_items) > 0
    users = np.concatenate([train.frame[USER].to_numpy(), test.frame[USER].to_numpy()]).astype(np.int64)
    items = np.concatenate([train.frame[ITEM].to_numpy(), test.frame[ITEM].to_numpy()]).astype(np.int64)
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    rng = np.random.default_rng(seed)
    out = np.full((len(test), n_negatives), -1, np.int64)
    for row, user in enumerate(test.frame[USER].to_numpy()):
        lo, hi = np.searchsorted(users, [user, user + 1])
        allowed = catalogue.copy()
        allowed[items[lo:hi]] = False
        pool = np.flatnonzero(allowed)
        take = min(n_negatives, len(pool))
        out[row, :take] = rng.choice(pool, take, replace=False)
    return out


def hit_rate_ndcg(model, train: Ratings, test: Ratings, n_negatives: int = 99, k: int = 10, seed: int = 0,
                  batch_size: int = 65536) -> dict:
    """HR@k and NDCG@k of ranking each held-out item among sampled negatives (He et al. 2017).

    Each test interaction is ranked among `sample_negatives(train, test, n_negatives, seed)` by the
    model's raw score; its rank r (0 = first) is the number of negatives scoring at least as high.
    Hit = r < k; NDCG = 1 / log2(r + 2) for a hit, else 0; both averaged over test interactions.
    Interactions the model cannot rank from its training data (a user or an item with no training
    interaction) are left out and counted in `n_skipped`.

    Args:
        model: a fitted Keras model, or a scorer (see `cfnb.evaluation.ranking`), e.g. `cfnb.evaluation.baselines.popularity(train).score`.
        train, test: from `leave_last_out` (or any split of one `Ratings`: each test row is one case).
        n_negatives: negatives per held-out item (99: He et al.'s released test files, 100 items per list).
        k: the cut-off.
        seed: the negatives' seed: the same seed gives the same negatives, so models compared with
            one seed are ranked against the very same items.

    Returns:
        `{"hit_rate", "ndcg", "n", "n_skipped", "k", "n_negatives"}`; NaN metrics when `n` is 0.
    """
    k = checks.whole("k", k)
    batch_size = checks.whole("batch_size", batch_size)
    scorer = as_scorer(model, train, test, batch_size)
    negatives = sample_negatives(train, test, n_negatives, seed)
    users = test.frame[USER].to_numpy().astype(np.int64)
    held = test.frame[ITEM].to_numpy().astype(np.int64)
    n_users = max(train.n_users, test.n_users)
    n_items = max(train.n_items, test.n_items)
    known_users = np.bincount(train.frame[USER].to_numpy(), minlength=n_users) > 0
    known_items = np.bincount(train.frame[ITEM].to_numpy(), minlength=n_items) > 0
    ok = known_users[users] & known_items[held]
    out = {"hit_rate": np.nan, "ndcg": np.nan, "n": int(ok.sum()), "n_skipped": int((~ok).sum()), "k": k,
           "n_negatives": n_negatives}
    if not ok.any():
        return out
    lists = np.concatenate([held[ok, None], negatives[ok]], axis=1)
    cases = users[ok]
    block = max(1, BLOCK_PAIRS // lists.shape[1])
    scores = np.concatenate([call_scorer(scorer, cases[s:s + block], np.maximum(lists[s:s + block], 0))
                             for s in range(0, len(cases), block)])
    above = (scores[:, 1:] >= scores[:, :1]) & (lists[:, 1:] >= 0)
    rank = above.sum(1)
    hit = rank < k
    out["hit_rate"] = float(hit.mean())
    out["ndcg"] = float(np.where(hit, 1.0 / np.log2(rank + 2), 0.0).mean())
    return out
