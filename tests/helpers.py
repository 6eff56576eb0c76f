"""Small helpers shared by test modules (import them: `from helpers import raw_rmse`)."""


def raw_rmse(model, data) -> float:
    """RMSE of the model's raw output on `data` (no fallback, no clipping): what a fit's val_rmse scores."""
    import numpy as np

    pred = model.predict(data.x, batch_size=4096, verbose=0).reshape(-1).astype(np.float64)
    return float(np.sqrt(np.mean((pred - data.y) ** 2)))
