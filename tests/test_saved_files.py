"""Files saved by cfnb 0.1.0 (tests/fixtures/v0.1.0, made by make_fixtures.py before the subpackages)
load with today's cfnb and predict what they predicted then."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cfnb

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0.1.0"
EXPECTED = json.loads((FIXTURES / "predictions.json").read_text())


@pytest.mark.parametrize("stem", sorted(EXPECTED["models"]))
def test_a_0_1_0_file_loads_and_predicts_the_same(stem):
    saved = EXPECTED["models"][stem]
    model, ratings = cfnb.load(FIXTURES / f"{stem}.cfnb")
    users, items = EXPECTED["users"], EXPECTED["items"]
    assert model.cfnb_config["kind"] == saved["kind"]
    np.testing.assert_allclose(cfnb.predict(model, ratings, users, items, unknown="fallback"), saved["fallback"],
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(cfnb.predict(model, ratings, users[:20], items[:20], clip=False), saved["raw"],
                               rtol=0, atol=1e-5)
    assert cfnb.trained_on(model) is not None  # the record travels: cold ids still fall back


def test_the_custom_layer_keeps_its_saved_name():
    with zipfile.ZipFile(FIXTURES / "bias_y_range.cfnb") as z, z.open("model.keras") as inner:
        with zipfile.ZipFile(inner) as keras_file:
            config = keras_file.read("config.json").decode()
    assert '"cfnb>ScaledSigmoid"' in config  # the registered name old files carry
    model, _ = cfnb.load(FIXTURES / "bias_y_range.cfnb")
    assert any(type(layer).__name__ == "ScaledSigmoid" for layer in model.layers)
