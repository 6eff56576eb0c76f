"""The flat modules of cfnb 0.1.0 under their old names: `from cfnb.baselines import popularity` still
imports, from the module's new home, when it is first asked for (nothing heavy is imported before)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: Old module name -> the module that holds its contents now.
MOVED = {
    "cfnb.baselines": "cfnb.evaluation.baselines", "cfnb.codegen": "cfnb.models.code",
    "cfnb.delimited": "cfnb.data.delimited", "cfnb.distributed": "cfnb.training.distributed",
    "cfnb.engines": "cfnb.training.engines", "cfnb.explore": "cfnb.evaluation.explore",
    "cfnb.fast": "cfnb.training.engines.tensorflow", "cfnb.fast_jax": "cfnb.training.engines.jax",
    "cfnb.implicit": "cfnb.training.implicit", "cfnb.lr_finder": "cfnb.training.lr_finder",
    "cfnb.movielens": "cfnb.data.movielens", "cfnb.persist": "cfnb.models.files",
    "cfnb.predict": "cfnb.evaluation.predictions", "cfnb.progress": "cfnb.training.progress",
    "cfnb.protocol": "cfnb.evaluation.protocol", "cfnb.ranking": "cfnb.evaluation.ranking",
    "cfnb.recipes": "cfnb.training.recipes", "cfnb.vocabulary": "cfnb.models.record",
    "cfnb.workspace": "cfnb.widgets.workspace",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and hands out the new module itself (one object under two names)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # already run under its new name


def install() -> None:
    """Alias the old names of modules already imported; put the finder on `sys.meta_path` for the rest.

    Aliasing up front matters where the old name is also a function of `cfnb` (`cfnb.baselines`,
    `cfnb.predict`, `cfnb.movielens`): a first import through the finder would set the module over it.
    """
    for old, new in MOVED.items():
        if new in sys.modules:
            sys.modules.setdefault(old, sys.modules[new])
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
