"""Training past one device or one process: a `tf.distribute` strategy (cfnb's strategy loop) on
TensorFlow, a `keras.distribution` (DataParallel, ModelParallel) on JAX. docs/distributed.md says how
each works and what was tested."""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np

from cfnb.errors import ArgumentError, ArgumentTypeError, CfnbError
from cfnb.names import ITEM_FACTORS, ITEM_IN, USER_IN
from cfnb.training.engines.strategy import StrategyLoop, _penalty


def check(model: keras.Model, strategy, distribution):
    """`(strategy, distribution)` for `fit_stages`, checked before anything changes: at most one, each of
    the right kind, on its backend, and the model's variables made in a strategy's scope."""
    backend = keras.backend.backend()
    if strategy is not None and distribution is not None:
        raise ArgumentError("Give fit_stages a strategy (TensorFlow) or a distribution (JAX), not both.")
    if strategy is not None:
        if backend != "tensorflow":
            raise ArgumentError(f"strategy= is a tf.distribute strategy, for the TensorFlow backend; the Keras "
                                f"backend is {backend!r}: use distribution=keras.distribution.DataParallel(...) "
                                "or ModelParallel(...) instead.")
        import tensorflow as tf

        if not isinstance(strategy, tf.distribute.Strategy):
            raise ArgumentTypeError(f"strategy must be a tf.distribute.Strategy (e.g. "
                                    f"tf.distribute.MultiWorkerMirroredStrategy()), got {type(strategy).__name__}.")
        outside = [v.path for v in model.variables if not strategy.extended.variable_created_in_scope(v.value)]
        if outside:
            raise CfnbError(f"The model's variables were not made under this strategy (first: {outside[0]!r}): "
                            "build the model inside `with strategy.scope():`.")
    if distribution is not None:
        if not isinstance(distribution, (keras.distribution.DataParallel, keras.distribution.ModelParallel)):
            raise ArgumentTypeError(f"distribution must be a keras.distribution.DataParallel or ModelParallel, "
                                    f"got {type(distribution).__name__}.")
        if backend != "jax":
            raise ArgumentError(f"distribution= needs the JAX backend (Keras's distribution API is JAX-only; the "
                                f"backend is {backend!r}): on TensorFlow use strategy=tf.distribute....Strategy().")
    active = in_effect(distribution)
    if active is not None and backend == "jax" and active.device_mesh.devices.size > 1:
        local = [v.path for v in model.variables
                 if len(getattr(getattr(v.value, "sharding", None), "device_set", ())) == 1]
        if local:
            raise CfnbError(f"The model's variables were not made under this distribution (first: {local[0]!r} "
                            "sits on one device): build the model inside `with distribution.scope():`.")
    return strategy, distribution


def in_effect(distribution=None):
    """The keras.distribution a fit runs under: the one given, else the global one (or None)."""
    return distribution if distribution is not None else keras.distribution.distribution()


def scope(strategy=None, distribution=None):
    """The strategy's or the distribution's scope (variables made in it are placed by it), else nothing."""
    if strategy is not None:
        return strategy.scope()
    if distribution is not None:
        return distribution.scope()
    return contextlib.nullcontext()


def why_not_fast(strategy=None, distribution=None) -> str | None:
    """Why the single-device fast engine must not train here (a strategy or a distribution), or None."""
    if strategy is not None:
        return "a distribution strategy was given"
    if in_effect(distribution) is not None:
        return "a keras.distribution is in effect"
    return None


def runner(model: keras.Model, engine: str, strategy, distribution, batch_size: int, seed: int | None):
    """`(run, "strategy" | "distribution")` for a fit under a strategy or a distribution, where
    `run(x, y, epochs, validation_data, callbacks)`; `(None, None)` when `fit_stages` should pick among its
    one-device engines (or `engine="fast"` refuses)."""
    if engine == "fast":
        return None, None
    if strategy is not None:
        run = _strategy_runner(model, engine, strategy, batch_size, seed)
        return run, ("strategy" if run is not None else None)
    distribution = in_effect(distribution)
    if distribution is not None and keras.backend.backend() == "jax":
        return _distribution_runner(model, distribution, batch_size), "distribution"
    return None, None


def _distribution_runner(model, distribution, batch_size):
    """Keras's `model.fit` under a keras.distribution, with every batch split evenly over its batch axis.

    JAX needs each batch to divide by the number of devices on the mesh's batch axis. `batch_size`
    must; when the training set's last batch would not, the set gets a few (fewer than the devices)
    zero-weight copies of its first ratings, which add nothing to the loss but count in the mean of
    the batch they land in, as Keras's "sum over batch size" counts every row. Validation predicts
    the validation set (padded the same way, the copies' predictions dropped) after each epoch, so
    `val_rmse` is exactly that of the set given.
    """
    mesh = distribution.device_mesh
    devices = max(int(mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)]), 1)
    devices = max(devices // _process_count(), 1)  # each process feeds its own share of the batch axis
    if batch_size % devices:
        raise ArgumentError(f"batch_size={batch_size} does not split evenly over the {devices} devices of the "
                            f"distribution's batch axis {distribution.batch_dim_name!r}: use a multiple of {devices}.")

    def run(x, y, epochs, validation_data, callbacks):
        x, y, weight = _padded(x, y, batch_size, devices)
        validate = [] if validation_data is None else [_Validation(*validation_data, batch_size, devices)]
        model.fit(x, y, sample_weight=weight, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                  callbacks=[*validate, *callbacks])
    return run


def _padded(x, y, batch_size, devices):
    """`(x, y, weight)` with zero-weight copies of the first rows so that the last batch divides by
    `devices` (weight None when nothing was added)."""
    extra = (-(len(y) % batch_size)) % devices
    if not extra:
        return x, y, None
    weight = np.concatenate([np.ones(len(y), np.float32), np.zeros(extra, np.float32)])
    return {k: np.concatenate([v, v[:extra]]) for k, v in x.items()}, np.concatenate([y, y[:extra]]), weight


class _Validation(keras.callbacks.Callback):
    """At each epoch's end, put the validation set's `val_loss` (MSE plus the l2 penalty, as the fast
    engine reports it) and `val_rmse` into the logs, for the callbacks after it."""

    def __init__(self, x, y, batch_size, devices):
        super().__init__()
        self.x, _, _ = _padded(x, y, batch_size, devices)
        self.y, self.batch_size = np.asarray(y, np.float32).reshape(-1), batch_size

    def on_epoch_end(self, epoch, logs=None):
        pred = self.model.predict(self.x, batch_size=self.batch_size, verbose=0).reshape(-1)[:len(self.y)]
        mse = float(np.mean((pred - self.y) ** 2))
        if logs is not None:
            logs.update(val_loss=mse + _penalty(self.model), val_rmse=math.sqrt(mse))


def _process_count() -> int:
    import jax

    return jax.process_count()


def _strategy_runner(model, engine, strategy, batch_size, seed):
    """Through `StrategyLoop`; None for `engine="keras"` (or a model the loop does not know) on one worker."""
    import tensorflow as tf

    why = strategy_problem(model)
    if engine == "keras" or why:
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise CfnbError(f"Keras {keras.__version__}'s model.fit fails under MultiWorkerMirroredStrategy with "
                            "dict inputs, so " + (f"this model cannot train there: cfnb's strategy loop needs "
                                                  f"cfnb's inputs and MSE loss, and {why}." if why else
                                                  "use engine='auto' (cfnb's strategy loop)."))
        return None
    loops = model.__dict__.setdefault("_cfnb_strategy_loops", {})
    key = (id(strategy), int(batch_size), id(model.optimizer))
    loop = loops.get(key)
    if loop is None:
        loop = loops[key] = StrategyLoop(model, strategy, batch_size, seed)
    else:
        loop.reseed(seed)

    def run(x, y, epochs, validation_data, callbacks):
        return loop.fit(x, y, epochs=epochs, validation_data=validation_data, callbacks=callbacks)
    return run


def item_sharding(devices=None, model_devices: int | None = None):
    """A JAX `keras.distribution.ModelParallel` that splits the movie factor table's rows across devices.

    Args:
        devices: the devices (default: every device, `keras.distribution.list_devices()`).
        model_devices: how many devices share the table (default: all); the rest of the mesh splits
            the batch, so `len(devices)` must be a multiple of it.

    Returns:
        A `ModelParallel` on a `("batch", "model")` device mesh whose layout puts the rows of
        `movie_factors/embeddings` (and its optimizer moments) on the "model" axis; everything else is
        replicated. Build the model and fit inside its `scope()` (or `fit_stages(..., distribution=)`).
    """
    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    shards = len(devices) if model_devices is None else int(model_devices)
    if shards < 1 or len(devices) % shards:
        raise ArgumentError(f"model_devices must divide the {len(devices)} devices, got {model_devices!r}.")
    mesh = keras.distribution.DeviceMesh((len(devices) // shards, shards), ("batch", "model"), devices)
    layout = keras.distribution.LayoutMap(mesh)
    layout[f"{ITEM_FACTORS}/embeddings"] = ("model", None)
    return keras.distribution.ModelParallel(layout_map=layout, batch_dim_name="batch")


def strategy_problem(model: keras.Model) -> str | None:
    """Why `StrategyLoop` cannot train `model`, or None if it can (cfnb inputs, MSE loss)."""
    names = sorted(getattr(t, "name", "").split(":")[0] for t in getattr(model, "inputs", None) or [])
    if names != sorted([ITEM_IN, USER_IN]):
        return f"its inputs are {names}, not {USER_IN} and {ITEM_IN}"
    loss = getattr(model, "loss", None)
    loss = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not (loss is keras.losses.mean_squared_error or isinstance(loss, keras.losses.MeanSquaredError)):
        return f"its loss is {model.loss!r}, not mean squared error"
    return None


movie_sharding = item_sharding  # the name of 0.1.0
