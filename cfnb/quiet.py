"""TensorFlow's start-up log lines kept out of notebooks and terminals; real warnings and errors kept.

`install()` runs the first `import tensorflow` of the process with file descriptor 2 sent to a
temporary file and writes back every line that is not known start-up noise (docs/clean-output.md).
If TensorFlow was imported first, it runs TensorFlow's device set-up, and `first_fit` cfnb's first fit
(where the first XLA compile comes), under that filter instead."""

from __future__ import annotations

import contextlib
import importlib.abc
import logging
import os
import re
import sys
import tempfile

#: Lines TensorFlow prints at import on any machine; none of them reports a problem.
NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$",
    r"\bport\.cc:\d+\] oneDNN custom operations are on\b",
    r"\bcudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used",
    r"\bcpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.\s*$",
    r"\bUnable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to register factory for plugin",
    r"\bTF-TRT Warning: Could not find TensorRT",
))
#: TensorFlow's attempt to start CUDA, which fails on a machine without a GPU (dropped only there).
NO_GPU = re.compile(r"\bfailed call to cuInit\b")


#: TensorFlow's Python-side notice when many new `tf.function`s trace: cfnb predicts with each new
#: model (a fit, an evaluation, a benchmark row), and each model's predict function traces once.
RETRACING = re.compile(r"triggered tf\.function retracing")


class _NoRetracingNotice(logging.Filter):
    """Drops TensorFlow's retracing notice (`RETRACING`); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not RETRACING.search(record.getMessage())


#: A C++ log line's severity letter (absl / glog prefix: `I0000 00:00:1796404924.085043  19704 file.cc:153]`).
SEVERITY = re.compile(r"^\s*([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+\S+:\d+\]")


def install() -> None:
    """Quiet TensorFlow's start-up lines (its first import and device set-up), unless TF_CPP_MIN_LOG_LEVEL=0."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip()
    if level == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingNotice) for f in tf_logger.filters):
        tf_logger.addFilter(_NoRetracingNotice())
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # imported before cfnb: its import lines are out, but not yet its cuInit line
        _late(tf, "IWE"[:int(level)] if level in ("1", "2", "3") else "IW")
    elif not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def _late(tf, below: str) -> None:
    """TensorFlow was imported before cfnb, so it read its log level before cfnb could set one: its
    once-per-process lines at the first device set-up and the first XLA compile ("XLA service ...
    initialized", "StreamExecutor", "disabling MLIR crash reproducer", "Compiled cluster using XLA!")
    would reach the learner's next cells. Run the device set-up here, once, and cfnb's first fit under
    the same filter (`first_fit`), dropping those lines and any other of the severities (`below`,
    e.g. "IW") that `TF_CPP_MIN_LOG_LEVEL` would have hidden."""
    if getattr(tf, "_cfnb_quieted", False):
        return
    gpus = []
    with _filtered_stderr(lambda: bool(gpus), below):
        # Listing devices leaves the eager context alone: running an op here (an XLA compile, say) would
        # start it, and a MultiWorkerMirroredStrategy made after `import cfnb` could not configure its
        # collectives any more. The first XLA compile's lines come in cfnb's first fit (`first_fit`).
        gpus = tf.config.list_physical_devices("GPU")
    tf._cfnb_quieted = True
    _PENDING.update(gpu=bool(gpus), below=below)


#: Set by `_late`: the first fit still prints a once-per-process line (MLIR's crash reproducer notice
#: at Keras's first compiled train step), so `first_fit` filters that fit too.
_PENDING: dict = {}


@contextlib.contextmanager
def first_fit():
    """Around cfnb's fits: after a late TensorFlow import (`_late`), the first one runs with descriptor 2
    filtered as `_late`'s set-up was (its output shows when it ends); every other fit runs as it is."""
    if "below" not in _PENDING:
        yield
        return
    gpu, below = _PENDING.pop("gpu"), _PENDING.pop("below")
    with _filtered_stderr(lambda: gpu, below):
        yield


def is_noise(line: str, gpu: bool = False, below: str = "") -> bool:
    """Whether `line` is one of TensorFlow's start-up lines (`gpu`: TensorFlow found a GPU), or a C++
    log line of a severity in `below` ("IW": info and warnings)."""
    if any(p.search(line) for p in NOISE) or (not gpu and NO_GPU.search(line) is not None):
        return True
    severity = SEVERITY.match(line) if below else None
    return severity is not None and severity.group(1) in below


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the other finders and wraps its loader in `_QuietLoader`.

    A mere look-up (`importlib.util.find_spec("tensorflow")`, as libraries probe for it) runs
    nothing; the finder leaves `sys.meta_path` when TensorFlow is really imported.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        for finder in [f for f in sys.meta_path if f is not self]:
            spec = getattr(finder, "find_spec", lambda *a: None)(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader, and its device set-up, with descriptor 2 captured and filtered."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        for finder in [f for f in sys.meta_path if isinstance(f, _QuietFinder)]:
            sys.meta_path.remove(finder)
        gpus = []
        try:
            with _filtered_stderr(lambda: bool(gpus)):
                self.loader.exec_module(module)
                gpus = module.config.list_physical_devices("GPU")  # cuInit, here rather than at the first op
        finally:
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader

    def __getattr__(self, name):  # get_filename, get_resource_reader, ...: the real loader's
        return getattr(self.loader, name)


@contextlib.contextmanager
def _filtered_stderr(found_gpu, below: str = ""):
    """Send descriptor 2 to a temporary file; then write back the lines that are not start-up noise
    (nor C++ log lines of the severities in `below`)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable descriptor 2: nothing to capture
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line, found_gpu(), below)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
