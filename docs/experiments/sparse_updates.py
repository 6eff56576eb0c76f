"""Which sparse update rule trains cfnb's best model fastest? (docs/performance.md, "Update rules tried")

The best recipe's model (bias model, 50 factors, l2 1e-4 on the factors, output squashed into
(0, 5.5)) written directly in JAX, so that only the update rule and the batch size change:

* ``adam``: cfnb's lazy Adam (`update="lazy"`): moments and weights of the batch's rows only, a row's
  gradient summed over its occurrences first (sort + segment sum);
* ``adagrad``: cfnb's lazy Adagrad (`update="lazy"` with `cfnb.recipes.ADAGRAD`): per-occurrence
  squared gradients added to an accumulator that starts at 0, then each occurrence's step
  ``lr * g / sqrt(acc + 1e-7)``, both with scatter-adds (no sort); ``adagrad-0.1`` is the same with
  Keras's default initial accumulator value, 0.1;
* ``momentum``: SGD with momentum 0.9 on the batch's rows (gradients summed per row, like adam);
* ``sgd``: plain SGD with scatter-adds, Surprise's rule done a batch at a time.

For each rule, batch size and schedule it prints ml-latest-small's val RMSE (cfnb's seed-0 80/20
split, predictions clipped to the rating scale) and the fit time (compile included, then a second,
warm fit), and the warm steps per second on MovieLens 25M's catalogue size (162,541 x 59,047 tables),
where an update's cost shows. Run: `CFNB_DATA_HOME=... KERAS_BACKEND=jax python docs/experiments/sparse_updates.py`.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from cfnb.training.engines.jax import _sum_duplicates as sum_duplicates  # the engine's own per-row sum

F, L2, LO, HI = 50, 1e-4, 0.0, 5.5


def init(n_users, n_items, seed):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    u = lambda key, n, d: jax.random.uniform(key, (n, d), jnp.float32, -0.05, 0.05)  # Keras's Embedding init
    return [u(k[0], n_users, F), u(k[1], n_items, F), u(k[2], n_users, 1), u(k[3], n_items, 1)]


def predict_rows(rows):
    pu, qi, bu, bi = rows
    return LO + (HI - LO) * jax.nn.sigmoid(jnp.sum(pu * qi, -1) + bu[:, 0] + bi[:, 0])


def row_grads(tables, u, i, y):
    """Gradient of the batch's mean squared error (+ l2 on the factor rows) for each looked-up row."""
    ids = (u, i, u, i)
    rows = [t[k] for t, k in zip(tables, ids)]
    loss = lambda rows: jnp.mean(jnp.square(predict_rows(rows) - y))
    grads = jax.grad(loss)(rows)
    grads[0] = grads[0] + 2 * L2 * rows[0]
    grads[1] = grads[1] + 2 * L2 * rows[1]
    return ids, grads


def step(rule, tables, slots, t, lr, u, i, y):
    ids, grads = row_grads(tables, u, i, y)
    new_tables, new_slots = [], []
    for w, (a, b), idx, g in zip(tables, slots, ids, grads):
        if rule == "sgd":
            w = w.at[idx].add(-lr * g)
        elif rule.startswith("adagrad"):  # Keras's formula, as the engines' lazy rows
            a = a.at[idx].add(g * g)
            w = w.at[idx].add(-(lr * g) / jnp.sqrt(a[idx] + 1e-7))
        elif rule == "momentum":
            g = sum_duplicates(idx, g)
            m = 0.9 * a[idx] + g
            a, w = a.at[idx].set(m), w.at[idx].set(w[idx] - lr * m)
        else:  # adam, Keras's constants and bias correction
            g = sum_duplicates(idx, g)
            alpha = lr * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            m = 0.9 * a[idx] + 0.1 * g
            v = 0.999 * b[idx] + 0.001 * g * g
            a, b, w = a.at[idx].set(m), b.at[idx].set(v), w.at[idx].set(w[idx] - alpha * m / (jnp.sqrt(v) + 1e-7))
        new_tables.append(w)
        new_slots.append((a, b))
    return new_tables, new_slots


def make_epoch(rule):
    @jax.jit
    def epoch(tables, slots, t0, lr, users, items, ratings, order):
        def body(s, carry):
            tables, slots = carry
            k = order[s]
            return step(rule, tables, slots, (t0 + s + 1).astype(jnp.float32), lr, users[k], items[k], ratings[k])
        return jax.lax.fori_loop(0, order.shape[0], body, (tables, slots))
    return epoch


def start_slots(rule, tables):
    """Every rule's slots start at 0, but Keras's default Adagrad accumulator starts at 0.1."""
    first = 0.1 if rule == "adagrad-0.1" else 0.0
    return [(jnp.full_like(w, first), jnp.zeros_like(w)) for w in tables]


def fit(rule, batch, stages, data, n_users, n_items, seed=0):
    users, items, ratings = (jnp.asarray(a) for a in data)
    tables = init(n_users, n_items, seed)
    slots = start_slots(rule, tables)
    epoch, rng, t = make_epoch(rule), np.random.default_rng(seed), 0
    steps = len(data[0]) // batch  # whole batches (the last partial one dropped)
    for lr, n in stages:
        for _ in range(n):
            order = jnp.asarray(rng.permutation(len(data[0]))[:steps * batch].reshape(steps, batch))
            tables, slots = epoch(tables, slots, t, jnp.float32(lr), users, items, ratings, order)
            t += steps
    jax.block_until_ready(tables)
    return tables


def seconds_per_200_steps(rule, batch, n_users, n_items, rng):
    """Warm time of 200 steps on tables of `n_users` x `n_items` (long-tailed movie ids), no set-up timed."""
    n = 200 * batch
    users = jnp.asarray(rng.integers(0, n_users, n, dtype=np.int32))
    items = jnp.asarray(np.minimum(rng.zipf(1.3, n), n_items - 1).astype(np.int32))
    ratings = jnp.asarray(rng.uniform(0.5, 5, n).astype(np.float32))
    tables = init(n_users, n_items, 0)
    slots = start_slots(rule, tables)
    epoch, order = make_epoch(rule), jnp.arange(n).reshape(200, batch)
    tables, slots = jax.block_until_ready(epoch(tables, slots, 0, jnp.float32(1e-3), users, items, ratings, order))
    start = time.perf_counter()
    jax.block_until_ready(epoch(tables, slots, 200, jnp.float32(1e-3), users, items, ratings, order))
    return time.perf_counter() - start


def rmse(tables, val):
    u, i, y = (jnp.asarray(a) for a in val)
    pred = jnp.clip(predict_rows([tables[0][u], tables[1][i], tables[2][u], tables[3][i]]), 0.5, 5.0)
    return float(jnp.sqrt(jnp.mean(jnp.square(pred - y))))


#: (rule, batch, stages): Adam as the old best recipe, Adagrad as the new one (0.05 x5), then each rule's
#: best of a small grid run by hand
TRIALS = [
    ("adam", 1024, ((1e-2, 3), (1e-3, 1))),
    ("adam", 4096, ((1e-2, 3), (1e-3, 1))),
    ("adam", 4096, ((3e-2, 3), (3e-3, 1))),
    ("adagrad", 1024, ((0.05, 4),)),
    ("adagrad", 1024, ((0.05, 5),)),
    ("adagrad", 1024, ((0.1, 4),)),
    ("adagrad", 4096, ((0.1, 4),)),
    ("adagrad-0.1", 1024, ((0.2, 4),)),
    ("momentum", 1024, ((0.3, 3), (0.03, 1))),
    ("momentum", 1024, ((1.0, 3), (0.1, 1))),
    ("sgd", 1024, ((3.0, 6),)),
    ("sgd", 1024, ((10.0, 6),)),
]


def main():
    from cfnb.bench import ML25M, load

    _, train, val = load("ml-latest-small", 0, False)
    known = np.isin(val.frame["user"], train.frame["user"]) & np.isin(val.frame["item"], train.frame["item"])
    data = (train.frame["user"].to_numpy(np.int32), train.frame["item"].to_numpy(np.int32), train.y.astype(np.float32))
    vdata = (val.frame["user"].to_numpy(np.int32), val.frame["item"].to_numpy(np.int32), val.y.astype(np.float32))
    print(f"ml-latest-small seed 0: {len(data[0]):,} training ratings, {len(vdata[0]):,} val "
          f"({(~known).sum()} with a user or movie unseen in training, scored like any other here)")
    print(f"{'rule':<11} {'batch':>5} {'stages':<22} {'val RMSE':>8} {'fit s (compile)':>15} {'fit s (warm)':>12} "
          f"{'25M-catalogue steps/s':>21} {'ratings/s':>10}")
    big_u, big_i = ML25M[0], ML25M[1]
    rng = np.random.default_rng(0)
    for rule, batch, stages in TRIALS:
        start = time.perf_counter()
        tables = fit(rule, batch, stages, data, train.n_users, train.n_items)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        tables = fit(rule, batch, stages, data, train.n_users, train.n_items)
        warm = time.perf_counter() - start
        score = rmse(tables, vdata)
        big_s = seconds_per_200_steps(rule, batch, big_u, big_i, rng)
        label = " + ".join(f"{lr:g}x{e}" for lr, e in stages)
        print(f"{rule:<11} {batch:>5} {label:<22} {score:>8.4f} {cold:>15.2f} {warm:>12.2f} {200 / big_s:>21.0f} "
              f"{200 * batch / big_s / 1e6:>9.2f}M", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
