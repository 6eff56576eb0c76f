"""Training: stages, `fit_stages`, the engines that run it, recipes, the lr finder, implicit feedback."""

from cfnb.training.fit import FitOptions, compile_model, current_lr, fit_stages, make_optimizer
from cfnb.training.stages import LESSON_NN_STAGES, LESSON_STAGES, EngineRun, Stage, StagedHistory, parse_stages

__all__ = ["fit_stages", "FitOptions", "EngineRun", "compile_model", "current_lr", "make_optimizer", "Stage", "StagedHistory", "parse_stages",
           "LESSON_STAGES", "LESSON_NN_STAGES"]
