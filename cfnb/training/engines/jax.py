"""The fast engine on the JAX backend: a chunk of steps in one `jax.jit` call (a `fori_loop` over
`model.stateless_call`), with JAX's persistent compilation cache; docs/engines.md has the details."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np

from cfnb import backend
from cfnb.names import ITEM_IN, USER_IN
from cfnb.training.engines.chunked import ChunkedEngine


class JaxEngine(ChunkedEngine):
    """Train one Keras model (and its Adam or Adagrad optimizer) many steps per compiled JAX call.

    Args: as `cfnb.training.engines.chunked.ChunkedEngine` (model, batch_size, update, jit_compile, seed); JAX
    always compiles, so `jit_compile` only shows in `label`.
    """

    BACKEND = "jax"

    def __init__(self, model: keras.Model, batch_size: int = 64, update: str = "exact",
                 jit_compile: bool = True, seed: int | None = None):
        self._seeded = None
        super().__init__(model, batch_size, update, jit_compile, seed)
        self.jit_compile = True
        opt_vars = self.optimizer.variables
        where = {id(v): k for k, v in enumerate(opt_vars)}
        self._iteration = where[id(self.optimizer.iterations)]
        self._slot_index = [tuple(where[id(s)] for s in backend.optimizer_slots(self.optimizer, v))
                            for v in self.variables] if update == "lazy" else []
        tables = {id(layer.embeddings): layer for layer in model.layers
                  if isinstance(layer, keras.layers.Embedding)}
        # id(Embedding layer) -> index of its table among the trainable variables
        self._table_of = {id(tables[id(v)]): k for k, v in enumerate(self.variables) if id(v) in tables}
        self._table_at = set(self._table_of.values())
        use_compilation_cache()
        self._chunk_fn = jax.jit(self._chunk)
        self._eval_fn = jax.jit(self._sq_errors)

    def reseed(self, seed: int | None) -> None:
        super().reseed(seed)
        if seed is not None:
            self._seeded = self._seed  # the Dropout generators restart at the next fit

    # ----------------------------------------------------------------------------- state
    def _state(self):
        model = self.model
        return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                [v.value for v in self.optimizer.variables])

    def _store(self, state):
        for refs, values in zip((self.model.trainable_variables, self.model.non_trainable_variables,
                                 self.optimizer.variables), state):
            for ref, value in zip(refs, values):
                ref.assign(value)

    def _restart_dropout(self):
        """Each Dropout layer's seed generator from (seed, layer, step), as `seed=` promises."""
        step = int(np.asarray(self.optimizer.iterations.value))
        for layer in self.model.layers:
            if id(layer) in self._dropouts and getattr(layer, "seed_generator", None) is not None:
                seed = (self._seeded + 7919 * self._dropouts[id(layer)]) % (2 ** 31 - 1)
                state = layer.seed_generator.state
                state.assign(np.array([seed, step], dtype=np.dtype(state.dtype)))
        self._seeded = None

    # ----------------------------------------------------------------------------- graph code
    def _inputs(self, u, m):
        return {USER_IN: u[:, None], ITEM_IN: m[:, None]}

    def _exact_step(self, state, u, m, y, w):
        """One step of Keras's JAX trainer, on a batch weighted by `w` (0 for padding)."""
        trainable, non_trainable, opt_vars = state

        def loss_fn(trainable):
            pred, new_non_trainable, losses = self.model.stateless_call(
                trainable, non_trainable, self._inputs(u, m), training=True, return_losses=True)
            total = jnp.sum(w * jnp.square(jnp.reshape(pred, (-1,)) - y))
            loss = total / jnp.maximum(jnp.sum(w), 1.0)
            for extra in losses:  # the l2 penalties, as Keras adds them to the loss
                loss = loss + jnp.sum(extra)
            return loss, (total, new_non_trainable)

        (_, (total, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        trainable, opt_vars = self.optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), total

    def _gradients(self, state, u, m, y, w):
        """Forward and backward with the embedding lookups swapped for the batch's rows.

        Returns:
            (summed squared error, new non-trainable values, dense gradients by variable index,
            {embedding variable index: (row ids, data gradient of each occurrence)}).
        """
        trainable, non_trainable, _ = state
        model, tables = self.model, self._table_of
        dense_at = [k for k in range(len(trainable)) if k not in self._table_at]

        def loss_fn(dense, offsets):
            values = list(trainable)
            for k, value in zip(dense_at, dense):
                values[k] = value
            ids = {}

            def operation(op):
                if id(op) in tables:
                    k = tables[id(op)]

                    def rows(x, **kwargs):
                        x = x.astype(jnp.int32)
                        ids[k] = jnp.reshape(x, (-1,))
                        table = jax.lax.stop_gradient(values[k])
                        return jnp.take(table, x, axis=0) + jnp.reshape(offsets[k], x.shape + table.shape[1:])
                    return rows
                if id(op) in self._dropouts:
                    return lambda *args, **kwargs: op(*args, training=True)
                return op

            mapping = list(zip(model.trainable_variables, values)) + list(zip(model.non_trainable_variables,
                                                                               non_trainable))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                inputs = self._inputs(u, m)
                pred = backend.run_through_graph(model, [inputs[_name(t)] for t in model.inputs], operation)
            new_non_trainable = [_current(scope, ref, old) for ref, old in zip(model.non_trainable_variables,
                                                                                non_trainable)]
            total = jnp.sum(w * jnp.square(jnp.reshape(pred, (-1,)) - y))
            return total / jnp.maximum(jnp.sum(w), 1.0), (total, new_non_trainable, ids)

        offsets = {k: jnp.zeros((u.shape[0], trainable[k].shape[1]), trainable[k].dtype) for k in tables.values()}
        dense = [trainable[k] for k in dense_at]
        (_, (total, non_trainable, ids)), (dense_grads, row_grads) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True)(dense, offsets)
        rows = {k: (ids[k], jnp.reshape(row_grads[k], (u.shape[0], -1))) for k in ids}
        return total, non_trainable, dict(zip(dense_at, dense_grads)), rows

    def _lazy_step(self, state, u, m, y, w):
        """One step of the optimizer's Keras formula: on the batch's rows for embeddings, dense for other layers."""
        total, non_trainable, dense_grads, rows = self._gradients(state, u, m, y, w)
        trainable, opt_vars = list(state[0]), list(state[2])
        opt = self.optimizer
        t = opt_vars[self._iteration] + 1
        with keras.StatelessScope(state_mapping=list(zip(opt.variables, opt_vars))):
            lr = jnp.asarray(keras.ops.convert_to_tensor(opt.learning_rate), jnp.float32)
        rule = _Adagrad(opt, lr) if isinstance(opt, keras.optimizers.Adagrad) else _Adam(opt, lr, t)
        for k, at in enumerate(self._slot_index):
            var, slots = trainable[k], [opt_vars[i] for i in at]
            if k in dense_grads:
                trainable[k], slots = rule.dense(var, slots, dense_grads[k])
            else:
                idx, g = rows[k]
                l2 = self._l2.get(id(self.variables[k]), 0.0)
                if l2:  # the penalty's gradient 2*l2*w, once per (non-padding) occurrence of a row
                    g = g + (2.0 * l2) * var[idx] * w[:, None]
                trainable[k], slots = rule.rows(var, slots, idx, g)
            for i, value in zip(at, slots):
                opt_vars[i] = value
        opt_vars[self._iteration] = t
        return (trainable, non_trainable, opt_vars), total

    def _chunk(self, state, users, items, ratings, order, n, start, stop):
        """Steps `start .. stop-1` of an epoch whose shuffled order is `order` (steps, batch)."""
        positions = jnp.arange(self.batch_size)
        step = self._lazy_step if self.update == "lazy" else self._exact_step

        def body(i, carry):
            state, acc = carry
            idx = order[i]
            weight = (i * self.batch_size + positions < n).astype(jnp.float32)
            state, total = step(state, users[idx], items[idx], ratings[idx], weight)
            return state, acc + total

        return jax.lax.fori_loop(start, stop, body, (state, jnp.float32(0.0)))

    def _sq_errors(self, trainable, non_trainable, users, items, ratings):
        pred, _ = self.model.stateless_call(trainable, non_trainable, self._inputs(users, items), training=False)
        return jnp.sum(jnp.square(jnp.reshape(pred, (-1,)) - ratings))

    # ---------------------------------------------------------------------- the driver's hooks
    def _arrays(self, users, items, ratings):
        return jnp.asarray(users), jnp.asarray(items), jnp.asarray(ratings)

    def _device_order(self, order):
        return jnp.asarray(order)

    def _run_chunk(self, data, order, n, start, count) -> float:
        if self._seeded is not None:
            self._restart_dropout()
        stop = min(start + count, order.shape[0])
        state, total = self._chunk_fn(self._state(), *data, order, np.int32(n), np.int32(start), np.int32(stop))
        self._store(state)
        return float(total)

    def _sq_error_sum(self, users, items, ratings) -> float:
        trainable, non_trainable, _ = self._state()
        return float(self._eval_fn(trainable, non_trainable, users, items, ratings))


class _Adam:
    """Keras's Adam update (`keras.optimizers.Adam.update_step`), as functions of arrays."""

    def __init__(self, opt, lr, t):
        step = t.astype(jnp.float32)
        self.beta_1, self.beta_2, self.epsilon = opt.beta_1, opt.beta_2, opt.epsilon
        self.alpha = lr * jnp.sqrt(1 - jnp.power(jnp.float32(opt.beta_2), step)) / (
            1 - jnp.power(jnp.float32(opt.beta_1), step))

    def dense(self, var, slots, grad):
        """The step on a whole variable: (new variable, new (momentum, velocity))."""
        mom, vel = slots
        mom = mom + (grad - mom) * (1 - self.beta_1)
        vel = vel + (jnp.square(grad) - vel) * (1 - self.beta_2)
        return var - (mom * self.alpha) / (jnp.sqrt(vel) + self.epsilon), (mom, vel)

    def rows(self, var, slots, idx, grad):
        """The step on rows `idx` only, a row's gradient summed over its occurrences first."""
        new, new_slots = self.dense(var[idx], [s[idx] for s in slots], _sum_duplicates(idx, grad))
        # Every occurrence of a row carries the same new values, so duplicate writes agree.
        return var.at[idx].set(new), tuple(s.at[idx].set(n) for s, n in zip(slots, new_slots))


class _Adagrad:
    """Keras's Adagrad update (`keras.optimizers.Adagrad.update_step`), as functions of arrays."""

    def __init__(self, opt, lr):
        self.lr, self.epsilon = lr, opt.epsilon

    def dense(self, var, slots, grad):
        """The step on a whole variable: (new variable, (new accumulator,))."""
        acc = slots[0] + jnp.square(grad)
        return var - (self.lr * grad) / jnp.sqrt(acc + self.epsilon), (acc,)

    def rows(self, var, slots, idx, grad):
        """The step on rows `idx` only: each occurrence's square joins the accumulator (as Keras on
        TensorFlow does for a sparse gradient), then each occurrence's step (scatter-adds, no sort)."""
        acc = slots[0].at[idx].add(jnp.square(grad))
        return var.at[idx].add(-(self.lr * grad) / jnp.sqrt(acc[idx] + self.epsilon)), (acc,)


def compilation_cache_dir() -> Path | None:
    """Where the engines' compiled loops are cached: `$CFNB_JAX_CACHE` ("off" for none), else
    `jax_compilation_cache_dir` if you set it, else a `jax` folder in cfnb's per-user cache."""
    env = os.environ.get("CFNB_JAX_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none") else Path(env).expanduser()
    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    from cfnb.data.movielens import user_cache

    return user_cache() / "jax"


def use_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache at `compilation_cache_dir()` (once; a folder that
    cannot be written leaves it off, training is only slower); returns the folder in use."""
    folder = compilation_cache_dir()
    if folder is None:
        return None
    if jax.config.jax_compilation_cache_dir != str(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        jax.config.update("jax_compilation_cache_dir", str(folder))
        # JAX caches only compiles over 1 s by default; the engines' evaluation steps take less
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    return folder


def _name(tensor) -> str:
    """A model input's name (without a ":0" suffix)."""
    return tensor.name.split(":")[0]


def _current(scope, ref, old):
    """The value `ref` has in a StatelessScope (`old` if nothing assigned it)."""
    value = scope.get_current_value(ref)
    return old if value is None else value


def _sum_duplicates(idx, vals):
    """For each position, the sum of `vals` over all positions with the same index (static shapes)."""
    if idx.shape[0] <= 128:  # a (B, B) equality matmul is cheapest
        return (idx[:, None] == idx[None, :]).astype(vals.dtype) @ vals
    order = jnp.argsort(idx)  # sort, mark runs, segment-sum
    sorted_idx = idx[order]
    starts = jnp.concatenate([jnp.ones(1, jnp.int32), (sorted_idx[1:] != sorted_idx[:-1]).astype(jnp.int32)])
    segment = jnp.cumsum(starts) - 1
    sums = jax.ops.segment_sum(vals[order], segment, num_segments=idx.shape[0])
    return sums[jnp.zeros_like(segment).at[order].set(segment)]
