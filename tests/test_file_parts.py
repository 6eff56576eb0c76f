"""Every part of a saved file that is corrupt, truncated or from another model is refused by name
(ModelFileError), and so is optimizer state that would train to NaN, at load or before the first step.
The corrupt files are real saved files with one member rewritten."""

import io
import json
import zipfile

import numpy as np
import pytest
from helpers import rewritten

import cfnb
from cfnb.errors import ModelFileError


@pytest.fixture(scope="module")
def fitted(small):
    train, val = small.split(seed=5)
    model = cfnb.build_model("bias", train, n_factors=3, y_range=(0.5, 5.0))
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0, optimizer="adagrad")
    return model, train


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return cfnb.save(*fitted, tmp_path_factory.mktemp("parts") / "model.cfnb")


@pytest.fixture(scope="module")
def other_keras(tmp_path_factory):
    """model.keras of another model (other sizes), from a real saved file."""
    other = cfnb.synthetic(n_users=40, n_items=50, n_ratings=800, seed=3)
    path = cfnb.save(cfnb.build_model("bias", other, n_factors=3), other, tmp_path_factory.mktemp("o") / "o.cfnb")
    with zipfile.ZipFile(path) as z:
        return z.read("model.keras")


def manifest(edit):
    def change(data):
        m = json.loads(data)
        edit(m)
        return json.dumps(m).encode()
    return "cfnb-model.json", change


def arrays(member, edit):
    def change(data):
        with np.load(io.BytesIO(data)) as npz:
            a = {k: npz[k] for k in npz.files}
        edit(a)
        out = io.BytesIO()
        np.savez(out, **a)
        return out.getvalue()
    return member, change


def put(d, key, value):
    d[key] = value


CASES = {
    "config not a dict": (manifest(lambda m: put(m, "config", [1, 2])), "config"),
    "n_factors of the wrong type": (manifest(lambda m: put(m["config"], "n_factors", "four")), "n_factors"),
    "y_range of the wrong type": (manifest(lambda m: put(m["config"], "y_range", "abc")), "y_range"),
    "config from another model": (manifest(lambda m: put(m["config"], "n_users", m["config"]["n_users"] + 1)),
                                  "config"),
    "record not a dict": (manifest(lambda m: put(m, "trained_on", "garbage")), "trained_on"),
    "record of other sizes": (manifest(lambda m: put(m["trained_on"], "n_users", m["trained_on"]["n_users"] - 1)),
                              "trained_on"),
    "record of another vocabulary": (manifest(lambda m: put(m["trained_on"], "fingerprint", "0" * 16)),
                                     "trained_on"),
    "record's mean NaN": (manifest(lambda m: put(m["trained_on"], "mean", float("nan"))), "trained_on"),
    "record's scale": (manifest(lambda m: put(m["trained_on"], "scale", [5.0, 1.0, 2.0])), "trained_on"),
    "record's sets": (manifest(lambda m: put(m["trained_on"], "sets", 7)), "trained_on"),
    "ratings count": (manifest(lambda m: put(m["ratings"], "n", "many")), "ratings"),
    "ratings scale": (manifest(lambda m: put(m["ratings"], "scale", ["low", "high"])), "ratings"),
    "record arrays missing": (("trained_on.npz", lambda d: None), "trained_on.npz"),
    "record arrays truncated": (("trained_on.npz", lambda d: d[:len(d) // 2]), "trained_on.npz"),
    "record counts short": (arrays("trained_on.npz", lambda a: put(a, "user_counts", a["user_counts"][:-2])),
                            "trained_on"),
    "record counts negative": (arrays("trained_on.npz", lambda a: put(a, "item_counts", -a["item_counts"])),
                               "trained_on"),
    "record counts fractional": (arrays("trained_on.npz", lambda a: put(a, "user_counts", a["user_counts"] + 0.5)),
                                 "user_counts"),
    "record offsets NaN": (arrays("trained_on.npz", lambda a: put(a, "item_offsets", a["item_offsets"] * np.nan)),
                           "trained_on"),
    "ratings arrays truncated": (("ratings.npz", lambda d: d[:len(d) // 2]), "ratings.npz"),
    "ratings arrays missing": (("ratings.npz", lambda d: None), "ratings.npz"),
    "a rating NaN": (arrays("ratings.npz", lambda a: put(a, "rating", a["rating"] * np.nan)), "ratings.npz"),
    "codes not whole numbers": (arrays("ratings.npz", lambda a: put(a, "user", a["user"] + 0.5)), "ratings.npz"),
    "ratings column missing": (arrays("ratings.npz", lambda a: a.pop("rating")), "ratings.npz"),
    "keras file truncated": (("model.keras", lambda d: d[:len(d) // 2]), "model.keras"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_part_of_a_saved_file_is_named(saved, tmp_path, case):
    (member, change), part = CASES[case]
    with pytest.raises(ModelFileError, match=part):
        cfnb.load(rewritten(saved, tmp_path, member, change))


def test_a_keras_file_from_another_model_is_refused(saved, tmp_path, other_keras):
    with pytest.raises(ModelFileError, match="model.keras"):
        cfnb.load(rewritten(saved, tmp_path, "model.keras", lambda d: other_keras))


def test_the_untouched_file_still_loads(saved, tmp_path):
    model, ratings = cfnb.load(rewritten(saved, tmp_path, "model.keras", lambda d: d))
    assert cfnb.trained_on(model) is not None and len(ratings)


def spoil(model, slot, value):
    """Set every optimizer slot whose name ends in `slot` to `value`."""
    spoiled = [v for v in model.optimizer.variables if v.path.endswith(slot)]
    assert spoiled
    for v in spoiled:
        v.assign(np.full(v.shape, value, dtype="float32"))


@pytest.mark.parametrize("optimizer, slot, value", [("adagrad", "accumulator", np.nan),
                                                    ("adagrad", "accumulator", -1.0),
                                                    ("adam", "momentum", np.nan), ("adam", "velocity", -1.0)])
def test_spoiled_optimizer_state_is_caught_at_load_and_before_the_first_step(small, tmp_path, optimizer, slot, value):
    train, val = small.split(seed=5)
    model = cfnb.build_model("bias", train, n_factors=3)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0, optimizer=optimizer)
    spoil(model, slot, value)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(cfnb.CfnbError, match=f"optimizer.*{slot}"):
        cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    path = cfnb.save(model, train, tmp_path / "spoiled.cfnb")
    with pytest.raises(ModelFileError, match=f"model.keras.*optimizer.*{slot}"):
        cfnb.load(path)
