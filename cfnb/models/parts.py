"""The checks `cfnb.load` makes on each part of a saved file, and on a model's optimizer state.

Each raises `ModelFileError` naming the part (the member of the zip, or the manifest's section) and
what is wrong with it: a corrupt, truncated or foreign part is refused, never loaded as it is.
`optimizer_problem` also serves `fit_stages`, which refuses a model whose optimizer would train to NaN.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib

import numpy as np

from cfnb.errors import ArgumentError, CfnbError, ModelFileError
from cfnb.models.kinds import REGISTRY, check_hyperparameters
from cfnb.models.record import TrainedOn

RECORD = "the record of the training data (cfnb-model.json's \"trained_on\" and trained_on.npz)"


def member(z: zipfile.ZipFile, name: str, path) -> bytes:
    """The bytes of `name` in the saved zip; missing or corrupt: a ModelFileError naming it."""
    try:
        return z.read(name)
    except KeyError:
        raise ModelFileError(f"{path} lacks {[name]}: not a complete cfnb model file. Save it again.") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: its {name} is corrupt or truncated ({type(e).__name__}: {str(e)[:160]}). "
                             "Save it again with cfnb.save().") from None


def arrays(data: bytes, name: str, path, keys, optional=()) -> dict[str, np.ndarray]:
    """The arrays `keys` (and those of `optional` it holds) of the .npz member `name`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ModelFileError(f"{path}: its {name} lacks the arrays {missing} (corrupt or from another file).")
            return {k: np.asarray(npz[k]) for k in (*keys, *optional) if k in npz.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: its {name} is corrupt or truncated ({type(e).__name__}: {str(e)[:160]}).") from None


def ratings_arrays(found: dict, n: int, path) -> None:
    """The coded ratings of ratings.npz: whole-number codes, finite ratings, `n` of each."""
    for key, values in found.items():
        whole = key != "rating"
        if values.ndim != 1 or len(values) != n or (whole and values.dtype.kind not in "iu") \
                or (not whole and (values.dtype.kind != "f" or not np.isfinite(values).all())):
            what = "whole numbers" if whole else "finite numbers"
            raise ModelFileError(f"{path}: its ratings.npz is corrupt: {key!r} should hold {n:,} {what} (the manifest's "
                                 f"count), it holds {values.shape} of {values.dtype}.")


def config(raw, path) -> dict:
    """The manifest's "config" (`cfnb_config`), each value checked against its kind's hyperparameters."""
    def bad(why):
        return ModelFileError(f"{path}: its config (cfnb-model.json's \"config\") is malformed: {why}.")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad(f"a {type(raw).__name__}, not a mapping of hyperparameters")
    found = dict(raw)
    for size in ("n_users", "n_items"):
        if size in found and (not isinstance(found[size], int) or isinstance(found[size], bool) or found[size] < 1):
            raise bad(f"{size}={found[size]!r} is not a positive whole number")
    if isinstance(found.get("y_range"), list):
        found["y_range"] = tuple(found["y_range"])
    kind = found.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise bad(f"kind={kind!r} is not a kind's name")
    if kind in REGISTRY:
        try:
            check_hyperparameters(kind, {k: v for k, v in found.items() if k not in ("kind", "n_users", "n_items")})
        except ArgumentError as e:
            raise bad(str(e).rstrip(".")) from None
    return found


def sizes(config: dict, rows: tuple[int, int], ratings, path) -> None:
    """The config's sizes, model.keras's embedding tables and the saved ratings' vocabulary agree."""
    for i, (label, n) in enumerate((("users", ratings.n_users), ("items", ratings.n_items))):
        size = config.get(("n_users", "n_items")[i])
        if size is not None and size != rows[i]:
            raise ModelFileError(f"{path}: its config says {size:,} {label} but model.keras has embedding tables of "
                                 f"{rows[i]:,} rows for them: the parts come from different models.")
        if rows[i] != n:
            raise ModelFileError(f"{path}: model.keras has embedding tables of {rows[i]:,} rows for its {label} but the "
                                 f"saved ratings map {n:,} {label}: the parts come from different models.")


def record(meta, found: dict, ratings, rows: tuple[int, int], path) -> TrainedOn:
    """The saved `TrainedOn`, refused if malformed or from another model (sizes, vocabulary)."""
    def bad(why):
        return ModelFileError(f"{path}: {RECORD} is malformed or from another model: {why}.")
    if not isinstance(meta, dict):
        raise bad(f"a {type(meta).__name__}, not a mapping")
    for key, kinds in (("user_counts", "iu"), ("item_counts", "iu"), ("user_offsets", "fiu"), ("item_offsets", "fiu")):
        if found[key].dtype.kind not in kinds or found[key].ndim != 1:
            raise bad(f"{key} holds {found[key].shape} of {found[key].dtype}, not a column of "
                      f"{'whole numbers' if kinds == 'iu' else 'numbers'}")
    try:
        trained = TrainedOn.from_saved(meta, found)
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"{type(e).__name__}: {str(e)[:120]}") from None
    if not isinstance(meta.get("sets", []), list) or not all(isinstance(s, str) for s in trained.sets):
        raise bad("its list of training sets is not a list of fingerprints")
    if not (isinstance(meta.get("engine"), dict) or meta.get("engine") is None):
        raise bad("its engine is not a mapping")
    for label, n, counts, offsets, r in (("user", trained.n_users, trained.user_counts, trained.user_offsets, rows[0]),
                                         ("item", trained.n_items, trained.item_counts, trained.item_offsets, rows[1])):
        if not 0 < n <= r or len(counts) != r or len(offsets) != r:
            raise bad(f"{n:,} {label}s, {len(counts):,} counts and {len(offsets):,} offsets for a model with {r:,} "
                      f"{label} rows")
        if (counts < 0).any() or not np.isfinite(offsets).all():
            raise bad(f"negative {label} counts or non-finite {label} offsets")
    low, high = trained.scale if len(trained.scale) == 2 else (math.nan, math.nan)
    # a bce fit records an unbounded scale, (-inf, inf): its scores are logits (cfnb.implicit.as_trained)
    if not (not np.isnan([low, high]).any() and low <= high and low < math.inf and high > -math.inf) \
            or len(trained.scale) != 2:
        raise bad(f"the rating scale {list(trained.scale)} is not (low, high)")
    if not math.isfinite(trained.mean) and trained.n:
        raise bad(f"the training mean is {trained.mean}")
    if not ratings.vocabulary.extends(trained.fingerprint, trained.n_users, trained.n_items):
        raise bad("its vocabulary fingerprint is not the saved ratings' (it names other users and movies)")
    return trained


def optimizer_problem(model, slots=None) -> str | None:
    """What in `model`'s optimizer state would train to NaN (a non-finite slot, a negative second
    moment or accumulator), or None. `slots`: the optimizer variables' values if already copied."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return None
    for k, variable in enumerate(optimizer.variables):
        name = str(getattr(variable, "path", variable.name))
        values = np.asarray(variable if slots is None else slots[k])
        if values.dtype.kind != "f":
            continue
        if not np.isfinite(values).all():
            return f"{name} holds NaN or infinite values"
        if name.endswith(("accumulator", "velocity", "velocity_hat")) and (values < 0).any():
            return f"{name} holds negative values (it sums squared gradients, so it is never below 0)"
    return None


def check_optimizer(model, slots=None) -> None:
    """Refuse to train `model` from optimizer state that would give NaN (CfnbError naming the slot)."""
    problem = optimizer_problem(model, slots)
    if problem is not None:
        raise CfnbError(f"The optimizer state of model {model.name!r} is spoiled: {problem}; training from it would "
                        "give NaN. Compile the model again (model.compile(...)) to start the optimizer afresh.")
