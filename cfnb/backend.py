"""The adapter to Keras's insides: every private Keras API cfnb uses lives here, and only here.

Each internal has one function below, listed in `INTERNALS`. When a Keras release drops or changes
one, `missing()` names it and cfnb takes a public route instead of breaking: `fit_stages` trains with
`model.fit` (engine "auto"; engine "fast" refuses with the reason), the summary reads the graph from
`model.get_config()`, and seeding goes through `keras.utils.set_random_seed`.
`tests/test_backend.py` checks every internal on the installed Keras (and fails loudly when one is
gone) and each public route on its own. `pyproject.toml` bounds Keras to the versions tested.
"""

from __future__ import annotations

import random

import keras
import numpy as np

#: Every private Keras API cfnb touches: name -> what cfnb uses it for.
INTERNALS = {
    "Functional._run_through_graph": "run a functional model's graph with some layers swapped "
                                     "(the fast engines' own dropout, the JAX engine's lazy rows)",
    "Adam._momentums, Adam._velocities, Adam._get_variable_index": "the Adam moments of one variable "
                                                                    "(the fast engines' own Adam steps)",
    "Adagrad._accumulators": "the Adagrad accumulator of one variable (the fast engines' own Adagrad steps)",
    "Operation._inbound_nodes, KerasTensor._keras_history": "which layers feed a layer (the summary's "
                                                            "'Connected to' column and the graph picture)",
    "keras.src.backend.common.global_state": "seed Keras on JAX or PyTorch without importing TensorFlow",
}


# The private names, as this Keras spells them (a test renames one to play a Keras without it).
GRAPH_RUNNER = "_run_through_graph"
ADAM_SLOTS = ("_momentums", "_velocities", "_get_variable_index")
ADAGRAD_SLOTS = ("_accumulators", "_get_variable_index")
INBOUND = ("_inbound_nodes", "_keras_history")
SEED_STATE = ("keras.src.backend.common.global_state", "keras.src.random.seed_generator",
              "keras.src.utils.rng_utils")


def name() -> str:
    """The Keras backend in use: "tensorflow", "jax", "torch" or "numpy"."""
    return keras.backend.backend()


# ------------------------------------------------------------------------------- the fast engines
def missing(model: keras.Model) -> str | None:
    """Which internal the fast engines need that `model`, its optimizer or this Keras lacks, or None."""
    if not callable(getattr(model, GRAPH_RUNNER, None)):
        return f"the model has no {GRAPH_RUNNER} (not a functional model, or a Keras without it)"
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    *slots, index = _slot_names(optimizer)
    needed = (index,) + (tuple(slots) if optimizer.built else ())
    lacking = [a for a in needed if not hasattr(optimizer, a)]
    if lacking:
        return f"this Keras's {type(optimizer).__name__} has no {', '.join(lacking)} to update in place"
    return None


def run_through_graph(model: keras.Model, inputs, operation_fn):
    """Run `model`'s graph on `inputs`, calling `operation_fn(layer)(*args, **kwargs)` for each layer."""
    return getattr(model, GRAPH_RUNNER)(inputs, operation_fn=operation_fn)


def optimizer_slots(optimizer, variable) -> tuple:
    """The variables an optimizer keeps for `variable`: Adam's (first moment, second moment), or
    Adagrad's (accumulator,)."""
    *slots, index = (getattr(optimizer, a) for a in _slot_names(optimizer))
    k = index(variable)
    return tuple(slot[k] for slot in slots)


def _slot_names(optimizer) -> tuple:
    """The private names of `optimizer`'s per-variable slot lists, then of its index function."""
    return ADAGRAD_SLOTS if isinstance(optimizer, keras.optimizers.Adagrad) else ADAM_SLOTS


# --------------------------------------------------------------------------------------- display
def inbound_layers(layer) -> list[str] | None:
    """Names of the layers whose outputs feed `layer`, or None if this Keras does not say (internal)."""
    nodes_attr, history_attr = INBOUND
    nodes = getattr(layer, nodes_attr, None)
    if nodes is None:
        return None
    names = []
    for node in nodes:
        for tensor in getattr(node, "input_tensors", []):
            history = getattr(tensor, history_attr, None)
            if history is None:
                return None
            names.append(history.operation.name)
    return names


def inbound_from_config(model: keras.Model) -> dict[str, list[str]]:
    """`layer name -> names of the layers feeding it`, read from the public `model.get_config()`."""
    try:
        layers = model.get_config().get("layers", [])
    except Exception:  # noqa: BLE001 - a model that cannot describe itself has no graph to show
        return {}
    return {spec.get("name", spec.get("config", {}).get("name")): _history_names(spec.get("inbound_nodes", []))
            for spec in layers}


def _history_names(value) -> list[str]:
    """Every `keras_history` layer name inside a serialized node (nested lists and dicts)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"][0]]
        return [n for v in value.values() for n in _history_names(v)]
    if isinstance(value, (list, tuple)):
        if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):  # older format
            return [value[0]]
        return [n for v in value for n in _history_names(v)]
    return []


# ------------------------------------------------------------------------------------------ seeds
def set_random_seed(seed: int) -> None:
    """`keras.utils.set_random_seed(seed)`, without importing TensorFlow on another backend.

    Keras's own function also seeds TensorFlow whenever it is installed, which on JAX or PyTorch
    imports it (seconds, and memory) only to seed a library that is not in use.
    """
    import sys

    modules = None if name() == "tensorflow" or "tensorflow" in sys.modules else _seed_modules()
    if modules is None:
        keras.utils.set_random_seed(int(seed))
        return
    global_state, seed_generator, rng_utils = modules
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, int(seed))
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(int(seed))
    np.random.seed(int(seed))
    if name() == "torch":
        import torch

        torch.manual_seed(int(seed))


def _seed_modules():
    """Keras's global-state, seed-generator and rng modules, or None if this Keras lacks them."""
    import importlib

    try:
        modules = [importlib.import_module(m) for m in SEED_STATE]
    except ImportError:
        return None
    global_state, seed_generator, rng_utils = modules
    if not (hasattr(global_state, "set_global_attribute") and hasattr(rng_utils, "GLOBAL_RANDOM_SEED")
            and hasattr(seed_generator, "GLOBAL_SEED_GENERATOR")):
        return None
    return modules
