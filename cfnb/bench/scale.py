"""`cfnb bench --scale`: one epoch of the best recipe on planted synthetic ratings with MovieLens 25M's
catalogue, at several sizes, and one Surprise SVD epoch, each size in its own process (its own peak memory)."""

from __future__ import annotations

import os
import resource
import sys
import time

from cfnb import backend, checks
from cfnb.bench.common import bench_subprocess, engine_name
from cfnb.bench.surprise import svd_class, trainset
from cfnb.data.synthetic import synthetic
from cfnb.training.fit import fit_stages
from cfnb.training.recipes import BEST_RECIPE, fit_recipe

ML25M = (162_541, 59_047, 25_000_095)
#: `--scale` sizes: MovieLens 25M's catalogue (users x movies) with 1M, 5M and 25M ratings, so that
#: only the number of ratings changes from one size to the next.
SCALE_SIZES = (1_000_000, 5_000_000, ML25M[2])
SVD_SAMPLE = 1_000_000
DATA = "synthetic-planted-25m-catalogue"


def planted(n_ratings, seed=0):
    """`n_ratings` planted ratings over MovieLens 25M's catalogue (the first ones of any larger set)."""
    return synthetic(n_users=ML25M[0], n_items=ML25M[1], n_ratings=n_ratings, seed=seed, lean=True)


def peak_rss_gb() -> float:
    """This process's peak resident memory so far (getrusage ru_maxrss), in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9


def scale_one(n_ratings, seed=0) -> dict:
    """One size: a best-recipe epoch with build and compile (`fit_seconds`), then a warm one (`epoch_seconds`)."""
    start = time.perf_counter()
    ratings = planted(n_ratings, seed=seed)
    made = time.perf_counter() - start
    lr, _ = BEST_RECIPE["fit"]["stages"][0]
    start = time.perf_counter()
    model, history = fit_recipe(BEST_RECIPE, ratings, None, seed=seed, stages=[(lr, 1)])
    first = time.perf_counter() - start
    fit = {k: v for k, v in BEST_RECIPE["fit"].items() if k != "stages"}
    start = time.perf_counter()
    history = fit_stages(model, ratings, None, stages=[(lr, 1)], progress=False, seed=seed, **fit)
    warm = time.perf_counter() - start
    return {"name": "cfnb-best-scale", "kind": "bias", "n_users": ratings.n_users, "n_items": ratings.n_items,
            "n_ratings": n_ratings, "fit_seconds": first, "epoch_seconds": warm, "ratings_per_s": n_ratings / warm,
            "ratings_per_s_with_compile": n_ratings / first, "data_seconds": made,
            "train_loss": history.rows[-1]["loss"] if history.rows else None, "peak_rss_gb": peak_rss_gb(),
            "data": DATA, "seed": seed, "backend": backend.name(), "engine": engine_name(history)}


def svd_one(n_ratings, seed=0) -> dict:
    """One epoch of Surprise's default SVD on the same planted data: `fit_seconds` is `SVD.fit` alone."""
    SVD = svd_class()
    frame = planted(n_ratings, seed=seed).frame
    start = time.perf_counter()
    ratings = trainset(frame, (0.5, 5.0))
    built = time.perf_counter() - start
    start = time.perf_counter()
    SVD(n_epochs=1, random_state=seed).fit(ratings)
    seconds = time.perf_counter() - start
    return {"name": "surprise-svd-scale", "kind": "svd", "n_users": ML25M[0], "n_items": ML25M[1],
            "n_ratings": n_ratings, "fit_seconds": seconds, "epoch_seconds": seconds,
            "ratings_per_s": n_ratings / seconds, "trainset_seconds": built, "peak_rss_gb": peak_rss_gb(),
            "data": DATA, "seed": seed, "backend": "scikit-surprise", "engine": "scikit-surprise SVD, 1 epoch"}


def scale(sizes=SCALE_SIZES, svd_sample=SVD_SAMPLE, seed=0, log=print) -> list[dict]:
    """`--scale`: each size, then Surprise, one after the other, each in its own process (its own peak memory)."""
    sizes = [checks.whole("size", n) for n in sizes]
    jobs = [("--scale-one", n) for n in sizes] + ([("--scale-svd", svd_sample)] if svd_sample else [])
    rows = []
    for flag, n in jobs:
        load = os.getloadavg()[0]
        done, written = bench_subprocess([flag, str(n), "--seed", str(seed)])
        if done.returncode:
            raise SystemExit(f"cfnb bench {flag} {n} failed:\n{done.stderr[-3000:]}")
        (row,) = written
        row["load_before"] = load
        rows.append(row)
        log(f"  {row['name']:<19} {n:>11,} ratings: first epoch {row['fit_seconds']:6.1f} s, warm epoch "
            f"{row['epoch_seconds']:6.1f} s = {row['ratings_per_s'] / 1e6:.2f}M ratings/s; peak "
            f"{row['peak_rss_gb']:.2f} GB (load {load:.2f})")
    return rows
