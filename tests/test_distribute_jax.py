"""fit_stages under keras.distribution on JAX: DataParallel and ModelParallel over two CPU devices.

JAX makes its devices when it starts, so each run is a subprocess with
`XLA_FLAGS=--xla_force_host_platform_device_count=2` and `KERAS_BACKEND=jax`: it needs only `jax`
installed (`pip install "cfnb[jax]"`), and runs in the TensorFlow job like any other test. One
subprocess runs every fit (a one-device reference with the same engine, Keras's `model.fit`;
DataParallel; ModelParallel) under a deadline.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("jax")

pytestmark = pytest.mark.backend_independent(
    reason="its subprocess sets KERAS_BACKEND=jax itself: the same in every run")

DEADLINE_S = 300  # ~40-90 s on two busy cores: JAX start-up and one compilation per fit

SCRIPT = textwrap.dedent("""
    import json
    import jax, keras, numpy as np
    import cfnb
    from cfnb.errors import ArgumentError
    from cfnb.models import ITEM_FACTORS

    assert keras.backend.backend() == "jax" and len(jax.devices()) == 2, jax.devices()
    out = {}
    data = dict(n_users=100, n_items=120, seed=0)
    train, val = cfnb.synthetic(n_ratings=6001, **data).split(seed=1)
    val = val.with_frame(val.frame.iloc[:1200])  # sizes that split evenly over two devices: no padding
    FIT = dict(stages=[(1e-2, 3), (1e-3, 1)], batch_size=64, seed=0, progress=False)

    def build():
        return cfnb.build_model("bias", train.n_users, train.n_items, n_factors=8, seed=0)

    def devices(variable):
        return sorted(str(s.device) for s in variable.value.addressable_shards)

    def rows(variable):
        return [int(s.data.shape[0]) for s in variable.value.addressable_shards]

    def record(name, model, history):
        frame = history.to_frame()
        out[name] = {"lr": frame["lr"].tolist(), "val_rmse": frame["val_rmse"].tolist(),
                     "weights": [w.tolist() for w in model.get_weights()]}

    one = build()                               # no distribution: one device, the same engine (model.fit)
    record("single", one, cfnb.fit_stages(one, train, val, engine="keras", **FIT))
    out["single_devices"] = devices(one.get_layer(ITEM_FACTORS).embeddings)

    dp = keras.distribution.DataParallel(devices=jax.devices())      # given to fit_stages
    with dp.scope():
        model = build()
    table = model.get_layer(ITEM_FACTORS).embeddings
    out["dp_devices"], out["dp_rows"] = devices(table), rows(table)  # a whole copy on each device
    record("dp", model, cfnb.fit_stages(model, train, val, distribution=dp, **FIT))
    try:
        cfnb.fit_stages(model, train, val, distribution=dp, engine="fast", **FIT)
    except cfnb.CfnbError as error:
        out["dp_fast"] = str(error)
    try:
        cfnb.fit_stages(one, train, val, distribution=dp, **FIT)
    except cfnb.CfnbError as error:
        out["dp_outside"] = str(error)
    try:
        cfnb.fit_stages(model, train, val, distribution=dp, **{**FIT, "batch_size": 63})
    except ArgumentError as error:
        out["dp_odd_batch"] = str(error)
    odd_train, odd_val = cfnb.synthetic(n_ratings=6000, **data).split(seed=1)  # 4,797 and 1,203
    with dp.scope():
        model = build()
    odd = cfnb.fit_stages(model, odd_train, odd_val, distribution=dp, **{**FIT, "stages": [(1e-2, 2)]})
    pred = model.predict(odd_val.x, batch_size=4096, verbose=0).reshape(-1)
    out["sizes"] = [len(train), len(val)]
    out["odd"] = {"sizes": [len(odd_train), len(odd_val)], "val_rmse": odd.val_rmse,
                  "rmse": float(np.sqrt(np.mean((pred - odd_val.y) ** 2)))}

    mp = cfnb.distributed.movie_sharding()                          # set globally
    keras.distribution.set_distribution(mp)
    model = build()
    table = model.get_layer(ITEM_FACTORS).embeddings
    out["mp_spec"], out["mp_devices"], out["mp_rows"] = list(table.value.sharding.spec), devices(table), rows(table)
    out["mp_other_rows"] = rows(model.get_layer("user_factors").embeddings)
    history = cfnb.fit_stages(model, train, val, **FIT)
    record("mp", model, history)
    out["mp_rows_after"] = rows(table)
    out["mp_moments_rows"] = [rows(v) for v in model.optimizer.variables if ITEM_FACTORS in v.path]
    out["mean_rmse"] = float(np.sqrt(np.mean((val.y - train.y.mean()) ** 2)))
    try:
        cfnb.fit_stages(model, train, val, strategy=object(), **FIT)
    except ArgumentError as error:
        out["strategy_on_jax"] = str(error)
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def jax_run():
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=DEADLINE_S, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_data_parallel_matches_one_device(jax_run):
    single, dp = jax_run["single"], jax_run["dp"]
    assert [n % 64 % 2 for n in jax_run["sizes"]] == [0, 0]  # no padding in this comparison
    assert len(jax_run["single_devices"]) == 1
    assert len(jax_run["dp_devices"]) == 2 and jax_run["dp_rows"] == [120, 120]  # replicated
    assert np.allclose(dp["lr"], [1e-2, 1e-2, 1e-2, 1e-3])
    # The same batches in the same order, each split 32 + 32: the same global-batch gradient, its
    # sums over the two devices done in another order. Only rounding differs: measured, 5e-8 on the
    # RMSE and 4e-7 on any weight after 300 steps. 1e-4 leaves that a thousand times room, yet
    # catches any change of maths (a batch of 32 instead of 64, one device's half lost, another
    # learning rate each move the RMSE by 1e-3 or more).
    assert np.allclose(dp["val_rmse"], single["val_rmse"], atol=1e-4), (dp["val_rmse"], single["val_rmse"])
    for a, b in zip(dp["weights"], single["weights"]):
        assert np.allclose(a, b, atol=1e-4)
    assert dp["val_rmse"][-1] < 0.6 < dp["val_rmse"][0]


def test_data_parallel_splits_uneven_sets_and_refuses_what_cannot_split(jax_run):
    odd = jax_run["odd"]
    assert [n % 64 % 2 for n in odd["sizes"]] == [1, 1]  # both sets' last batches had to be padded
    assert abs(odd["val_rmse"] - odd["rmse"]) < 1e-5  # the padding is not in the validation RMSE
    assert odd["val_rmse"] < 0.6
    assert "batch_size=63" in jax_run["dp_odd_batch"] and "multiple of 2" in jax_run["dp_odd_batch"]
    assert "engine='fast'" in jax_run["dp_fast"] and "keras.distribution" in jax_run["dp_fast"]
    assert "distribution.scope()" in jax_run["dp_outside"]
    assert "distribution=" in jax_run["strategy_on_jax"]


def test_model_parallel_shards_the_movie_table_and_converges(jax_run):
    assert jax_run["mp_spec"] == ["model", None]
    assert len(jax_run["mp_devices"]) == 2 and len(set(jax_run["mp_devices"])) == 2
    assert jax_run["mp_rows"] == [60, 60] == jax_run["mp_rows_after"]  # half the 120 movies on each device
    assert jax_run["mp_moments_rows"] == [[60, 60], [60, 60]]  # Adam's two moments too
    assert jax_run["mp_other_rows"] == [100, 100]  # the user table stays whole on each device
    mp = jax_run["mp"]["val_rmse"]
    assert mp[-1] < mp[0] and mp[-1] < 0.75 * jax_run["mean_rmse"], (mp, jax_run["mean_rmse"])
    assert np.allclose(mp, jax_run["single"]["val_rmse"], atol=1e-3)  # the same maths, laid out otherwise
