"""scikit-surprise's SVD (the ``bench`` extra), the outside anchor, through Surprise's public API only:
`Dataset.load_from_df`, `Reader`, `build_full_trainset`, `SVD.fit` and `SVD.test`."""

from __future__ import annotations

import time

import pandas as pd

from cfnb.bench.common import fresh_session

#: Surprise SVD settings: default, and tuned on ml-latest-small seed 0 (grid over factors, epochs,
#: learning rate and regularisation).
SVD_TUNED = {"n_factors": 150, "n_epochs": 40, "lr_all": 0.01, "reg_all": 0.1}


def svd_class():
    """Surprise's `SVD`, or a SystemExit saying how to install it."""
    try:
        from surprise import SVD
    except ImportError:
        raise SystemExit("scikit-surprise is not installed: `pip install cfnb[bench]` (or pass "
                         "--no-surprise to skip the Surprise rows).") from None
    return SVD


def trainset(frame, scale):
    """A Surprise trainset of coded ratings (columns user, item, rating) on the rating scale `scale`."""
    from surprise import Dataset, Reader

    ratings = pd.DataFrame({"u": frame["user"], "i": frame["item"], "r": frame["rating"]})
    return Dataset.load_from_df(ratings, Reader(rating_scale=scale)).build_full_trainset()


def run_svd(train, val, seed, **params):
    """Surprise SVD fit on the same coded split; RMSE as Surprise predicts (clipped, cold-start rules)."""
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    SVD = svd_class()
    from surprise import accuracy

    scale = (0.5, 5.0) if train.scale is None else train.scale
    start = time.perf_counter()
    algo = SVD(random_state=seed, **params).fit(trainset(train.frame, scale))
    seconds = time.perf_counter() - start
    frame = val.frame
    testset = zip(frame["user"].tolist(), frame["item"].tolist(), frame["rating"].tolist())
    return seconds, float(accuracy.rmse(algo.test(testset), verbose=False)), "scikit-surprise"
