"""Training: stages, `fit_stages`, the engines that run it, recipes, the lr finder, implicit feedback."""

from cfnb.training.fit import compile_model, fit_stages, make_optimizer
from cfnb.training.stages import LESSON_NN_STAGES, LESSON_STAGES, Stage, StagedHistory, parse_stages

__all__ = ["fit_stages", "compile_model", "make_optimizer", "Stage", "StagedHistory", "parse_stages",
           "LESSON_STAGES", "LESSON_NN_STAGES"]
