"""Across Keras backends, in fresh processes (so the TensorFlow job covers both): JAX without TensorFlow,
a model saved on one backend loading on the other with identical predictions, and PyTorch (where
it is installed: CI deliberately does not install it) through model.fit."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.backend_independent(
    reason="fresh processes on the backends each test names: the same in every run")

FIT = """
import cfnb
small = cfnb.synthetic(n_users=40, n_items=50, n_ratings=1500, seed=0)
train, val = small.split(seed=1)
model = cfnb.build_model({kind!r}, small.n_users, small.n_items, n_factors=3, seed=0)
history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 1), (1e-3, 1)], batch_size=64, progress=False, seed=0)
"""


def run(code, backend, timeout=600):
    """Run `code` in a fresh Python on a Keras backend; return its stdout (fail with its stderr)."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"on {backend}:\n{done.stderr[-4000:]}"
    return done.stdout


def test_jax_imports_and_fits_without_tensorflow():
    """`import cfnb` on JAX does not import TensorFlow; nor do a fast fit, evaluate, predict and a summary."""
    out = run("""
import sys
import cfnb
imported = "tensorflow" in sys.modules
""" + FIT.format(kind="nn") + """
engine = next(iter(model._cfnb_fast_engines.values()))
cfnb.evaluate(model, val); cfnb.predict(model, small, small.user_ids[:3], small.item_ids[:3]); str(cfnb.summary(model))
import json
print(json.dumps({"at_import": imported, "after_fit": "tensorflow" in sys.modules, "engine": type(engine).__name__,
                  "rows": len(history)}))
""", "jax")
    facts = json.loads(out.strip().splitlines()[-1])
    assert facts == {"at_import": False, "after_fit": False, "engine": "JaxEngine", "rows": 2}


@pytest.mark.parametrize("first, second", [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_saved_on_one_backend_loads_on_the_other(tmp_path, first, second):
    path, expected = tmp_path / "model.cfnb", tmp_path / "expected.npy"
    ask = "users, items = small.user_ids[:20], small.item_ids[:20]\n"
    run(FIT.format(kind="bias") + ask + f"""
import numpy as np
cfnb.save(model, small, {str(path)!r})
np.save({str(expected)!r}, cfnb.predict(model, small, users, items, unknown="fallback"))
""", first)
    out = run(f"""
import cfnb, json, keras, numpy as np
model, small = cfnb.load({str(path)!r})
""" + ask + f"""
got = cfnb.predict(model, small, users, items, unknown="fallback")
print(keras.backend.backend(), json.dumps(np.abs(got - np.load({str(expected)!r})).max().item()))
""", second)
    backend, gap = out.strip().splitlines()[-1].split()
    assert backend == second
    assert float(gap) <= 1e-6  # float32 rounding of the same weights on another backend


def test_pytorch_trains_through_model_fit():
    """On PyTorch cfnb trains with Keras's model.fit (engine "auto" picks it; "fast" says why not)."""
    pytest.importorskip("torch", reason="PyTorch is not installed (CI leaves it out: its wheels are very large)")
    out = run(FIT.format(kind="bias") + """
import json, tempfile, os
assert not getattr(model, "_cfnb_fast_engines", None)
try:
    cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False, engine="fast")
    refused = ""
except cfnb.CfnbError as e:
    refused = str(e)
path = os.path.join(tempfile.mkdtemp(), "m.cfnb")
cfnb.save(model, small, path)
again, _ = cfnb.load(path)
same = bool((cfnb.predict(again, small, small.user_ids[:5], small.item_ids[:5], unknown="fallback")
             == cfnb.predict(model, small, small.user_ids[:5], small.item_ids[:5], unknown="fallback")).all())
print(json.dumps({"rows": len(history), "rmse": cfnb.evaluate(model, val)["rmse"], "refused": refused,
                  "same": same}))
""", "torch")
    facts = json.loads(out.strip().splitlines()[-1])
    assert facts["rows"] == 2 and np.isfinite(facts["rmse"]) and facts["same"]
    assert "'torch'" in facts["refused"]
