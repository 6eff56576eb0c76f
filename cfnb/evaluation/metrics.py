"""Error metrics on ratings: the one RMSE and MAE that every cfnb figure uses."""

from __future__ import annotations

import numpy as np


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error between predictions and ratings."""
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - y) ** 2)))


def mae(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute error between predictions and ratings."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - y)))
