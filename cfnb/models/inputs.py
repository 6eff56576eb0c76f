"""A user–item model's two inputs by role (which codes it takes where) and its embedding tables' sizes.

cfnb feeds a model's inputs by name (`user_in`, `movie_in`), whatever their order; the table sizes
are read from the graph: the smallest `Embedding` fed (through any layers) by one input alone. A
model in which they cannot be found is refused with the reason (ArgumentError), never guessed.
"""

from __future__ import annotations

from cfnb import backend
from cfnb.errors import ArgumentError
from cfnb.names import ITEM_IN, USER_IN


def input_names(model) -> list[str]:
    """The names of a functional model's inputs, in its order."""
    return [str(getattr(t, "name", "?")).split(":")[0] for t in getattr(model, "inputs", None) or []]


def table_rows(model) -> tuple[int, int]:
    """Embedding rows for users and for items, found in the graph (see the module's docstring)."""
    name = getattr(model, "name", "?")
    if not isinstance(getattr(model, "inputs", None), list) or not model.inputs:
        raise ArgumentError(f"Model {name!r} is not a functional Keras model with two inputs (user and movie codes): "
                         "build it as keras.Model([user_in, movie_in], output).")
    names = input_names(model)
    if sorted(names) != sorted([USER_IN, ITEM_IN]):
        raise ArgumentError(f"Model {name!r} has inputs {names}; cfnb feeds user codes to an input named {USER_IN!r} "
                         f"and movie codes to one named {ITEM_IN!r}. Bring it in with cfnb.adopt(model, ratings, "
                         "inputs=(user_name, movie_name)) (or lab.add(model, inputs=...)), which renames them.")
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or tuple(outputs[0].shape[1:]) not in ((), (1,)):
        raise ArgumentError(f"Model {name!r} has outputs of shapes {[tuple(o.shape) for o in outputs]}; expected one "
                         "output of shape (None, 1): the predicted rating.")
    rows = input_tables(model, names)
    found = []
    for role, label in ((USER_IN, "user"), (ITEM_IN, "movie")):
        if not rows[role]:
            raise ArgumentError(f"Model {name!r}: no Embedding layer is fed by its {label} input {role!r} alone, so cfnb "
                             f"cannot tell how many {label}s it has rows for (and could not check codes against "
                             "them). Look the codes up with keras.layers.Embedding(input_dim=n, ...) on that input.")
        found.append(min(rows[role]))
    return found[0], found[1]


def input_tables(model, names: list[str]) -> dict[str, list[int]]:
    """Input name -> input_dim of every Embedding whose input comes from that model input alone."""
    import keras

    nodes_attr, history_attr = backend.INBOUND  # Keras's private graph links, named once in cfnb.backend
    inputs = {id(getattr(t, history_attr).operation): n for t, n in zip(model.inputs, names)
              if hasattr(t, history_attr)}
    upstream: dict[tuple, frozenset] = {}
    rows: dict[str, list[int]] = {n: [] for n in names}

    def sources(tensor) -> frozenset:
        history = getattr(tensor, history_attr, None)
        if history is None:
            return frozenset()
        op, index = history.operation, history.node_index
        key = (id(op), index)
        if key in upstream:
            return upstream[key]
        upstream[key] = frozenset()  # guards against cycles
        if id(op) in inputs:
            found = frozenset([inputs[id(op)]])
        else:
            node = getattr(op, nodes_attr)[index]
            found = frozenset().union(*(sources(t) for t in node.input_tensors)) if node.input_tensors else frozenset()
            if isinstance(op, keras.layers.Embedding) and node.input_tensors:
                feeding = sources(node.input_tensors[0])
                if len(feeding) == 1:
                    rows[next(iter(feeding))].append(int(op.input_dim))
        upstream[key] = found
        return found

    for output in model.outputs:
        sources(output)
    return rows
