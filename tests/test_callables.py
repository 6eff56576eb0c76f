"""Issue 19, class 6: scorers the learner passes to the ranking and protocol helpers that return the wrong
shape, dtype or NaN, or raise, get a CallbackError naming the scorer and what was expected (each of these
failed before: an error naming no scorer, a foreign error, or a silent wrong answer)."""

import numpy as np
import pytest

import cfnb
from cfnb.errors import CallbackError
from cfnb.evaluation.ranking import rank_scores


@pytest.fixture(scope="module")
def split(small):
    return small.split(0.2, seed=0)


def good(users, items):
    items = np.asarray(items)
    return np.broadcast_to(-items.astype(float), (len(users), items.shape[-1])).copy()


def transposed(users, items):
    return good(users, items).T


def flat(users, items):
    return good(users, items).reshape(-1)


def words(users, items):
    return good(users, items).astype(str)


def some_nan(users, items):
    out = good(users, items)
    out[0, 0] = np.nan
    return out


def buggy(users, items):
    return {}["no such key"]


def every_helper(scorer, train, test):
    yield "ranking_metrics", lambda: cfnb.ranking_metrics(scorer, train, test, relevant=None)
    yield "rank_scores", lambda: rank_scores(scorer, train, test, relevant=None)
    yield "hit_rate_ndcg", lambda: cfnb.hit_rate_ndcg(scorer, train, test, n_negatives=5)


@pytest.mark.parametrize("scorer, expected", [
    (transposed, r"returned an array of shape \(\d+, \d+\); expected \(\d+, \d+\)"),
    (flat, r"returned an array of shape \(\d+,\); expected \(\d+, \d+\)"),
    (words, r"returned <U\d+ values; expected numbers"),
    (some_nan, r"returned 1 NaN score"),
    (buggy, r"raised KeyError: 'no such key'"),
])
def test_a_bad_scorer_is_named_with_what_was_expected(split, scorer, expected):
    train, test = split
    for name, call in every_helper(scorer, train, test):
        with pytest.raises(CallbackError, match=rf"scorer {scorer.__name__!r} .*{expected}") as caught:
            call()
            pytest.fail(f"{name} took the scorer {scorer.__name__}")
        if scorer is buggy:
            assert isinstance(caught.value.original, KeyError)


def test_a_list_of_integers_is_a_fine_score(split):
    train, test = split
    reference = cfnb.hit_rate_ndcg(good, train, test, n_negatives=5)
    as_ints = cfnb.hit_rate_ndcg(lambda u, i: good(u, i).astype(int).tolist(), train, test, n_negatives=5)
    assert as_ints == reference
    assert cfnb.ranking_metrics(lambda u, i: good(u, i).astype(np.int32), train, test, relevant=None) == \
        cfnb.ranking_metrics(good, train, test, relevant=None)
