"""A fast training engine for cfnb's models on the TensorFlow backend.

`model.fit` at the lesson's batch size of 64 spends most of its time outside the maths: Python,
tf.data and one graph launch per step. `FastEngine` runs a chunk of steps (up to a whole epoch)
inside ONE `tf.function` (XLA-compiled by default) as a `tf.while_loop` over a pre-shuffled index,
and updates the same `keras.Model`'s variables and the same Adam optimizer's slots in place, so a
model trained here behaves exactly like one trained by `model.fit` afterwards (saving, `predict`,
another `fit_stages` call that continues with the optimizer state, a switch to `engine="keras"`).

Two update rules, chosen with `update=`:

* ``"exact"`` (the default): the same maths as Keras. Keras adds the embeddings' l2 penalty
  ``l2 * sum(W**2)`` to the loss, so every row of every table gets the gradient ``2*l2*W`` at every
  step, and Keras's Adam is dense: rows absent from a batch still move (their momentum decays, the
  l2 gradient pulls them to 0 at about the learning rate per step). The engine does the same dense
  Adam step on whole tables, with the same formula, epsilon and bias correction (and, for a table
  without l2, whose gradient stays sparse, Keras's sum of squared per-occurrence gradients in the
  second moment); only the order of float additions differs. `tests/test_fast.py` checks one epoch against `model.fit` weight for
  weight.
* ``"lazy"``: a sparse Adam that reads and writes only the rows in the batch (their moments too),
  with the l2 gradient ``2*l2*w`` added for each (non-padding) occurrence of a row in the batch. This
  is *not* Keras's maths (rows absent from a batch stand still), is much cheaper on big tables, and
  is what `cfnb.recipes.BEST_RECIPE` uses; its figures come from its own benchmark rows.

Anything that is not an embedding table (Dense kernels and biases) always gets the exact dense Adam.

Dropout: Keras's TensorFlow dropout draws with the `AUTO_SELECT` random algorithm, which under
XLA on CPU costs about 0.4 ms a call; the engine runs Dropout layers with its own
``threefry`` stateless dropout seeded from (seed, layer, step) instead, which is the same
distribution (inverted dropout, keep probability ``1 - rate``) from a different random stream.

Callbacks follow Keras's protocol: `on_train_begin`, `on_epoch_begin`, `on_train_batch_begin` /
`on_train_batch_end` for every step (replayed right after the chunk that ran those steps, so batch
counters and per-batch readers such as the learning-rate spy in the tests see what `model.fit`
shows them), validation with `on_test_begin` / `on_test_batch_*` / `on_test_end` (also replayed,
one per validation batch, after one whole-set evaluation), `on_epoch_end` with logs
``{loss, val_loss, val_rmse}``, and `on_train_end`. `model.stop_training` (the widgets' Stop) is
checked after each chunk; chunks are sized to take about 0.1 s, so Stop and the progress bar react
about ten times a second. A KeyboardInterrupt lands between chunks (a chunk runs to its end inside
TensorFlow), so the weights and slots always hold a whole number of steps; `fit_stages` then rolls
back to the last recorded epoch.

Logs: ``loss`` is the epoch's mean training MSE (weighted by the ratings in each batch) plus the l2
penalty of the weights at the end of the epoch (Keras averages the penalty over the epoch's steps
instead: the two differ by the penalty's drift within one epoch); ``val_loss`` is the validation
MSE plus that penalty (as Keras's); ``val_rmse`` is the square root of the validation MSE alone.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from .models import MOVIE_IN, USER_IN

UPDATES = ("exact", "lazy")
_LAYERS = ("InputLayer", "Embedding", "Flatten", "Dot", "Add", "Concatenate", "Dense", "Dropout",
           "ScaledSigmoid", "Activation", "Rescaling", "Multiply")
_CHUNK_SECONDS = 0.1


def unsupported(model: keras.Model) -> str | None:
    """Why the fast engine cannot train `model` exactly as Keras would, or None if it can."""
    if keras.backend.backend() != "tensorflow":
        return f"the Keras backend is {keras.backend.backend()!r}, not 'tensorflow'"
    if getattr(model, "_run_through_graph", None) is None or not hasattr(model, "inputs"):
        return "not a functional Keras model"
    names = sorted(getattr(t, "name", "").split(":")[0] for t in model.inputs)
    if names != sorted([MOVIE_IN, USER_IN]):
        return f"inputs are {names}, not {USER_IN} and {MOVIE_IN}"
    for layer in model._flatten_layers(include_self=False):
        kind = type(layer).__name__
        if kind not in _LAYERS:
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
        if type(opt) is not keras.optimizers.Adam:
            return f"the optimizer is {type(opt).__name__}, not Adam"
        if opt.amsgrad or opt.weight_decay or opt.clipnorm or opt.clipvalue or opt.global_clipnorm \
                or opt.use_ema or getattr(opt, "gradient_accumulation_steps", None):
            return "the Adam optimizer has options (amsgrad, weight decay, clipping, EMA...) the engine lacks"
        loss = getattr(model, "loss", None)
        if loss not in ("mse", "mean_squared_error") and type(loss).__name__ != "MeanSquaredError":
            return f"the loss is {loss!r}, not mean squared error"
    return None


class FastEngine:
    """Train one Keras model (and its Adam optimizer) many steps per TensorFlow call.

    Args:
        model: a compiled cfnb-style model (see `unsupported`); its variables and optimizer slots
            are updated in place.
        batch_size: ratings per step.
        update: "exact" (Keras's dense maths) or "lazy" (only the rows in the batch); see the module
            docstring.
        jit_compile: compile the training loop with XLA (much faster on CPU; costs ~1 s once).
        seed: seeds the shuffling and the dropout masks; None draws a fresh seed.
    """

    def __init__(self, model: keras.Model, batch_size: int = 64, update: str = "exact",
                 jit_compile: bool = True, seed: int | None = None):
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}.")
        why = unsupported(model)
        if why:
            raise ValueError(f"The fast engine cannot train this model: {why}.")
        self.model, self.batch_size, self.update = model, int(batch_size), update
        self.optimizer = model.optimizer
        if not self.optimizer.built:
            self.optimizer.build(model.trainable_variables)
        self.variables = list(model.trainable_variables)
        self._l2 = _embedding_l2(model)
        self._sparse = [update == "lazy" and id(v) in self._l2 for v in self.variables]
        self._slots = [(self.optimizer._momentums[self.optimizer._get_variable_index(v)],
                        self.optimizer._velocities[self.optimizer._get_variable_index(v)])
                       for v in self.variables]
        self._dropouts = {id(layer): k for k, layer in enumerate(
            la for la in model._flatten_layers(include_self=False) if isinstance(la, keras.layers.Dropout))}
        self.reseed(seed)
        self._chunk_fn = tf.function(self._chunk, jit_compile=bool(jit_compile), reduce_retracing=True,
                                    autograph=False)
        self._eval_fn = tf.function(self._sq_errors, reduce_retracing=True, autograph=False)
        self._steps_per_call = 16
        self._data_key, self._data, self._once = None, None, None

    def reseed(self, seed: int | None) -> None:
        """Restart the shuffling and dropout random streams from `seed` (None: a fresh seed)."""
        seed = int(np.random.SeedSequence().entropy % (2 ** 31)) if seed is None else int(seed)
        self._rng = np.random.default_rng(seed)
        self._seed = seed % (2 ** 31 - 1)

    # ----------------------------------------------------------------------------- graph code
    def _forward(self, u, m, step, training):
        inputs = [u[:, None], m[:, None]]
        if not (training and self._dropouts):
            return tf.reshape(self.model(inputs, training=training), [-1])

        def operation(op):
            if id(op) in self._dropouts:
                return lambda x, **kw: _dropout(x, op.rate, self._seed + 7919 * self._dropouts[id(op)], step)
            return op

        return tf.reshape(self.model._run_through_graph(inputs, operation_fn=operation), [-1])

    def _step(self, u, m, y, w):
        step = tf.cast(self.optimizer.iterations, tf.int32)
        with tf.GradientTape() as tape:
            pred = self._forward(u, m, step, training=True)
            total = tf.reduce_sum(w * tf.square(pred - y))
            loss = total / tf.maximum(tf.reduce_sum(w), 1.0)
        grads = tape.gradient(loss, self.variables)
        t = tf.cast(self.optimizer.iterations + 1, tf.float32)
        lr = tf.cast(self.optimizer.learning_rate, tf.float32)
        b1, b2 = self.optimizer.beta_1, self.optimizer.beta_2
        alpha = lr * tf.sqrt(1 - tf.pow(tf.constant(b2, tf.float32), t)) / (1 - tf.pow(tf.constant(b1, tf.float32), t))
        for var, grad, (mom, vel), sparse in zip(self.variables, grads, self._slots, self._sparse):
            if grad is None:
                continue
            l2 = self._l2.get(id(var), 0.0)
            if sparse:
                self._lazy_adam(var, mom, vel, grad, w, l2, alpha)
            else:
                self._dense_adam(var, mom, vel, grad, l2, alpha)
        self.optimizer.iterations.assign_add(1)
        return total

    def _dense_adam(self, var, mom, vel, grad, l2, alpha):
        """Keras's Adam step on the whole variable, with the dense l2 gradient 2*l2*W."""
        eps = self.optimizer.epsilon
        value = tf.convert_to_tensor(var.value)
        if isinstance(grad, tf.IndexedSlices) and not l2:
            # Keras squares a sparse gradient row by row before summing duplicate rows.
            g = tf.convert_to_tensor(grad)
            g2 = tf.convert_to_tensor(tf.IndexedSlices(tf.square(grad.values), grad.indices, grad.dense_shape))
        else:
            g = tf.convert_to_tensor(grad)
            if l2:
                g = g + (2.0 * l2) * value
            g2 = tf.square(g)
        b1, b2 = self.optimizer.beta_1, self.optimizer.beta_2
        m_new = mom.value + (g - mom.value) * (1 - b1)
        v_new = vel.value + (g2 - vel.value) * (1 - b2)
        # TensorFlow's own kernels run with denormals flushed to zero; XLA on CPU may not (it
        # depends on the thread), and moments that decay geometrically (dead ReLU units, rows
        # pinned at 0) pass through denormals that are ~100x slower to compute with. Flushing them
        # keeps Keras's (flushed) numbers and the speed.
        m_new, v_new = _flush_denormals(m_new), _flush_denormals(v_new)
        mom.assign(m_new)
        vel.assign(v_new)
        var.assign(_flush_denormals(value - (m_new * alpha) / (tf.sqrt(v_new) + eps)))

    def _lazy_adam(self, var, mom, vel, grad, w, l2, alpha):
        """Adam on the rows in the batch only; a row's gradient sums all its occurrences."""
        idx = tf.reshape(tf.cast(grad.indices, tf.int32), [-1])
        vals = tf.reshape(grad.values, [tf.shape(idx)[0], -1])
        rows = tf.gather(var.value, idx)
        if l2:
            vals = vals + (2.0 * l2) * rows * tf.reshape(w, [-1, 1])
        gsum = _sum_duplicates(idx, vals)
        b1, b2, eps = self.optimizer.beta_1, self.optimizer.beta_2, self.optimizer.epsilon
        m_new = b1 * tf.gather(mom.value, idx) + (1 - b1) * gsum
        v_new = b2 * tf.gather(vel.value, idx) + (1 - b2) * tf.square(gsum)
        w_new = rows - alpha * m_new / (tf.sqrt(v_new) + eps)
        # Every occurrence of a row carries the same new values, so duplicate writes agree.
        mom.value.scatter_update(tf.IndexedSlices(m_new, idx))
        vel.value.scatter_update(tf.IndexedSlices(v_new, idx))
        var.value.scatter_update(tf.IndexedSlices(w_new, idx))

    def _chunk(self, users, movies, ratings, order, n, start, count):
        """Steps `start .. start+count-1` of an epoch whose shuffled order is `order` (steps, batch)."""
        stop = tf.minimum(start + count, tf.shape(order)[0])
        positions = tf.range(self.batch_size)

        def body(i, acc):
            idx = order[i]
            weight = tf.cast(i * self.batch_size + positions < n, tf.float32)
            total = self._step(tf.gather(users, idx), tf.gather(movies, idx), tf.gather(ratings, idx), weight)
            return i + 1, acc + total

        _, acc = tf.while_loop(lambda i, acc: i < stop, body, (start, tf.constant(0.0)))
        return acc

    def _sq_errors(self, users, movies, ratings):
        pred = self._forward(users, movies, tf.constant(0), training=False)
        return tf.reduce_sum(tf.square(pred - ratings))

    def penalty(self) -> float:
        """The l2 penalty `sum(l2 * sum(W**2))` over the embedding tables, as Keras adds to the loss."""
        return float(sum(l2 * float(tf.reduce_sum(tf.square(v.value))) for v in self.variables
                         for l2 in [self._l2.get(id(v), 0.0)] if l2))

    # ---------------------------------------------------------------------------- Python driver
    def _tensors(self, x, y):
        """The training arrays as tensors, converted once for all the stages of a fit."""
        source = (x[USER_IN], x[MOVIE_IN], y)
        if self._data_key is None or any(a is not b for a, b in zip(source, self._data_key)):
            self._data = (tf.constant(np.asarray(x[USER_IN], np.int32).reshape(-1)),
                          tf.constant(np.asarray(x[MOVIE_IN], np.int32).reshape(-1)),
                          tf.constant(np.asarray(y, np.float32).reshape(-1)))
            self._data_key = source  # held, so that no other array can take their ids
        return self._data

    def release(self) -> None:
        """Drop the cached training tensors (the compiled loop and the random streams stay)."""
        self._data_key, self._data = None, None

    def _order(self, n: int, shuffle=True) -> np.ndarray:
        """The epoch's order of 0..n-1 as (steps, batch); the last batch is padded with its own rows.

        `shuffle`: True draws a fresh permutation every epoch; False keeps the data order; "once"
        draws one permutation and reuses it for every later epoch and call, which is what Keras's
        `model.fit(shuffle=True)` does once a global seed is set (`keras.utils.set_random_seed`):
        its tf.data shuffle restarts from the same seed at every epoch.
        """
        steps = math.ceil(n / self.batch_size)
        if shuffle == "once":
            if self._once is None or len(self._once) != n:
                self._once = self._rng.permutation(n).astype(np.int32)
            perm = self._once
        else:
            perm = self._rng.permutation(n).astype(np.int32) if shuffle else np.arange(n, dtype=np.int32)
        pad = steps * self.batch_size - n
        if pad:  # padding repeats rows of the same batch (weight 0), so no new rows are touched
            last = perm[(steps - 1) * self.batch_size:]
            perm = np.concatenate([perm, np.resize(last, pad)])
        return perm.reshape(steps, self.batch_size)

    def evaluate(self, x, y) -> float:
        """Mean squared error of the model on `(x, y)` (no regularisation)."""
        if len(y) == 0:
            return float("nan")
        u, m, r = (tf.constant(np.asarray(a, d).reshape(-1)) for a, d in
                   ((x[USER_IN], np.int32), (x[MOVIE_IN], np.int32), (y, np.float32)))
        return float(self._eval_fn(u, m, r)) / len(y)

    def fit(self, x, y, epochs: int = 1, validation_data=None, callbacks=(), initial_epoch: int = 0,
            shuffle=True):
        """Train for `epochs` epochs, calling Keras callbacks as `model.fit` does (see module docstring).

        Returns:
            A list with one logs dict per finished epoch.
        """
        model, n = self.model, len(y)
        users, movies, ratings = self._tensors(x, y)
        steps = math.ceil(n / self.batch_size)
        cbs = keras.callbacks.CallbackList(list(callbacks), add_history=False, add_progbar=False, model=model,
                                           epochs=epochs, steps=steps, verbose=0)
        model.stop_training = False
        out = []
        cbs.on_train_begin()
        for epoch in range(initial_epoch, initial_epoch + epochs):
            cbs.on_epoch_begin(epoch)
            order = tf.constant(self._order(n, shuffle))
            total, done = 0.0, 0
            while done < steps and not model.stop_training:
                count = min(self._steps_per_call, steps - done)
                began = time.perf_counter()
                total += float(self._chunk_fn(users, movies, ratings, order, tf.constant(n),
                                              tf.constant(done), tf.constant(count)))
                self._resize(count, time.perf_counter() - began, first=done == 0 and epoch == initial_epoch)
                seen = min((done + count) * self.batch_size, n)
                batch_logs = {"loss": total / seen}
                for b in range(done, done + count):  # replay the per-step hooks for this chunk
                    cbs.on_train_batch_begin(b)
                    cbs.on_train_batch_end(b, batch_logs)
                    if model.stop_training:
                        break
                done += count
            seen = max(min(done * self.batch_size, n), 1)
            penalty = self.penalty()
            logs = {"loss": total / seen + penalty}
            if validation_data is not None and len(validation_data[1]):
                logs.update(self._validate(validation_data, cbs, penalty))
            cbs.on_epoch_end(epoch, logs)
            out.append(logs)
            if model.stop_training:
                break
        cbs.on_train_end(out[-1] if out else None)
        return out

    def _validate(self, validation_data, cbs, penalty):
        vx, vy = validation_data
        cbs.on_test_begin()
        mse = self.evaluate(vx, vy)
        logs = {"loss": mse + penalty, "rmse": math.sqrt(mse)}
        for b in range(math.ceil(len(vy) / self.batch_size)):  # replay Keras's per-batch test hooks
            cbs.on_test_batch_begin(b)
            cbs.on_test_batch_end(b, logs)
        cbs.on_test_end(logs)
        return {"val_loss": logs["loss"], "val_rmse": logs["rmse"]}

    def _resize(self, count, seconds, first):
        """Aim each call at ~0.1 s so that Stop and the progress bar respond promptly."""
        if first:
            return  # the first call pays for tracing and XLA compilation
        per_step = max(seconds / count, 1e-6)
        self._steps_per_call = int(min(max(_CHUNK_SECONDS / per_step, 1), 100_000))


def engine_for(model: keras.Model, batch_size: int, update: str = "exact", jit_compile: bool = True,
               seed: int | None = None) -> FastEngine:
    """The model's fast engine for these settings, made once and kept on the model (it holds the
    compiled training loop); `seed`, if given, restarts its random streams."""
    engines = model.__dict__.setdefault("_cfnb_fast_engines", {})
    key = (int(batch_size), update, bool(jit_compile), id(model.optimizer))
    engine = engines.get(key)
    if engine is None:
        engine = engines[key] = FastEngine(model, batch_size, update, jit_compile, seed)
    elif seed is not None:
        engine.reseed(seed)
    return engine


def _embedding_l2(model) -> dict[int, float]:
    """`id(embedding table) -> l2 factor` for every Embedding layer (0.0 when unregularised)."""
    out = {}
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Embedding):
            reg = layer.embeddings_regularizer
            out[id(layer.embeddings)] = float(reg.l2) if reg is not None else 0.0
    return out


def _sum_duplicates(idx, vals):
    """For each position, the sum of `vals` over all positions with the same index (XLA-friendly)."""
    if idx.shape[0] is not None and idx.shape[0] <= 128:  # a (B, B) equality matmul is cheapest
        same = tf.cast(tf.equal(idx[:, None], idx[None, :]), vals.dtype)
        return tf.matmul(same, vals)
    order = tf.argsort(idx)  # sort, mark runs, segment-sum: static shapes, so XLA compiles it
    sorted_idx = tf.gather(idx, order)
    starts = tf.concat([[1], tf.cast(sorted_idx[1:] != sorted_idx[:-1], tf.int32)], 0)
    segment = tf.cumsum(starts) - 1
    sums = tf.math.unsorted_segment_sum(tf.gather(vals, order), segment, tf.shape(idx)[0])
    segment_of = tf.scatter_nd(order[:, None], segment, tf.shape(idx))
    return tf.gather(sums, segment_of)


def _flush_denormals(x):
    """`x` with subnormal float32 values set to zero (what flush-to-zero arithmetic gives)."""
    return tf.where(tf.abs(x) < np.finfo(np.float32).tiny, tf.zeros_like(x), x)


def _dropout(x, rate, seed, step):
    """Inverted dropout with a threefry stateless draw (fast under XLA on CPU)."""
    if rate <= 0:
        return x
    if rate >= 1:
        return tf.zeros_like(x)
    keep = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([tf.constant(seed, tf.int32), step]),
                                       alg="threefry") >= rate
    return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))
