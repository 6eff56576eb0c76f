"""A user's own Keras model: its inputs found by role (any names, any order) or refused with the reason, its
table sizes always known, names in the Lab checked, and `cfnb.save` refusing what it could not load."""

import keras
import numpy as np
import pytest

import cfnb
from cfnb.models.record import table_sizes
from cfnb.widgets.workspace import adopt


def own(n_users, n_items, names=("user_in", "movie_in"), item_first=False, flatten_user=False, seed=0):
    """A dot-product model written by hand; `flatten_user` puts a layer between the user input and its table."""
    u = keras.Input((1,), dtype="int32", name=names[0])
    i = keras.Input((1,), dtype="int32", name=names[1])
    init = keras.initializers.RandomNormal(stddev=0.1, seed=seed)
    ue = keras.layers.Embedding(n_users, 3, embeddings_initializer=init)(keras.layers.Flatten()(u) if flatten_user else u)
    ie = keras.layers.Embedding(n_items, 3, embeddings_initializer=init)(i)
    ue = keras.layers.Flatten()(ue)
    out = keras.layers.Dot(axes=1)([ue, keras.layers.Flatten()(ie)])
    return keras.Model([i, u] if item_first else [u, i], out)


def test_adopt_finds_the_user_and_item_inputs_by_role_whatever_their_names_and_order(small):
    mine = own(small.n_users, small.n_items, names=("u", "i"), item_first=True)
    adopted = adopt(mine, small)
    assert [t.name for t in adopted.inputs] == ["user_in", "movie_in"]
    x = small.x
    np.testing.assert_allclose(adopted.predict(x, verbose=0), mine.predict([x["movie_in"], x["user_in"]], verbose=0))


def test_adopt_refuses_inputs_it_cannot_tell_apart_with_the_reason(small):
    mine = own(small.n_items, small.n_items, names=("a", "b"))  # tables of one size, names that say nothing
    with pytest.raises(cfnb.errors.ArgumentError, match=r"cannot tell.*inputs=\(user_name, movie_name\)"):
        adopt(mine, small)


def test_the_fast_engine_feeds_an_item_first_model_by_role(small):
    train, val = small.split(seed=1)
    histories = []
    for item_first in (False, True):
        model = own(small.n_users, small.n_items, item_first=item_first)
        histories.append(cfnb.fit_stages(model, train, val, [(1e-2, 1)], engine="fast", seed=0, progress=False))
    assert histories[0].rows[0]["loss"] == pytest.approx(histories[1].rows[0]["loss"], rel=1e-5)
    assert histories[0].val_rmse == pytest.approx(histories[1].val_rmse, rel=1e-5)


def test_table_sizes_are_found_through_layers_between_input_and_table(small):
    model = own(small.n_users, small.n_items, flatten_user=True)
    assert table_sizes(model) == (small.n_users, small.n_items)
    short = own(small.n_users - 5, small.n_items, flatten_user=True)  # codes beyond its user table
    with pytest.raises(cfnb.errors.VocabularyError, match="no\\s+embedding row"):
        cfnb.fit_stages(short, small, None, [(1e-2, 1)], engine="fast", progress=False)


def test_a_model_without_a_table_for_an_input_is_refused_not_left_unchecked(small):
    u, i = keras.Input((1,), dtype="int32", name="user_in"), keras.Input((1,), dtype="int32", name="movie_in")
    ie = keras.layers.Flatten()(keras.layers.Embedding(small.n_items, 2)(i))
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([ie, keras.ops.cast(u, "float32")]))
    model = keras.Model([u, i], out)
    with pytest.raises(cfnb.errors.ArgumentError, match="no Embedding layer is fed by its user input"):
        table_sizes(model)
    with pytest.raises(cfnb.errors.ArgumentError, match="no Embedding layer is fed by its user input"):
        cfnb.fit_stages(model, small, None, [(1e-2, 1)], progress=False)


@pytest.mark.parametrize("call", ["fit", "predict", "save"])
def test_a_model_with_other_input_names_is_refused_with_the_way_to_adopt_it(small, call, tmp_path):
    model = own(small.n_users, small.n_items, names=("u", "i"))
    with pytest.raises(cfnb.errors.ArgumentError, match=r"inputs \['u', 'i'\].*cfnb.adopt"):
        if call == "fit":
            cfnb.fit_stages(model, small, None, [(1e-2, 1)], progress=False)
        elif call == "predict":
            cfnb.predict(model, small, [small.user_ids[0]], [small.item_ids[0]])
        else:
            cfnb.save(model, small, tmp_path / "m.cfnb")
    assert not (tmp_path / "m.cfnb").exists()


def one_input(n_users, n_items):
    x = keras.Input((1,), dtype="int32", name="user_in")
    return keras.Model(x, keras.layers.Flatten()(keras.layers.Embedding(n_users, 1)(x)))


def two_outputs(n_users, n_items):
    model = own(n_users, n_items)
    return keras.Model(model.inputs, [model.output, model.output])


@pytest.mark.parametrize("build, reason", [(one_input, r"inputs \['user_in'\]"), (two_outputs, "outputs")])
def test_save_refuses_a_model_that_is_not_a_user_item_model_at_save_time(small, tmp_path, build, reason):
    with pytest.raises(cfnb.CfnbError, match=reason):
        cfnb.save(build(small.n_users, small.n_items), small, tmp_path / "m.cfnb")
    assert not (tmp_path / "m.cfnb").exists()


def test_lab_names_must_be_text_and_never_collide(small):
    lab = cfnb.Lab(small, background=False)
    with pytest.raises(cfnb.errors.ArgumentTypeError, match="name must be"):
        lab.add(own(small.n_users, small.n_items), name=5)
    with pytest.raises(cfnb.errors.ArgumentError, match="name"):
        lab.add(own(small.n_users, small.n_items), name="  ")
    lab.add(own(small.n_users, small.n_items), name="#2 own")
    lab.add(own(small.n_users, small.n_items))  # its default name would be "#2 own" too
    names = [r.name for r in lab.session.runs]
    assert len(set(names)) == len(names) == 2 and all(isinstance(n, str) for n in names)
    with pytest.raises(cfnb.errors.ArgumentError, match="taken"):
        lab.add(own(small.n_users, small.n_items), name="#2 own")
