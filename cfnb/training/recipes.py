"""Named training recipes: the lesson's settings and cfnb's recommended (best val RMSE) one.

A recipe is a plain dict, so notebooks and widgets can show it, tweak it and pass it on::

    recipe = cfnb.recommended("bias")
    model = cfnb.build_model(recipe["kind"], ratings.n_users, ratings.n_items, **recipe["build"])
    history = cfnb.fit_stages(model, train, val, **recipe["fit"])

or in one call: ``model, history = cfnb.recipes.fit_recipe(recipe, train, val)``.
"""

from __future__ import annotations

import copy

from cfnb import backend
from cfnb.models.build import build_model
from cfnb.models.kinds import kind_of
from cfnb.training.fit import fit_stages
from cfnb.training.stages import LESSON_STAGES

#: The lesson, as the benchmark's "same recipe" rows run it: 4 epochs at 1e-2, 4 at 1e-3, batch 64,
#: the models' default hyperparameters, Keras's exact Adam maths (on the fast engine).
LESSON_RECIPE = {
    "kind": "bias",
    "build": {},
    "fit": {"stages": LESSON_STAGES, "batch_size": 64, "engine": "auto", "update": "exact", "optimizer": "adam"},
}

#: Keras's Adagrad with its accumulators starting at 0 (Keras's default 0.1 damps the first steps
#: of every row so much that 4 epochs end at RMSE ~1.06 instead of ~0.834 on ml-latest-small).
ADAGRAD = {"class_name": "Adagrad", "config": {"initial_accumulator_value": 0.0}}

#: cfnb's recommendation for the best validation RMSE in about a second (see docs/performance.md):
#: the bias model with its output squashed into (0, 5.5), l2 only on the factors, big batches,
#: and the lazy (rows-in-the-batch) Adagrad of `cfnb.training.engines` at one learning rate.
BEST_RECIPE = {
    "kind": "bias",
    "build": {"n_factors": 50, "l2": 1e-4, "bias_l2": 0.0, "y_range": (0.0, 5.5)},
    "fit": {"stages": ((0.05, 5),), "batch_size": 1024, "engine": "fast", "update": "lazy", "optimizer": ADAGRAD},
}


def recommended(kind: str = "bias") -> dict:
    """A copy of cfnb's recommended recipe for `kind` ("bias" is the benchmarked best; the other
    kinds get the same schedule, batch size, optimizer, y_range and lazy updates, untuned)."""
    defaults = kind_of(kind).defaults
    recipe = copy.deepcopy(BEST_RECIPE)
    recipe["kind"] = kind
    recipe["build"] = {k: v for k, v in recipe["build"].items() if k in defaults}
    return recipe


def fit_recipe(recipe: dict, train, val=None, seed: int | None = None, progress=False, **overrides):
    """Build the recipe's model for `train`'s sizes and fit it; returns `(model, history)`."""
    if seed is not None:  # the initial weights too
        backend.set_random_seed(int(seed))  # keras.utils.set_random_seed, without TensorFlow on JAX
    model = build_model(recipe["kind"], train.n_users, train.n_items, **recipe["build"])
    history = fit_stages(model, train, val, progress=progress, seed=seed, **{**recipe["fit"], **overrides})
    return model, history
