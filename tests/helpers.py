"""Small helpers shared by test modules (import them: `from helpers import raw_rmse`)."""


def raw_rmse(model, data) -> float:
    """RMSE of the model's raw output on `data` (no fallback, no clipping): what a fit's val_rmse scores."""
    import numpy as np

    pred = model.predict(data.x, batch_size=4096, verbose=0).reshape(-1).astype(np.float64)
    return float(np.sqrt(np.mean((pred - data.y) ** 2)))


def rewritten(saved, folder, member, change):
    """A copy of the saved model file `saved` in `folder` with `member`'s bytes passed through `change`
    (which returns None to leave the member out)."""
    import zipfile

    out = folder / "changed.cfnb"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            data = change(data) if info.filename == member else data
            if data is not None:
                dst.writestr(info.filename, data)
    return out
