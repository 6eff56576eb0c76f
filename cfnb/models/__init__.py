"""Model kinds and what travels with a model: the registry and graphs, the trained-on record, files, code."""

from cfnb.models.build import build_model, config_of, count_params, describe
from cfnb.models.graphs import Graph, ScaledSigmoid
from cfnb.models.kinds import (HYPERPARAMETERS, KINDS, REGISTRY, Hyperparameter, Kind, check_hyperparameters,
                               default_y_range, kind_of, register, unregister)
from cfnb.names import (ITEM_BIAS, ITEM_FACTORS, ITEM_IN, ITEM_MLP_FACTORS, USER_BIAS,
                        USER_FACTORS, USER_IN, USER_MLP_FACTORS, Y_RANGE)

__all__ = ["build_model", "config_of", "count_params", "describe", "HYPERPARAMETERS", "KINDS", "REGISTRY",
           "Hyperparameter", "Kind", "check_hyperparameters", "default_y_range", "kind_of", "register", "unregister",
           "Graph", "ScaledSigmoid",
           "USER_IN", "ITEM_IN", "USER_FACTORS", "ITEM_FACTORS", "USER_BIAS", "ITEM_BIAS", "USER_MLP_FACTORS",
           "ITEM_MLP_FACTORS", "Y_RANGE"]
