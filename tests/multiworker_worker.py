"""One worker of the two-process MultiWorkerMirroredStrategy test (started by tests/test_distribute.py).

Usage: python multiworker_worker.py INDEX PORT0,PORT1 OUT_DIR

Sets TF_CONFIG for a two-process cluster on loopback, as the README shows for real machines:
INDEX 0 is the chief, INDEX 1 the worker. Both run two fits of the same seeded model on the same
data: a whole one (weights and history to OUT_DIR/full-INDEX.npz; the chief also saves the model
with `cfnb.save` to OUT_DIR/model.cfnb), and one that the worker interrupts with a real SIGINT to
itself in its second epoch (OUT_DIR/ctrl_c-INDEX.npz). Then a third fit, which the worker leaves
with two SIGINTs (Ctrl-C twice: it stops at once and exits); the chief must end it with a
CfnbError, whose message goes to OUT_DIR/left.txt. The test imports DATA, KIND, MODEL and FIT for
its one-process run.
"""

import json
import os
import signal
import sys
import time

# What every run of the test trains (the single-process reference too).
DATA = dict(n_users=100, n_items=120, n_ratings=6000, seed=0)
SPLIT_SEED = 1
KIND, MODEL = "bias", dict(n_factors=8, seed=0)
FIT = dict(stages=[(1e-2, 3), (1e-3, 1)], batch_size=64, seed=0, progress=False)
INTERRUPT_AT = 10  # the worker's Ctrl-C: after this batch of the second epoch


def tf_config(index: int, ports: list[str]) -> str:
    """TF_CONFIG for process INDEX: 0 is the chief, 1 the worker."""
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    task = {"type": "chief", "index": 0} if index == 0 else {"type": "worker", "index": 0}
    return json.dumps({"cluster": cluster, "task": task})


def main(index: int, ports: list[str], out: str) -> None:
    os.environ["TF_CONFIG"] = tf_config(index, ports)
    began = time.perf_counter()
    import keras
    import tensorflow as tf

    import cfnb

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    print(f"worker {index}: cluster up after {time.perf_counter() - began:.1f} s", flush=True)
    ratings = cfnb.synthetic(**DATA)
    train, val = ratings.split(seed=SPLIT_SEED)

    def build():
        with strategy.scope():
            return cfnb.build_model(KIND, train.n_users, train.n_items, **MODEL)

    model = build()
    try:  # Keras's model.fit cannot run here: a clear cfnb error, before any step
        cfnb.fit_stages(model, train, val, strategy=strategy, engine="keras", **FIT)
        raise AssertionError("engine='keras' under MultiWorkerMirroredStrategy did not raise")
    except cfnb.CfnbError as error:
        assert "model.fit" in str(error), error
    save(out, "full", index, model, cfnb.fit_stages(model, train, val, strategy=strategy, **FIT))
    if strategy.cluster_resolver.task_type == "chief":
        cfnb.save(model, ratings, os.path.join(out, "model.cfnb"))
    print(f"worker {index}: full fit done after {time.perf_counter() - began:.1f} s", flush=True)

    model, history = build(), cfnb.StagedHistory()

    def press_ctrl_c(batch, logs):
        if index == 1 and len(history.rows) == 1 and batch == INTERRUPT_AT:
            os.kill(os.getpid(), signal.SIGINT)

    callback = keras.callbacks.LambdaCallback(on_train_batch_end=press_ctrl_c)
    cfnb.fit_stages(model, train, val, strategy=strategy, callbacks=[callback], history=history, **FIT)
    save(out, "ctrl_c", index, model, history)
    print(f"worker {index}: interrupted fit done after {time.perf_counter() - began:.1f} s", flush=True)

    model, history = build(), cfnb.StagedHistory()

    def press_ctrl_c_twice(batch, logs):
        if index == 1 and batch == INTERRUPT_AT:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs between bytecodes: the first press is seen before the second
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)

    callback = keras.callbacks.LambdaCallback(on_train_batch_end=press_ctrl_c_twice)
    try:
        cfnb.fit_stages(model, train, val, strategy=strategy, callbacks=[callback], history=history, **FIT)
        assert index == 1 and history.interrupted, "the chief's fit went on without the worker"
    except cfnb.CfnbError as error:
        assert index == 0, error
        with open(os.path.join(out, "left.txt"), "w") as f:
            f.write(str(error))
    print(f"worker {index}: fit left by the worker done after {time.perf_counter() - began:.1f} s", flush=True)


def save(out, name, index, model, history):
    """The model's weights (arr_0, arr_1, ...) and the history's columns, to OUT/NAME-INDEX.npz."""
    import numpy as np

    frame = history.to_frame()
    np.savez(os.path.join(out, f"{name}-{index}.npz"), *model.get_weights(), lr=frame["lr"].to_numpy(),
             loss=frame["loss"].to_numpy(), val_rmse=frame["val_rmse"].to_numpy(),
             interrupted=history.interrupted)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3])
