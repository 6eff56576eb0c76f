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
    engine = next(iter(engines.values()))
    return f"cfnb.fast {engine.update}" + (" XLA" if engine._chunk_fn._jit_compile else "")


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
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    """Surprise SVD fit on the same coded split; RMSE as Surprise predicts (clipped, cold-start rules)."""
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


def bench(data="ml-latest-small", seed=0, kinds=("dot", "bias", "nn"), quick=False, surprise=True,
          spread=0, repeat=2, log=print) -> list[dict]:
    """Run the rows (see the module docstring) and return them as dicts.

    The lesson port and cfnb's same recipe run alternately, kind by kind, `repeat` times each (port,
    cfnb, port, cfnb, ...), after one untimed warm-up of each on a small slice of the training set;
    each row keeps the fastest of its runs (`fit_seconds`), all of them (`all_seconds`), and the
    same-recipe row the spread of the per-round speed-ups (`speedup_range`). On a shared machine
    the load then drifts onto both sides alike.
    """
    import keras

    ratings, train, val = load(data, seed, quick)
    name = "synthetic" if quick else data
    stages = ((1e-2, 1), (1e-3, 1)) if quick else PORT_STAGES
    log(f"{ratings!r}; train {len(train):,} / val {len(val):,} (seed {seed}); load {os.getloadavg()[0]:.2f}")
    common = {"data": name, "seed": seed, "backend": keras.backend.backend()}
    rows = []

    def add(row_name, kind, result):
        seconds, val_rmse, engine = result
        rows.append({"name": row_name, "kind": kind, "fit_seconds": seconds, "val_rmse": val_rmse, **common,
                     "engine": engine})
        log(f"  {row_name:<19} {kind:<5} {seconds:8.2f} s  val RMSE {val_rmse:.4f}  ({engine})")

    repeat = checks.whole("repeat", repeat)
    for kind in kinds:
        warm = train.with_frame(train.frame.iloc[:2048], "warm-up")
        run_port(kind, ratings, warm, val, seed, ((1e-3, 1),))  # untimed, the same for both sides
        run_same(kind, ratings, warm, val, seed, ((1e-3, 1),))
        port_runs, same_runs = [], []
        for _ in range(repeat):  # alternate, so drift in the machine's load lands on both sides
            port_runs.append(run_port(kind, ratings, train, val, seed, stages))
            same_runs.append(run_same(kind, ratings, train, val, seed, stages))
        add("lesson-port", kind, fastest(port_runs))
        add("cfnb-same", kind, fastest(same_runs))
        ratios = [p[0] / c[0] for p, c in zip(port_runs, same_runs)]
        rows[-2]["all_seconds"] = [p[0] for p in port_runs]
        rows[-1]["all_seconds"] = [c[0] for c in same_runs]
        rows[-1]["speedup_range"] = [min(ratios), max(ratios)]
        if repeat > 1:
            log(f"  {'':<19} {kind:<5} {repeat} alternating rounds: speed-up {min(ratios):.1f}x..{max(ratios):.1f}x")
        if spread:
            rows[-1]["val_rmse_other_shuffles"] = others = shuffle_spread(kind, ratings, train, val, seed, stages,
                                                                         spread)
            rows[-1]["val_rmse_keras_order"] = once = run_same_keras_order(kind, ratings, train, val, seed, stages)
            log(f"  {'':<19} {kind:<5} same recipe, {spread} other shuffles: "
                + ", ".join(f"{v:.4f}" for v in others) + f"; one order reused every epoch (as model.fit "
                f"under a seed): {once:.4f}")
    add("cfnb-best", "bias", run_best("bias", ratings, train, val, seed))
    if surprise:
        add("surprise-svd", "svd", run_svd(train, val, seed))
        add("surprise-svd-tuned", "svd", run_svd(train, val, seed, **SVD_TUNED))
    port = {r["kind"]: r["fit_seconds"] for r in rows if r["name"] == "lesson-port"}
    for r in rows:
        ref = port.get(r["kind"], port.get("bias"))
        r["speedup"] = ref / r["fit_seconds"] if ref else None
    return rows


def fastest(runs: list[tuple]) -> tuple:
    """The run with the shortest time, of `(seconds, val_rmse, engine)` runs."""
    return min(runs, key=lambda run: run[0])


def fresh_session() -> None:
    """Drop Keras's global state and collect garbage between timed rows."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def targets(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """The issue's targets checked against one run: (target, holds, the figures)."""
    by = {(r["name"], r["kind"]): r for r in rows}
    out = []
    for kind in ("dot", "bias", "nn"):
        port, same = by.get(("lesson-port", kind)), by.get(("cfnb-same", kind))
        if port and same:
            gap = same["val_rmse"] - port["val_rmse"]
            figures = f"{same['speedup']:.1f}x, RMSE {same['val_rmse']:.4f} vs {port['val_rmse']:.4f} ({gap:+.4f})"
            if same.get("speedup_range"):
                low, high = same["speedup_range"]
                figures += f"; {len(same.get('all_seconds', []))} alternating rounds {low:.1f}x..{high:.1f}x"
            others = same.get("val_rmse_other_shuffles")
            if others:
                spread = [same["val_rmse"], *others]
                figures += (f"; same recipe over {len(spread)} shuffles {min(spread):.4f}..{max(spread):.4f}, "
                            f"{'port inside' if min(spread) <= port['val_rmse'] <= max(spread) else 'port outside'}")
            if same.get("val_rmse_keras_order") is not None:
                figures += (f"; with model.fit's seeded order (one permutation reused): "
                            f"{same['val_rmse_keras_order']:.4f} ({same['val_rmse_keras_order'] - port['val_rmse']:+.4f})")
            out.append((f"same recipe {kind}: >= 10x faster, RMSE within 0.01",
                        same["speedup"] >= 10 and abs(gap) <= 0.01, figures))
    best, svd, tuned = by.get(("cfnb-best", "bias")), by.get(("surprise-svd", "svd")), by.get(("surprise-svd-tuned", "svd"))
    if best and svd:
        ratio = best["fit_seconds"] / svd["fit_seconds"]
        rule = "RMSE <= 0.85 and " if best["data"] == "ml-latest-small" else ""
        ok = ratio <= 5 and (best["val_rmse"] <= 0.85 or best["data"] != "ml-latest-small")
        out.append((f"best recipe: {rule}fit <= 5x Surprise SVD", ok,
                    f"RMSE {best['val_rmse']:.4f}, {best['fit_seconds']:.2f} s = {ratio:.1f}x SVD's {svd['fit_seconds']:.2f} s"))
    if best and tuned:
        out.append(("best recipe: RMSE <= tuned SVD", best["val_rmse"] <= tuned["val_rmse"],
                    f"{best['val_rmse']:.4f} vs {tuned['val_rmse']:.4f}"))
    return out


SCALE_SIZES = (1_000_000, 5_000_000, ML25M[2])
SURPRISE_SAMPLE = 1_000_000


def shaped_like_25m(n_ratings: int, seed: int = 0):
    """Synthetic ratings with MovieLens 25M's users and movies, long-tailed popularity and planted
    user and movie biases (rating = 3.5 + user bias + movie bias + noise, in half stars)."""
    import pandas as pd

    from .data import Ratings

    n_users, n_items = ML25M[0], ML25M[1]
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9  # long-tailed like real movie popularity
    users = rng.integers(0, n_users, n_ratings, dtype=np.int32)
    items = rng.choice(n_items, n_ratings, p=popularity / popularity.sum()).astype(np.int32)
    signal = 3.5 + rng.normal(0, 0.4, n_users)[users] + rng.normal(0, 0.5, n_items)[items]
    stars = np.clip(np.round((signal + rng.normal(0, 0.8, n_ratings)) * 2) / 2, 0.5, 5.0).astype(np.float32)
    frame = pd.DataFrame({"user": users, "item": items, "rating": stars})
    return Ratings(frame, pd.RangeIndex(n_users, name="user"), pd.RangeIndex(n_items, name="item"),
                   scale=(0.5, 5.0), name=f"synthetic 25M-shaped, {n_ratings:,} ratings")


def _peak_gb() -> float:
    """This process's peak resident memory so far (ru_maxrss), in GB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return peak / 1e9


def scale(sizes=SCALE_SIZES, seed=0, surprise=True, log=print) -> list[dict]:
    """One epoch of the best recipe on 25M-shaped synthetic sets of each size (ascending), in ratings/s.

    With `surprise`, Surprise's SVD (default settings, one epoch) is timed in the same run on a sample of
    `SURPRISE_SAMPLE` ratings of the first set, as the single-core anchor. Peak memory is the process's
    ru_maxrss after each size: with sizes ascending, the peak of the largest set so far.
    """
    import keras

    from .recipes import BEST_RECIPE, fit_recipe

    rows = []
    lr, _ = BEST_RECIPE["fit"]["stages"][0]
    for k, n_ratings in enumerate(sorted(checks.whole("size", n) for n in sizes)):
        start = time.perf_counter()
        ratings = shaped_like_25m(n_ratings, seed)
        log(f"{ratings!r}: generated in {time.perf_counter() - start:.1f} s; load {os.getloadavg()[0]:.2f}")
        if surprise and k == 0:
            rows.append(_surprise_epoch(ratings, seed, log))
        fresh_session()
        start = time.perf_counter()
        model, history = fit_recipe(BEST_RECIPE, ratings, None, seed=seed, stages=[(lr, 1)])
        seconds = time.perf_counter() - start
        rows.append({"name": "cfnb-best-scale", "kind": "bias", "fit_seconds": seconds, "val_rmse": None,
                     "train_loss": history.rows[-1]["loss"] if history.rows else None, "epochs": 1,
                     "n_users": ratings.n_users, "n_items": ratings.n_items, "n_ratings": n_ratings,
                     "ratings_per_second": n_ratings / seconds, "peak_rss_gb": _peak_gb(),
                     "data": "synthetic-25m-shape", "seed": seed, "backend": keras.backend.backend(),
                     "engine": _engine_name(model)})
        log(f"  one epoch of {n_ratings:,}: {seconds:.1f} s (build, compile included), "
            f"{n_ratings / seconds / 1e6:.2f}M ratings/s; peak memory {rows[-1]['peak_rss_gb']:.2f} GB")
        del model, ratings
    return rows


def _surprise_epoch(ratings, seed, log) -> dict:
    """Surprise's SVD (default settings) for one epoch on a sample of `ratings`: the fit alone, timed."""
    SVD = _surprise()[0]
    frame = ratings.frame.iloc[:SURPRISE_SAMPLE]
    trainset = _trainset(frame, (0.5, 5.0))
    start = time.perf_counter()
    SVD(n_epochs=1, random_state=seed).fit(trainset)
    seconds = time.perf_counter() - start
    log(f"  Surprise SVD, one epoch of {len(frame):,}: {seconds:.2f} s, {len(frame) / seconds / 1e6:.2f}M ratings/s")
    return {"name": "surprise-svd-epoch", "kind": "svd", "fit_seconds": seconds, "val_rmse": None, "epochs": 1,
            "n_ratings": len(frame), "ratings_per_second": len(frame) / seconds, "data": "synthetic-25m-shape",
            "seed": seed, "backend": "", "engine": "scikit-surprise"}


def scale_targets(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """Issue 10's throughput targets against one `scale` run: (target, holds, the figures)."""
    ours = [r for r in rows if r["name"] == "cfnb-best-scale"]
    svd = next((r for r in rows if r["name"] == "surprise-svd-epoch"), None)
    out = []
    if svd and ours:
        best = max(r["ratings_per_second"] for r in ours)
        out.append(("best recipe >= Surprise SVD's ratings/s (aim 2x)", best >= svd["ratings_per_second"],
                    f"{best / 1e6:.2f}M vs {svd['ratings_per_second'] / 1e6:.2f}M ratings/s "
                    f"({best / svd['ratings_per_second']:.2f}x)"))
    full = next((r for r in ours if r["n_ratings"] == ML25M[2]), None)
    if full:
        out.append(("one 25M-shaped epoch <= 10 s at <= 2.5 GB", full["fit_seconds"] <= 10 and full["peak_rss_gb"] <= 2.5,
                    f"{full['fit_seconds']:.1f} s, {full['peak_rss_gb']:.2f} GB"))
    if len(ours) > 1:
        per_million = [r["fit_seconds"] / r["n_ratings"] * 1e6 for r in ours]
        out.append(("time grows linearly (seconds per million ratings within 2x across sizes)",
                    max(per_million) <= 2 * min(per_million),
                    ", ".join(f"{r['n_ratings'] / 1e6:g}M: {p:.2f} s" for r, p in zip(ours, per_million))))
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
    """A short description of where the benchmark ran."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "keras": keras.__version__,
            "tensorflow": tf.__version__, "load_before": os.getloadavg()[0]}


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table."""
    head = f"{'name':<19} {'kind':<5} {'fit s':>8} {'val RMSE':>9} {'speedup':>8}  engine"
    lines = [head, "-" * len(head)]
    for r in rows:
        rmse = "" if r.get("val_rmse") is None else f"{r['val_rmse']:.4f}"
        speed = "" if r.get("speedup") is None else f"{r['speedup']:.1f}x"
        lines.append(f"{r['name']:<19} {r['kind']:<5} {r['fit_seconds']:8.2f} {rmse:>9} {speed:>8}  {r.get('engine', '')}")
    return "\n".join(lines)


def main(args) -> int:
    """`cfnb bench` with parsed arguments (see `cfnb.cli`)."""
    info = machine()
    print(f"cfnb bench on {info['cpu']} ({info['cores']} cores), TensorFlow {info['tensorflow']}, "
          f"Keras {info['keras']}", flush=True)
    log = lambda text: print(text, flush=True)  # noqa: E731
    if args.ranking:
        return ranking_main(args, info, log)
    if args.scale:
        sizes = (args.scale_ratings,) if args.scale_ratings else SCALE_SIZES
        rows = scale(sizes, seed=args.seed, surprise=not args.no_surprise, log=log)
    else:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        rows = bench(args.data, args.seed, kinds, quick=args.quick, surprise=not args.no_surprise,
                     spread=args.spread, repeat=args.repeat, log=log)
    for r in rows:
        r["machine"] = info
    print("\n" + table(rows))
    if not args.scale:
        for target, ok, figures in targets(rows):
            print(f"{'HOLDS' if ok else 'SHORT'}  {target}: {figures}")
    else:
        for target, ok, figures in scale_targets(rows):
            print(f"{'HOLDS' if ok else 'SHORT'}  {target}: {figures}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v))
        print(f"wrote {args.json}")
    return 0


def add_parser(sub) -> None:
    """Add the `bench` subcommand to an argparse subparsers object."""
    p = sub.add_parser("bench", help="time the lesson port, cfnb (same and best recipe) and Surprise SVD")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON to PATH")
    p.add_argument("--data", default="ml-latest-small", help="MovieLens set (default ml-latest-small)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of every fit (default 0)")
    p.add_argument("--kinds", default="dot,bias,nn", help="comma-separated kinds (default dot,bias,nn)")
    p.add_argument("--quick", action="store_true", help="tiny synthetic ratings and short stages (smoke test)")
    p.add_argument("--spread", type=int, default=0, metavar="N",
                   help="also fit the same recipe with N other shuffle seeds (outside the timing) to show "
                        "how much its val RMSE moves with the batch order alone")
    p.add_argument("--repeat", type=int, default=2, metavar="N",
                   help="time the lesson port and cfnb's same recipe N times each, alternating, and keep the "
                        "fastest of each (default 2)")
    p.add_argument("--no-surprise", action="store_true", help="skip the Surprise SVD rows")
    p.add_argument("--scale", action="store_true",
                   help="time one epoch of the best recipe on synthetic MovieLens-25M-shaped sets of 1M, 5M and 25M "
                        "ratings (ratings/s, peak memory) and Surprise SVD's epoch on a 1M sample")
    p.add_argument("--scale-ratings", type=int, default=None, help=argparse_suppress())
    p.add_argument("--ranking", action="store_true",
                   help="time cfnb.ranking_metrics (k=10) for a bias model and the ranking baselines instead")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
