"""The rows of `cfnb bench`: the lesson port, cfnb with the same recipe and with the best one, and
Surprise SVD, on one seeded split, in alternated rounds (see docs/performance.md for the rules)."""

from __future__ import annotations

import os
import time

import keras

from cfnb import backend, checks
from cfnb.bench.common import bench_subprocess, engine_name, fresh_session, load, val_rmse
from cfnb.bench.port import PORT_BATCH, PORT_STAGES, lesson_port
from cfnb.bench.report import ratio_range
from cfnb.bench.surprise import SVD_TUNED, run_svd
from cfnb.data.synthetic import synthetic
from cfnb.models.build import build_model
from cfnb.training.fit import compile_model, fit_stages
from cfnb.training.recipes import BEST_RECIPE, fit_recipe

NAMES = ("lesson-port", "cfnb-same", "cfnb-best", "surprise-svd", "surprise-svd-tuned")


def run_port(kind, ratings, train, val, seed, stages):
    """(seconds, val RMSE, engine) of the lesson port."""
    fresh_session()  # what earlier rows built (graphs, compiled functions) must not slow this one
    start = time.perf_counter()
    model = lesson_port(kind, ratings.n_users, ratings.n_items, train.x, train.y, val.x, val.y, stages, seed)
    return time.perf_counter() - start, val_rmse(model, val, train), "keras model.fit"


def run_same(kind, ratings, train, val, seed, stages, shuffle_seed=None):
    """(seconds, val RMSE, engine) of `build_model` + `fit_stages` with the port's recipe."""
    fresh_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = build_model(kind, ratings.n_users, ratings.n_items)
    history = fit_stages(model, train, val, stages=stages, batch_size=PORT_BATCH, progress=False,
                         seed=seed if shuffle_seed is None else shuffle_seed)
    seconds = time.perf_counter() - start
    return seconds, val_rmse(model, val, train), engine_name(history)


def run_same_keras_order(kind, ratings, train, val, seed, stages):
    """Val RMSE of the same recipe with one batch order reused every epoch, as the port's `model.fit` does."""
    # under keras.utils.set_random_seed its seeded tf.data shuffle restarts each epoch: this isolates
    # the batch order from the maths when comparing with the lesson port
    from cfnb.training.engines.tensorflow import FastEngine  # imports TensorFlow: only on that backend

    keras.utils.set_random_seed(seed)
    model = compile_model(build_model(kind, ratings.n_users, ratings.n_items), stages[0][0])
    engine = FastEngine(model, PORT_BATCH, seed=seed)
    for lr, epochs in stages:
        model.optimizer.learning_rate = lr
        engine.fit(train.x, train.y, epochs=epochs, shuffle="once")
    return val_rmse(model, val, train)


def shuffle_spread(kind, ratings, train, val, seed, stages, n) -> list[float]:
    """Val RMSE of the same recipe and initial weights under `n` other shuffle (and dropout) seeds."""
    return [run_same(kind, ratings, train, val, seed, stages, shuffle_seed=seed + 1000 * k)[1]
            for k in range(1, n + 1)]


def run_best(kind, ratings, train, val, seed, recipe=None):
    """(seconds, val RMSE, engine) of `fit_recipe` with the best recipe."""
    fresh_session()
    start = time.perf_counter()
    model, history = fit_recipe({**(recipe or BEST_RECIPE), "kind": kind}, train, val, seed=seed)
    seconds = time.perf_counter() - start
    return seconds, val_rmse(model, val, train), engine_name(history)


def warm_up(kinds, seed=0) -> None:
    """One tiny untimed fit of the port and of cfnb per kind, so that no side pays first-call setup."""
    ratings = synthetic(n_users=20, n_items=30, n_ratings=600, seed=seed)
    train, val = ratings.split(val_frac=0.2, seed=seed)
    for kind in kinds:
        run_port(kind, ratings, train, val, seed, ((1e-2, 1),))
        run_same(kind, ratings, train, val, seed, ((1e-2, 1),))
    fresh_session()


def bench(data="ml-latest-small", seed=0, kinds=("dot", "bias", "nn"), quick=False, surprise=True,
          spread=0, repeat=2, same_only=False, log=print) -> list[dict]:
    """The rows, `repeat` alternated rounds of them, as one dict per row (its rounds, the fastest, speedups)."""
    # kind by kind the port goes first on even rounds and cfnb on odd ones; `fit_seconds` is the fastest
    # round, `fit_seconds_all` every round, and `speedup_range` the spread of the per-round ratio to the port
    repeat = checks.whole("repeat", repeat)
    ratings, train, val = load(data, seed, quick)
    stages = ((1e-2, 1), (1e-3, 1)) if quick else PORT_STAGES
    log(f"{ratings!r}; train {len(train):,} / val {len(val):,} (seed {seed}); backend {backend.name()}; "
        f"load {os.getloadavg()[0]:.2f}")
    warm_up(kinds, seed)
    sides = {}  # (name, kind) -> list of (seconds, rmse, engine), one per round

    def timed(row_name, kind, run):
        seconds, rmse, engine = result = run()
        sides.setdefault((row_name, kind), []).append(result)
        log(f"  {row_name:<19} {kind:<5} {seconds:8.2f} s  val RMSE {rmse:.4f}  ({engine})")

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
    name = "synthetic" if quick else data
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
    """Set `speedup` (the port's fastest over the row's) and `speedup_range` (min..max over rounds)."""
    # against the port of the row's kind on its backend; the bias port for the best recipe and SVD
    ports = {(r["backend"], r["kind"]): r for r in rows if r["name"] == "lesson-port"}
    for r in rows:
        port = ports.get((r["backend"], r["kind"]), ports.get((r["backend"], "bias")))
        r["speedup"] = port["fit_seconds"] / r["fit_seconds"] if port else None
        if port and r is not port:
            r["speedup_range"] = ratio_range(port, r)


def other_backend_rows(backend_name, args, log=print) -> list[dict]:
    """The port, same and best rows on another backend, from a subprocess ([] with a notice if it fails)."""
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
