"""From clicks to code: the Keras functional-API source of any registered model kind.

`model_code` builds the kind with `build_model` and writes its graph back out as code, layer by
layer in the graph's order: each layer's constructor with the arguments whose values differ from
the layer's defaults (read from `get_config()`), called on the variables of its inputs. Nothing is
known per kind, so a newly registered kind gets its code for free; executing the code builds a
model with the same layer names, shapes, configs and parameter count (not the same random weights:
seed them with `keras.utils.set_random_seed`).
"""

from __future__ import annotations

import builtins
import inspect
import json
import keyword

import keras

from cfnb import checks
from cfnb.errors import ArgumentError, ArgumentTypeError
from cfnb.models.build import build_model
from cfnb.models.kinds import check_hyperparameters, kind_of

_WIDTH = 100
_SKIP = {"name", "registered_name", "build_config", "compile_config"}
_KEYWORD_ONLY = {"axis", "axes"}  # required arguments that read better as keywords: Dot(axes=2)


def model_code(kind: str, n_users, n_items: int | None = None, *, names: bool = True, summary: bool = False,
               count_params: bool = True, **hyperparameters) -> str:
    """The Keras functional-API source that builds `build_model(kind, n_users, n_items, **hyperparameters)`.

    Args:
        kind: a registered model kind ("dot", "bias", "nn", or any kind in `models.REGISTRY`).
        n_users, n_items: embedding rows for users and movies; or a `Ratings` as `n_users` alone
            (its sizes), as for `build_model`.
        names: write the table sizes and whole-number hyperparameters (`n_factors`, `hidden`) as
            named variables at the top (`n_users, n_items = 610, 9724`) instead of literals.
        summary: end with `model.summary()`.
        count_params: end with `print(model.count_params())`.
        **hyperparameters: the kind's hyperparameters, as for `build_model`.

    Returns:
        Python source (a string) that imports Keras, builds the graph with named `keras.Input`s and
        layers, and assigns it to `model`.

    Raises:
        ArgumentError: an unknown kind, or a size or hyperparameter out of range (named).
    """
    spec = kind_of(kind)
    if hasattr(n_users, "vocabulary"):  # a Ratings
        if n_items is not None:
            raise ArgumentTypeError("model_code(kind, ratings) takes the sizes from the Ratings: pass no n_items.")
        n_users, n_items = n_users.n_users, n_users.n_items
    n_users, n_items = checks.whole("n_users", n_users), checks.whole("n_items", n_items)
    hp = check_hyperparameters(kind, hyperparameters)
    model = build_model(kind, n_users, n_items, **hyperparameters)
    named = _named_values(kind, n_users, n_items, hp, model) if names else {}
    body = graph_code(model, named)
    if names and named:
        values = {}
        for layer_values in named.values():
            for variable, value in layer_values.values():
                values.setdefault(variable, value)
        sizes = [v for v in ("n_users", "n_items") if v in values]
        lines = [f"{', '.join(sizes)} = {', '.join(str(values[v]) for v in sizes)}"] if sizes else []
        lines += [f"{v} = {_literal(values[v])}" for v in values if v not in sizes]
        body = body.replace("\n\n", "\n\n" + "\n".join(lines) + "\n\n", 1)
    tail = (["model.summary()"] if summary else []) + (["print(model.count_params())"] if count_params else [])
    return f"# {kind}: {spec.description}\n" + body + ("\n".join(tail) + "\n" if tail else "")


def _named_values(kind, n_users, n_items, hp, model) -> dict:
    """{layer name: {config key: (variable name, value)}} for config entries that are a size or a
    whole-number hyperparameter: found by building the kind again with that one value plus one and
    seeing which whole-number entries move with it."""
    quantities = {"n_users": n_users, "n_items": n_items}
    quantities.update({k: v for k, v in hp.items() if type(v) is int})
    base = {layer.name: layer.get_config() for layer in model.layers}
    named: dict = {}
    for variable, value in quantities.items():
        sizes = {"n_users": n_users, "n_items": n_items}
        extra = {k: v for k, v in hp.items() if k != "y_range"}
        if variable in sizes:
            sizes[variable] = value + 1
        else:
            extra[variable] = value + 1
        probe = build_model(kind, sizes["n_users"], sizes["n_items"], **extra, y_range=hp["y_range"])
        moved = {layer.name: layer.get_config() for layer in probe.layers}
        if list(moved) != list(base):
            continue  # the graph itself changed with this value: leave it literal
        for layer, config in base.items():
            for key, v in config.items():
                if type(v) is int and v == value and moved[layer].get(key) == value + 1:
                    named.setdefault(layer, {}).setdefault(key, (variable, value))
    return named


def graph_code(model: keras.Model, named: dict | None = None) -> str:
    """Python source for a functional Keras `model`: imports, inputs, one line per layer, `model = ...`.

    Args:
        model: a functional Keras model (built from `keras.Input`s).
        named: optional `{layer name: {config key: (variable, value)}}`: config entries to write as
            that variable instead of the literal value (see `model_code`).

    Returns:
        The source; running it assigns an equivalent (freshly initialised) model to `model`.
    """
    named = named or {}
    config = model.get_config()
    if "layers" not in config or "input_layers" not in config:
        raise ArgumentError(f"graph_code needs a functional Keras model (built from keras.Input), "
                            f"got {type(model).__name__} {model.name!r}.")
    imports = {"import keras", "from keras import layers"}
    reserved = {"keras", "layers", "model"} | {v for d in named.values() for v, _ in d.values()}
    variables: dict[tuple, str] = {}   # (layer, node, tensor) -> expression
    lines = []
    referenced = _referenced(config)
    for entry in _reading_order(config):
        layer = model.get_layer(entry["name"])
        var = _variable(layer.name, reserved)
        reserved.add(var)
        path, args = _constructor(layer, named.get(layer.name, {}), imports)
        nodes = entry["inbound_nodes"]
        if not nodes:  # an input
            lines.append(_wrap(f"{var} = {path}(", ", ".join(args) + ")"))
            variables[(layer.name, 0, 0)] = var
            continue
        if len(nodes) > 1:  # a shared layer: make it once, call it for each node
            lines.append(_wrap(f"{var}_layer = {path}(", ", ".join(args) + ")"))
        for k, node in enumerate(nodes):
            out = var if len(nodes) == 1 else f"{var}_{k}"
            inbound = [_argument(a, variables) for a in node["args"]]
            defaults = _call_defaults(layer)
            inbound += [f"{key}={_argument(a, variables)}" for key, a in node["kwargs"].items()
                        if not _same(a, defaults.get(key, _MISSING))]  # e.g. Dropout's training=False
            if len(nodes) > 1:
                lines.append(_wrap(f"{out} = {var}_layer(", ", ".join(inbound) + ")"))
            else:
                lines.append(_wrap(f"{out} = {path}(", ", ".join(args) + f")({', '.join(inbound)})"))
            several = any(t > 0 for (name, n, t) in referenced if name == layer.name and n == k)
            for (name, n, t) in referenced:
                if name == layer.name and n == k:
                    variables[(name, n, t)] = f"{out}[{t}]" if several else out
    inputs = _structure(config["input_layers"], variables)
    outputs = _structure(config["output_layers"], variables)
    lines.append(_wrap("model = keras.Model(", f"{inputs}, {outputs}, name={_literal(model.name)})"))
    ordered = ["import keras", "from keras import layers"] + sorted(imports - {"import keras", "from keras import layers"})
    return "\n".join(ordered) + "\n\n" + "\n".join(lines) + "\n"


def _variable(name: str, taken: set) -> str:
    """A Python variable for layer `name`: the name itself where it is a free identifier."""
    var = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "x"
    if var[0].isdigit():
        var = "_" + var
    if keyword.iskeyword(var) or hasattr(builtins, var) or var in taken:
        var += "_out"
    base, k = var, 1
    while var in taken:
        k += 1
        var = f"{base}{k}"
    return var


def _reading_order(config) -> list[dict]:
    """The layer entries in the order a person writes them: depth first from the outputs, each
    layer right after what it takes (user_in, user_factors, movie_in, movie_factors, dot, ...)."""
    entries = {e["name"]: e for e in config["layers"]}
    order: list[str] = []

    def visit(name):
        if name in order:
            return
        for (parent, _, _) in _tensors(entries[name]["inbound_nodes"]):
            visit(parent)
        order.append(name)

    for (name, _, _) in _tensors(config["output_layers"]) + _tensors(config["input_layers"]):
        visit(name)
    order += [n for n in entries if n not in order]
    return [entries[n] for n in order]


def _tensors(value) -> list[tuple]:
    """The `(layer, node, tensor)` references in a piece of functional config, in order."""
    found: list[tuple] = []
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(tuple(value["config"]["keras_history"]))
        else:
            for v in value.values():
                found += _tensors(v)
    elif isinstance(value, (list, tuple)):
        if len(value) == 3 and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:]):
            found.append(tuple(value))
        else:
            for v in value:
                found += _tensors(v)
    return found


def _call_defaults(layer) -> dict:
    """The defaults of the layer's `call` arguments."""
    try:
        params = inspect.signature(layer.call).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _referenced(config) -> set[tuple]:
    """Every `(layer, node, tensor)` that a call or the model's inputs/outputs take, and each input."""
    found = set(_tensors(config["input_layers"]) + _tensors(config["output_layers"]))
    for entry in config["layers"]:
        found.update(_tensors(entry["inbound_nodes"]))
        if not entry["inbound_nodes"]:
            found.add((entry["name"], 0, 0))
    return found


def _structure(value, variables) -> str:
    """`input_layers` / `output_layers` of a functional config as a variable or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return variables[tuple(value)]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_structure(v, variables)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(_structure(v, variables) for v in value) + "]"


def _argument(value, variables) -> str:
    """A call argument of an inbound node: a tensor's variable, a list of them, or a literal."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return variables[tuple(value["config"]["keras_history"])]
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_argument(v, variables) for v in value) + "]"
    return _literal(value)


def _required(cls) -> list[str]:
    """The constructor's parameters that have no default (in order)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _constructor(layer, named: dict, imports: set) -> tuple[str, list[str]]:
    """`("layers.Embedding", ["n_users", "n_factors", ..., 'name="user_factors"'])`: the class, then its
    required arguments, those that differ from the defaults, and the name."""
    cls, config = type(layer), layer.get_config()
    if isinstance(layer, keras.layers.InputLayer):
        return "keras.Input", _input(config)
    required = _required(cls)
    reference = cls(**{k: config[k] for k in required}).get_config()
    args, kwargs = [], []
    for key in required:
        text = named[key][0] if key in named else _literal(config[key], imports)
        if key in _KEYWORD_ONLY:
            kwargs.append(f"{key}={text}")
        else:
            args.append(text)
    for key, value in config.items():
        if key in _SKIP or key in required or _same(value, reference.get(key, _MISSING)):
            continue
        kwargs.append(f"{key}={named[key][0] if key in named else _literal(value, imports)}")
    kwargs.append(f"name={_literal(layer.name)}")
    return _class_path(cls, imports), args + kwargs


def _input(config) -> list[str]:
    """The arguments of `keras.Input(shape=(1,), dtype="int32", name="user_in")` from an InputLayer's config."""
    shape = config["batch_shape"]
    parts = [f"shape={_literal(tuple(shape[1:]))}"] if shape[0] is None else [f"batch_shape={_literal(tuple(shape))}"]
    dtype = config.get("dtype")
    if dtype is not None:
        parts.append(f"dtype={_literal(dtype if isinstance(dtype, str) else dtype.get('config', {}).get('name'))}")
    parts += [f"{k}=True" for k in ("sparse", "ragged", "optional") if config.get(k)]
    parts.append(f"name={_literal(config['name'])}")
    return parts


_MISSING = object()


def _same(a, b) -> bool:
    """Config values equal up to list/tuple (serialised configs mix them)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _class_path(cls, imports: set) -> str:
    """How the code names a class: `layers.Dense`, `keras.regularizers.L2`, or an imported name."""
    if getattr(keras.layers, cls.__name__, None) is cls:
        return f"layers.{cls.__name__}"
    for module in ("regularizers", "initializers", "constraints", "activations", "dtype_policies"):
        if getattr(getattr(keras, module), cls.__name__, None) is cls:
            return f"keras.{module}.{cls.__name__}"
    if getattr(keras, cls.__name__, None) is cls:
        return f"keras.{cls.__name__}"
    imports.add(f"from {cls.__module__} import {cls.__name__}")
    return cls.__name__


def _serialised(value) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value and "module" in value


def _object(value: dict, imports: set) -> str:
    """A serialised Keras object (regularizer, initializer, ...) as a constructor call, defaults left out."""
    obj = keras.saving.deserialize_keras_object(value)
    cls = type(obj)
    config = obj.get_config()
    try:
        reference = cls(**{k: config[k] for k in _required(cls)}).get_config()
    except TypeError:
        reference = {}
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    kept = {k: v for k, v in config.items() if not _same(v, reference.get(k, _MISSING))}
    if len(kept) == 1 and params and next(iter(kept)) == params[0]:
        args = _literal(next(iter(kept.values())), imports)
    else:
        args = ", ".join(f"{k}={_literal(v, imports)}" for k, v in kept.items())
    return f"{_class_path(cls, imports)}({args})"


def _literal(value, imports: set | None = None) -> str:
    """A Python literal for a config value (short floats such as 1e-4, double-quoted strings)."""
    if _serialised(value):
        return _object(value, imports if imports is not None else set())
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, tuple):
        items = [_literal(v, imports) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, imports) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v, imports)}" for k, v in value.items()) + "}"
    return repr(value)


def _float(value: float) -> str:
    """The shortest exact spelling, in the lesson's `1e-4` form for small numbers."""
    text = repr(value)
    if value != 0 and abs(value) < 1e-2:
        for digits in range(17):
            mantissa, exponent = f"{value:.{digits}e}".split("e")
            short = f"{mantissa}e{int(exponent)}"
            if float(short) == value:
                return short
    return text


def _wrap(head: str, rest: str) -> str:
    """`head + rest` on one line, or broken at `rest`'s top-level commas, continuing under the paren."""
    if len(head) + len(rest) <= _WIDTH:
        return head + rest
    pieces, current, depth = [], "", 0
    for ch in rest:
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            pieces.append(current.strip() + ",")
            current = ""
        else:
            current += ch
    pieces.append(current.strip())
    lines, line = [], head + pieces[0]
    for piece in pieces[1:]:
        if len(line) + 1 + len(piece) <= _WIDTH:
            line += " " + piece
        else:
            lines.append(line)
            line = " " * len(head) + piece
    return "\n".join(lines + [line])
