"""cfnb: collaborative filtering with Keras in Jupyter, after fast.ai's lesson 4."""

from . import quiet as _quiet

_quiet.install()  # before Keras loads: TensorFlow's start-up log lines stay out of cells and terminals

from .data import DataWarning, Ratings, load_ratings, synthetic  # noqa: E402
from .display import graph, load_ipython_extension, summary, unload_ipython_extension  # noqa: E402
from .errors import (ArgumentError, ArgumentTypeError, CfnbError, DataError, DownloadError,  # noqa: E402
                     ModelFileError, VocabularyError)
from .models import KINDS, build_model  # noqa: E402
from .codegen import model_code  # noqa: E402
from .lr_finder import LRFind, lr_find  # noqa: E402
from .movielens import data_home, movielens  # noqa: E402
from .persist import load, save  # noqa: E402
from .predict import evaluate, predict, predictions_table  # noqa: E402
from .vocabulary import trained_on  # noqa: E402
from .training import LESSON_NN_STAGES, LESSON_STAGES, Stage, StagedHistory, fit_stages  # noqa: E402
from .baselines import baselines, ranking_baselines  # noqa: E402
from .ranking import ranking_metrics  # noqa: E402
from .protocol import hit_rate_ndcg, leave_last_out, sample_negatives  # noqa: E402
from . import implicit, recipes  # noqa: E402
from .recipes import BEST_RECIPE, recommended  # noqa: E402
from .explore import factor_pca, movie_bias, rated_highest, recommend  # noqa: E402
from .widgets import Builder, Compare, Explore, Lab, StagedFit  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "Ratings", "load_ratings", "synthetic", "movielens", "data_home",
    "build_model", "KINDS", "model_code", "summary", "graph", "fit_stages", "Stage", "StagedHistory",
    "LESSON_STAGES", "LESSON_NN_STAGES", "lr_find", "LRFind", "predict", "evaluate", "predictions_table",
    "CfnbError", "DataError", "DownloadError", "ModelFileError", "ArgumentError", "ArgumentTypeError",
    "VocabularyError", "DataWarning", "save", "load", "trained_on",
    "load_ipython_extension", "unload_ipython_extension",
    "baselines", "ranking_baselines", "ranking_metrics", "leave_last_out", "sample_negatives", "hit_rate_ndcg",
    "movie_bias", "factor_pca", "recommend", "rated_highest",
    "Lab", "Builder", "StagedFit", "Compare", "Explore",
    "recipes", "BEST_RECIPE", "recommended", "implicit",
]
