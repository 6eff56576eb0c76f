"""fit_stages under tf.distribute strategies (TensorFlow).

* MirroredStrategy on two logical CPU devices, in a subprocess (logical devices must be configured
  before TensorFlow initialises): cfnb's strategy loop gives the one-device numbers, and Keras's own
  `model.fit` (`engine="keras"`) still trains under the strategy.
* MultiWorkerMirroredStrategy with two processes (a chief and a worker) on loopback ports, configured
  by TF_CONFIG (`tests/multiworker_worker.py`): both end with the same weights, the RMSE matches a
  one-process fit, the chief's `cfnb.save` loads here, a Ctrl-C on the worker stops both after the
  same step, and a worker that leaves (Ctrl-C twice) ends the chief's fit with a CfnbError. The
  processes run under a deadline and are killed, with any process they started, whatever happens.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")  # the TensorFlow job runs these; a JAX-only install has no strategies
import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    pytest.skip("tf.distribute strategies: the TensorFlow job runs these", allow_module_level=True)

import cfnb  # noqa: E402
from cfnb.errors import ArgumentError, ArgumentTypeError  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import multiworker_worker as worker  # noqa: E402

DEADLINE_S = 300  # for the two workers together; they took 70-125 s on 2 cores shared with ~10 busy processes
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}

MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    import cfnb
    from multiworker_worker import DATA, FIT, KIND, MODEL, SPLIT_SEED

    train, val = cfnb.synthetic(**DATA).split(seed=SPLIT_SEED)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one per process: TF's collective
    assert strategy.num_replicas_in_sync == 2                     # keys collide across two of them
    with strategy.scope():
        two = cfnb.build_model(KIND, train.n_users, train.n_items, **MODEL)
    mirrored = cfnb.fit_stages(two, train, val, strategy=strategy, **FIT)

    small = cfnb.synthetic(n_users=50, n_items=60, n_ratings=2000, seed=0)   # Keras's model.fit is slower
    ktrain, kval = small.split(seed=1)
    with strategy.scope():
        model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4)
    keras_fit = cfnb.fit_stages(model, ktrain, kval, stages=[(1e-2, 2), (1e-3, 1)], batch_size=128,
                                progress=False, seed=0, strategy=strategy, engine="keras")
    np.savez(sys.argv[1], *two.get_weights())
    print(json.dumps({
        "mirrored": mirrored.to_frame()[["lr", "loss", "val_rmse"]].to_dict("list"),
        "loops": len(two.__dict__.get("_cfnb_strategy_loops", {})),
        "keras": keras_fit.to_frame()[["lr", "val_rmse"]].to_dict("list"),
        "keras_loops": len(model.__dict__.get("_cfnb_strategy_loops", {})),
        "keras_evaluate": cfnb.evaluate(model, kval)["rmse"],
    }))
""")


@pytest.fixture(scope="module")
def one_process():
    """The tests' fit in this process, on one device (the fast engine): the reference."""
    train, val = cfnb.synthetic(**worker.DATA).split(seed=worker.SPLIT_SEED)
    model = cfnb.build_model(worker.KIND, train.n_users, train.n_items, **worker.MODEL)
    return model, cfnb.fit_stages(model, train, val, **worker.FIT), (train, val)


def test_fit_stages_under_mirrored_strategy_on_two_cpu_devices(one_process, tmp_path):
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "weights.npz")], capture_output=True,
                          text=True, timeout=240,
                          env={**ENV, "PYTHONPATH": os.pathsep.join([str(HERE), ENV.get("PYTHONPATH", "")])})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    model, single, _ = one_process
    single, mirrored = single.to_frame(), got["mirrored"]
    # cfnb's strategy loop: each batch of 64 split 32 + 32 over the devices, the one-device numbers
    assert got["loops"] == 1
    assert np.allclose(mirrored["lr"], [1e-2, 1e-2, 1e-2, 1e-3])
    assert np.allclose(mirrored["val_rmse"], single["val_rmse"], atol=1e-4), (mirrored, single)
    assert np.allclose(mirrored["loss"], single["loss"], rtol=1e-4), (mirrored, single)
    saved = np.load(tmp_path / "weights.npz")
    for k, w in enumerate(model.get_weights()):
        assert np.allclose(saved[f"arr_{k}"], w, atol=1e-3)
    # engine="keras": Keras's own model.fit under the strategy
    keras_fit = got["keras"]
    assert got["keras_loops"] == 0
    assert np.allclose(keras_fit["lr"], [1e-2, 1e-2, 1e-3])
    assert keras_fit["val_rmse"][-1] < keras_fit["val_rmse"][0]
    assert abs(got["keras_evaluate"] - keras_fit["val_rmse"][-1]) < 1e-4


# ------------------------------------------------------------------------------ two worker processes
def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free right now (held open together, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run_workers(out: Path, deadline_s: float = DEADLINE_S) -> None:
    """Run the two workers to their end, or kill both once one fails or the deadline passes.

    Each worker leads its own process group; whatever happens, both groups are killed and reaped,
    and the test fails if any process of them is still alive afterwards.
    """
    ports = ",".join(str(p) for p in free_ports(2))
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(HERE.parent), ENV.get("PYTHONPATH", "")])}
    logs = [open(out / f"worker-{i}.log", "w") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, str(HERE / "multiworker_worker.py"), str(i), ports, str(out)],
                              stdout=logs[i], stderr=subprocess.STDOUT, env=env, start_new_session=True)
             for i in range(2)]
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs):
                break  # one failed: the other would wait for it in a collective forever
            time.sleep(0.2)
        codes = [p.poll() for p in procs]
    finally:
        for p in procs:
            with_group(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
        for f in logs:
            f.close()
        alive = [p.pid for p in procs if with_group(p.pid, 0)]
        assert not alive, f"worker process groups still alive after the kill: {alive}"
    text = [(out / f"worker-{i}.log").read_text()[-3000:] for i in range(2)]
    assert None not in codes, f"the workers passed the {deadline_s} s deadline and were killed:\n" + "\n".join(text)
    assert codes == [0, 0], f"exit codes {codes}:\n" + "\n".join(text)


def with_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; whether any process was in it (signal 0 only asks)."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiworker")
    run_workers(out)
    results = {name: [dict(np.load(out / f"{name}-{i}.npz")) for i in range(2)] for name in ("full", "ctrl_c")}
    return {**results, "saved": out / "model.cfnb", "left": (out / "left.txt").read_text()}


def weights(result) -> list[np.ndarray]:
    return [result[f"arr_{k}"] for k in range(sum(key.startswith("arr_") for key in result))]


def test_two_workers_end_with_the_same_weights(two_workers):
    w0, w1 = two_workers["full"]
    assert not w0["interrupted"] and not w1["interrupted"]
    assert np.allclose(w0["lr"], [1e-2, 1e-2, 1e-2, 1e-3])  # the stages' rates, in effect on both
    # Both apply the same all-reduced gradients (a + b == b + a in floats): identical, bit for bit.
    for a, b in zip(weights(w0), weights(w1)):
        assert np.array_equal(a, b)
    assert np.array_equal(w0["val_rmse"], w1["val_rmse"]) and np.array_equal(w0["loss"], w1["loss"])


def test_two_workers_match_one_process(two_workers, one_process):
    w0 = two_workers["full"][0]
    reference, single, (train, val) = one_process
    # The same batches and maths, sums in another order: measured 6e-8 apart on the RMSE and 4e-7 on
    # any weight (the issue asks for 0.01 on the RMSE).
    assert abs(w0["val_rmse"][-1] - single.val_rmse) < 1e-3, (w0["val_rmse"], single.val_rmse)
    for a, b in zip(weights(w0), reference.get_weights()):
        assert np.allclose(a, b, atol=1e-4)
    assert w0["val_rmse"][-1] < 0.6 < w0["val_rmse"][0]  # it learned (the global mean scores 0.77)
    # The workers' weights are what their history says: evaluated here, the same (unclipped) RMSE.
    model = cfnb.build_model(worker.KIND, train.n_users, train.n_items, **worker.MODEL)
    model.set_weights(weights(w0))
    pred = model.predict(val.x, batch_size=4096, verbose=0).reshape(-1)
    assert abs(np.sqrt(np.mean((pred - val.y) ** 2)) - w0["val_rmse"][-1]) < 1e-5
    # The chief saved the model with cfnb.save: it loads here and predicts the same.
    loaded, ratings = cfnb.load(two_workers["saved"])
    assert np.allclose(loaded.predict(val.x, batch_size=4096, verbose=0).reshape(-1), pred, atol=1e-6)
    assert ratings.n_items == train.n_items


def test_ctrl_c_on_one_worker_stops_both_after_the_same_step(two_workers):
    (c0, c1), f0 = two_workers["ctrl_c"], two_workers["full"][0]
    assert c0["interrupted"] and c1["interrupted"]  # the chief stopped too, though only the worker got SIGINT
    assert len(c0["loss"]) == len(c1["loss"]) == 2  # the second epoch, cut short, is recorded
    # epoch 1 as in the whole fit (its loss summed over other chunks: rounding only); epoch 2 cut short
    assert np.isclose(c0["loss"][0], f0["loss"][0], rtol=1e-6) and not np.isclose(c0["loss"][1], f0["loss"][1])
    for a, b in zip(weights(c0), weights(c1)):
        assert np.array_equal(a, b)


def test_a_worker_that_leaves_ends_the_chiefs_fit_with_a_clear_error(two_workers):
    # Ctrl-C twice on the worker: it stops at once and exits; the chief's next all-reduce fails.
    assert two_workers["left"].startswith("Another process of the cluster stopped"), two_workers["left"]
    assert "Restart every process" in two_workers["left"]


# --------------------------------------------------------------------------------- argument checks
def test_strategy_and_distribution_arguments_are_checked(small):
    train, val = small.split(seed=0)
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2)
    with pytest.raises(ArgumentTypeError, match="strategy must be a tf.distribute.Strategy"):
        cfnb.fit_stages(model, train, val, strategy="mirrored", progress=False)

    with pytest.raises(ArgumentError, match="needs the JAX backend"):
        cfnb.fit_stages(model, train, val, distribution=keras.distribution.DataParallel(
            devices=["cpu:0"]), progress=False)
    with pytest.raises(ArgumentError, match="not both"):
        cfnb.fit_stages(model, train, val, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
                        distribution=object(), progress=False)
    with pytest.raises(cfnb.CfnbError, match="build the model inside"):
        cfnb.fit_stages(model, train, val, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"), progress=False)
