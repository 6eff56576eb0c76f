"""Every public argument is checked at the door: a cfnb error naming the argument, the value and what
is accepted (a TypeError too where Python would raise one), never a Keras, numpy or pathlib one."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfnb


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_factors": 0}, cfnb.ArgumentError, r"n_factors must be at least 1, got 0"),
    ({"n_factors": 2.5}, cfnb.ArgumentError, r"n_factors must be a whole number, got 2\.5"),
    ({"n_factors": "50"}, cfnb.ArgumentTypeError, r"n_factors must be a whole number, got '50' \(str\)"),
    ({"l2": "1e-4"}, cfnb.ArgumentTypeError, r"l2 must be a number, got '1e-4' \(str\)"),
    ({"l2": -1e-4}, cfnb.ArgumentError, r"l2 must be in \[0, inf\], got -0\.0001"),
    ({"l2": float("nan")}, cfnb.ArgumentError, r"l2 must be a finite number"),
    ({"y_range": (1, 1)}, cfnb.ArgumentError, r"y_range must have low < high, got \(1, 1\)"),
    ({"y_range": (5, 0.5)}, cfnb.ArgumentError, r"y_range must have low < high"),
    ({"y_range": "0-5"}, cfnb.ArgumentTypeError, r"y_range must be a pair \(low, high\) or None, got '0-5'"),
    ({"y_range": (0, float("inf"))}, cfnb.ArgumentError, r"y_range\[1\] must be a finite number"),
    ({"seed": "42"}, cfnb.ArgumentTypeError, r"seed must be a whole number, got '42'"),
    ({"seed": -1}, cfnb.ArgumentError, r"seed must be at least 0"),
    ({"bias_l2": float("inf")}, cfnb.ArgumentError, r"bias_l2 must be a finite number"),
])
def test_build_model_names_the_bad_hyperparameter(kwargs, error, message):
    kind = "bias" if "bias_l2" in kwargs else "dot"
    with pytest.raises(error, match=message):
        cfnb.build_model(kind, 10, 12, **kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dropout_in": -0.1}, cfnb.ArgumentError, r"dropout_in must be in \[0, 1\), got -0\.1"),
    ({"dropout_in": 1.0}, cfnb.ArgumentError, r"dropout_in must be in \[0, 1\), got 1\.0"),
    ({"dropout_hidden": True}, cfnb.ArgumentTypeError, r"dropout_hidden must be a number, got True"),
    ({"hidden": 0}, cfnb.ArgumentError, r"hidden must be at least 1"),
])
def test_build_model_names_the_bad_nn_hyperparameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        cfnb.build_model("nn", 10, 12, **kwargs)


@pytest.mark.parametrize("n_users, error, message", [
    (2.7, cfnb.ArgumentError, r"n_users must be a whole number, got 2\.7"),
    (0, cfnb.ArgumentError, r"n_users must be at least 1, got 0"),
    (None, cfnb.ArgumentTypeError, r"n_users must be a whole number, got None"),
    ("610", cfnb.ArgumentTypeError, r"n_users must be a whole number"),
])
def test_build_model_checks_the_table_sizes(n_users, error, message):
    with pytest.raises(error, match=message):
        cfnb.build_model("dot", n_users, 12)


def test_whole_valued_floats_build_what_the_config_says():
    model = cfnb.build_model("dot", 10.0, 12, n_factors=4.0)
    assert model.get_layer("user_factors").output_dim == 4 and model.cfnb_config["n_factors"] == 4
    assert isinstance(model.cfnb_config["n_factors"], int)


@pytest.fixture(scope="module")
def split(small):
    return small.split(seed=0)


@pytest.fixture
def model(small):
    return cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2, seed=0)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": None}, cfnb.ArgumentTypeError, r"batch_size must be a whole number, got None"),
    ({"batch_size": 0}, cfnb.ArgumentError, r"batch_size must be at least 1, got 0"),
    ({"batch_size": 64.5}, cfnb.ArgumentError, r"batch_size must be a whole number, got 64\.5"),
    ({"callbacks": [print]}, cfnb.ArgumentTypeError, r"callbacks\[0\] must be a keras\.callbacks\.Callback"),
    ({"seed": "0"}, cfnb.ArgumentTypeError, r"seed must be a whole number"),
    ({"progress": "bar"}, cfnb.ArgumentError, r"progress must be one of 'auto', 'notebook', 'terminal', False"),
    ({"history": [1, 2]}, cfnb.ArgumentTypeError, r"history must be a StagedHistory"),
    ({"stop": True}, cfnb.ArgumentTypeError, r"stop must be a threading\.Event"),
    ({"engine": "torch"}, cfnb.ArgumentError, r"engine must be one of 'auto', 'fast', 'keras'; got 'torch'"),
    ({"stages": [(0, 1)]}, cfnb.CfnbError, r"learning rate must be a positive number"),
    ({"optimizer": "adamx"}, cfnb.ArgumentError, r"optimizer 'adamx' is not a Keras optimizer"),
    ({"optimizer": {"class_name": "Adagrad", "config": {"accumulate": 0}}}, cfnb.ArgumentError,
     r"optimizer \{'class_name': 'Adagrad'.* is not a Keras optimizer"),
    ({"optimizer": 0.01}, cfnb.ArgumentTypeError, r"optimizer must be a name such as 'adam' or 'adagrad'"),
])
def test_fit_stages_names_the_bad_argument(model, split, kwargs, error, message):
    train, val = split
    with pytest.raises(error, match=message):
        cfnb.fit_stages(model, train, val, **{"progress": False, **kwargs})
    assert cfnb.trained_on(model) is None  # nothing was fitted


def test_a_second_concurrent_fit_of_one_model_is_refused(model, split):
    train, val = split
    inside, release = threading.Event(), threading.Event()

    class Hold(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            inside.set()
            release.wait(60)

    first = threading.Thread(target=cfnb.fit_stages, args=(model, train, val),
                             kwargs={"stages": [(1e-3, 1)], "progress": False, "callbacks": [Hold()]})
    first.start()
    try:
        assert inside.wait(120)
        with pytest.raises(cfnb.CfnbError, match="already being fitted"):
            cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False)
    finally:
        release.set()
        first.join(120)
    history = cfnb.fit_stages(model, train, val, stages=[(1e-3, 1)], progress=False)  # free again
    assert len(history) == 1


@pytest.mark.parametrize("val_frac, error, message", [
    (0, cfnb.ArgumentError, r"val_frac must be in \(0, 1\), got 0"),
    (1.0, cfnb.ArgumentError, r"val_frac must be in \(0, 1\), got 1\.0"),
    ("0.2", cfnb.ArgumentTypeError, r"val_frac must be a number, got '0\.2'"),
    (float("nan"), cfnb.ArgumentError, r"val_frac must be a finite number"),
])
def test_split_names_the_bad_fraction(small, val_frac, error, message):
    with pytest.raises(error, match=message):
        small.split(val_frac)


def test_split_checks_the_seed(small):
    with pytest.raises(cfnb.ArgumentTypeError, match="seed must be a whole number"):
        small.split(0.2, seed="42")


@pytest.fixture(scope="module")
def fitted(small, split):
    train, val = split
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=2, seed=0)
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], progress=False, seed=0)
    return model


@pytest.mark.parametrize("n, error, message", [
    (None, cfnb.ArgumentTypeError, r"n must be a whole number, got None"),
    (0, cfnb.ArgumentError, r"n must be at least 1"),
    (2.5, cfnb.ArgumentError, r"n must be a whole number, got 2\.5"),
])
def test_recommend_checks_n(small, fitted, n, error, message):
    with pytest.raises(error, match=message):
        cfnb.recommend(fitted, small, small.user_ids[10], n=n)


def test_recommend_names_an_unknown_user(small, fitted):
    with pytest.raises(cfnb.CfnbError, match="Unknown user id 999999"):
        cfnb.recommend(fitted, small, 999999)
    # text on integer ids is refused as text (issue 19), naming the id and the vocabulary's id type
    with pytest.raises(cfnb.VocabularyError, match="user id 'nobody' is text, but the vocabulary's user ids are integers"):
        cfnb.recommend(fitted, small, "nobody")


@pytest.mark.parametrize("path", [None, 5, b"m.cfnb", ""])
def test_save_and_load_check_the_path_type(small, fitted, split, path):
    with pytest.raises(cfnb.ArgumentTypeError, match=r"path must be a file path \(str or pathlib\.Path\)"):
        cfnb.save(fitted, split[0], path)
    with pytest.raises(cfnb.ArgumentTypeError, match=r"path must be a file path"):
        cfnb.load(path)


def test_a_saved_file_follows_the_umask(fitted, split, tmp_path):
    old = os.umask(0o022)
    try:
        cfnb.save(fitted, split[0], tmp_path / "m.cfnb")
    finally:
        os.umask(old)
    assert (tmp_path / "m.cfnb").stat().st_mode & 0o777 == 0o644


KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import cfnb
    import cfnb.models.files as persist
    ratings = cfnb.synthetic(n_users=20, n_items=20, n_ratings=200)
    model = cfnb.build_model("dot", ratings.n_users, ratings.n_items, n_factors=2)
    real_fsync = os.fsync
    def die(fd):  # the temporary file is written: die before it is renamed into place
        os.kill(os.getpid(), signal.SIGKILL)
    persist.os.fsync = die
    cfnb.save(model, ratings, sys.argv[1])
""")


def test_the_next_save_removes_the_temporary_file_of_a_killed_save(fitted, split, tmp_path):
    target = tmp_path / "m.cfnb"
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], capture_output=True, timeout=240)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    leftovers = list(tmp_path.glob(".m.cfnb.*.tmp"))
    assert len(leftovers) == 1 and not target.exists()
    cfnb.save(fitted, split[0], target)
    assert target.exists() and not list(tmp_path.glob(".m.cfnb.*.tmp"))


# ------------------------------------------------------------------------ fuzzing at the door
LOOSE = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=4), st.tuples(st.floats(-10, 10), st.floats(-10, 10)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["dot", "bias", "nn", "svd"]), n_users=LOOSE, n_factors=LOOSE, l2=LOOSE,
       dropout=LOOSE, y_range=st.one_of(st.none(), LOOSE))
def test_build_model_either_builds_or_raises_a_cfnb_error(kind, n_users, n_factors, l2, dropout, y_range):
    hp = {"n_factors": n_factors, "l2": l2, "y_range": y_range}
    if kind == "nn":
        hp["dropout_in"] = dropout
    try:
        model = cfnb.build_model(kind, n_users, 7, **hp)
    except cfnb.CfnbError:
        return
    assert model.get_layer("user_factors").input_dim == int(n_users)
    assert model.cfnb_config["n_factors"] == model.get_layer("user_factors").output_dim


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(val_frac=LOOSE, seed=LOOSE)
def test_split_either_splits_or_raises_a_cfnb_error(small, val_frac, seed):
    try:
        train, val = small.split(val_frac, seed)
    except cfnb.CfnbError:
        return
    assert len(train) + len(val) == len(small)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batch_size=LOOSE, lr=LOOSE, epochs=LOOSE, seed=LOOSE)
def test_fit_stages_either_fits_or_raises_a_cfnb_error(small, split, batch_size, lr, epochs, seed):
    train, val = split
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=2, seed=0)
    if isinstance(epochs, int) and epochs > 2:
        epochs = 2  # keep each example quick
    if isinstance(batch_size, int) and 0 < batch_size < 32:
        batch_size = 32
    try:
        history = cfnb.fit_stages(model, train, val, stages=[(lr, epochs)], batch_size=batch_size, seed=seed,
                                  progress=False)
    except cfnb.CfnbError:
        return
    assert len(history) == int(epochs)


def test_a_table_larger_than_memory_is_refused_before_any_backend_allocates_it():
    with pytest.raises(cfnb.ArgumentError, match=r"user_factors table would be .* GiB .* more than this machine's memory"):
        cfnb.build_model("dot", 6.2e16, 7, n_factors=50)
    with pytest.raises(cfnb.ArgumentError, match="user_factors"):  # hypothesis found 2.2e158 overflowing int division
        cfnb.build_model("dot", 2.196735251241795e158, 7, n_factors=50)
    with pytest.raises(cfnb.ArgumentError, match="movie_factors"):
        cfnb.build_model("bias", 7, 10**12, n_factors=50)
