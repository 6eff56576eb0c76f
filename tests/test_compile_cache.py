"""The JAX engines' persistent compilation cache: where it lives, how to turn it off, and that a
loop loaded from it trains to the same numbers as a fresh compile, with nothing printed."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend("jax", reason="the compilation cache is JAX's (TensorFlow recompiles per model)")

FIT = """
import json, cfnb
ratings = cfnb.synthetic(n_users=60, n_items=80, n_ratings=3000, seed=0)
train, val = ratings.split(seed=0)
model = cfnb.build_model("bias", ratings.n_users, ratings.n_items, seed=0)
history = cfnb.fit_stages(model, train, val, stages=[(1e-2, 2)], batch_size=256, engine="fast", seed=0)
from cfnb.fast_jax import compilation_cache_dir
print(json.dumps({"losses": [row["loss"] for row in history.rows], "folder": str(compilation_cache_dir())}))
"""


def fit_in_fresh_process(cache):
    env = {**os.environ, "KERAS_BACKEND": "jax", "CFNB_JAX_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_second_process_loads_the_compiled_loop_and_trains_to_the_same_numbers(tmp_path, log_lines):
    first, _ = fit_in_fresh_process(tmp_path / "cache")
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert entries, "the first fit wrote nothing to the cache"
    second, stderr = fit_in_fresh_process(tmp_path / "cache")
    assert second["losses"] == first["losses"]
    assert first["folder"] == str(tmp_path / "cache")
    assert log_lines(stderr) == []  # e.g. XLA's cpu_aot_loader rejecting an entry (jax-ml/jax#38445)


@pytest.mark.parametrize("word", ["off", "0", "none", ""])
def test_cfnb_jax_cache_off_turns_it_off(monkeypatch, word):
    from cfnb.training.engines.jax import compilation_cache_dir, use_compilation_cache

    monkeypatch.setenv("CFNB_JAX_CACHE", word)
    assert compilation_cache_dir() is None
    assert use_compilation_cache() is None


@pytest.fixture
def jax_config(monkeypatch):
    """JAX's config, with its cache folder put back afterwards (and no CFNB_JAX_CACHE)."""
    import jax

    monkeypatch.delenv("CFNB_JAX_CACHE", raising=False)
    old = jax.config.jax_compilation_cache_dir
    yield jax.config
    jax.config.update("jax_compilation_cache_dir", old)


def test_a_cache_folder_you_set_in_jax_is_kept(jax_config, tmp_path):
    from cfnb.training.engines.jax import compilation_cache_dir, use_compilation_cache

    jax_config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    assert compilation_cache_dir() == tmp_path / "mine"
    assert use_compilation_cache() == tmp_path / "mine"
    assert jax_config.jax_compilation_cache_dir == str(tmp_path / "mine")


def test_the_default_folder_is_in_cfnbs_user_cache(jax_config, monkeypatch, tmp_path):
    from cfnb.training.engines.jax import compilation_cache_dir

    jax_config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == tmp_path / "cfnb" / "jax"
