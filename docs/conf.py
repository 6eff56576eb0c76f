"""Sphinx configuration of cfnb's documentation site.

Build (warnings are errors):
    PYTHONPATH=$PWD .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Before the build this file writes two gitignored folders from the sources, so the site can never
drift from them: docs/lessons/ (a copy of notebooks/*.ipynb, rendered without running them) and
docs/reference/ (one autodoc entry per name in ``cfnb.__all__``, under its public path ``cfnb.NAME``).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cfnb  # noqa: E402

project = "cfnb"
author = "cfnb contributors"
copyright = "cfnb contributors"
release = version = cfnb.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_nb"]

# Notebooks are shown with the outputs committed in them; running them is nbval's job in the tests.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Signatures without annotations: the docstrings say the types in words, and cfnb's annotations
# (forward references, Keras types) would otherwise have to resolve for every entry.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "pydata_sphinx_theme"
html_title = f"cfnb {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []

exclude_patterns = ["_build", "experiments", "**.ipynb_checkpoints", "*.json"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}


# --- The lesson notebooks: the one copy lives in notebooks/; the site renders a copy of it. ---

def copy_lessons() -> None:
    """notebooks/*.ipynb -> docs/lessons/, with the last notebook's link back to the README's tour
    pointed at the site's front page instead (the README is not part of the site)."""
    target = DOCS / "lessons"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = text.replace("](../README.md", "](../index.md")
        (target / notebook.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


# --- The API reference: generated from cfnb.__all__, so no public name can be missed. ---

def _directive(name: str, obj) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj) and not isinstance(obj, type):
        return "autofunction"
    return "autodata"


def _module_members(module: types.ModuleType) -> list[str]:
    """A public module's documented members: its __all__, else the public functions and classes it
    defines and its UPPER_CASE constants, in source order."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    import ast

    assigned = set()  # constants assigned in the module itself, not imported into it
    for node in ast.parse(inspect.getsource(module)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        assigned |= {t.id for t in targets if isinstance(t, ast.Name)}
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
            names.append(name)
        elif name.isupper() and name in assigned and not inspect.ismodule(obj):
            names.append(name)
    return names


def write_reference() -> None:
    target = DOCS / "reference"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    lines = [
        "API reference",
        "=============",
        "",
        "Every public name of cfnb (``cfnb.__all__``), from its docstring, under the path to use:",
        "``cfnb.NAME``. This page is generated from ``cfnb.__all__`` at every build.",
        "",
        ".. currentmodule:: cfnb",
        "",
    ]
    for name in cfnb.__all__:
        obj = getattr(cfnb, name)
        if inspect.ismodule(obj):
            # The public path cfnb.NAME is the one documented, wherever the module's file lives.
            sys.modules.setdefault(f"cfnb.{name}", obj)
            title = f"cfnb.{name}"
            lines += [f".. _api-{name}:", "", title, "-" * len(title), "",
                      f".. automodule:: cfnb.{name}", "   :no-members:", ""]
            for member in _module_members(obj):
                sub = getattr(obj, member)
                lines += [f".. {_directive(member, sub)}:: cfnb.{name}.{member}"]
                if inspect.isclass(sub) and not issubclass(sub, BaseException):
                    lines += ["   :members:"]
                lines += [""]
        else:
            lines += [f".. {_directive(name, obj)}:: cfnb.{name}"]
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                lines += ["   :members:"]
            lines += [""]
    (target / "index.rst").write_text("\n".join(lines), encoding="utf-8")


# --- Constants: their docs are the `#:` comments where they are defined, found by identity. ---

def _attribute_docs(obj, attr: str) -> list[str] | None:
    """The `#:` comment (or string after the assignment) of `attr` in whichever cfnb module defines
    it as this very object; None if none does."""
    from sphinx.pycode import ModuleAnalyzer

    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("cfnb") or getattr(module, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without source (a namespace, an alias): look further
            continue
        if ("", attr) in docs:
            return list(docs[("", attr)])
    return None


def _resolve(fullname: str):
    obj = sys.modules["cfnb"]
    for part in fullname.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def document_constant(app, what, name, obj, options, lines) -> None:
    """autodoc gives a constant without a doc comment *at its public path* the docstring of its
    type (dict's, tuple's): use the comment where it is defined instead, or nothing."""
    if what != "data" or not name.startswith("cfnb."):
        return
    found = _attribute_docs(_resolve(name), name.rsplit(".", 1)[1])
    if found is not None:
        lines[:] = found
    elif type(obj).__module__ == "builtins":
        lines[:] = []


def setup(app):
    app.connect("autodoc-process-docstring", document_constant)


copy_lessons()
write_reference()
