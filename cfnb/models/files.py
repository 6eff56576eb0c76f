"""Save and load a fitted model together with its id mappings and hyperparameters, in one file.

The file is a zip holding:

- `cfnb-model.json`: format name and version, the model's `cfnb_config` (hyperparameters), the
  Ratings' name, scale and id mappings (raw ids with their dtype), and titles if any;
- `model.keras`: the Keras model (architecture, weights, optimizer state);
- `ratings.npz`: the coded ratings the model was saved with (so cold-start fallbacks and
  `predict` give the same answers after loading), and their timestamps where they have them.

`save` writes a temporary file beside the target and renames it over the target, so a crash or
Ctrl-C mid-save leaves any previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.errors import CfnbError, ModelFileError
from cfnb.models.build import config_of
from cfnb.models.inputs import table_rows
from cfnb.models import parts
from cfnb.models.record import check, set_trained_on, summarize, table_sizes, trained_on
from cfnb.names import ITEM, RATING, TIMESTAMP, USER

FORMAT = "cfnb-model"
VERSION = 2  # 2: adds "trained_on" (what the model was trained on) and trained_on.npz; 1 still loads
MANIFEST, KERAS, ARRAYS, TRAINED = "cfnb-model.json", "model.keras", "ratings.npz", "trained_on.npz"


class Loaded(NamedTuple):
    """What `load` returns: unpack as `model, ratings = cfnb.load(path)`."""

    model: keras.Model
    ratings: Ratings


def save(model: keras.Model, ratings: Ratings, path) -> Path:
    """Save `model` with the `ratings` it was trained on (mappings, hyperparameters) to one file.

    Args:
        model: a cfnb model (from `build_model`, fitted or not).
        ratings: the Ratings the model was trained on; the training split keeps cold-start
            fallbacks exact after loading.
        path: the file to write (any name; `.cfnb` is a good suffix). An existing file is replaced
            only once the new one is completely written.

    Returns:
        The path written.
    """
    checks.instance("model", model, keras.Model, "a Keras model")
    checks.instance("ratings", ratings, Ratings, "the cfnb Ratings the model was trained on")
    path = Path(checks.path("path", path))
    rows = table_rows(model)  # a model cfnb could not feed after loading is refused now, with the reason
    check(model, ratings, "ratings")
    _check_sizes(model, ratings, rows)
    record = trained_on(model)
    manifest = {
        "format": FORMAT, "version": VERSION, "keras_version": keras.__version__,
        "config": _jsonable(config_of(model)),
        "ratings": {"name": ratings.name, "scale": list(ratings.scale) if ratings.scale else None,
                    "n": len(ratings), "users": _ids_to_json(ratings.user_ids, "user"),
                    "items": _ids_to_json(ratings.item_ids, "item"),
                    "titles": _titles_to_json(ratings.titles)},
        "trained_on": record.to_json() if record is not None else None,
    }
    arrays = io.BytesIO()
    times = {TIMESTAMP: ratings.frame[TIMESTAMP].to_numpy(np.int64)} if TIMESTAMP in ratings.frame else {}
    np.savez(arrays, user=ratings.frame[USER].to_numpy(np.int32), item=ratings.frame[ITEM].to_numpy(np.int32),
             rating=ratings.frame[RATING].to_numpy(np.float32), **times)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CfnbError(f"Cannot save to {path}: the folder {folder} does not exist.")
    if path.is_dir():
        raise CfnbError(f"Cannot save to {path}: it is a folder; give a file name, e.g. {path / 'model.cfnb'}.")
    _remove_stale_temporaries(folder, path.name)
    tmp = None
    try:
        with tempfile.TemporaryDirectory(prefix="cfnb-save-") as work:
            keras_file = Path(work) / KERAS
            model.save(keras_file)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
                    z.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
                    z.write(keras_file, KERAS)
                    z.writestr(ARRAYS, arrays.getvalue())
                    if record is not None:
                        trained = io.BytesIO()
                        np.savez(trained, **record.arrays())
                        z.writestr(TRAINED, trained.getvalue())
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved model is an ordinary file
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise CfnbError(f"Could not save the model to {path} ({e.strerror or e}); any previous file there "
                        "is untouched.") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def load(path) -> Loaded:
    """Load a model saved by `save`: returns `(model, ratings)` with `model.cfnb_config` restored.

    Raises:
        ModelFileError: the file is missing, truncated, corrupted, or not a cfnb model file.
    """
    path = Path(checks.path("path", path))
    if not path.is_file():
        raise ModelFileError(f"No cfnb model file at {path}.")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if MANIFEST not in names:
                hint = (" It looks like a plain Keras .keras file: load it with keras.saving.load_model()."
                        if "config.json" in names else "")
                raise ModelFileError(f"{path} is a zip file but not a cfnb model file (it has no {MANIFEST}).{hint} "
                                     "Expected a file written by cfnb.save(model, ratings, path).")
            manifest = _manifest(parts.member(z, MANIFEST, path), path)
            keras_bytes = parts.member(z, KERAS, path)
            arrays = parts.arrays(parts.member(z, ARRAYS, path), ARRAYS, path, (USER, ITEM, RATING), (TIMESTAMP,))
            trained_arrays = None
            if manifest.get("trained_on") is not None:
                trained_arrays = parts.arrays(parts.member(z, TRAINED, path), TRAINED, path,
                                              ("user_counts", "item_counts", "user_offsets", "item_offsets"))
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ModelFileError(f"{path} is not a readable cfnb model file: truncated or corrupted "
                             f"({type(e).__name__}: {str(e)[:200]}). Save it again with cfnb.save().") from None
    config = parts.config(manifest.get("config"), path)
    ratings = _ratings(manifest["ratings"], arrays, path)
    model = _keras_model(keras_bytes, path)
    try:
        rows = table_rows(model)
    except CfnbError as e:
        raise ModelFileError(f"{path}: its {KERAS} is not a user–item model cfnb can feed: {e}") from None
    parts.sizes(config, rows, ratings, path)
    problem = parts.optimizer_problem(model)
    if problem is not None:
        raise ModelFileError(f"{path}: its {KERAS} holds optimizer state that would train to NaN: {problem}.")
    model.cfnb_config = config
    if trained_arrays is not None:
        set_trained_on(model, parts.record(manifest["trained_on"], trained_arrays, ratings, rows, path))
    elif len(ratings):  # a version-1 file: the saved ratings were the training ratings
        set_trained_on(model, summarize(ratings, table_sizes(model)))
    return Loaded(model, ratings)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Temporary files an earlier save of `name` left (a killed process): those of dead processes."""
    for leftover in folder.glob(f".{name}.*.tmp"):
        parts = leftover.name[len(name) + 2:].split(".")
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        try:
            leftover.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _manifest(raw: bytes, path) -> dict:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: its {MANIFEST} is not valid JSON (corrupted file?).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a cfnb model file ({MANIFEST} does not say format {FORMAT!r}).")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise ModelFileError(f"{path} is cfnb model format version {version!r}; this cfnb reads version "
                             f"{VERSION}. Upgrade cfnb to load it.")
    if not isinstance(manifest.get("ratings"), dict):
        raise ModelFileError(f"{path}: its {MANIFEST} has no ratings section (corrupted file?).")
    return manifest


def _ratings(meta: dict, arrays: dict, path) -> Ratings:
    try:
        users = _ids_from_json(meta["users"], meta.get("users", {}).get("name"))
        items = _ids_from_json(meta["items"], meta.get("items", {}).get("name"))
        n = int(meta["n"])
        frame = pd.DataFrame({USER: arrays[USER].astype(np.int32), ITEM: arrays[ITEM].astype(np.int32),
                              RATING: arrays[RATING].astype(np.float32)})
        if TIMESTAMP in arrays:  # files saved before timestamps were kept have none
            frame[TIMESTAMP] = arrays[TIMESTAMP].astype(np.int64)
        titles = _titles_from_json(meta.get("titles"))
        scale = tuple(float(v) for v in meta["scale"]) if meta.get("scale") else None
        name = str(meta.get("name", "ratings"))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"{path}: the saved ratings (cfnb-model.json's \"ratings\" section and {ARRAYS}) are "
                             f"malformed ({type(e).__name__}: {str(e)[:160]}).") from None
    parts.ratings_arrays(arrays, n, path)
    if n and (frame[USER].max() >= len(users) or frame[ITEM].max() >= len(items)
              or frame[USER].min() < 0 or frame[ITEM].min() < 0):
        raise ModelFileError(f"{path}: the codes in {ARRAYS} do not match the saved id mappings (corrupted file?).")
    try:
        return Ratings(frame, users, items, titles, scale, name)
    except (CfnbError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: the saved ratings (cfnb-model.json's \"ratings\" section and {ARRAYS}) do not "
                             f"make a Ratings: {str(e)[:200]}") from None


def _keras_model(data: bytes, path) -> keras.Model:

    with tempfile.TemporaryDirectory(prefix="cfnb-load-") as work:
        keras_file = Path(work) / KERAS
        keras_file.write_bytes(data)
        try:
            return keras.saving.load_model(keras_file)
        except Exception as e:  # Keras raises many types for a bad archive; all mean the same to the caller
            raise ModelFileError(f"{path}: the Keras model inside could not be loaded ({type(e).__name__}: "
                                 f"{str(e).strip()[:200]}).") from None


def _check_sizes(model, ratings: Ratings, rows: tuple[int, int]):
    """At save: the model's tables (and its config's sizes) are the size of the ratings' vocabulary."""
    config = getattr(model, "cfnb_config", None) or {}
    for k, (n, label) in enumerate(((ratings.n_users, "users"), (ratings.n_items, "items"))):
        said = config.get(("n_users", "n_items")[k], rows[k])
        if rows[k] != n or said != rows[k]:
            raise CfnbError(f"The ratings map {n:,} {label} but the model has {rows[k]:,} embedding rows for them"
                            f"{'' if said == rows[k] else f' (its cfnb_config says {said:,})'}: save the model with "
                            "the Ratings it was built and trained with.")


def _ids_to_json(index: pd.Index, label: str) -> dict:
    values = [v.item() if isinstance(v, np.generic) else v for v in index.tolist()]
    bad = next((v for v in values if not isinstance(v, (int, str, float)) or isinstance(v, bool)), None)
    if bad is not None:
        raise CfnbError(f"Cannot save {label} ids of type {type(bad).__name__} (e.g. {bad!r}): cfnb saves whole-"
                        "number or text ids.")
    return {"dtype": str(index.dtype), "name": index.name, "values": values}


def _ids_from_json(meta: dict, name) -> pd.Index:
    dtype = meta["dtype"]
    values = meta["values"]
    if not isinstance(values, list):
        raise ValueError("ids are not a list")
    if dtype == "object":
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return pd.Index(arr, dtype=object, name=name)
    return pd.Index(values, dtype=dtype, name=name)


def _titles_to_json(titles):
    if titles is None:
        return None
    index = _ids_to_json(pd.Index(titles.index), "title")
    return {"index": index, "values": [str(t) for t in titles.tolist()]}


def _titles_from_json(meta):
    if meta is None:
        return None
    return pd.Series(meta["values"], index=_ids_from_json(meta["index"], None), dtype=object)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
