"""The fast engine on the TensorFlow backend: a chunk of steps in one XLA-compiled `tf.function`,
one compiled loop shared by every live model of the same signature; docs/engines.md has the details."""

from __future__ import annotations

import json
import weakref

import keras
import numpy as np
import tensorflow as tf

from cfnb import backend
from cfnb.models.inputs import input_names
from cfnb.names import ITEM_IN
from cfnb.training.engines.chunked import ChunkedEngine


class FastEngine(ChunkedEngine):
    """Train one Keras model (and its Adam or Adagrad optimizer) many steps per TensorFlow call.

    Args: as `cfnb.training.engines.chunked.ChunkedEngine` (model, batch_size, update, jit_compile, seed).
    """

    BACKEND = "tensorflow"

    def __init__(self, model: keras.Model, batch_size: int = 64, update: str = "exact",
                 jit_compile: bool = True, seed: int | None = None):
        super().__init__(model, batch_size, update, jit_compile, seed)
        self._slots = [backend.optimizer_slots(self.optimizer, v) for v in self.variables]
        self._adagrad = isinstance(self.optimizer, keras.optimizers.Adagrad)
        self._l2_at = [self._l2.get(id(v), 0.0) for v in self.variables]
        self._roles = 1 if input_names(model)[:1] != [ITEM_IN] else -1  # (user, movie) or (movie, user)
        key = self._signature()
        loop = _LOOPS.get(key) if key is not None else None
        if loop is None:
            loop = _Loop(self, shared=key is not None)
            if key is not None:
                _LOOPS[key] = loop
        self._loop = loop  # held here: the shared table keeps it only while some engine does

    def _signature(self):
        """What a compiled loop depends on besides the variables' values: the model's graph and sizes,
        the optimizer's constants, the batch size and the update rule. None: not shareable (an
        optimizer whose learning rate is not a variable, or a model that cannot describe itself)."""
        opt = self.optimizer
        if not isinstance(opt.learning_rate, keras.Variable):
            return None
        try:
            graph = json.dumps(self.model.get_config(), sort_keys=True, default=repr)
            constants = {k: v for k, v in opt.get_config().items() if k not in ("name", "learning_rate")}
        except Exception:  # noqa: BLE001 - a model that cannot describe itself gets its own loop
            return None
        shapes = tuple((tuple(v.shape), str(v.dtype)) for v in self.variables)
        return (graph, type(opt).__name__, json.dumps(constants, sort_keys=True, default=repr), shapes,
                self.batch_size, self.update, self.jit_compile)

    def _state(self):
        """This model's variables, as the shared loop takes them (TensorFlow variables, not Keras's)."""
        opt = self.optimizer
        return ([v.value for v in self.variables], [[s.value for s in slots] for slots in self._slots],
                opt.iterations.value, opt.learning_rate.value if self._loop.shared else None,
                [v.value for v in self.model.non_trainable_variables])  # frozen layers read theirs too

    # ----------------------------------------------------------------------------- graph code
    # Traced once per signature, with this (the first) engine's model as the template: every tensor
    # read from a model's variables comes from the `state` argument, so the loop serves any model
    # with the same signature.
    def _forward(self, values, fixed, u, m, step, seed, training):
        """The model's output for the batch, its trainable variables read from `values` and the others
        (frozen layers, seed states) from the variables `fixed`."""
        inputs = [u[:, None], m[:, None]][::self._roles]  # by role: the model may list its item input first
        mapping = list(zip(self.model.trainable_variables, values)) + list(zip(
            self.model.non_trainable_variables, [tf.convert_to_tensor(v) for v in fixed]))
        with keras.StatelessScope(state_mapping=mapping):
            if not (training and self._dropouts):
                return tf.reshape(self.model(inputs, training=training), [-1])

            def operation(op):
                if id(op) in self._dropouts:
                    return lambda x, **kw: _dropout(x, op.rate, seed + 7919 * self._dropouts[id(op)], step)
                return op

            return tf.reshape(backend.run_through_graph(self.model, inputs, operation), [-1])

    def _step(self, state, u, m, y, w, seed):
        variables, slots, iterations, lr, fixed = state
        step = tf.cast(iterations, tf.int32)
        with tf.GradientTape() as tape:
            values = [tf.convert_to_tensor(v) for v in variables]
            pred = self._forward(values, fixed, u, m, step, seed, training=True)
            total = tf.reduce_sum(w * tf.square(pred - y))
            loss = total / tf.maximum(tf.reduce_sum(w), 1.0)
        grads = tape.gradient(loss, variables)
        lr = tf.cast(self.optimizer.learning_rate if lr is None else lr, tf.float32)
        if self._adagrad:
            dense, lazy, scale = self._dense_adagrad, self._lazy_adagrad, lr
        else:
            t = tf.cast(iterations + 1, tf.float32)
            b1, b2 = self.optimizer.beta_1, self.optimizer.beta_2
            scale = lr * tf.sqrt(1 - tf.pow(tf.constant(b2, tf.float32), t)) / (1 - tf.pow(tf.constant(b1, tf.float32), t))
            dense, lazy = self._dense_adam, self._lazy_adam
        for var, grad, var_slots, sparse, l2 in zip(variables, grads, slots, self._sparse, self._l2_at):
            if grad is not None:
                (lazy if sparse else dense)(var, var_slots, grad, w, l2, scale)
        iterations.assign_add(1)
        return total

    def _dense_gradient(self, var, grad, l2):
        """The whole variable's gradient with the dense l2 term 2*l2*W, and its square as Keras
        accumulates it (a sparse gradient is squared row by row before duplicate rows are summed)."""
        if isinstance(grad, tf.IndexedSlices) and not l2:
            g2 = tf.IndexedSlices(tf.square(grad.values), grad.indices, grad.dense_shape)
            return tf.convert_to_tensor(grad), tf.convert_to_tensor(g2)
        g = tf.convert_to_tensor(grad)
        if l2:
            g = g + (2.0 * l2) * tf.convert_to_tensor(var)
        return g, tf.square(g)

    def _batch_rows(self, var, grad, w, l2):
        """(row ids, each occurrence's gradient with its l2 term 2*l2*w_row, the rows' current values)."""
        idx = tf.reshape(tf.cast(grad.indices, tf.int32), [-1])
        vals = tf.reshape(grad.values, [tf.shape(idx)[0], -1])
        rows = tf.gather(var, idx)
        if l2:
            vals = vals + (2.0 * l2) * rows * tf.reshape(w, [-1, 1])
        return idx, vals, rows

    def _dense_adam(self, var, slots, grad, w, l2, alpha):
        """Keras's Adam step on the whole variable."""
        mom, vel = slots
        g, g2 = self._dense_gradient(var, grad, l2)
        b1, b2 = self.optimizer.beta_1, self.optimizer.beta_2
        m_new = mom + (g - mom) * (1 - b1)
        v_new = vel + (g2 - vel) * (1 - b2)
        # TensorFlow's own kernels run with denormals flushed to zero; XLA on CPU may not (it
        # depends on the thread), and moments that decay geometrically (dead ReLU units, rows
        # pinned at 0) pass through denormals that are ~100x slower to compute with. Flushing them
        # keeps Keras's (flushed) numbers and the speed.
        m_new, v_new = _flush_denormals(m_new), _flush_denormals(v_new)
        mom.assign(m_new)
        vel.assign(v_new)
        var.assign(_flush_denormals(var - (m_new * alpha) / (tf.sqrt(v_new) + self.optimizer.epsilon)))

    def _lazy_adam(self, var, slots, grad, w, l2, alpha):
        """Adam on the rows in the batch only; a row's gradient sums all its occurrences."""
        mom, vel = slots
        idx, vals, rows = self._batch_rows(var, grad, w, l2)
        gsum = _sum_duplicates(idx, vals)
        b1, b2, eps = self.optimizer.beta_1, self.optimizer.beta_2, self.optimizer.epsilon
        m_new = b1 * tf.gather(mom, idx) + (1 - b1) * gsum
        v_new = b2 * tf.gather(vel, idx) + (1 - b2) * tf.square(gsum)
        w_new = rows - alpha * m_new / (tf.sqrt(v_new) + eps)
        # Every occurrence of a row carries the same new values, so duplicate writes agree.
        mom.scatter_update(tf.IndexedSlices(m_new, idx))
        vel.scatter_update(tf.IndexedSlices(v_new, idx))
        var.scatter_update(tf.IndexedSlices(w_new, idx))

    def _dense_adagrad(self, var, slots, grad, w, l2, lr):
        """Keras's Adagrad step on the whole variable."""
        (acc,) = slots
        g, g2 = self._dense_gradient(var, grad, l2)
        acc_new = acc + g2
        acc.assign(acc_new)
        var.assign(_flush_denormals(var - (lr * g) / tf.sqrt(acc_new + self.optimizer.epsilon)))

    def _lazy_adagrad(self, var, slots, grad, w, l2, lr):
        """Adagrad on the rows in the batch only: each occurrence's squared gradient joins the
        accumulator, then every occurrence's step is taken (scatter-adds, no sort)."""
        (acc,) = slots
        idx, vals, _ = self._batch_rows(var, grad, w, l2)
        acc.scatter_add(tf.IndexedSlices(tf.square(vals), idx))
        step = (lr * vals) / tf.sqrt(tf.gather(acc, idx) + self.optimizer.epsilon)
        var.scatter_sub(tf.IndexedSlices(step, idx))

    def _chunk(self, state, users, items, ratings, order, n, start, count, seed):
        """Steps `start .. start+count-1` of an epoch whose shuffled order is `order` (steps, batch)."""
        stop = tf.minimum(start + count, tf.shape(order)[0])
        positions = tf.range(self.batch_size)

        def body(i, acc):
            idx = order[i]
            weight = tf.cast(i * self.batch_size + positions < n, tf.float32)
            total = self._step(state, tf.gather(users, idx), tf.gather(items, idx), tf.gather(ratings, idx), weight,
                               seed)
            return i + 1, acc + total

        _, acc = tf.while_loop(lambda i, acc: i < stop, body, (start, tf.constant(0.0)))
        return acc

    def _sq_errors(self, state, users, items, ratings):
        values = [tf.convert_to_tensor(v) for v in state[0]]
        pred = self._forward(values, state[4], users, items, tf.constant(0), tf.constant(0), training=False)
        return tf.reduce_sum(tf.square(pred - ratings))

    # ---------------------------------------------------------------------- the driver's hooks
    def _arrays(self, users, items, ratings):
        return tf.constant(users), tf.constant(items), tf.constant(ratings)

    def _device_order(self, order):
        return tf.constant(order)

    def _run_chunk(self, data, order, n, start, count) -> float:
        return float(self._loop.chunk(self._state(), *data, order, tf.constant(n), tf.constant(start),
                                      tf.constant(count), tf.constant(self._seed, tf.int32)))

    def _sq_error_sum(self, users, items, ratings) -> float:
        return float(self._loop.sq_errors(self._state(), users, items, ratings))


#: Compiled loops shared by engines of the same signature (`FastEngine._signature`), while any holds one.
_LOOPS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class _Loop:
    """The tf.functions of one signature: traced with the first engine's model as the template,
    then called with the variables of every model of that signature, so a new model of the same
    graph and shapes (the next fit in a notebook) reuses the compiled loop instead of compiling again.
    The template model stays in memory while any engine of its signature does."""

    def __init__(self, engine: FastEngine, shared: bool):
        self.shared = shared  # False: one engine's own loop, which reads its optimizer's learning rate itself
        self.chunk = tf.function(engine._chunk, jit_compile=engine.jit_compile, reduce_retracing=True,
                                 autograph=False)
        self.sq_errors = tf.function(engine._sq_errors, reduce_retracing=True, autograph=False)


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
    keep = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([seed, step]), alg="threefry") >= rate
    return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))
