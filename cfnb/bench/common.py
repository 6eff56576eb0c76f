"""What the bench's jobs share: the seeded split, a clean session between rows, the one scoring
rule, the name of the engine that ran, and `cfnb bench` in a subprocess."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile

import keras

from cfnb.data.movielens import movielens
from cfnb.data.synthetic import synthetic
from cfnb.evaluation.predictions import evaluate


def load(data: str, seed: int, quick: bool):
    """The ratings and the seeded 80/20 split (tiny synthetic ratings with `quick`)."""
    ratings = (synthetic(n_users=80, n_items=120, n_ratings=4000, seed=seed) if quick
               else movielens(data, download=False))
    train, val = ratings.split(val_frac=0.2, seed=seed)
    return ratings, train, val


def fresh_session() -> None:
    """Drop Keras's global state and collect garbage between timed rows."""
    keras.backend.clear_session()
    gc.collect()


def val_rmse(model, val, train) -> float:
    """Val RMSE by one rule for every row, whether or not cfnb trained the model: `evaluate` with `train`."""
    return evaluate(model, val, train=train)["rmse"]


def engine_name(history) -> str:
    """What ran a fit, as `fit_stages` recorded it on the history (e.g. "cfnb.fast exact XLA (tensorflow)")."""
    return history.engine.label if history.engine is not None else "nothing ran"


def bench_subprocess(options, **env):
    """`cfnb bench OPTIONS` in a fresh process with `env` added: (the finished process, its rows or [])."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        done = subprocess.run([sys.executable, "-m", "cfnb", "bench", *options, "--json", out],
                              env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode:
            return done, []
        with open(out) as f:
            return done, json.load(f)
