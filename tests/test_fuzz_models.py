"""Property tests for models and saved files: a saved file with any one part damaged loads or raises
ModelFileError, never anything else and never NaN; a hand-written model is adopted whatever its input
names and order (or refused with cfnb's error); optimizer state is refused exactly when it is spoiled."""

import io
import json

import keras
import numpy as np
import pytest
from helpers import rewritten
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfnb
from cfnb.errors import ModelFileError
from cfnb.models.parts import optimizer_problem
from cfnb.widgets.workspace import adopt

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
MEMBERS = ["cfnb-model.json", "model.keras", "ratings.npz", "trained_on.npz"]
json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                        max_size=3), max_leaves=5)


@pytest.fixture(scope="module")
def saved(small, tmp_path_factory):
    train, val = small.split(seed=2)
    model = cfnb.build_model("bias", train, n_factors=2)
    cfnb.fit_stages(model, train, val, [(1e-2, 1)], progress=False, seed=0)
    return cfnb.save(model, train, tmp_path_factory.mktemp("fuzz-model") / "m.cfnb")


def _unknown(ids, text):
    """An id the vocabulary does not hold, of its own type (text on integer ids is refused, not cold)."""
    return int(max(ids)) + 1 if ids.dtype.kind in "iu" else text


def loads_or_names_the_problem(path, small):
    try:
        model, ratings = cfnb.load(path)
    except ModelFileError as e:
        assert str(path) in str(e)
        return
    users = [*ratings.user_ids[:5], _unknown(ratings.user_ids, "nobody"), ratings.user_ids[0]]  # warm and cold pairs
    items = [*ratings.item_ids[:5], ratings.item_ids[1], _unknown(ratings.item_ids, "nothing")]
    assert np.isfinite(cfnb.predict(model, ratings, users, items, unknown="fallback")).all()


@settings(max_examples=25, **SETTINGS)
@given(member=st.sampled_from(MEMBERS), cut=st.floats(0, 1), noise=st.binary(max_size=16), where=st.floats(0, 1))
def test_a_member_truncated_or_overwritten_loads_or_is_named(saved, small, tmp_path, member, cut, noise, where):
    def change(data):
        data = data[:int(len(data) * cut)] if cut < 0.999 else data
        at = int(len(data) * where)
        return data[:at] + noise + data[at + len(noise):]
    loads_or_names_the_problem(rewritten(saved, tmp_path, member, change), small)


@settings(max_examples=30, **SETTINGS)
@given(section=st.sampled_from(["config", "trained_on", "ratings"]), key=st.text(max_size=8), value=json_values)
def test_any_value_in_the_manifest_loads_or_is_named(saved, small, tmp_path, section, key, value):
    def change(data):
        manifest = json.loads(data)
        keys = sorted(manifest[section]) if isinstance(manifest[section], dict) else []
        manifest[section][keys[hash(key) % len(keys)] if keys and key else key] = value
        return json.dumps(manifest).encode()
    loads_or_names_the_problem(rewritten(saved, tmp_path, "cfnb-model.json", change), small)


@settings(max_examples=20, **SETTINGS)
@given(array=st.sampled_from(["user_counts", "item_counts", "user_offsets", "item_offsets"]),
       value=st.sampled_from([np.nan, -1.0, np.inf, 0.0, 1e30]), short=st.booleans())
def test_any_change_to_the_record_arrays_loads_or_is_named(saved, small, tmp_path, array, value, short):
    def change(data):
        with np.load(io.BytesIO(data)) as npz:
            found = {k: npz[k] for k in npz.files}
        values = found[array].astype(np.float64)
        values[0] = value
        found[array] = values[:-1] if short else values.astype(found[array].dtype)
        out = io.BytesIO()
        np.savez(out, **found)
        return out.getvalue()
    loads_or_names_the_problem(rewritten(saved, tmp_path, "trained_on.npz", change), small)


names = st.sampled_from(["u", "i", "user", "item", "movie_id", "user_id", "uid", "x", "Item", "USER"])


@settings(max_examples=12, **SETTINGS)
@given(user=names, item=names, item_first=st.booleans())
def test_a_hand_written_model_is_adopted_by_role_whatever_its_input_names(small, user, item, item_first):
    """The tables tell the roles apart (small has 60 users and 80 items), so the names never matter."""
    u, i = keras.Input((1,), dtype="int32", name=user), keras.Input((1,), dtype="int32", name=item + "_")
    ue = keras.layers.Flatten()(keras.layers.Embedding(small.n_users, 2)(u))
    ie = keras.layers.Flatten()(keras.layers.Embedding(small.n_items, 2)(i))
    mine = keras.Model([i, u] if item_first else [u, i], keras.layers.Dot(axes=1)([ue, ie]))
    adopted = adopt(mine, small)
    assert [t.name for t in adopted.inputs] == ["user_in", "movie_in"]
    x = small.x
    mine_x = [x["movie_in"], x["user_in"]] if item_first else [x["user_in"], x["movie_in"]]
    np.testing.assert_allclose(adopted.predict(x, verbose=0), mine.predict(mine_x, verbose=0), rtol=1e-6)


@pytest.fixture(scope="module")
def adam_model(small):
    model = cfnb.build_model("bias", small, n_factors=2)
    cfnb.fit_stages(model, small, None, [(1e-2, 1)], progress=False, seed=0, optimizer="adam")
    return model


@settings(max_examples=25, **SETTINGS)
@given(slot=st.sampled_from(["momentum", "velocity"]), value=st.floats(allow_nan=True, allow_infinity=True))
def test_optimizer_state_is_refused_exactly_when_it_would_train_to_nan(adam_model, slot, value):
    spoiled = [v for v in adam_model.optimizer.variables if v.path.endswith(slot)]
    saved = [np.asarray(v).copy() for v in spoiled]
    try:
        spoiled[0].assign(np.full(spoiled[0].shape, value, dtype="float32"))
        stored = float(np.asarray(spoiled[0]).ravel()[0])
        bad = not np.isfinite(stored) or (slot == "velocity" and stored < 0)
        assert (optimizer_problem(adam_model) is not None) == bad
    finally:
        for v, old in zip(spoiled, saved):
            v.assign(old)
