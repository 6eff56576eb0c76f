"""cfnb: collaborative filtering with Keras in Jupyter, after fast.ai's lesson 4.

Every public name is declared here, once: the subpackages (data, models, training, evaluation, display,
widgets, bench) can move inside without breaking `from cfnb import ...`.
"""

from cfnb import compat as _compat
from cfnb import quiet as _quiet

_quiet.install()  # before Keras loads: TensorFlow's start-up log lines stay out of cells and terminals

# ruff: noqa: E402
import importlib as _importlib

from cfnb.data.movielens import data_home, movielens
from cfnb.data.ratings import Ratings, load_ratings
from cfnb.data.synthetic import synthetic
from cfnb.display.summaries import graph, load_ipython_extension, summary, unload_ipython_extension
from cfnb.errors import (ArgumentError, ArgumentTypeError, CfnbError, DataError, DataWarning, DownloadError,
                         ModelFileError, VocabularyError)
from cfnb.evaluation.baselines import baselines, ranking_baselines
from cfnb.evaluation.explore import factor_pca, item_bias, rated_highest, recommend
from cfnb.evaluation.predictions import evaluate, predict, predictions_table
from cfnb.evaluation.protocol import hit_rate_ndcg, leave_last_out, sample_negatives
from cfnb.evaluation.ranking import ranking_metrics
from cfnb.models.build import build_model
from cfnb.models.code import model_code
from cfnb.models.files import load, save
from cfnb.models.kinds import KINDS
from cfnb.models.record import trained_on
from cfnb.training import implicit, recipes
from cfnb.training.fit import fit_stages
from cfnb.training.lr_finder import LRFind, lr_find
from cfnb.training.recipes import BEST_RECIPE, recommended
from cfnb.training.stages import LESSON_NN_STAGES, LESSON_STAGES, Stage, StagedHistory
from cfnb.widgets import Builder, Compare, Explore, Lab, StagedFit
from cfnb.widgets.workspace import adopt

movie_bias = item_bias  # the lesson's word, kept for notebooks written before 0.2
_compat.install()  # the flat module names of 0.1.0 (cfnb.baselines, cfnb.fast, ...) still import

__version__ = "0.1.0"
__all__ = [
    "Ratings", "load_ratings", "synthetic", "movielens", "data_home",
    "build_model", "KINDS", "model_code", "summary", "graph", "fit_stages", "Stage", "StagedHistory",
    "LESSON_STAGES", "LESSON_NN_STAGES", "lr_find", "LRFind", "predict", "evaluate", "predictions_table",
    "CfnbError", "DataError", "DownloadError", "ModelFileError", "ArgumentError", "ArgumentTypeError",
    "VocabularyError", "DataWarning", "save", "load", "trained_on",
    "load_ipython_extension", "unload_ipython_extension",
    "baselines", "ranking_baselines", "ranking_metrics", "leave_last_out", "sample_negatives", "hit_rate_ndcg",
    "item_bias", "movie_bias", "factor_pca", "recommend", "rated_highest",
    "Lab", "Builder", "StagedFit", "Compare", "Explore", "adopt",
    "recipes", "BEST_RECIPE", "recommended", "implicit",
]

# The flat modules of 0.1.0 as attributes too (`from cfnb import engines`), imported when asked for.
_MOVED = {old.split(".")[1]: new for old, new in _compat.MOVED.items()}
_MOVED.update({"backend": "cfnb.backend", "checks": "cfnb.checks", "errors": "cfnb.errors", "quiet": "cfnb.quiet",
               "bench": "cfnb.bench", "cli": "cfnb.cli"})


def __getattr__(name):
    if name in _MOVED:
        return _importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'cfnb' has no attribute {name!r}")
