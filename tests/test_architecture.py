"""The house rules: layers with imports only downward and no circles (import-linter's contracts in
pyproject.toml), short files and module docstrings, and the public names of 0.1.0 still there."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cfnb

pytestmark = pytest.mark.backend_independent(reason="the source tree, its imports and its names: no Keras maths")

PACKAGE = Path(cfnb.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_imports_only_go_down_and_never_in_circles():
    done = subprocess.run([str(LINT_IMPORTS), "--config", str(PACKAGE.parent / "pyproject.toml")],
                          capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_module_docstrings_are_short(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 450, f"{path.name} has {len(text.splitlines())} lines"
    doc = ast.get_docstring(ast.parse(text))
    assert doc, f"{path.name} has no module docstring"
    assert len(doc.splitlines()) <= 15, f"{path.name}'s module docstring has {len(doc.splitlines())} lines"


def test_python_names_say_item_not_movie():
    import io
    import tokenize

    found = []
    for path in MODULES:
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type == tokenize.NAME and "movie" in tok.string.lower() and "movielens" not in tok.string.lower():
                found.append(f"{path.relative_to(PACKAGE)}:{tok.start[0]} {tok.string}")
    allowed = {"movie_bias", "movie_sharding"}  # 0.1.0's public names, kept as aliases of item_bias, item_sharding
    assert [f for f in found if f.split()[-1] not in allowed] == []


OLD_MODULES = ["backend", "checks", "errors", "quiet", "delimited", "vocabulary", "persist", "codegen", "engines",
               "fast", "fast_jax", "distributed", "lr_finder", "progress", "ranking", "protocol", "explore",
               "workspace", "cli", "data", "models", "training", "display", "implicit", "recipes"]


@pytest.mark.parametrize("name", OLD_MODULES)
def test_the_flat_module_names_of_0_1_0_still_import(name):
    if name == "fast_jax":
        pytest.importorskip("jax")
    if name == "fast" and cfnb.backend.name() != "tensorflow":
        pytest.skip("the TensorFlow engine imports TensorFlow")
    exec(f"from cfnb import {name}", {})


def test_every_public_name_is_declared_once_at_the_top():
    assert len(cfnb.__all__) == len(set(cfnb.__all__))
    for name in cfnb.__all__:
        assert getattr(cfnb, name) is not None, name
    assert cfnb.movie_bias is cfnb.item_bias


def test_the_old_dotted_paths_import_and_leave_the_functions_of_the_same_name_alone():
    from cfnb.baselines import popularity  # noqa: F401  (notebook 05 of 0.1.0 does this)
    from cfnb.display import SERIES, figure_html, new_figure, themed  # noqa: F401
    from cfnb.persist import save  # noqa: F401
    from cfnb.predict import evaluate

    assert evaluate is cfnb.evaluate
    assert callable(cfnb.baselines) and callable(cfnb.predict) and callable(cfnb.movielens)
