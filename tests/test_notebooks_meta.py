"""Static checks on the committed notebooks: they explain themselves, are seeded, and ship no errors.

These read the .ipynb files only (no kernel), so they are fast; running the notebooks is nbval's job
(`pytest` collects notebooks/ with --nbval-lax).
"""

import ast
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent(
    reason="static checks of the notebook files; nbval runs the notebooks themselves on every backend")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON = ["01_dot_product.ipynb", "02_bias.ipynb", "03_neural_net.ipynb"]
CHECK = "# NBVAL_CHECK_OUTPUT"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def load(name):
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def source(cell) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def python_of(cell) -> str:
    """A code cell's source with IPython magics and shell escapes blanked out, so `ast` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source(cell).splitlines())


def calls(nb):
    """(cell index, function name, keyword names) of every call in the notebook's code, in order."""
    out = []
    for k, cell in enumerate(code_cells(nb)):
        for node in ast.walk(ast.parse(python_of(cell))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                out.append((k, node.lineno, name, {kw.arg for kw in node.keywords}))
    return sorted(out, key=lambda t: t[:2])


def test_lesson_notebooks_exist():
    missing = [n for n in LESSON if not (NOTEBOOKS / n).is_file()]
    assert not missing, f"lesson notebooks missing from notebooks/: {missing}"


@pytest.mark.parametrize("name", ALL)
def test_valid_nbformat_4(name):
    nb = load(name)
    assert nb["nbformat"] == 4, f"{name}: nbformat {nb['nbformat']}, expected 4"
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("code", "markdown", "raw"), f"{name}: odd cell type {cell['cell_type']!r}"


@pytest.mark.parametrize("name", ALL)
def test_opens_with_a_markdown_intro(name):
    first = load(name)["cells"][0]
    text = source(first)
    assert first["cell_type"] == "markdown", f"{name}: the first cell should be a markdown introduction"
    assert re.match(r"\s*# \S", text), f"{name}: the introduction should start with a '# ' title"
    prose = [line for line in text.splitlines()[1:] if line.strip()]
    assert len(" ".join(prose)) >= 200, f"{name}: the introduction should say what the notebook does"


@pytest.mark.parametrize("name", ALL)
def test_random_steps_are_seeded(name):
    """Every split and staged fit passes `seed=`; every model is built after a global seed is set."""
    nb = load(name)
    seeded = False
    for cell, line, func, keywords in calls(nb):
        if func == "set_random_seed":
            seeded = True
        if func in ("split", "fit_stages"):
            assert "seed" in keywords, f"{name}: code cell {cell + 1}, line {line}: {func}() without seed="
        if func == "build_model":
            assert seeded, (f"{name}: code cell {cell + 1} builds a model before any "
                            "keras.utils.set_random_seed(), so its initial weights are not reproducible")


@pytest.mark.parametrize("name", LESSON)
def test_lesson_notebook_sets_a_seed(name):
    funcs = {func: keywords for _, _, func, keywords in calls(load(name))}
    assert "set_random_seed" in funcs, f"{name}: no keras.utils.set_random_seed(...)"
    for func in ("split", "fit_stages"):
        assert func in funcs, f"{name}: expected a seeded {func}() call"


@pytest.mark.parametrize("name", ALL)
def test_no_committed_errors_or_tracebacks(name):
    for k, cell in enumerate(code_cells(load(name))):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{name}: code cell {k + 1} holds an error output"
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            plain = out.get("data", {}).get("text/plain", "")
            plain = "".join(plain) if isinstance(plain, list) else plain
            for blob in (text, plain):
                assert "Traceback (most recent call last)" not in blob, \
                    f"{name}: code cell {k + 1} holds a traceback in its output"


@pytest.mark.parametrize("name", ALL)
def test_no_hard_coded_data_paths(name):
    """Data comes through cfnb.movielens() and $CFNB_DATA_HOME, never a path written into a notebook."""
    for k, cell in enumerate(code_cells(load(name))):
        text = source(cell)
        for bad in ("shared/data", "/work/", "CFNB_DATA_HOME", "ratings.csv"):
            assert bad not in text, f"{name}: code cell {k + 1} mentions {bad!r}; use cfnb.movielens(...)"


@pytest.mark.parametrize("name", LESSON)
def test_outputs_kept_only_where_checked(name):
    """Checked cells keep their (deterministic) outputs for nbval; all other outputs are cleared."""
    checked = 0
    for k, cell in enumerate(code_cells(load(name))):
        if source(cell).lstrip().startswith(CHECK):
            checked += 1
            assert cell.get("outputs"), f"{name}: checked code cell {k + 1} has no committed output to compare"
            for out in cell["outputs"]:
                assert not (out["output_type"] == "stream" and out.get("name") == "stderr"), \
                    f"{name}: checked code cell {k + 1} keeps stderr, which varies between machines"
        else:
            assert not cell.get("outputs"), f"{name}: unchecked code cell {k + 1} has committed outputs"
            assert cell.get("execution_count") is None, f"{name}: code cell {k + 1} keeps an execution count"
    assert checked >= 3, f"{name}: expected at least 3 '{CHECK}' cells, found {checked}"


NUMBERED = sorted(n for n in ALL if re.match(r"\d\d_", n))
NEXT = re.compile(r"Next:[^\[\n]*\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("name", ALL)
def test_ends_with_a_next_link_to_the_following_notebook(name):
    """The last cell says where to go next: the following notebook, or back to the README's tour after the last."""
    last = load(name)["cells"][-1]
    links = NEXT.findall(source(last))
    assert last["cell_type"] == "markdown" and links, f"{name}: the last cell should end with 'Next: [...](...)'"
    k = NUMBERED.index(name) if name in NUMBERED else len(NUMBERED)
    expected = NUMBERED[k + 1] if k + 1 < len(NUMBERED) else "../README.md"
    assert links[-1] == expected, f"{name}: 'Next:' links to {links[-1]!r}, expected {expected!r}"
    assert (NOTEBOOKS / links[-1]).is_file(), f"{name}: 'Next:' links to {links[-1]!r}, which does not exist"


def test_readme_tour_lists_every_notebook():
    readme = (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8")
    tour = readme.split("\n## Tour", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in ALL if f"(notebooks/{name})" not in tour]
    assert not missing, f"README's Tour does not list {missing}"
