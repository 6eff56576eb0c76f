"""The fast engines behind `fit_stages`: which one trains a model (`engine_for`, `unsupported`).

A fast engine runs a chunk of steps in one compiled call and writes the results into the model's
own variables and optimizer slots: on TensorFlow `tensorflow.FastEngine`, on JAX `jax.JaxEngine`,
both driven by `chunked.ChunkedEngine`. docs/engines.md explains the update rules and the logs."""

from __future__ import annotations

import keras

from cfnb import backend
from cfnb.training.engines.chunked import UPDATES, ChunkedEngine, unsupported  # noqa: F401 (the engines API)


def engine_class():
    """The fast engine class of the Keras backend in use (imported only then: no TensorFlow on JAX)."""
    if backend.name() == "jax":
        from cfnb.training.engines.jax import JaxEngine
        return JaxEngine
    from cfnb.training.engines.tensorflow import FastEngine
    return FastEngine


def engine_for(model: keras.Model, batch_size: int, update: str = "exact", jit_compile: bool = True,
               seed: int | None = None):
    """The model's fast engine for these settings, made once and kept on the model (it holds the
    compiled training loop); `seed`, if given, restarts its random streams."""
    engines = model.__dict__.setdefault("_cfnb_fast_engines", {})
    key = (int(batch_size), update, bool(jit_compile), id(model.optimizer))
    engine = engines.get(key)
    if engine is None:
        engine = engines[key] = engine_class()(model, batch_size, update, jit_compile, seed)
    elif seed is not None:
        engine.reseed(seed)
    return engine


