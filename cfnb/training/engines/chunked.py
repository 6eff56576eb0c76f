"""The driver the fast engines share (epochs, batch order, callbacks, validation, Stop), and what
they support: cfnb's layers, Keras's Adam and Adagrad, the "exact" and "lazy" update rules."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from cfnb import backend
from cfnb.names import ITEM_IN, USER_IN

UPDATES = ("exact", "lazy")


OPTIMIZERS = (keras.optimizers.Adam, keras.optimizers.Adagrad)  # Keras's own classes, not subclasses


BACKENDS = ("tensorflow", "jax")


LAYERS = ("InputLayer", "Embedding", "Flatten", "Dot", "Add", "Concatenate", "Dense", "Dropout",
          "ScaledSigmoid", "Activation", "Rescaling", "Multiply")


CHUNK_SECONDS = 0.1


def embedding_l2(model) -> dict[int, float]:
    """`id(embedding table) -> l2 factor` for every Embedding layer (0.0 when unregularised)."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            reg = layer.embeddings_regularizer
            out[id(layer.embeddings)] = float(reg.l2) if reg is not None else 0.0
    return out


class ChunkedDriver:
    """The loop every chunked trainer shares: epochs of chunks of steps, Keras's callbacks replayed
    per step, the epoch's loss with the l2 penalty, validation, and Stop.

    A trainer gives `batch_size`, `model`, `_steps_per_call` and the hooks `_tensors(x, y)`,
    `_epoch_order(n, shuffle)`, `_run_chunk(data, order, n, start, count) -> summed squared error`,
    `_after_chunk(count, seconds, first) -> stop?`, `_after_epoch() -> stop?`, `penalty()` and
    `evaluate(x, y)`. The fast engines and the strategy loop are the two kinds.
    """

    def fit(self, x, y, epochs: int = 1, validation_data=None, callbacks=(), initial_epoch: int = 0,
            shuffle=True):
        """Train for `epochs` epochs, calling Keras callbacks as `model.fit` does (docs/engines.md).

        Returns:
            A list with one logs dict per finished epoch.
        """
        model, n = self.model, len(y)
        data = self._tensors(x, y)
        steps = math.ceil(n / self.batch_size)
        cbs = keras.callbacks.CallbackList(list(callbacks), add_history=False, add_progbar=False, model=model,
                                           epochs=epochs, steps=steps, verbose=0)
        model.stop_training = False
        out = []
        cbs.on_train_begin()
        for epoch in range(initial_epoch, initial_epoch + epochs):
            cbs.on_epoch_begin(epoch)
            order = None  # the last epoch's order goes before this one's is made (memory at 25M)
            order = self._epoch_order(n, shuffle)  # on the device once per epoch
            total, done = 0.0, 0
            while done < steps:
                count = min(self._steps_per_call, steps - done)
                began = time.perf_counter()
                total += self._run_chunk(data, order, n, done, count)
                seconds, first = time.perf_counter() - began, done == 0 and epoch == initial_epoch
                done += count
                batch_logs = {"loss": total / min(done * self.batch_size, n)}
                for b in range(done - count, done):  # replay the per-step hooks for this chunk
                    cbs.on_train_batch_begin(b)
                    cbs.on_train_batch_end(b, batch_logs)
                    if model.stop_training:
                        break
                if self._after_chunk(count, seconds, first):
                    break
            penalty = self.penalty()
            logs = {"loss": total / max(min(done * self.batch_size, n), 1) + penalty}
            if validation_data is not None and len(validation_data[1]):
                logs.update(self._validate(validation_data, cbs, penalty))
            cbs.on_epoch_end(epoch, logs)
            out.append(logs)
            if self._after_epoch():
                break
        cbs.on_train_end(out[-1] if out else None)
        return out

    def _validate(self, validation_data, cbs, penalty):
        """`val_loss` (MSE plus the penalty) and `val_rmse`, with Keras's test hooks replayed per batch."""
        vx, vy = validation_data
        cbs.on_test_begin()
        mse = self.evaluate(vx, vy)
        logs = {"loss": mse + penalty, "rmse": math.sqrt(mse)}
        for b in range(math.ceil(len(vy) / self.batch_size)):
            cbs.on_test_batch_begin(b)
            cbs.on_test_batch_end(b, logs)
        cbs.on_test_end(logs)
        return {"val_loss": logs["loss"], "val_rmse": logs["rmse"]}


class ChunkedEngine(ChunkedDriver):
    """The Python side of a fast engine: epochs, batch order, chunk sizing, callbacks, validation.

    A backend's engine adds `_arrays(u, m, r)` (device copies of int32/int32/float32 vectors),
    `_device_order(order)` (the same for an epoch's (steps, batch) order),
    `_run_chunk(data, order, n, start, count) -> summed squared error of those steps` (which
    leaves the results in the model's variables) and `_sq_error_sum(u, m, r) -> float`.

    Args:
        model: a compiled cfnb-style model (see `unsupported`); its variables and optimizer slots
            are updated in place.
        batch_size: ratings per step.
        update: "exact" (Keras's dense maths) or "lazy" (only the rows in the batch); see above.
        jit_compile: compile the training loop with XLA (TensorFlow; JAX always compiles).
        seed: seeds the shuffling and the dropout masks; None draws a fresh seed.
    """

    BACKEND = ""  # the Keras backend an engine class runs on

    def __init__(self, model: keras.Model, batch_size: int = 64, update: str = "exact",
                 jit_compile: bool = True, seed: int | None = None):
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}.")
        if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        why = unsupported(model)
        if why:
            raise ValueError(f"The fast engine cannot train this model: {why}.")
        if backend.name() != self.BACKEND:
            raise ValueError(f"{type(self).__name__} runs on the {self.BACKEND} backend, not {backend.name()!r}.")
        self.model, self.batch_size, self.update = model, int(batch_size), update
        self.jit_compile = bool(jit_compile)
        self.optimizer = model.optimizer
        self.variables = list(model.trainable_variables)
        self._l2 = embedding_l2(model)
        self._sparse = [update == "lazy" and id(v) in self._l2 for v in self.variables]
        self._dropouts = {id(layer): k for k, layer in enumerate(
            la for la in model.layers if isinstance(la, keras.layers.Dropout))}
        self.reseed(seed)
        self._steps_per_call = 16
        self._data_key, self._data, self._once = None, None, None

    @property
    def label(self) -> str:
        """What runs the steps, for benchmark rows and reports (e.g. "cfnb.fast exact XLA")."""
        return f"cfnb.fast {self.update}" + (" XLA" if self.jit_compile else "") + f" ({self.BACKEND})"

    def reseed(self, seed: int | None) -> None:
        """Restart the shuffling and dropout random streams from `seed` (None: a fresh seed)."""
        seed = int(np.random.SeedSequence().entropy % (2 ** 31)) if seed is None else int(seed)
        self._rng = np.random.default_rng(seed)
        self._seed = seed % (2 ** 31 - 1)

    def penalty(self) -> float:
        """The l2 penalty `sum(l2 * sum(W**2))` over the embedding tables, as Keras adds to the loss."""
        return float(sum(l2 * float(np.square(keras.ops.convert_to_numpy(v), dtype=np.float64).sum())
                         for v in self.variables for l2 in [self._l2.get(id(v), 0.0)] if l2))

    def _tensors(self, x, y):
        """The training arrays on the device, converted once for all the stages of a fit."""
        source = (x[USER_IN], x[ITEM_IN], y)
        if self._data_key is None or any(a is not b for a, b in zip(source, self._data_key)):
            self._data = self._arrays(*_vectors(x, y))
            self._data_key = source  # held, so that no other array can take their ids
        return self._data

    def release(self) -> None:
        """Drop the cached training arrays (the compiled loop and the random streams stay)."""
        self._data_key, self._data = None, None

    def _permutation(self, n: int) -> np.ndarray:
        """`rng.permutation(n)` as int32, shuffled in place: the same order without the int64 copy
        (200 MB at 25M ratings, at the peak of a big fit)."""
        perm = np.arange(n, dtype=np.int32)
        self._rng.shuffle(perm)
        return perm

    def _order(self, n: int, shuffle=True) -> np.ndarray:
        """The epoch's order of 0..n-1 as (steps, batch); the last batch is padded with its own rows.

        `shuffle`: True draws a fresh permutation every epoch; False keeps the data order; "once"
        draws one permutation and reuses it for every later epoch and call, which is what Keras's
        `model.fit(shuffle=True)` on TensorFlow does once a global seed is set
        (`keras.utils.set_random_seed`): its tf.data shuffle restarts from the same seed each epoch.
        """
        steps = math.ceil(n / self.batch_size)
        if shuffle == "once":
            if self._once is None or len(self._once) != n:
                self._once = self._permutation(n)
            perm = self._once
        else:
            perm = self._permutation(n) if shuffle else np.arange(n, dtype=np.int32)
        pad = steps * self.batch_size - n
        if pad:  # padding repeats rows of the same batch (weight 0), so no new rows are touched
            last = perm[(steps - 1) * self.batch_size:]
            perm = np.concatenate([perm, np.resize(last, pad)])
        return perm.reshape(steps, self.batch_size)

    def evaluate(self, x, y) -> float:
        """Mean squared error of the model on `(x, y)` (no regularisation)."""
        if len(y) == 0:
            return float("nan")
        return self._sq_error_sum(*self._arrays(*_vectors(x, y))) / len(y)

    def _epoch_order(self, n, shuffle):
        return self._device_order(self._order(n, shuffle))

    def _after_chunk(self, count, seconds, first) -> bool:
        self._resize(count, seconds, first)
        return self.model.stop_training

    def _after_epoch(self) -> bool:
        return self.model.stop_training

    def _resize(self, count, seconds, first):
        """Aim each call at ~0.1 s so that Stop and the progress bar respond promptly."""
        if first:
            return  # the first call pays for tracing and compilation
        per_step = max(seconds / count, 1e-6)
        self._steps_per_call = int(min(max(CHUNK_SECONDS / per_step, 1), 100_000))


def _vectors(x, y):
    """Users, movies and ratings as flat int32, int32, float32 numpy vectors."""
    return (np.asarray(x[USER_IN], np.int32).reshape(-1), np.asarray(x[ITEM_IN], np.int32).reshape(-1),
            np.asarray(y, np.float32).reshape(-1))


def unsupported(model: keras.Model) -> str | None:
    """Why no fast engine can train `model` exactly as Keras would, or None if one can."""
    if backend.name() not in BACKENDS:
        return f"the Keras backend is {backend.name()!r}; the fast engines run on {' and '.join(BACKENDS)}"
    if not hasattr(model, "inputs"):
        return "not a functional Keras model"
    names = sorted(getattr(t, "name", "").split(":")[0] for t in model.inputs)
    if names != sorted([ITEM_IN, USER_IN]):
        return f"inputs are {names}, not {USER_IN} and {ITEM_IN}"
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in LAYERS:
            return f"layer {layer.name!r} is a {kind}, which the fast engine does not know"
        regs = [getattr(layer, a, None) for a in ("kernel_regularizer", "bias_regularizer",
                                                    "activity_regularizer")]
        if any(r is not None for r in regs):
            return f"layer {layer.name!r} has a regularizer the fast engine does not apply"
        reg = getattr(layer, "embeddings_regularizer", None)
        if reg is not None and not (type(reg) is keras.regularizers.L2):
            return f"embedding {layer.name!r} has a {type(reg).__name__} regularizer (only L2 is supported)"
    opt = getattr(model, "optimizer", None)
    if getattr(model, "compiled", False) and opt is not None:
        if type(opt) not in OPTIMIZERS:
            return f"the optimizer is {type(opt).__name__}, not {' or '.join(c.__name__ for c in OPTIMIZERS)}"
        if getattr(opt, "amsgrad", False) or opt.weight_decay or opt.clipnorm or opt.clipvalue \
                or opt.global_clipnorm or opt.use_ema or getattr(opt, "gradient_accumulation_steps", None):
            return (f"the {type(opt).__name__} optimizer has options (amsgrad, weight decay, clipping, EMA...) "
                    "the engine lacks")
        loss = getattr(model, "loss", None)
        if loss not in ("mse", "mean_squared_error") and type(loss).__name__ != "MeanSquaredError":
            return f"the loss is {loss!r}, not mean squared error"
    return backend.missing(model)
