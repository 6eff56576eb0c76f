"""`cfnb bench`: fit time and validation RMSE of the lesson, side by side, in one process.

Rows (all on the same seeded 80/20 split of one MovieLens set, in this order):

* ``lesson-port``: what a user writes without cfnb: the lesson's graphs built inline with
  `keras.layers`, `model.fit` at batch 64, 4 epochs at 1e-2 then 4 at 1e-3 set through the optimizer's
  `learning_rate`, validating after every epoch (the lesson's code; it lives here, not in the package).
* ``cfnb-same``: `cfnb.build_model` + `cfnb.fit_stages` with exactly that configuration (default
  engine: `cfnb.fast` with Keras's exact Adam maths).
* ``cfnb-best``: `cfnb.recipes.BEST_RECIPE`.
* ``surprise-svd`` / ``surprise-svd-tuned``: scikit-surprise's SVD, default and tuned (the
  ``bench`` extra), as the outside anchor.

`fit_seconds` is wall time from building the model to the end of training (tracing and XLA
compilation included; the final RMSE is computed outside the timing); `speedup` is the lesson port's
time for the same kind (the bias port for the best recipe and SVD) divided by the row's time.
`--scale` instead times one epoch of the best recipe on synthetic data shaped like MovieLens 25M
and reports the process's peak memory. `--ranking` instead times `cfnb.ranking_metrics` (k=10) on the
same split for a bias model fitted with the best recipe, by its two paths (the embedding tables, and
`model.predict` as for any other model), and the two ranking baselines.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import sys
import time

import numpy as np

from . import checks

#: The lesson as the benchmark runs it, for every kind: 4 epochs at 1e-2, then 4 at 1e-3.
PORT_STAGES = ((1e-2, 4), (1e-3, 4))
PORT_BATCH = 64
#: Surprise SVD settings: default, and tuned on ml-latest-small seed 0 (grid over factors, epochs,
#: learning rate and regularisation).
SVD_TUNED = {"n_factors": 150, "n_epochs": 40, "lr_all": 0.01, "reg_all": 0.1}
ML25M = (162_541, 59_047, 25_000_095)
NAMES = ("lesson-port", "cfnb-same", "cfnb-best", "surprise-svd", "surprise-svd-tuned")


# ------------------------------------------------------------------------------------ lesson port
def lesson_port(kind, n_users, n_items, train_x, train_y, val_x, val_y, stages=PORT_STAGES, seed=0):
    """The lesson's model and training loop, hand-written in Keras 3 as a user would: no cfnb."""
    import keras
    from keras import layers, regularizers

    keras.utils.set_random_seed(seed)
    user_in = keras.Input(shape=(1,), dtype="int32", name="user_in")
    movie_in = keras.Input(shape=(1,), dtype="int32", name="movie_in")
    u = layers.Embedding(n_users, 50, embeddings_regularizer=regularizers.l2(1e-4))(user_in)
    m = layers.Embedding(n_items, 50, embeddings_regularizer=regularizers.l2(1e-4))(movie_in)
    if kind == "nn":
        x = layers.Flatten()(layers.Concatenate()([u, m]))
        x = layers.Dropout(0.3)(x)
        x = layers.Dense(70, activation="relu")(x)
        x = layers.Dropout(0.75)(x)
        x = layers.Dense(1)(x)
    else:
        x = layers.Flatten()(layers.Dot(axes=2)([u, m]))
        if kind == "bias":
            ub = layers.Flatten()(layers.Embedding(n_users, 1)(user_in))
            mb = layers.Flatten()(layers.Embedding(n_items, 1)(movie_in))
            x = layers.Add()([x, ub, mb])
    model = keras.Model([user_in, movie_in], x)
    model.compile(optimizer=keras.optimizers.Adam(stages[0][0]), loss="mse")
    for lr, epochs in stages:
        model.optimizer.learning_rate = lr
        model.fit(train_x, train_y, batch_size=PORT_BATCH, epochs=epochs, validation_data=(val_x, val_y),
                  verbose=0)
    return model


# ------------------------------------------------------------------------------------------ runs
def _rmse(model, val, train) -> float:
    """Val RMSE by one rule for every row: `evaluate` told the training set (cold ids by the biases-only
    fallback, predictions clipped to the scale), whether or not cfnb trained the model."""
    from .predict import evaluate

    return evaluate(model, val, train=train)["rmse"]


def run_port(kind, ratings, train, val, seed, stages):
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    start = time.perf_counter()
    model = lesson_port(kind, ratings.n_users, ratings.n_items, train.x, train.y, val.x, val.y, stages, seed)
    return time.perf_counter() - start, _rmse(model, val, train), "keras model.fit"


def run_same(kind, ratings, train, val, seed, stages, shuffle_seed=None):
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    import keras

    from .models import build_model
    from .training import fit_stages

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = build_model(kind, ratings.n_users, ratings.n_items)
    fit_stages(model, train, val, stages=stages, batch_size=PORT_BATCH, progress=False,
               seed=seed if shuffle_seed is None else shuffle_seed)
    seconds = time.perf_counter() - start
    return seconds, _rmse(model, val, train), _engine_name(model)


def run_same_keras_order(kind, ratings, train, val, seed, stages):
    """The same recipe on the fast engine, but with one batch order reused for every epoch, as
    `model.fit` does under `keras.utils.set_random_seed` (its seeded tf.data shuffle restarts each
    epoch): isolates the order from the maths when comparing with the lesson port."""
    import keras

    from .fast import FastEngine
    from .models import build_model
    from .training import compile_model

    keras.utils.set_random_seed(seed)
    model = compile_model(build_model(kind, ratings.n_users, ratings.n_items), stages[0][0])
    engine = FastEngine(model, PORT_BATCH, seed=seed)
    for lr, epochs in stages:
        model.optimizer.learning_rate = lr
        engine.fit(train.x, train.y, epochs=epochs, shuffle="once")
    return _rmse(model, val, train)


def shuffle_spread(kind, ratings, train, val, seed, stages, n) -> list[float]:
    """Val RMSE of the same recipe from the same initial weights with `n` other shuffle (and dropout)
    seeds: how far the figure moves with the order of the batches alone."""
    return [run_same(kind, ratings, train, val, seed, stages, shuffle_seed=seed + 1000 * k)[1]
            for k in range(1, n + 1)]


def run_best(kind, ratings, train, val, seed, recipe=None):
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    from .recipes import BEST_RECIPE, fit_recipe

    recipe = recipe or BEST_RECIPE
    start = time.perf_counter()
    model, _ = fit_recipe({**recipe, "kind": kind}, train, val, seed=seed)
    seconds = time.perf_counter() - start
    return seconds, _rmse(model, val, train), _engine_name(model)


def _engine_name(model) -> str:
    engines = getattr(model, "_cfnb_fast_engines", {})
    if not engines:
        return "keras model.fit"
    return next(iter(engines.values())).label


def _surprise():
    """Surprise's `(SVD, Dataset, Reader)`, or a SystemExit saying how to install it."""
    try:
        from surprise import SVD, Dataset, Reader
    except ImportError:
        raise SystemExit("scikit-surprise is not installed: `pip install cfnb[bench]` (or pass "
                         "--no-surprise to skip the Surprise rows).") from None
    return SVD, Dataset, Reader


def _trainset(frame, scale):
    """A Surprise trainset of coded ratings (columns user, item, rating) on the rating scale `scale`."""
    import pandas as pd

    _, Dataset, Reader = _surprise()
    return Dataset.load_from_df(pd.DataFrame({"u": frame["user"], "i": frame["item"], "r": frame["rating"]}),
                                Reader(rating_scale=scale)).build_full_trainset()


def run_svd(train, val, seed, **params):
    """Surprise SVD fit on the same coded split; RMSE as Surprise predicts (clipped, cold-start rules)."""
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    SVD = _surprise()[0]
    lo, hi = (0.5, 5.0) if train.scale is None else train.scale
    start = time.perf_counter()
    trainset = _trainset(train.frame, (lo, hi))
    algo = SVD(random_state=seed, **params)
    algo.fit(trainset)
    seconds = time.perf_counter() - start
    users = np.array([trainset._raw2inner_id_users.get(u, -1) for u in val.frame["user"]])
    items = np.array([trainset._raw2inner_id_items.get(i, -1) for i in val.frame["item"]])
    pred = np.full(len(val), trainset.global_mean)
    ku, ki = users >= 0, items >= 0
    pred[ku] += algo.bu[users[ku]]
    pred[ki] += algo.bi[items[ki]]
    both = ku & ki
    pred[both] += np.einsum("ij,ij->i", algo.pu[users[both]], algo.qi[items[both]])
    pred = np.clip(pred, lo, hi)
    return seconds, float(np.sqrt(np.mean((pred - val.y) ** 2))), "scikit-surprise"


# ------------------------------------------------------------------------------------------ bench
def load(data: str, seed: int, quick: bool):
    """The ratings and the seeded 80/20 split (tiny synthetic ratings with `quick`)."""
    from .data import synthetic
    from .movielens import movielens

    ratings = (synthetic(n_users=80, n_items=120, n_ratings=4000, seed=seed) if quick
               else movielens(data, download=False))
    train, val = ratings.split(val_frac=0.2, seed=seed)
    return ratings, train, val


def warm_up(kinds, seed=0) -> None:
    """The same untimed warm-up for every side: one tiny fit of the port and of cfnb per kind, so
    that imports, first-call setup and the runtime's thread pools are paid before any timing."""
    from .data import synthetic

    ratings = synthetic(n_users=20, n_items=30, n_ratings=600, seed=seed)
    train, val = ratings.split(val_frac=0.2, seed=seed)
    for kind in kinds:
        run_port(kind, ratings, train, val, seed, ((1e-2, 1),))
        run_same(kind, ratings, train, val, seed, ((1e-2, 1),))
    fresh_session()


def bench(data="ml-latest-small", seed=0, kinds=("dot", "bias", "nn"), quick=False, surprise=True,
          spread=0, repeat=2, same_only=False, log=print) -> list[dict]:
    """Run the rows (see the module docstring) `repeat` times, alternating the sides kind by kind
    (port first on even rounds, cfnb first on odd ones), and return one dict per row with the
    minimum time of its rounds (`fit_seconds`), every round's time (`fit_seconds_all`), and for
    cfnb rows the spread of the per-round ratio to the port (`speedup_range`)."""
    from . import backend

    repeat = checks.whole("repeat", repeat)
    ratings, train, val = load(data, seed, quick)
    name = "synthetic" if quick else data
    stages = ((1e-2, 1), (1e-3, 1)) if quick else PORT_STAGES
    log(f"{ratings!r}; train {len(train):,} / val {len(val):,} (seed {seed}); backend {backend.name()}; "
        f"load {os.getloadavg()[0]:.2f}")
    warm_up(kinds, seed)
    sides = {}  # (name, kind) -> list of (seconds, rmse, engine), one per round

    def timed(row_name, kind, run):
        seconds, val_rmse, engine = result = run()
        sides.setdefault((row_name, kind), []).append(result)
        log(f"  {row_name:<19} {kind:<5} {seconds:8.2f} s  val RMSE {val_rmse:.4f}  ({engine})")

    for round_ in range(repeat):
        log(f" round {round_ + 1}/{repeat}; load {os.getloadavg()[0]:.2f}")
        for kind in kinds:
            pair = [("lesson-port", lambda k=kind: run_port(k, ratings, train, val, seed, stages)),
                    ("cfnb-same", lambda k=kind: run_same(k, ratings, train, val, seed, stages))]
            for row_name, run in pair if round_ % 2 == 0 else pair[::-1]:
                timed(row_name, kind, run)
        if same_only:
            continue
        anchors = [("cfnb-best", "bias", lambda: run_best("bias", ratings, train, val, seed))]
        if surprise:
            anchors += [("surprise-svd", "svd", lambda: run_svd(train, val, seed)),
                        ("surprise-svd-tuned", "svd", lambda: run_svd(train, val, seed, **SVD_TUNED))]
        for row_name, kind, run in anchors if round_ % 2 == 0 else anchors[::-1]:
            timed(row_name, kind, run)
    rows = [_row(row_name, kind, results, name, seed, backend.name()) for (row_name, kind), results in sides.items()]
    if spread and not same_only:
        for row in rows:
            if row["name"] == "cfnb-same":
                kind = row["kind"]
                row["val_rmse_other_shuffles"] = shuffle_spread(kind, ratings, train, val, seed, stages, spread)
                if backend.name() == "tensorflow":
                    row["val_rmse_keras_order"] = run_same_keras_order(kind, ratings, train, val, seed, stages)
    _speedups(rows)
    return rows


def _row(row_name, kind, results, data, seed, backend_name) -> dict:
    """One table row from its rounds: the fastest time, the first round's RMSE (all kept)."""
    times = [r[0] for r in results]
    return {"name": row_name, "kind": kind, "fit_seconds": min(times), "fit_seconds_all": times,
            "val_rmse": results[0][1], "val_rmse_all": [r[1] for r in results], "data": data, "seed": seed,
            "backend": backend_name, "engine": results[0][2], "repeat": len(results)}


def _speedups(rows) -> None:
    """`speedup`: the port's minimum time for the row's kind (the bias port for best and SVD) over
    the row's, on the row's backend; `speedup_range`: min..max of the ratio round by round."""
    ports = {(r["backend"], r["kind"]): r for r in rows if r["name"] == "lesson-port"}
    for r in rows:
        port = ports.get((r["backend"], r["kind"]), ports.get((r["backend"], "bias")))
        r["speedup"] = port["fit_seconds"] / r["fit_seconds"] if port else None
        if port and r is not port:
            ratios = [p / s for p, s in zip(port["fit_seconds_all"], r["fit_seconds_all"])]
            r["speedup_range"] = [min(ratios), max(ratios)]


def other_backend_rows(backend_name, args, log=print) -> list[dict]:
    """The port, same-recipe and best-recipe rows on another Keras backend, from a `cfnb bench` subprocess run
    with KERAS_BACKEND set (a process has one backend); [] with a notice if it fails."""
    options = ["--no-surprise", "--no-other-backend", "--data", args.data, "--seed", str(args.seed),
               "--kinds", args.kinds, "--repeat", str(args.repeat)] + (["--quick"] if args.quick else [])
    log(f"\n{backend_name} rows (subprocess, KERAS_BACKEND={backend_name}):")
    done, rows = bench_subprocess(options, KERAS_BACKEND=backend_name)
    for line in done.stdout.splitlines():
        if line.startswith(("  ", " round")):
            log(line)
    if done.returncode:
        log(f"NOTICE: no {backend_name} rows: the subprocess failed:\n{done.stderr[-2000:]}")
    return rows


def bench_subprocess(options, **env):
    """Run `cfnb bench OPTIONS --json TMP` in a fresh process (with `env` added to the environment);
    returns the finished process and the rows it wrote ([] if it failed)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        done = subprocess.run([sys.executable, "-m", "cfnb", "bench", *options, "--json", out],
                              env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode:
            return done, []
        with open(out) as f:
            return done, json.load(f)


def fresh_session() -> None:
    """Drop Keras's global state and collect garbage between timed rows."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def targets(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """The issue's targets checked against one run, backend by backend: (target, holds, the figures).
    The best recipe on each backend is held against the one Surprise SVD row (Surprise has no backend)."""
    by = {(r["name"], r["kind"], r["backend"]): r for r in rows}
    svd = next((r for r in rows if r["name"] == "surprise-svd"), None)
    tuned = next((r for r in rows if r["name"] == "surprise-svd-tuned"), None)
    out = []
    for backend_name in dict.fromkeys(r["backend"] for r in rows):
        for kind in ("dot", "bias", "nn"):
            port, same = by.get(("lesson-port", kind, backend_name)), by.get(("cfnb-same", kind, backend_name))
            if port and same:
                out.append(_same_target(port, same))
        best = by.get(("cfnb-best", "bias", backend_name))
        if best and svd:
            ratio = best["fit_seconds"] / svd["fit_seconds"]
            rule = "RMSE <= 0.835 and " if best["data"] == "ml-latest-small" else ""
            ok = ratio <= 2 and (best["val_rmse"] <= 0.835 or best["data"] != "ml-latest-small")
            out.append((f"best recipe on {backend_name}: {rule}fit <= 2x Surprise SVD", ok,
                        f"RMSE {best['val_rmse']:.4f}, {best['fit_seconds']:.2f} s = {ratio:.1f}x SVD's "
                        f"{svd['fit_seconds']:.2f} s (rounds {_ratios(best, svd)})"))
        if best and tuned:
            out.append((f"best recipe on {backend_name}: RMSE <= tuned SVD", best["val_rmse"] <= tuned["val_rmse"],
                        f"{best['val_rmse']:.4f} vs {tuned['val_rmse']:.4f}"))
    return out


def _ratios(row, other) -> str:
    """min..max over rounds of row's time over other's, e.g. "2.1..2.6x"."""
    ratios = [a / b for a, b in zip(row.get("fit_seconds_all", [row["fit_seconds"]]),
                                    other.get("fit_seconds_all", [other["fit_seconds"]]))]
    return f"{min(ratios):.1f}..{max(ratios):.1f}x"


def _same_target(port, same) -> tuple[str, bool, str]:
    """Same recipe against the port, one kind on one backend: >= 10x faster, RMSE within 0.01."""
    gap = same["val_rmse"] - port["val_rmse"]
    low, high = same.get("speedup_range") or (same["speedup"], same["speedup"])
    figures = (f"{same['speedup']:.1f}x (min over min; rounds {low:.1f}..{high:.1f}x), RMSE {same['val_rmse']:.4f} "
               f"vs {port['val_rmse']:.4f} ({gap:+.4f})")
    others = same.get("val_rmse_other_shuffles")
    if others:
        spread = [same["val_rmse"], *others]
        figures += (f"; same recipe over {len(spread)} shuffles {min(spread):.4f}..{max(spread):.4f}, "
                    f"{'port inside' if min(spread) <= port['val_rmse'] <= max(spread) else 'port outside'}")
    if same.get("val_rmse_keras_order") is not None:
        figures += (f"; with model.fit's seeded order (one permutation reused): "
                    f"{same['val_rmse_keras_order']:.4f} ({same['val_rmse_keras_order'] - port['val_rmse']:+.4f})")
    return (f"same recipe {same['kind']} on {same['backend']}: >= 10x faster, RMSE within 0.01",
            same["speedup"] >= 10 and abs(gap) <= 0.01, figures)


#: `--scale` sizes: MovieLens 25M's catalogue (users x movies) with 1M, 5M and 25M ratings, so that
#: only the number of ratings changes from one size to the next.
SCALE_SIZES = (1_000_000, 5_000_000, ML25M[2])
SVD_SAMPLE = 1_000_000
CHUNK = 1_000_000


def planted(n_ratings, n_users=ML25M[0], n_items=ML25M[1], n_factors=5, seed=0):
    """Synthetic ratings with planted structure at MovieLens-25M scale, as a `Ratings`: long-tailed
    movie popularity, `rating = 3.5 + user bias + movie bias + user.movie + noise` rounded to half
    stars in 0.5..5. Made in chunks of 1M ratings, each seeded from (seed, chunk): a smaller set is
    the first ratings of a larger one with the same seed, over the same planted factors."""
    import pandas as pd

    from .data import Ratings

    rng = np.random.default_rng(seed)
    pu = rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors)).astype(np.float32)
    qi = rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors)).astype(np.float32)
    bu, bi = rng.normal(0, 0.3, n_users).astype(np.float32), rng.normal(0, 0.5, n_items).astype(np.float32)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9  # long-tailed like real movie popularity
    cdf = np.cumsum(popularity / popularity.sum())
    users = np.empty(n_ratings, np.int32)
    items = np.empty(n_ratings, np.int32)
    ratings = np.empty(n_ratings, np.float32)
    for k, lo in enumerate(range(0, n_ratings, CHUNK)):
        n = min(CHUNK, n_ratings - lo)
        chunk = np.random.default_rng([seed, k])
        u = chunk.integers(0, n_users, n, dtype=np.int32)
        i = np.minimum(np.searchsorted(cdf, chunk.random(n)), n_items - 1).astype(np.int32)
        r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", pu[u], qi[i]) + chunk.normal(0, 0.3, n).astype(np.float32)
        users[lo:lo + n], items[lo:lo + n] = u, i
        ratings[lo:lo + n] = np.clip(np.round(r * 2) / 2, 0.5, 5.0)
    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
    return Ratings(frame, pd.RangeIndex(n_users, name="user"), pd.RangeIndex(n_items, name="item"),
                   scale=(0.5, 5.0), name=f"synthetic planted, {n_ratings:,} ratings")


def peak_rss_gb() -> float:
    """This process's peak resident memory so far (getrusage ru_maxrss), in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9


def scale_one(n_ratings, seed=0) -> dict:
    """One size of `--scale` in this process: one epoch of the best recipe (build and compile
    included, `fit_seconds`), then a second, warm epoch (`epoch_seconds`, giving `ratings_per_s`)."""
    from . import backend
    from .recipes import BEST_RECIPE, fit_recipe
    from .training import fit_stages

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
            "data": "synthetic-planted-25m-catalogue", "seed": seed, "backend": backend.name(),
            "engine": _engine_name(model)}


def svd_one(n_ratings, seed=0) -> dict:
    """Surprise SVD (defaults: 100 factors, plain SGD) for one epoch on the first `n_ratings` of the
    same planted data: `fit_seconds` is `SVD.fit` alone (its trainset built outside the timing)."""
    SVD = _surprise()[0]
    frame = planted(n_ratings, seed=seed).frame
    start = time.perf_counter()
    trainset = _trainset(frame, (0.5, 5.0))
    built = time.perf_counter() - start
    start = time.perf_counter()
    SVD(n_epochs=1, random_state=seed).fit(trainset)
    seconds = time.perf_counter() - start
    return {"name": "surprise-svd-scale", "kind": "svd", "n_users": ML25M[0], "n_items": ML25M[1],
            "n_ratings": n_ratings, "fit_seconds": seconds, "epoch_seconds": seconds,
            "ratings_per_s": n_ratings / seconds, "trainset_seconds": built, "peak_rss_gb": peak_rss_gb(),
            "data": "synthetic-planted-25m-catalogue", "seed": seed, "backend": "scikit-surprise",
            "engine": "scikit-surprise SVD, 1 epoch"}


def scale(sizes=SCALE_SIZES, svd_sample=SVD_SAMPLE, seed=0, log=print) -> list[dict]:
    """`--scale`: each size, then Surprise on its sample, in its own subprocess (so that each row's
    peak memory is its own), one after the other."""
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


def scale_targets(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """The issue's throughput targets checked against a `--scale` run."""
    by = {(r["name"], r["n_ratings"]): r for r in rows}
    out = []
    big = by.get(("cfnb-best-scale", ML25M[2]))
    if big:
        out.append(("one epoch of 25M <= 10 s, peak <= 2.5 GB",
                    big["fit_seconds"] <= 10 and big["peak_rss_gb"] <= 2.5,
                    f"{big['fit_seconds']:.1f} s with build and compile, {big['epoch_seconds']:.1f} s warm; "
                    f"{big['peak_rss_gb']:.2f} GB"))
    svd = next((r for r in rows if r["name"] == "surprise-svd-scale"), None)
    best = by.get(("cfnb-best-scale", svd["n_ratings"])) if svd else None
    if svd and best:
        ratio = best["ratings_per_s"] / svd["ratings_per_s"]
        out.append(("best recipe ratings/s >= Surprise SVD's (aim 2x)", ratio >= 1,
                    f"{best['ratings_per_s'] / 1e6:.2f}M vs {svd['ratings_per_s'] / 1e6:.2f}M ratings/s "
                    f"({ratio:.2f}x) on {svd['n_ratings']:,} ratings"))
    cfnb_rows = sorted((r for r in rows if r["name"] == "cfnb-best-scale"), key=lambda r: r["n_ratings"])
    if len(cfnb_rows) >= 2:
        per = [r["epoch_seconds"] / r["n_ratings"] * 1e6 for r in cfnb_rows]
        out.append(("time grows linearly with ratings (warm epoch, us per rating within 1.5x)",
                    max(per) <= 1.5 * min(per), ", ".join(f"{r['n_ratings'] / 1e6:g}M: {p:.2f} us"
                                                          for r, p in zip(cfnb_rows, per))))
    return out


def ranking(data="ml-latest-small", seed=0, quick=False, repeats=5, log=print) -> list[dict]:
    """Time `cfnb.ranking_metrics` (k=10) for a bias model (best recipe) on the seeded split: the
    embedding-table path and the `model.predict` path alternately, `repeats` times each, then
    `cfnb.ranking_baselines`. One row per path, with every timing and the median."""
    import keras

    from .baselines import ranking_baselines
    from .ranking import model_scorer, rank_scores, ranking_metrics
    from .recipes import BEST_RECIPE, fit_recipe
    from .vocabulary import summarize

    ratings, train, val = load(data, seed, quick)
    log(f"{ratings!r}; train {len(train):,} / val {len(val):,} (seed {seed}); load {os.getloadavg()[0]:.2f}")
    model, _ = fit_recipe({**BEST_RECIPE, "kind": "bias"}, train, val, seed=seed)

    def by_predict():
        return rank_scores(model_scorer(model, summarize(train), tables=False), train, val, 10, 4.0)

    timings = {"ranking-tables": [], "ranking-predict": [], "ranking-baselines": []}
    results = {}
    for _ in range(repeats):
        for name, run in (("ranking-tables", lambda: ranking_metrics(model, train, val, k=10)),
                          ("ranking-predict", by_predict),
                          ("ranking-baselines", lambda: ranking_baselines(train, val, k=10))):
            start = time.perf_counter()
            results[name] = run()
            timings[name].append(time.perf_counter() - start)
    first = results["ranking-tables"]
    common = {"kind": "bias", "data": "synthetic" if quick else data, "seed": seed, "k": 10,
              "n_users": first["n_users"], "n_items": first["n_items"], "backend": keras.backend.backend()}
    rows = []
    for name, seconds in timings.items():
        ndcg = (list(results[name]["ndcg"]) if name == "ranking-baselines" else results[name]["ndcg"])
        rows.append({"name": name, "seconds": float(np.median(seconds)), "all_seconds": seconds, "ndcg": ndcg,
                     **common})
        log(f"  {name:<18} {np.median(seconds):7.2f} s median of {len(seconds)} ({min(seconds):.2f}..{max(seconds):.2f})"
            f"  NDCG@10 {', '.join(f'{v:.4f}' for v in np.atleast_1d(ndcg))}")
    return rows


def ranking_main(args, info, log) -> int:
    """`cfnb bench --ranking`: the ranking timings and their target."""
    rows = ranking(args.data, args.seed, quick=args.quick, log=log)
    for r in rows:
        r["machine"] = info
    tables = rows[0]
    print(f"\nranking_metrics, k=10, {tables['n_users']:,} users x {tables['n_items']:,} items: embedding tables "
          f"{tables['seconds']:.2f} s, model.predict {rows[1]['seconds']:.2f} s, both baselines {rows[2]['seconds']:.2f} s")
    print(f"{'HOLDS' if tables['seconds'] <= 5 else 'SHORT'}  ranking_metrics for a bias model on {tables['data']}: "
          f"<= 5 s: {tables['seconds']:.2f} s (median; {max(tables['all_seconds']):.2f} s at worst)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def machine() -> dict:
    """A short description of where the benchmark ran (no TensorFlow import on JAX)."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in ("keras", "tensorflow", "jax", "scikit-surprise"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), **versions,
            "load_before": os.getloadavg()[0]}


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table."""
    head = (f"{'name':<19} {'kind':<5} {'backend':<10} {'fit s (min)':>11} {'val RMSE':>9} {'speedup':>8} "
            f"{'rounds':>12}  engine")
    lines = [head, "-" * len(head)]
    for r in rows:
        rmse = "" if r.get("val_rmse") is None else f"{r['val_rmse']:.4f}"
        speed = "" if r.get("speedup") is None else f"{r['speedup']:.1f}x"
        low_high = r.get("speedup_range")
        rounds = f"{low_high[0]:.1f}..{low_high[1]:.1f}x" if low_high else ""
        lines.append(f"{r['name']:<19} {r['kind']:<5} {r.get('backend', ''):<10} {r['fit_seconds']:11.2f} {rmse:>9} "
                     f"{speed:>8} {rounds:>12}  {r.get('engine', '')}")
    return "\n".join(lines)


def scale_table(rows: list[dict]) -> str:
    """`--scale` rows as a plain-text table."""
    head = f"{'name':<19} {'ratings':>11} {'first epoch s':>13} {'warm epoch s':>12} {'M ratings/s':>11} {'peak GB':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<19} {r['n_ratings']:>11,} {r['fit_seconds']:13.2f} {r['epoch_seconds']:12.2f} "
                     f"{r['ratings_per_s'] / 1e6:11.2f} {r['peak_rss_gb']:8.2f}")
    return "\n".join(lines)


def plot_scale(rows: list[dict], path: str) -> None:
    """Save a plot of epoch time against ratings for `--scale` rows (first and warm epochs, a
    straight line through the origin fitted to the warm ones, and Surprise's epoch) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfnb_rows = sorted((r for r in rows if r["name"] == "cfnb-best-scale"), key=lambda r: r["n_ratings"])
    n = np.array([r["n_ratings"] for r in cfnb_rows]) / 1e6
    warm = np.array([r["epoch_seconds"] for r in cfnb_rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [r["fit_seconds"] for r in cfnb_rows], "o--", label="cfnb best recipe, first epoch (build + compile)")
    ax.plot(n, warm, "o-", label="cfnb best recipe, warm epoch")
    slope = float(n @ warm / (n @ n))  # least squares through the origin
    grid = np.linspace(0, n.max(), 50)
    ax.plot(grid, slope * grid, ":", color="grey", label=f"linear fit: {slope:.2f} s per 1M ratings")
    for r in rows:
        if r["name"] == "surprise-svd-scale":
            ax.plot(r["n_ratings"] / 1e6, r["epoch_seconds"], "s", label="Surprise SVD, one epoch")
    ax.set(xlabel="ratings (millions)", ylabel="seconds", title="One epoch against ratings (2-core CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _sizes(text: str) -> tuple[int, ...]:
    """"1e6,5e6" -> (1000000, 5000000)."""
    return tuple(int(float(v)) for v in text.split(",") if v.strip())


def main(args) -> int:
    """`cfnb bench` with parsed arguments (see `cfnb.cli`)."""
    from . import backend

    log = lambda text: print(text, flush=True)  # noqa: E731
    if args.ranking:
        return ranking_main(args, machine(), log)
    if args.scale_one or args.scale_svd:  # one `--scale` size, in the subprocess `scale` starts
        rows = [scale_one(args.scale_one, args.seed) if args.scale_one else svd_one(args.scale_svd, args.seed)]
        return _write(rows, args.json)
    info = machine()
    log(f"cfnb bench on {info['cpu']} ({info['cores']} cores), Keras {info['keras']} on {backend.name()}, "
        f"TensorFlow {info['tensorflow']}, JAX {info['jax']}; load {info['load_before']:.2f}")
    if args.scale:
        rows = scale(_sizes(args.scale_sizes), int(float(args.svd_sample)), seed=args.seed, log=log)
        verdicts, text = scale_targets(rows), scale_table(rows)
        if args.plot:
            plot_scale(rows, args.plot)
            log(f"plotted {args.plot}")
    else:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        rows = bench(args.data, args.seed, kinds, quick=args.quick, surprise=not args.no_surprise,
                     spread=args.spread, repeat=args.repeat, same_only=args.same_only, log=log)
        if backend.name() == "tensorflow" and not args.no_other_backend and not args.same_only:
            rows += other_backend_rows("jax", args, log)
        verdicts, text = targets(rows), table(rows)
    info["load_after"] = os.getloadavg()[0]
    for r in rows:
        r["machine"] = info
    log("\n" + text)
    for target, ok, figures in verdicts:
        log(f"{'HOLDS' if ok else 'SHORT'}  {target}: {figures}")
    log(f"load average {info['load_before']:.2f} before, {info['load_after']:.2f} after")
    return _write(rows, args.json)


def _write(rows, path) -> int:
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v))
        print(f"wrote {path}", flush=True)
    return 0


def add_parser(sub) -> None:
    """Add the `bench` subcommand to an argparse subparsers object."""
    import argparse

    p = sub.add_parser("bench", help="time the lesson port, cfnb (same and best recipe) and Surprise SVD")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON to PATH")
    p.add_argument("--data", default="ml-latest-small", help="MovieLens set (default ml-latest-small)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of every fit (default 0)")
    p.add_argument("--kinds", default="dot,bias,nn", help="comma-separated kinds (default dot,bias,nn)")
    p.add_argument("--quick", action="store_true", help="tiny synthetic ratings and short stages (smoke test)")
    p.add_argument("--repeat", type=int, default=2, metavar="N",
                   help="rounds; each alternates the port and cfnb kind by kind, and a row reports its "
                        "fastest round (default 2)")
    p.add_argument("--spread", type=int, default=0, metavar="N",
                   help="also fit the same recipe with N other shuffle seeds (outside the timing) to show "
                        "how much its val RMSE moves with the batch order alone")
    p.add_argument("--no-surprise", action="store_true", help="skip the Surprise SVD rows")
    p.add_argument("--no-other-backend", action="store_true",
                   help="on TensorFlow, skip the JAX rows (a subprocess with KERAS_BACKEND=jax)")
    p.add_argument("--scale", action="store_true",
                   help="ratings/s of one epoch of the best recipe on planted synthetic data with MovieLens "
                        "25M's catalogue and 1M, 5M and 25M ratings, and of one Surprise SVD epoch on a 1M "
                        "sample, with each one's peak memory")
    p.add_argument("--scale-sizes", default=",".join(str(n) for n in SCALE_SIZES), metavar="N,N,...",
                   help="--scale: numbers of ratings (default 1M, 5M and 25M's 25,000,095)")
    p.add_argument("--svd-sample", default=str(SVD_SAMPLE), metavar="N",
                   help="--scale: ratings for the Surprise SVD epoch (default 1e6; 0 skips it)")
    p.add_argument("--ranking", action="store_true",
                   help="time cfnb.ranking_metrics (k=10) for a bias model and the ranking baselines instead")
    p.add_argument("--plot", metavar="PATH", help="--scale: save a plot of time against ratings to PATH")
    p.add_argument("--same-only", action="store_true", help=argparse.SUPPRESS)  # port and same rows only
    p.add_argument("--scale-one", type=int, default=0, help=argparse.SUPPRESS)  # scale's subprocesses
    p.add_argument("--scale-svd", type=int, default=0, help=argparse.SUPPRESS)
