"""The same seed gives the same split and, on CPU, the same validation RMSE (to 1e-6) in fresh processes."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import keras
    import cfnb

    seed = int(sys.argv[1])
    ratings = cfnb.synthetic(n_users=60, n_items=80, n_ratings=3000, seed=0)
    train, val = ratings.split(0.2, seed=seed)
    out = {"split": hashlib.sha256(train.frame.to_numpy().tobytes()).hexdigest()}
    for kind, extra in (("bias", {}), ("nn", {"hidden": 16})):  # nn: dropout draws from the seed too
        keras.utils.set_random_seed(seed)  # initial weights
        model = cfnb.build_model(kind, ratings.n_users, ratings.n_items, n_factors=5, **extra)
        history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2), (1e-3, 1)], batch_size=64,
                                  progress=False, seed=seed)  # shuffling and dropout
        out[kind] = history.val_rmse
    print("RESULT " + json.dumps(out))
""")


def run_all(seeds):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(s)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for s in seeds]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT "):]))
    return results


def test_same_seed_same_split_and_val_rmse_in_fresh_processes(small):
    a, b = run_all([3, 3])
    assert a["split"] == b["split"]
    for kind in ("bias", "nn"):
        assert abs(a[kind] - b[kind]) < 1e-6, (kind, a[kind], b[kind])
    assert not small.split(0.2, seed=3)[0].frame.equals(small.split(0.2, seed=4)[0].frame)  # the seed matters
