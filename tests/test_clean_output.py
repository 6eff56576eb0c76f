"""No TensorFlow, absl, oneDNN or CUDA log line after `import cfnb`, at the first op, or in `cfnb demo`
(a CPU machine); real warnings and errors still show. Notebooks: every cell nbval runs is scanned by
the root conftest.py (`LOG_LINE`)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent(
    reason="fresh processes that set KERAS_BACKEND themselves (both backends are parameters) and "
           "cfnb.quiet's stderr filter: the same in every run")


def run(args, backend="tensorflow", **env):
    """Run a fresh process as a user's terminal would (no TF_CPP_MIN_LOG_LEVEL of the test run's)."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(KERAS_BACKEND=backend, **env)
    return subprocess.run(args, capture_output=True, text=True, timeout=900, env=environment)


FIRST_OP = "import cfnb, warnings; cfnb.build_model('dot', 3, 4, seed=0); warnings.warn('a real warning')"


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_import_and_first_op_print_no_log_lines(backend, log_lines):
    code = FIRST_OP + "; model = cfnb.build_model('bias', 3, 4, seed=0); model.get_config()"  # on JAX: imports TF
    done = run([sys.executable, "-c", code], backend)
    assert done.returncode == 0, done.stderr
    assert log_lines(done.stdout + done.stderr) == []
    assert "UserWarning: a real warning" in done.stderr


def test_asking_for_tensorflow_logs_shows_them(log_lines):
    """TF_CPP_MIN_LOG_LEVEL=0 turns the filter off: the scan then finds TensorFlow's lines (so it can)."""
    done = run([sys.executable, "-c", FIRST_OP], TF_CPP_MIN_LOG_LEVEL="0")
    assert done.returncode == 0, done.stderr
    assert log_lines(done.stderr)


def test_demo_prints_no_log_lines(log_lines):
    done = run([sys.executable, "-m", "cfnb", "demo", "--synthetic", "--seed", "1"])
    assert done.returncode == 0, done.stderr
    assert log_lines(done.stdout + done.stderr) == []
    assert "SYNTHETIC" in done.stderr and "cfnb.BEST_RECIPE" in done.stdout


def test_filter_keeps_every_other_line(capfd):
    """What lands on descriptor 2 while TensorFlow loads comes back, less the known start-up lines."""
    from cfnb import quiet

    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1795886440.566304    6710 port.cc:153] oneDNN custom operations are on. You may see\n"
             "I0000 00:00:1795886440.571914    6710 cudart_stub.cc:31] Could not find cuda drivers on your "
             "machine, GPU will not be used.\n"
             "E0000 00:00:1795886461.356043    6710 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
             "error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
    real = "E0000 00:00:1795886461.356043    6710 some_kernel.cc:12] a real error\nTraceback: something broke\n"
    with quiet._filtered_stderr(lambda: False):
        os.write(2, (noise + real).encode())
    assert capfd.readouterr().err == real
    with quiet._filtered_stderr(lambda: True):  # with a GPU found, a cuInit failure is news: kept
        os.write(2, noise.encode())
    assert "failed call to cuInit" in capfd.readouterr().err


@pytest.mark.backend("tensorflow", reason="the retracing notice is TensorFlow's tf.function logger")
def test_predicting_with_many_new_models_prints_no_retracing_notice():
    """Each new model's predict function traces once; TensorFlow's notice about it is noise, other lines pass."""
    code = ("import logging, cfnb, numpy as np\n"
            "r = cfnb.synthetic(n_users=20, n_items=20, n_ratings=300, seed=0)\n"
            "for k in range(8):\n"
            "    cfnb.evaluate(cfnb.build_model('dot', r, seed=k, n_factors=2), r)\n"
            "logging.getLogger('tensorflow').warning('another tensorflow warning')\n")
    done = run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert "retracing" not in done.stdout + done.stderr
    assert "another tensorflow warning" in done.stderr


KERAS_FIRST = ("import keras, sys\n"
               "print('--- import cfnb ---', file=sys.stderr, flush=True)\n"
               "import cfnb\n"
               "r = cfnb.synthetic(n_users=30, n_items=40, n_ratings=600, seed=0)\n"
               "train, val = r.split(val_frac=0.2, seed=0)\n"
               "model = cfnb.build_model('bias', r, seed=0, n_factors=3)\n"
               "cfnb.fit_stages(model, train, val, stages=((1e-2, 1),), progress=None, seed=0)\n"
               "cfnb.evaluate(model, val)\n")


@pytest.mark.backend("tensorflow", reason="XLA's first-compile lines are TensorFlow's")
def test_keras_imported_first_still_gives_clean_cells_after_import_cfnb(log_lines):
    """A learner who writes `import keras` first gets TensorFlow's start-up lines from that line (cfnb
    cannot undo them), but none after `import cfnb`: not XLA's first-compile lines at the first fit."""
    done = run([sys.executable, "-c", KERAS_FIRST])
    assert done.returncode == 0, done.stderr
    before, after = done.stderr.split("--- import cfnb ---\n")
    assert log_lines(before)  # TensorFlow was imported, and at its default log level
    assert log_lines(after + done.stdout) == []
