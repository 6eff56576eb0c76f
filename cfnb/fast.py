"""The fast engine on the TensorFlow backend: a chunk of steps in one XLA-compiled `tf.function`.

The driver (epochs, batch order, callbacks, validation, Stop) is `cfnb.engines.ChunkedEngine`; see
`cfnb.engines` for what a fast engine is and the two update rules. Here a chunk is a
`tf.while_loop` over a pre-shuffled index that updates the model's variables and the optimizer's
slots (Adam's moments, Adagrad's accumulators) in place.

* ``"exact"``: Keras adds the embeddings' l2 penalty ``l2 * sum(W**2)`` to the loss, so every row of
  every table gets the gradient ``2*l2*W`` at every step, and Keras's Adam is dense: rows absent
  from a batch still move (their momentum decays, the l2 gradient pulls them to 0 at about the
  learning rate per step). The engine does the same dense Adam step on whole tables, with the same
  formula, epsilon and bias correction (and, for a table without l2, whose gradient stays sparse
  on TensorFlow, Keras's sum of squared per-occurrence gradients in the second moment); only the
  order of float additions differs. `tests/test_fast.py` checks it against `model.fit` weight for
  weight.
* ``"lazy"``: Adam on the rows in the batch only, with `scatter_update`; Adagrad with `scatter_add`.

Keras's Adagrad is done the same way (``acc += g**2``, ``w -= lr * g / sqrt(acc + epsilon)``,
dense, with the same squares of a sparse gradient).

Dropout: Keras's TensorFlow dropout draws with the `AUTO_SELECT` random algorithm, which under
XLA on CPU costs about 0.4 ms a call; the engine runs Dropout layers with its own
``threefry`` stateless dropout seeded from (seed, layer, step) instead, which is the same
distribution (inverted dropout, keep probability ``1 - rate``) from a different random stream.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from . import backend
from .engines import UPDATES, ChunkedEngine, engine_for, unsupported  # noqa: F401 (the engines' API, as before)
from .models import MOVIE_IN, USER_IN


class FastEngine(ChunkedEngine):
    """Train one Keras model (and its Adam or Adagrad optimizer) many steps per TensorFlow call.

    Args: as `cfnb.engines.ChunkedEngine` (model, batch_size, update, jit_compile, seed).
    """

    BACKEND = "tensorflow"

    def __init__(self, model: keras.Model, batch_size: int = 64, update: str = "exact",
                 jit_compile: bool = True, seed: int | None = None):
        super().__init__(model, batch_size, update, jit_compile, seed)
        self._slots = [backend.optimizer_slots(self.optimizer, v) for v in self.variables]
        self._adagrad = isinstance(self.optimizer, keras.optimizers.Adagrad)
        self._chunk_fn = tf.function(self._chunk, jit_compile=self.jit_compile, reduce_retracing=True,
                                    autograph=False)
        self._eval_fn = tf.function(self._sq_errors, reduce_retracing=True, autograph=False)

    # ----------------------------------------------------------------------------- graph code
    def _forward(self, u, m, step, training):
        inputs = [u[:, None], m[:, None]]
        if not (training and self._dropouts):
            return tf.reshape(self.model(inputs, training=training), [-1])

        def operation(op):
            if id(op) in self._dropouts:
                return lambda x, **kw: _dropout(x, op.rate, self._seed + 7919 * self._dropouts[id(op)], step)
            return op

        return tf.reshape(backend.run_through_graph(self.model, inputs, operation), [-1])

    def _step(self, u, m, y, w):
        step = tf.cast(self.optimizer.iterations, tf.int32)
        with tf.GradientTape() as tape:
            pred = self._forward(u, m, step, training=True)
            total = tf.reduce_sum(w * tf.square(pred - y))
            loss = total / tf.maximum(tf.reduce_sum(w), 1.0)
        grads = tape.gradient(loss, self.variables)
        lr = tf.cast(self.optimizer.learning_rate, tf.float32)
        if self._adagrad:
            dense, lazy, scale = self._dense_adagrad, self._lazy_adagrad, lr
        else:
            t = tf.cast(self.optimizer.iterations + 1, tf.float32)
            b1, b2 = self.optimizer.beta_1, self.optimizer.beta_2
            scale = lr * tf.sqrt(1 - tf.pow(tf.constant(b2, tf.float32), t)) / (1 - tf.pow(tf.constant(b1, tf.float32), t))
            dense, lazy = self._dense_adam, self._lazy_adam
        for var, grad, slots, sparse in zip(self.variables, grads, self._slots, self._sparse):
            if grad is not None:
                (lazy if sparse else dense)(var, slots, grad, w, self._l2.get(id(var), 0.0), scale)
        self.optimizer.iterations.assign_add(1)
        return total

    def _dense_gradient(self, var, grad, l2):
        """The whole variable's gradient with the dense l2 term 2*l2*W, and its square as Keras
        accumulates it (a sparse gradient is squared row by row before duplicate rows are summed)."""
        if isinstance(grad, tf.IndexedSlices) and not l2:
            g2 = tf.IndexedSlices(tf.square(grad.values), grad.indices, grad.dense_shape)
            return tf.convert_to_tensor(grad), tf.convert_to_tensor(g2)
        g = tf.convert_to_tensor(grad)
        if l2:
            g = g + (2.0 * l2) * tf.convert_to_tensor(var.value)
        return g, tf.square(g)

    def _batch_rows(self, var, grad, w, l2):
        """(row ids, each occurrence's gradient with its l2 term 2*l2*w_row, the rows' weights)."""
        idx = tf.reshape(tf.cast(grad.indices, tf.int32), [-1])
        vals = tf.reshape(grad.values, [tf.shape(idx)[0], -1])
        rows = tf.gather(var.value, idx)
        if l2:
            vals = vals + (2.0 * l2) * rows * tf.reshape(w, [-1, 1])
        return idx, vals, rows

    def _dense_adam(self, var, slots, grad, w, l2, alpha):
        """Keras's Adam step on the whole variable."""
        mom, vel = slots
        g, g2 = self._dense_gradient(var, grad, l2)
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
        var.assign(_flush_denormals(var.value - (m_new * alpha) / (tf.sqrt(v_new) + self.optimizer.epsilon)))

    def _lazy_adam(self, var, slots, grad, w, l2, alpha):
        """Adam on the rows in the batch only; a row's gradient sums all its occurrences."""
        mom, vel = slots
        idx, vals, rows = self._batch_rows(var, grad, w, l2)
        gsum = _sum_duplicates(idx, vals)
        b1, b2, eps = self.optimizer.beta_1, self.optimizer.beta_2, self.optimizer.epsilon
        m_new = b1 * tf.gather(mom.value, idx) + (1 - b1) * gsum
        v_new = b2 * tf.gather(vel.value, idx) + (1 - b2) * tf.square(gsum)
        w_new = rows - alpha * m_new / (tf.sqrt(v_new) + eps)
        # Every occurrence of a row carries the same new values, so duplicate writes agree.
        mom.value.scatter_update(tf.IndexedSlices(m_new, idx))
        vel.value.scatter_update(tf.IndexedSlices(v_new, idx))
        var.value.scatter_update(tf.IndexedSlices(w_new, idx))

    def _dense_adagrad(self, var, slots, grad, w, l2, lr):
        """Keras's Adagrad step on the whole variable."""
        (acc,) = slots
        g, g2 = self._dense_gradient(var, grad, l2)
        acc_new = acc.value + g2
        acc.assign(acc_new)
        var.assign(_flush_denormals(var.value - (lr * g) / tf.sqrt(acc_new + self.optimizer.epsilon)))

    def _lazy_adagrad(self, var, slots, grad, w, l2, lr):
        """Adagrad on the rows in the batch only: each occurrence's squared gradient joins the
        accumulator, then every occurrence's step is taken (scatter-adds, no sort)."""
        (acc,) = slots
        idx, vals, _ = self._batch_rows(var, grad, w, l2)
        acc.value.scatter_add(tf.IndexedSlices(tf.square(vals), idx))
        step = (lr * vals) / tf.sqrt(tf.gather(acc.value, idx) + self.optimizer.epsilon)
        var.value.scatter_sub(tf.IndexedSlices(step, idx))

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

    # ---------------------------------------------------------------------- the driver's hooks
    def _arrays(self, users, movies, ratings):
        return tf.constant(users), tf.constant(movies), tf.constant(ratings)

    def _device_order(self, order):
        return tf.constant(order)

    def _run_chunk(self, data, order, n, start, count) -> float:
        return float(self._chunk_fn(*data, order, tf.constant(n), tf.constant(start), tf.constant(count)))

    def _sq_error_sum(self, users, movies, ratings) -> float:
        return float(self._eval_fn(users, movies, ratings))


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
