"""cfnb.model_code: the Keras source of every registered kind builds the same graph as build_model."""

import contextlib
import io
import itertools

import pytest
from keras import layers

import cfnb
from cfnb import models
from cfnb.errors import ArgumentError

N_USERS, N_ITEMS = 37, 53

# every hyperparameter at a value other than its default
NON_DEFAULT = {"n_factors": 7, "l2": 3e-3, "bias_l2": 2e-2, "hidden": 11, "dropout_in": 0.15,
               "dropout_hidden": 0.4}


def run(code: str):
    """Execute the code in a fresh namespace; return its `model` and what it printed."""
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<model_code>", "exec"), namespace)
    return namespace["model"], out.getvalue()


def assert_same_graph(built, expected):
    """Same layers (names, types, order), output shapes, per-layer params, configs and total params."""
    assert [x.name for x in built.layers] == [x.name for x in expected.layers]
    for a, b in zip(built.layers, expected.layers):
        assert type(a) is type(b), a.name
        assert tuple(a.output.shape) == tuple(b.output.shape), a.name
        assert a.count_params() == b.count_params(), a.name
        assert a.get_config() == b.get_config(), a.name
    assert built.count_params() == expected.count_params()
    assert built.name == expected.name


def cases():
    for kind in models.REGISTRY:
        defaults = models.REGISTRY[kind].defaults
        changed = {k: v for k, v in NON_DEFAULT.items() if k in defaults}
        for hp, y_range in itertools.product(({}, changed, {"l2": 0.0}), (None, (0.5, 5.5))):
            yield kind, {**hp, **({"y_range": y_range} if y_range else {})}


@pytest.mark.parametrize("kind,hp", list(cases()), ids=lambda v: str(v))
@pytest.mark.parametrize("names", [True, False])
def test_code_builds_the_same_model(kind, hp, names):
    code = cfnb.model_code(kind, N_USERS, N_ITEMS, names=names, **hp)
    built, printed = run(code)
    expected = cfnb.build_model(kind, N_USERS, N_ITEMS, **hp)
    assert_same_graph(built, expected)
    assert printed.strip() == str(expected.count_params())
    assert ("n_users, n_items = 37, 53" in code) is names
    assert ("layers.Embedding(n_users" in code) is names
    assert ("ScaledSigmoid(" in code) is ("y_range" in hp)
    if hp.get("l2") == 0.0:  # (and bias_l2 at its default, 0)
        assert "regularizers" not in code


def test_the_lessons_style():
    code = cfnb.model_code("dot", 610, 9724)
    assert code.splitlines()[:3] == ["# dot: the dot product of a user's and a movie's factors",
                                     "import keras", "from keras import layers"]
    assert "n_users, n_items = 610, 9724\nn_factors = 50\n" in code
    assert 'user_in = keras.Input(shape=(1,), dtype="int32", name="user_in")' in code
    assert "layers.Embedding(n_users, n_factors," in code
    assert "embeddings_regularizer=keras.regularizers.L2(1e-4)" in code
    assert 'name="user_factors")(user_in)' in code
    assert 'layers.Dot(axes=2, name="dot")([user_factors, movie_factors])' in code
    assert 'model = keras.Model([user_in, movie_in], flatten, name="dot_model")' in code
    # a person's order: each input, then its embedding
    lines = code.splitlines()
    first = [k for k, line in enumerate(lines) if line.startswith(("user_in", "user_factors", "movie_in"))]
    assert [lines[k].split(" =")[0] for k in first] == ["user_in", "user_factors", "movie_in"]
    assert max(len(line) for line in lines) <= 100


def test_nn_code_reads_like_the_lesson():
    code = cfnb.model_code("nn", 610, 9724, l2=0.0)
    assert "regularizers" not in code  # l2=0 drops the regularizer
    assert 'layers.Concatenate(name="concat")([user_factors, movie_factors])' in code
    assert 'layers.Dropout(0.3, name="dropout_in")(flatten)' in code  # no training=False noise
    assert 'layers.Dense(hidden, activation="relu", name="hidden")' in code
    assert "hidden = 70" in code


def test_literal_sizes_and_summary_options():
    code = cfnb.model_code("bias", 610, 9724, names=False, summary=True, count_params=False)
    assert "n_users" not in code and "layers.Embedding(610, 50," in code
    assert code.rstrip().endswith("model.summary()") and "count_params" not in code
    model, printed = run(code)
    assert "Total params" in printed and model.count_params() == cfnb.build_model("bias", 610, 9724).count_params()
    bare = cfnb.model_code("bias", 610, 9724, count_params=False)
    assert run(bare)[1] == "" and bare.rstrip().endswith('name="bias_model")')


def test_sizes_from_ratings(small):
    code = cfnb.model_code("bias", small)
    assert f"n_users, n_items = {small.n_users}, {small.n_items}" in code
    assert run(code)[0].count_params() == cfnb.build_model("bias", small).count_params()
    with pytest.raises(ArgumentError, match="pass no n_items"):
        cfnb.model_code("bias", small, 10)


def test_bias_l2_zero_and_nonzero():
    plain = cfnb.model_code("bias", 20, 30, bias_l2=0.0)
    assert 'layers.Embedding(n_users, 1, name="user_bias")' in plain
    penalised = cfnb.model_code("bias", 20, 30, bias_l2=1e-3)
    assert "L2(1e-3)" in penalised


def test_a_kind_registered_in_the_test_gets_its_code_with_no_special_case():
    @models.register("gmf_tmp", "element-wise product of the factors, weighted by a Dense layer", n_factors=8, l2=0.0)
    def gmf(g, n_factors, l2):
        u = g.user_embedding(n_factors, l2, models.USER_FACTORS)
        m = g.item_embedding(n_factors, l2, models.ITEM_FACTORS)
        return g.dense(1, name="score")(layers.Flatten(name="flat")(layers.Multiply(name="product")([u, m])))

    try:
        for hp in ({}, {"n_factors": 3, "l2": 1e-3, "y_range": (1, 5)}):
            code = cfnb.model_code("gmf_tmp", N_USERS, N_ITEMS, **hp)
            assert "# gmf_tmp: element-wise product" in code
            assert 'layers.Multiply(name="product")([user_factors, movie_factors])' in code
            built, printed = run(code)
            expected = cfnb.build_model("gmf_tmp", N_USERS, N_ITEMS, **hp)
            assert_same_graph(built, expected)
            assert printed.strip() == str(expected.count_params())
    finally:
        models.unregister("gmf_tmp")


def test_graph_code_for_a_shared_layer_model():
    """A hand-written graph with one layer called twice: made once, called per input."""
    import keras

    from cfnb.models.code import graph_code

    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(4,), name="b")
    shared = layers.Dense(3, name="shared")
    out = layers.Add(name="sum")([shared(a), shared(b)])
    model = keras.Model([a, b], out, name="twin")
    code = graph_code(model)
    assert 'shared_layer = layers.Dense(3, name="shared")' in code
    built, _ = run(code)
    assert_same_graph(built, model)


def test_graph_code_needs_a_functional_model():
    import keras

    from cfnb.models.code import graph_code

    sequential = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    with pytest.raises(ArgumentError, match="functional Keras model"):
        graph_code(sequential)


@pytest.mark.parametrize("call, match", [
    (lambda: cfnb.model_code("cnn", 10, 10), "Unknown model kind 'cnn'"),
    (lambda: cfnb.model_code("dot", 0, 10), "n_users must be at least 1"),
    (lambda: cfnb.model_code("dot", 10, 2.5), "n_items must be a whole number"),
    (lambda: cfnb.model_code("dot", 10, 10, hidden=3), "unknown hyperparameters"),
    (lambda: cfnb.model_code("nn", 10, 10, dropout_in=1.5), "dropout_in"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ArgumentError, match=match):
        call()
