"""The lessons travel with the package: `cfnb lessons` copies them out, and the built wheel holds them.

`test_the_wheel_ships_the_lessons_and_notebook_01_runs_from_them` builds the wheel from a copy of the
sources (`python -m build --wheel`: an isolated build, which fetches setuptools from the package index
or pip's cache, a few seconds), installs it with `--no-deps --no-index` into a fresh virtual
environment, runs `cfnb lessons` there and executes the copied notebook 01 under nbval with that
environment's Python as the kernel. The fresh environment sees this interpreter's site-packages
through a `.pth` file placed after its own: TensorFlow, Keras and Jupyter are not downloaded again,
while `cfnb` itself can only come from the wheel (the test checks where it was imported from).
`venv --system-site-packages` would not do: under a virtual environment (as on CI) it exposes the base
interpreter's packages, not this environment's. About 2 minutes on two busy cores (build 10 s, install and
`cfnb lessons` 20-30 s, most of it importing TensorFlow, notebook 01 60-80 s).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import pytest

import cfnb
from cfnb.cli import copy_lessons, lesson_notebooks, main

pytestmark = pytest.mark.backend_independent(
    reason="copying the lessons and building the wheel do not depend on the backend; nbval runs "
           "notebook 01 (and every lesson) on this backend from notebooks/")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
SHARED = ROOT.parent / "shared" / "data" / "movielens"


def test_every_notebook_is_a_lesson():
    assert [f.name for f in lesson_notebooks()] == NOTEBOOKS and "01_dot_product.ipynb" in NOTEBOOKS


def test_cfnb_lessons_copies_and_keeps_edited_copies(tmp_path, capsys):
    folder = tmp_path / "my lessons"
    assert main(["lessons", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == NOTEBOOKS
    assert (folder / NOTEBOOKS[0]).read_bytes() == (ROOT / "notebooks" / NOTEBOOKS[0]).read_bytes()
    assert f"{len(NOTEBOOKS)} copied" in capsys.readouterr().out
    edited = folder / NOTEBOOKS[1]
    edited.write_text("my notes")
    (folder / NOTEBOOKS[0]).unlink()
    assert main(["lessons", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"kept         {edited}" in out and "--force" in out
    assert f"1 copied, {len(NOTEBOOKS) - 2} already up to date, 1 kept" in out
    assert edited.read_text() == "my notes"
    assert main(["lessons", str(folder), "--force"]) == 0
    assert f"overwritten  {edited}" in capsys.readouterr().out
    assert edited.read_bytes() == (ROOT / "notebooks" / NOTEBOOKS[1]).read_bytes()


def test_cfnb_lessons_defaults_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["lessons"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == NOTEBOOKS


def test_cfnb_lessons_refuses_a_file_as_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(cfnb.CfnbError, match="is a file"):
        copy_lessons(tmp_path / "f", log=lambda line: None)
    with pytest.raises(cfnb.ArgumentTypeError, match="folder must be a file path"):
        copy_lessons(None)


def test_pyproject_lists_every_subpackage():
    """`packages` is an explicit list (for the notebooks' package-dir): a new subpackage must be in it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cfnb").rglob("__init__.py")}
    assert found <= set(config["packages"]), f"add {sorted(found - set(config['packages']))} to pyproject's packages"
    assert config["package-dir"]["cfnb.lessons"] == "notebooks"


def run(args, timeout, cwd, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, **kwargs)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_ships_the_lessons_and_notebook_01_runs_from_them(tmp_path):
    start = time.perf_counter()
    source = tmp_path / "src"  # a clean copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "cfnb", source / "cfnb", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "notebooks").mkdir()
    for name in NOTEBOOKS:
        shutil.copy2(ROOT / "notebooks" / name, source / "notebooks" / name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(source)], 600, tmp_path)
    (wheel,) = (tmp_path / "dist").glob("cfnb-*.whl")
    built = time.perf_counter()

    env_dir = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], 120, tmp_path)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--quiet", str(wheel)], 300, tmp_path)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60, tmp_path)
                .stdout.strip())
    shared = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_shared_packages.pth").write_text("\n".join(shared) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(CFNB_DATA_HOME=str(SHARED.resolve()), TF_CPP_MIN_LOG_LEVEL="3", JUPYTER_PLATFORM_DIRS="1")
    where = run([str(python), "-c", "import importlib.util as u; print(u.find_spec('cfnb').origin)"], 60, tmp_path,
                env=env).stdout.strip()
    assert where.startswith(str(site)), f"cfnb was imported from {where}, not from the installed wheel"

    lessons = tmp_path / "lessons"
    out = run([str(env_dir / "bin" / "cfnb"), "lessons", str(lessons)], 300, tmp_path, env=env).stdout
    assert sorted(p.name for p in lessons.iterdir()) == NOTEBOOKS, out
    copied = time.perf_counter()

    done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
                "01_dot_product.ipynb"], 600, lessons, env=env)
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout[-2000:]
    print(f"wheel built in {built - start:.0f} s, installed and lessons copied in {copied - built:.0f} s, "
          f"notebook 01 run in {time.perf_counter() - copied:.0f} s")
