"""cfnb's training loop under a `tf.distribute` strategy: `strategy.run` steps with the one-device maths.

Each global batch is split over the replicas in the fast engine's seeded order; docs/distributed.md
says how, and why Keras's own `model.fit` is not used under MultiWorkerMirroredStrategy."""

from __future__ import annotations

import math

import keras
import numpy as np

from cfnb.errors import CfnbError
from cfnb.names import ITEM_IN, USER_IN
from cfnb.training.engines.chunked import CHUNK_SECONDS, ChunkedDriver


class StrategyLoop(ChunkedDriver):
    """Train `model` under a `tf.distribute` strategy, one global batch per step (see module docstring).

    Args:
        model: a compiled cfnb-style model whose variables were made in `strategy.scope()`.
        strategy: a `tf.distribute.Strategy` (MultiWorkerMirroredStrategy, MirroredStrategy, ...).
        batch_size: ratings per step, across all replicas.
        seed: seeds the order of the batches (identical on every worker); None agrees on a fresh one.
    """

    def __init__(self, model: keras.Model, strategy, batch_size: int, seed: int | None = None):
        import tensorflow as tf

        self.model, self.strategy, self.batch_size = model, strategy, int(batch_size)
        self.replicas = int(strategy.num_replicas_in_sync)
        self.per_replica = math.ceil(self.batch_size / self.replicas)
        self._agree_fn = tf.function(self._agree)
        self._chunk_fn = tf.function(self._chunk, reduce_retracing=True)
        self._eval_fn = tf.function(self._sq_errors, reduce_retracing=True)
        self._steps_per_call = 16
        self.reseed(seed)

    # ----------------------------------------------------------------------------- graph code
    def _step(self, users, items, ratings, idx, weight):
        """One replica's share of one global step; returns the global batch's sum of squared errors."""
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        begin = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * self.per_replica
        mine, w = idx[begin:begin + self.per_replica], weight[begin:begin + self.per_replica]
        x = {USER_IN: tf.gather(users, mine)[:, None], ITEM_IN: tf.gather(items, mine)[:, None]}
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            pred = tf.reshape(self.model(x, training=True), [-1])
            sq = tf.reduce_sum(w * tf.square(pred - tf.gather(ratings, mine)))
            loss = sq / tf.maximum(tf.reduce_sum(weight), 1.0)
            if self.model.losses:
                loss += tf.add_n(self.model.losses) / self.replicas
        self.model.optimizer.apply(tape.gradient(loss, variables), variables)
        return ctx.all_reduce("sum", sq)

    def _chunk(self, users, items, ratings, order, weight, start, count):
        """Steps `start .. start+count-1` of an epoch; returns their summed squared errors."""
        import tensorflow as tf

        def body(i, acc):
            total = self.strategy.run(self._step, args=(users, items, ratings, order[i], weight[i]))
            return i + 1, acc + self.strategy.experimental_local_results(total)[0]

        _, acc = tf.while_loop(lambda i, acc: i < start + count, body, (start, tf.constant(0.0)))
        return acc

    def _agree(self, wishes):
        """The element-wise sum of every replica's `wishes` vector (one all-reduce)."""
        import tensorflow as tf

        def replica(w):  # tf.identity places the value on the replica's device, which all_reduce needs
            return tf.distribute.get_replica_context().all_reduce("sum", tf.identity(w))

        out = self.strategy.run(replica, args=(wishes,))
        return self.strategy.experimental_local_results(out)[0]

    def _sq_errors(self, users, items, ratings):
        import tensorflow as tf

        pred = tf.reshape(self.model({USER_IN: users[:, None], ITEM_IN: items[:, None]}, training=False), [-1])
        return tf.reduce_sum(tf.square(pred - ratings))

    # ---------------------------------------------------------------------------- Python driver
    def reseed(self, seed: int | None) -> None:
        """Restart the batch order from `seed`; None: a fresh seed, agreed by all workers."""
        if seed is None:
            import tensorflow as tf

            mine = int(np.random.SeedSequence().entropy % (2 ** 20))  # whole float32s add up exactly
            seed = int(self._agree_fn(tf.constant([mine, 0], tf.float32)).numpy()[0])
        self._rng = np.random.default_rng(int(seed))

    def _order(self, n: int):
        """The epoch's (steps, replicas * per_replica) row order and weights (0 marks padding)."""
        steps = math.ceil(n / self.batch_size)
        perm = self._rng.permutation(n).astype(np.int32)  # the fast engine's order for the same seed
        pad = steps * self.batch_size - n
        if pad:  # padding repeats rows of the same batch (weight 0), so no new rows are touched
            perm = np.concatenate([perm, np.resize(perm[(steps - 1) * self.batch_size:], pad)])
        order = perm.reshape(steps, self.batch_size)
        weight = (np.arange(steps * self.batch_size) < n).astype(np.float32).reshape(steps, self.batch_size)
        extra = self.replicas * self.per_replica - self.batch_size
        if extra:  # a batch that does not divide evenly: equal slices, the last ones padded
            order = np.concatenate([order, order[:, :extra]], axis=1)
            weight = np.concatenate([weight, np.zeros((steps, extra), np.float32)], axis=1)
        return order, weight

    def evaluate(self, x, y) -> float:
        """Mean squared error of the model on `(x, y)` (no regularisation), on this worker's copy."""
        return float(self._eval_fn(*_as_tensors(x, y))) / len(y) if len(y) else float("nan")

    def fit(self, x, y, epochs: int = 1, validation_data=None, callbacks=()) -> bool:
        """Train for `epochs` epochs with the engines' driver (`ChunkedDriver.fit`), stopping together.

        Returns:
            Whether the workers agreed to stop early (the same answer on every worker).

        Raises:
            CfnbError: another process of the cluster stopped (crashed, killed, or left after a
                second Ctrl-C), so the collectives cannot go on.
        """
        import tensorflow as tf

        try:
            super().fit(x, y, epochs, validation_data, callbacks)
            return bool(self.model.stop_training)
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                tf.errors.DeadlineExceededError) as error:
            lines = [line.strip() for line in str(error).splitlines()]
            at = next((k for k, line in enumerate(lines) if "aborted by" in line), None)
            why = type(error).__name__ if at is None else " ".join(lines[at:at + 2])
            raise CfnbError(f"Another process of the cluster stopped, so this fit cannot go on ({why[:300]}). The "
                            "model keeps its weights from the last step here. Restart every process of the cluster: "
                            "TensorFlow's collectives cannot recover in this one.") from None

    # ------------------------------------------------------------------- the driver's hooks
    def _tensors(self, x, y):
        return _as_tensors(x, y)

    def _epoch_order(self, n, shuffle):
        import tensorflow as tf

        return tuple(tf.constant(a) for a in self._order(n))

    def _run_chunk(self, data, order, n, start, count) -> float:
        import tensorflow as tf

        return float(self._chunk_fn(*data, *order, tf.constant(start), tf.constant(count)))

    def _after_chunk(self, count, seconds, first) -> bool:
        # every worker runs the same steps between two agreements; the first call pays for tracing
        wanted = self._steps_per_call if first else self._proposed(count, seconds)
        return self._agree_on(self.model.stop_training, wanted)

    def _after_epoch(self) -> bool:
        return self._agree_on(self.model.stop_training, self._steps_per_call)

    def penalty(self) -> float:
        return _penalty(self.model)

    @staticmethod
    def _proposed(count, seconds) -> int:
        """The steps this worker would run in the next call, to take about 0.1 s."""
        return int(min(max(CHUNK_SECONDS * count / max(seconds, 1e-6), 1), 100_000))

    def _agree_on(self, stop: bool, steps_per_call: int) -> bool:
        """One all-reduce: stop if any worker wants to, and from now on run the replicas' mean proposed
        steps per call (every worker must run the same steps between two agreements)."""
        import tensorflow as tf

        stops, counts = self._agree_fn(tf.constant([int(bool(stop)), int(steps_per_call)], tf.float32)).numpy()
        self._steps_per_call = max(int(counts) // self.replicas, 1)
        self.model.stop_training = bool(stops > 0)
        return self.model.stop_training


def _as_tensors(x, y):
    """`(users, movies, ratings)` as flat int32, int32 and float32 tensors."""
    import tensorflow as tf

    return (tf.constant(np.asarray(x[USER_IN], np.int32).reshape(-1)),
            tf.constant(np.asarray(x[ITEM_IN], np.int32).reshape(-1)),
            tf.constant(np.asarray(y, np.float32).reshape(-1)))


def _penalty(model) -> float:
    """The model's regularisation losses (the embeddings' l2) at its current weights."""
    return float(sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses))
