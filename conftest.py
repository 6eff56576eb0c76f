"""Shared by tests/ and notebooks/: the MovieLens copy, the Keras backend marker, and the scan for
TensorFlow log lines.

* The tests and the notebooks (nbval) read the MovieLens copy beside the project (CFNB_DATA_HOME).
  This file sits at the root, not in notebooks/, so that notebooks/ holds only the lessons that the
  wheel ships (package data `cfnb/lessons/`).

* `@pytest.mark.backend("tensorflow", reason=...)` (declared in pyproject.toml): the test applies to
  those Keras backends only;
  on another (`KERAS_BACKEND=jax pytest`) it is skipped with that reason. Everything unmarked runs
  on every backend.
* `@pytest.mark.backend_independent(reason=...)` (a module's `pytestmark` or one test): the test does
  not depend on the Keras backend (pure data parsing, static checks, or fresh processes that name
  their backend themselves), so the TensorFlow run covers it and the JAX run skips it, saying why.
  `@pytest.mark.backend_dependent` on one test of such a module keeps that test on every backend.
* Every notebook cell that nbval runs has each of its outputs (stdout, stderr, errors, displayed
  text) scanned for a TensorFlow, absl, oneDNN or CUDA log line; one fails that cell. The pattern
  is deliberately broader than what `cfnb.quiet` filters.
* Under pytest-xdist (`-n 2`, with `--dist loadscope` from pyproject.toml: a file, or a notebook's
  cells in one kernel, stays on one worker), each worker starts the slowest files first
  (`SLOW_FIRST`), so that no minute-long test is left for one worker at the end.
"""

import os
import re
from pathlib import Path

import pytest

_SHARED = Path(__file__).resolve().parent.parent / "shared" / "data" / "movielens"
os.environ.setdefault("CFNB_DATA_HOME", str(_SHARED))

#: Any line of TensorFlow's (or XLA's, absl's, CUDA's) logging, as it reaches a cell or a terminal.
LOG_LINE = re.compile(
    r"^\s*[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+\S+:\d+\]"  # absl / glog prefix (seconds: since 1970 too)
    r"|absl::InitializeLog|^WARNING:absl:|oneDNN|cuInit|cuda|CUDA|cuDNN|cuFFT|cuBLAS|TensorRT|TF-TRT"
    r"|cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags",
    re.MULTILINE)


def _log_lines(text: str) -> list[str]:
    """The lines of `text` that look like TensorFlow / absl / oneDNN / CUDA logging."""
    return [line for line in text.splitlines() if LOG_LINE.search(line)]


@pytest.fixture
def log_lines():
    """`log_lines(text)`: the lines of `text` that look like TensorFlow / absl / oneDNN / CUDA logging."""
    return _log_lines


def pytest_configure(config):
    import cfnb  # noqa: F401  first, so that TensorFlow's start-up lines are filtered here too


#: The files (and notebooks) that took longest on two busy cores, slowest first (each 30-90 s of a
#: ~17 min TensorFlow run). Only the order under xdist; a name missing from the run does no harm.
SLOW_FIRST = ("tests/test_browser.py", "notebooks/05_dot_vs_mlp.ipynb", "tests/test_clean_output.py",
              "tests/test_bench.py", "tests/test_fast.py", "tests/test_interrupt.py", "tests/test_distribute.py",
              "tests/test_widgets.py", "tests/test_kinds.py", "tests/test_backends_cross.py", "tests/test_implicit.py",
              "tests/test_lessons.py", "tests/test_distribute_jax.py", "tests/test_cli.py",
              "notebooks/04_widgets.ipynb", "tests/test_lr_find.py", "tests/test_ranking.py",
              "notebooks/03_neural_net.ipynb", "tests/test_reproducible.py")

#: The backend on which `backend_independent` tests run.
REFERENCE_BACKEND = "tensorflow"


def pytest_collection_modifyitems(config, items):
    import keras

    current = keras.backend.backend()
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and current not in marker.args:
            why = marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(
                reason=f"{' / '.join(marker.args)} only (this run: {current}){': ' + why if why else ''}"))
        same = item.get_closest_marker("backend_independent")
        if same is not None and current != REFERENCE_BACKEND and item.get_closest_marker("backend_dependent") is None:
            why = same.kwargs.get("reason") or (same.args[0] if same.args else "")
            if not why:
                raise pytest.UsageError(f"{item.nodeid}: backend_independent needs a reason")
            item.add_marker(pytest.mark.skip(
                reason=f"backend-independent, run on {REFERENCE_BACKEND} (this run: {current}): {why}"))
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts the same collection the same way
        rank = {name: i for i, name in enumerate(SLOW_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # raises if the cell (or test) failed
    outputs = getattr(item, "test_outputs", None)  # an nbval cell: what the kernel sent back
    if not outputs:
        return result
    found = []
    for out in outputs:
        texts = [out.get("text", "")] + list(out.get("traceback", []))
        texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)]
        found += [f"[{out.get('name') or out.get('output_type')}] {line}" for t in texts for line in _log_lines(t)]
    if found:
        raise AssertionError("TensorFlow / absl / CUDA log lines in the cell's output:\n" + "\n".join(found))
    return result
