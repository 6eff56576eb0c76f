"""fit_stages under a tf.distribute strategy: two logical CPU devices, MirroredStrategy, in a subprocess
(logical devices must be configured before TensorFlow initialises)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    import cfnb

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    ratings = cfnb.synthetic(n_users=50, n_items=60, n_ratings=2000, seed=0)
    train, val = ratings.split(seed=1)
    with strategy.scope():
        model = cfnb.build_model("bias", ratings.n_users, ratings.n_items, n_factors=4)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2), (1e-3, 1)], batch_size=128,
                              progress=False, seed=0, strategy=strategy)
    assert not getattr(model, "_cfnb_fast_engines", None)  # Keras's own model.fit path
    assert len(history) == 3 and np.allclose(history.to_frame()["lr"], [1e-2, 1e-2, 1e-3])
    first, last = history.rows[0]["val_rmse"], history.val_rmse
    assert np.isfinite(last) and last < first, (first, last)
    assert abs(cfnb.evaluate(model, val)["rmse"] - last) < 1e-4
    print("OK", len(model.optimizer.variables), last)
""")


def test_fit_stages_under_mirrored_strategy_on_two_cpu_devices():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "OK" in done.stdout
