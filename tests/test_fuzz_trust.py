"""Property tests for issue 19's classes 2, 6, 7 and 8: random sets in one or two vocabularies, random bad
scorers, random ratings to count, random loss curves (few examples each: they guard, they do not search)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_counts import RANKING_COUNTS, raw_ranking_counts

import cfnb
from cfnb.errors import CallbackError
from cfnb.evaluation.baselines import popularity
from cfnb.evaluation.ranking import rank_scores
from cfnb.training.implicit import NegativeSampler, validation_pairs
from cfnb.training.lr_finder import DIVERGE, blow_up, suggest

SLOW = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


@st.composite
def raw_frames(draw, min_size=2):
    """Ratings in raw integer ids (some repeated pairs, ids of any size pandas keeps as int64)."""
    n = draw(st.integers(min_size, 40))
    scale = draw(st.sampled_from([1, 7, 2**40, -(2**59)]))  # up to 8 * 2**59 = 2**62
    users = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)), np.int64) * scale
    items = np.array(draw(st.lists(st.integers(0, 10), min_size=n, max_size=n)), np.int64) * 3 + 1
    ratings = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0]), min_size=n, max_size=n))
    return pd.DataFrame({"userId": users, "movieId": items, "rating": ratings})


def load(frame, like=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if like is None:
            return cfnb.load_ratings(frame, duplicates="keep", scale=(1, 5))
        return like.encode(frame, duplicates="keep")


@settings(max_examples=25, **SLOW)
@given(raw_frames(), raw_frames(1), st.sampled_from([None, 3.0, 4.0]))
def test_ranking_counts_match_the_raw_ids(train_frame, test_frame, relevant):
    """Class 7: every count ranking_metrics reports, recomputed from the raw ids."""
    train = load(train_frame)
    test = load(test_frame, like=train)
    got = cfnb.ranking_metrics(popularity(train).score, train, test, k=3, relevant=relevant)
    assert {key: got[key] for key in RANKING_COUNTS} == raw_ranking_counts(train_frame, test_frame, relevant)
    ok = test_frame.userId.isin(set(train_frame.userId)) & test_frame.movieId.isin(set(train_frame.movieId))
    hr = cfnb.hit_rate_ndcg(popularity(train).score, train, test, n_negatives=2)
    assert (hr["n"], hr["n_skipped"]) == (int(ok.sum()), int((~ok).sum()))


@settings(max_examples=25, **SLOW)
@given(raw_frames(), raw_frames())
def test_two_sets_loaded_apart_are_refused_or_share_codes(first, second):
    """Class 2: a second set loaded on its own is refused by every two-set helper unless its vocabulary
    happens to keep the first one's codes (then they mean the same ids, and it is taken)."""
    train, other = load(first), load(second)
    keeps = other.vocabulary.extends(train.vocabulary.fingerprint(), *train.vocabulary.sizes)
    kept = train.vocabulary.extends(other.vocabulary.fingerprint(), *other.vocabulary.sizes)
    calls = ((keeps, lambda: cfnb.sample_negatives(train, other, 2)),
             (keeps, lambda: rank_scores(popularity(train).score, train, other)),
             (keeps, lambda: cfnb.baselines(train, other)),
             (keeps, lambda: validation_pairs(train, other, 1, NegativeSampler(train, 0))),
             (kept, lambda: validation_pairs(train, train, 1, NegativeSampler(other, 0))))  # train is the second
    for same, call in calls:
        if same:
            call()
        else:
            with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
                call()


def reshaped(kind):
    def scorer(users, items):
        items = np.asarray(items)
        good = np.broadcast_to(items.astype(float), (len(users), items.shape[-1])).copy()
        if kind == "transpose":
            return good.T if good.shape[0] != good.shape[1] else good[:, :-1]
        if kind == "nan":
            good.flat[len(users) * items.shape[-1] // 2] = np.nan
            return good
        if kind == "objects":
            return good.astype(object).astype(str)
        if kind == "raise":
            raise RuntimeError("scorer bug")
        return good.reshape(-1)
    return scorer


@settings(max_examples=20, **SLOW)
@given(raw_frames(4), raw_frames(2), st.sampled_from(["transpose", "nan", "objects", "raise", "flat"]))
def test_a_bad_scorer_is_always_a_callback_error(train_frame, test_frame, kind):
    """Class 6: whatever is wrong with what a scorer returns, the error names it (never a foreign one)."""
    train = load(train_frame)
    test = load(test_frame, like=train)
    scorer = reshaped(kind)
    for call in (lambda: cfnb.ranking_metrics(scorer, train, test, relevant=None),
                 lambda: cfnb.hit_rate_ndcg(scorer, train, test, n_negatives=2)):
        try:
            call()
        except CallbackError as error:
            assert "scorer 'scorer'" in str(error)
        # or nothing to rank at all (no user with a rankable rating): then the scorer is never called


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.05, 10), min_size=2, max_size=80), st.integers(1, 40), st.floats(1.5, 1e4),
       st.integers(10, 300))
def test_no_suggestion_at_or_past_the_blow_up(down, flat_len, jump, steps):
    """Class 8: any curve, any length: every suggested rate comes before the blow-up, or there is none."""
    raw = np.r_[down, [down[-1]] * flat_len, down[-1] * jump * DIVERGE * np.arange(1, 4)]
    avg, smooth = 0.0, []
    for k, loss in enumerate(raw):
        avg = 0.98 * avg + 0.02 * loss
        smooth.append(avg / (1 - 0.98 ** (k + 1)))
    lrs = np.logspace(-6, 1, max(steps, len(raw)))[:len(raw)]
    at = blow_up(smooth, raw)
    for name, lr in suggest(lrs, smooth, steps, raw).items():
        assert lr is None or (at is None and lr <= lrs[-1]) or lr < lrs[at], name
