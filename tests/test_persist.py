"""cfnb.save / cfnb.load: one file round-trips model, id mappings and hyperparameters; bad files are named."""

import os
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb import persist


@pytest.fixture(scope="module")
def fitted(small):
    train, val = small.split(seed=5)
    model = cfnb.build_model("bias", small.n_users, small.n_items, n_factors=4, y_range=(0.5, 5.0))
    cfnb.fit_stages(model, train, val, stages=[(1e-2, 1)], batch_size=256, progress=False, seed=0)
    return model, train


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    model, train = fitted
    return cfnb.save(model, train, tmp_path_factory.mktemp("persist") / "model.cfnb")


def some_pairs(ratings):
    users = list(ratings.user_ids[:20]) + [-(10**30), ratings.user_ids[3]]
    items = list(ratings.item_ids[5:25]) + [ratings.item_ids[0], 10**30]
    return users, items


def test_round_trip_gives_identical_predictions(fitted, saved):
    model, train = fitted
    loaded, ratings = cfnb.load(saved)
    users, items = some_pairs(train)
    before = cfnb.predict(model, train, users, items, unknown="fallback")
    after = cfnb.predict(loaded, ratings, users, items, unknown="fallback")
    np.testing.assert_array_equal(before, after)
    assert loaded.cfnb_config == model.cfnb_config
    assert loaded.cfnb_config["y_range"] == (0.5, 5.0)
    pd.testing.assert_index_equal(ratings.user_ids, train.user_ids)
    pd.testing.assert_index_equal(ratings.item_ids, train.item_ids)
    pd.testing.assert_frame_equal(ratings.frame, train.frame)
    assert (ratings.scale, ratings.name, ratings.title(3)) == (train.scale, train.name, train.title(3))


def test_loaded_model_keeps_training(fitted, saved, small):
    loaded, ratings = cfnb.load(saved)
    _, val = small.split(seed=5)
    history = cfnb.fit_stages(loaded, ratings, val, stages=[(1e-3, 1)], batch_size=512, progress=False)
    assert len(history) == 1 and np.isfinite(history.val_rmse)


def test_text_and_huge_ids_round_trip(tmp_path):
    frame = pd.DataFrame({"userId": ["ann", "bob", "zoé", "ann"], "movieId": [10**25, -4, 2**63 + 1, -4],
                          "rating": [1.0, 2.0, 3.0, 4.0]})
    r = cfnb.load_ratings(frame)
    model = cfnb.build_model("nn", r.n_users, r.n_items, n_factors=2, hidden=3)
    path = cfnb.save(model, r, tmp_path / "m.cfnb")
    loaded, back = cfnb.load(path)
    assert list(back.user_ids) == ["ann", "bob", "zoé"]
    assert list(back.item_ids) == list(r.item_ids) and 10**25 in list(back.item_ids)
    np.testing.assert_array_equal(cfnb.predict(model, r, ["zoé", "ann"], [10**25, -4]),
                                  cfnb.predict(loaded, back, ["zoé", "ann"], [10**25, -4]))


def test_crash_mid_save_leaves_the_old_file_intact(fitted, saved, tmp_path, monkeypatch):
    model, train = fitted
    target = tmp_path / "model.cfnb"
    target.write_bytes(saved.read_bytes())
    old = target.read_bytes()

    real_write = zipfile.ZipFile.write

    def write_then_crash(self, *args, **kwargs):
        real_write(self, *args, **kwargs)  # half the archive is on disk...
        raise KeyboardInterrupt             # ...when Ctrl-C (or a crash) arrives

    monkeypatch.setattr(zipfile.ZipFile, "write", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        cfnb.save(model, train, target)
    monkeypatch.undo()
    assert target.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.cfnb"]  # no temporary file left behind
    cfnb.load(target)


def test_save_refuses_mismatched_ratings(fitted, tmp_path):
    model, _ = fitted
    other = cfnb.synthetic(n_users=10, n_items=12, n_ratings=50)
    with pytest.raises(cfnb.VocabularyError, match="another id vocabulary"):
        cfnb.save(model, other, tmp_path / "m.cfnb")
    with pytest.raises(cfnb.CfnbError, match="embedding rows"):  # an unfitted model's sizes are still checked
        cfnb.save(cfnb.build_model("dot", 11, 12, n_factors=2), other, tmp_path / "m.cfnb")
    with pytest.raises(cfnb.CfnbError, match="folder .* does not exist"):
        cfnb.save(cfnb.build_model("dot", 10, 12, n_factors=2), other, tmp_path / "no" / "m.cfnb")
    assert not (tmp_path / "m.cfnb").exists()


def rewrite(source, target, drop=(), replace=None):
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            if item.filename in drop:
                continue
            data = src.read(item.filename)
            if replace and item.filename in replace:
                data = replace[item.filename]
            dst.writestr(item.filename, data)
    return target


def test_truncated_and_foreign_files_give_model_file_errors(saved, tmp_path):
    data = saved.read_bytes()
    cases = {}
    cases["truncated"] = tmp_path / "half.cfnb"
    cases["truncated"].write_bytes(data[: len(data) // 2])
    cases["empty"] = tmp_path / "empty.cfnb"
    cases["empty"].write_bytes(b"")
    cases["text"] = tmp_path / "notes.txt"
    cases["text"].write_text("userId,movieId,rating\n1,2,3\n")
    cases["other zip"] = tmp_path / "other.zip"
    with zipfile.ZipFile(cases["other zip"], "w") as z:
        z.writestr("hello.txt", "hi")
    cases["bad json"] = rewrite(saved, tmp_path / "json.cfnb", replace={persist.MANIFEST: b"{not json"})
    cases["other format"] = rewrite(saved, tmp_path / "fmt.cfnb", replace={persist.MANIFEST: b'{"format": "x"}'})
    cases["future version"] = rewrite(saved, tmp_path / "v99.cfnb",
                                      replace={persist.MANIFEST: b'{"format": "cfnb-model", "version": 99}'})
    cases["no keras model"] = rewrite(saved, tmp_path / "nokeras.cfnb", drop={persist.KERAS})
    cases["broken keras model"] = rewrite(saved, tmp_path / "badkeras.cfnb", replace={persist.KERAS: b"garbage"})
    # Flip bytes inside the compressed keras member: the zip's CRC check catches it.
    corrupt = bytearray(data)
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo(persist.KERAS)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    corrupt[start:start + 50] = bytes(50)
    cases["corrupted bytes"] = tmp_path / "crc.cfnb"
    cases["corrupted bytes"].write_bytes(bytes(corrupt))
    messages = {}
    for case, path in cases.items():
        with pytest.raises(cfnb.ModelFileError) as info:
            cfnb.load(path)
        assert str(path) in str(info.value), case
        messages[case] = str(info.value)
    assert "truncated or corrupted" in messages["truncated"]
    assert "not a cfnb model file" in messages["other zip"]
    assert "version 99" in messages["future version"] and "Upgrade" in messages["future version"]
    assert "lacks ['model.keras']" in messages["no keras model"]
    with pytest.raises(cfnb.ModelFileError, match="No cfnb model file"):
        cfnb.load(tmp_path / "missing.cfnb")


def test_a_plain_keras_file_is_recognised(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "plain.keras"
    model.save(path)
    with pytest.raises(cfnb.ModelFileError, match="keras.saving.load_model"):
        cfnb.load(path)
    assert isinstance(keras.saving.load_model(path), keras.Model)
