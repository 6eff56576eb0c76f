"""Shared by tests/ and notebooks/: the MovieLens copy, the Keras backend marker, and the scan for
TensorFlow log lines.

* The tests and the notebooks (nbval) read the MovieLens copy beside the project (CFNB_DATA_HOME).
  This file sits at the root, not in notebooks/, so that notebooks/ holds only the lessons that the
  wheel ships (package data `cfnb/lessons/`).

* `@pytest.mark.backend("tensorflow", reason=...)` (declared in pyproject.toml): the test applies to
  those Keras backends only;
  on another (`KERAS_BACKEND=jax pytest`) it is skipped with that reason. Everything unmarked runs
  on every backend.
* Every notebook cell that nbval runs has each of its outputs (stdout, stderr, errors, displayed
  text) scanned for a TensorFlow, absl, oneDNN or CUDA log line; one fails that cell. The pattern
  is deliberately broader than what `cfnb.quiet` filters.
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


def pytest_collection_modifyitems(config, items):
    import keras

    current = keras.backend.backend()
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and current not in marker.args:
            why = marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(
                reason=f"{' / '.join(marker.args)} only (this run: {current}){': ' + why if why else ''}"))


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
