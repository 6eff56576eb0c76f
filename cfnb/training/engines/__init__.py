"""The fast engines behind `fit_stages`: which one trains a model, and the Python driver they share.

`model.fit` at the lesson's batch size of 64 spends most of its time outside the maths: Python, the
data pipeline and one compiled-call launch per step. A fast engine runs a chunk of steps (up to a
whole epoch) in ONE compiled call over a pre-shuffled index, and writes the results into the same
`keras.Model`'s variables and the same optimizer's slots (Adam's moments, Adagrad's accumulators),
so a model trained here behaves exactly like one trained by `model.fit` afterwards (saving, `predict`, another `fit_stages` call that
continues with the optimizer state, a switch to `engine="keras"`). There is one per backend:

* TensorFlow: `cfnb.fast.FastEngine`, a `tf.while_loop` in one XLA-compiled `tf.function`;
* JAX: `cfnb.fast_jax.JaxEngine`, a `jax.lax.fori_loop` over `model.stateless_call` in one `jax.jit`.

Both take the same arguments and offer the same methods (`fit`, `evaluate`, `penalty`, `reseed`,
`release`, `label`), and `engine_for` picks the backend's. They train with the model's optimizer,
Keras's Adam or Adagrad (`OPTIMIZERS`), by one of two update rules, chosen with `update=`:

* ``"exact"`` (the default): the same maths as Keras's `model.fit` on that backend (checked weight
  for weight by `tests/test_fast.py`); see each engine's docstring for how.
* ``"lazy"``: a sparse update that reads and writes only the embedding rows in the batch (and
  their optimizer slots), with the l2 gradient ``2*l2*w`` added for each (non-padding) occurrence
  of a row. This is *not* Keras's maths (rows absent from a batch stand still), is much cheaper on
  big tables, and is what `cfnb.recipes.BEST_RECIPE` uses. Adam sums a row's occurrences first
  and then takes Keras's step on the sum; Adagrad adds each occurrence's squared gradient to the
  accumulator and moves the row by ``lr * g / sqrt(acc + epsilon)``, g summed over occurrences
  (which is what Keras's Adagrad on TensorFlow does with an unregularised embedding's sparse
  gradient). Layers other than embeddings always get the optimizer's dense Keras step.

Callbacks follow Keras's protocol: `on_train_begin`, `on_epoch_begin`, `on_train_batch_begin` /
`on_train_batch_end` for every step (replayed right after the chunk that ran those steps, so batch
counters and per-batch readers such as the learning-rate spy in the tests see what `model.fit`
shows them), validation with `on_test_begin` / `on_test_batch_*` / `on_test_end` (also replayed,
one per validation batch, after one whole-set evaluation), `on_epoch_end` with logs
``{loss, val_loss, val_rmse}``, and `on_train_end`. `model.stop_training` (the widgets' Stop) is
checked after each chunk; chunks are sized to take about 0.1 s, so Stop and the progress bar react
about ten times a second. A KeyboardInterrupt lands between chunks (a chunk runs to its end inside
the compiled call), so the weights and slots always hold a whole number of steps; `fit_stages` then
rolls back to the last recorded epoch.

Logs: ``loss`` is the epoch's mean training MSE (weighted by the ratings in each batch) plus the l2
penalty of the weights at the end of the epoch (Keras averages the penalty over the epoch's steps
instead: the two differ by the penalty's drift within one epoch); ``val_loss`` is the validation
MSE plus that penalty (as Keras's); ``val_rmse`` is the square root of the validation MSE alone.
"""

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


