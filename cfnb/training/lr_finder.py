"""fastai's learning-rate range test: train a copy at exponentially growing rates, watch the loss.

`lr_find(model, train)` clones the model and its optimizer state, trains the clone for a few hundred
batches while the learning rate grows from `start_lr` to `end_lr` (rate `k` of `n` is
``start_lr * (end_lr / start_lr) ** (k / (n - 1))``), and records each batch's loss, smoothed as
fastai does (an exponential moving average with ``beta = 0.98``, divided by ``1 - beta**k`` so the
first values are not biased to 0). It stops early once the smoothed loss passes four times its
best (the loss diverges). The model itself is never trained.

The suggestion is fastai's "valley": along the longest stretch where the smoothed loss keeps going
down, the rate about half-way (1/3 + 1/6 of it), well before the minimum; `suggestions` adds fastai's
"steep" and "minimum" (see `suggest`). Every rule looks only at the batches before the loss blew up
(`blow_up`); where the loss never went down, there is none (None) and `LRFind.reason` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd

from cfnb import checks
from cfnb.data.ratings import Ratings
from cfnb.display.figures import SERIES, figure_html, figure_png, new_figure, themed
from cfnb.errors import ArgumentError
from cfnb.models import record

BETA = 0.98        # fastai's smoothing of the loss
DIVERGE = 4.0      # stop once the smoothed loss exceeds this many times its best


@dataclass
class LRFind:
    """The result of `lr_find`: learning rates tried, their smoothed losses, and a suggested rate.

    Attributes:
        lrs: the learning rate of each batch.
        losses: the smoothed training loss after each batch.
        raw_losses: each batch's loss as Keras reported it (MSE plus the l2 penalty).
        suggestion: the suggested learning rate (fastai's "valley", see the module docstring), always
            below the rate where the loss blew up; None when the loss never went down before it.
        suggestions: {"valley", "steep", "minimum"}: the three rules' rates (None likewise).
        diverged: whether the test stopped early because the loss blew up.
        reason: why there is no suggestion ("" when there is one).
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float | None
    suggestions: dict = field(default_factory=dict)
    diverged: bool = False
    reason: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row per batch: `lr`, `loss` (smoothed), `raw_loss`."""
        return pd.DataFrame({"lr": self.lrs, "loss": self.losses, "raw_loss": self.raw_losses})

    def plot(self, ax=None):
        """Plot the smoothed loss against the learning rate (log scale) with the suggestion marked."""

        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
        keep = slice(None, -5) if len(self.lrs) > 10 else slice(None)  # fastai hides the last 5 (divergence)
        ax.plot(self.lrs[keep], self.losses[keep], color=SERIES[0], label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        if self.suggestion is not None:
            at = int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))
            ax.plot([self.suggestion], [self.losses[at]], "o", color=SERIES[1], markersize=7,
                    label=f"suggestion {self.suggestion:.1e}")
        else:
            ax.set_title("no suggestion: " + self.reason.split(":")[0], fontsize=8)
        shown = self.losses[keep][np.isfinite(self.losses[keep])]
        if len(shown) > 1:  # the y-axis spans the curve up to its minimum; the divergence runs off the top
            low, high = float(shown.min()), float(shown[:int(np.argmin(shown)) + 1].max())
            pad = 0.1 * max(high - low, 1e-12)
            ax.set_ylim(low - pad, high + 3 * pad)
        ax.legend(loc="best", fontsize=8)
        ax.grid(True)
        return ax

    def figure(self):
        """The plot as a theme-ready matplotlib `Figure`."""

        fig = new_figure((6.4, 3.4))
        with themed():
            self.plot(ax=fig.add_subplot())
        return fig

    def _repr_html_(self) -> str:

        return figure_html(self.figure())

    def _repr_png_(self) -> bytes:

        return figure_png(self.figure())

    def __repr__(self) -> str:
        end = ", diverged" if self.diverged else ""
        said = f"suggestion {self.suggestion:.2e}" if self.suggestion is not None else f"no suggestion: {self.reason}"
        return f"LRFind({len(self.lrs)} batches, lr {self.lrs[0]:.1e}..{self.lrs[-1]:.1e}{end}; {said})"


def lr_find(model: keras.Model, train: Ratings, start_lr: float = 1e-6, end_lr: float = 1.0, steps: int = 250,
            batch_size: int = 64, seed: int | None = None) -> LRFind:
    """fastai's learning-rate range test on a copy of `model` (the model itself is not changed).

    Args:
        model: a Keras model taking `user_in` and `movie_in` (compiled or not; if compiled, its
            optimizer, loss and optimizer state are copied; if not, Adam and MSE as `fit_stages` uses).
        train: the `Ratings` to draw batches from (shuffled; cycled if `steps` batches need more).
        start_lr, end_lr: the first and last learning rate, 0 < start_lr < end_lr.
        steps: batches to run (fewer if the loss diverges first), at least 10.
        batch_size: ratings per batch (use the batch size you will fit with).
        seed: seeds the batch order and dropout for a reproducible test (through
            `keras.utils.set_random_seed`, as `fit_stages` does).

    Returns:
        An `LRFind` with `lrs`, `losses` (smoothed), `suggestion` (None, with `reason`, when the loss
        never went down before it blew up), `suggestions`, `to_frame()`, `plot()`; it shows its plot
        in a notebook.

    Raises:
        ArgumentError: a bad argument (named), or empty training ratings.
        VocabularyError: `train` is coded in another id vocabulary than the model's, or has codes
            beyond its embedding tables.
    """
    checks.instance("model", model, keras.Model, "a Keras model")
    checks.instance("train", train, Ratings, "cfnb Ratings (e.g. from ratings.split())")
    start_lr, end_lr = checks.positive("start_lr", start_lr), checks.positive("end_lr", end_lr)
    if not start_lr < end_lr:
        raise ArgumentError(f"start_lr must be below end_lr, got start_lr={start_lr:g}, end_lr={end_lr:g}.")
    steps = checks.whole("steps", steps, minimum=10)
    batch_size = checks.whole("batch_size", batch_size)
    seed = checks.seed("seed", seed)
    if len(train) == 0:
        raise ArgumentError("train has no ratings: nothing to find a learning rate on.")
    record.check(model, train, "train")  # the copy trains on these codes: they must be the model's
    record.check_codes_fit(model, train, "train")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    copy = _clone(model)
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))
    x, y = train.x, train.y
    rng = np.random.default_rng(seed)
    order = np.zeros(0, np.int64)
    raw, smooth, average, best, diverged = [], [], 0.0, math.inf, False
    for k, lr in enumerate(lrs):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(y))])
        batch, order = order[:batch_size], order[batch_size:]
        copy.optimizer.learning_rate = float(lr)
        logs = copy.train_on_batch({name: v[batch] for name, v in x.items()}, y[batch], return_dict=True)
        loss = float(logs["loss"])
        average = BETA * average + (1 - BETA) * loss
        smoothed = average / (1 - BETA ** (k + 1))
        raw.append(loss)
        smooth.append(smoothed)
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > DIVERGE * best:
            diverged = True
            break
    n = len(smooth)
    lrs, smooth, raw = lrs[:n], np.array(smooth), np.array(raw)
    suggestions = suggest(lrs, smooth, steps, raw)
    reason = "" if suggestions["valley"] is not None else why_no_suggestion(lrs, smooth, raw)
    return LRFind(lrs, smooth, raw, suggestions["valley"], suggestions, diverged, reason)


def _clone(model: keras.Model) -> keras.Model:
    """A copy of `model` with the same weights, compiled with a copy of its optimizer and its state."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    if optimizer is None:
        copy.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        return copy
    twin = type(optimizer).from_config(optimizer.get_config())
    copy.compile(optimizer=twin, loss=model.loss)
    twin.build(copy.trainable_variables)
    if optimizer.built and len(optimizer.variables) == len(twin.variables):
        for mine, theirs in zip(twin.variables, optimizer.variables):
            mine.assign(keras.ops.convert_to_numpy(theirs))  # the step count and the slots (moments, accumulators)
    return copy


def blow_up(losses, raw=None) -> int | None:
    """Index of the first batch where the loss blew up: a loss that is not finite, or above `DIVERGE`
    times the best smoothed loss before it (the raw loss crosses that line a few batches before the
    smoothed one); None if it never does."""
    losses = np.asarray(losses, float)
    raw = losses if raw is None else np.asarray(raw, float)
    best = np.minimum.accumulate(np.r_[np.inf, losses[:-1]])
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(losses) | ~np.isfinite(raw) | (losses > DIVERGE * best) | (raw > DIVERGE * best)
    return int(np.argmax(bad)) if bad.any() else None


def suggest(lrs, losses, steps: int | None = None, raw=None) -> dict:
    """fastai's suggestion rules on smoothed losses: {"valley", "steep", "minimum"} learning rates.

    "valley": the rate 1/3 + 1/6 of the way along the longest decreasing subsequence of the losses;
    "steep": the steepest descent of the loss against log lr; "minimum": the rate at the lowest loss,
    divided by 10. Only the batches before the loss blew up count (`blow_up`, with the raw losses `raw`
    if given); of those, like fastai, the first `steps // 10` points and the last 5 are left out. Where
    the loss never went down in what is left, every rule gives None.
    """
    lrs, losses = np.asarray(lrs, float), np.asarray(losses, float)
    end = blow_up(losses, raw)
    lrs, losses = (lrs[:end], losses[:end]) if end is not None else (lrs, losses)
    steps = len(lrs) if steps is None else steps
    cut = slice(steps // 10, -5) if len(lrs) - steps // 10 > 5 + 2 else slice(None)
    lrs, losses = lrs[cut], losses[cut]
    if len(lrs) < 2 or not (np.minimum.accumulate(losses)[1:] < losses[0]).any():
        return {"valley": None, "steep": None, "minimum": None}
    return {"valley": float(lrs[_valley(losses)]),
            "steep": float(lrs[int(np.argmin(np.diff(losses) / np.diff(np.log(lrs))))]),
            "minimum": float(lrs[int(np.argmin(losses))]) / 10}


def why_no_suggestion(lrs, losses, raw=None) -> str:
    """Why `suggest` has no rate for this curve, in words that say what to try."""
    end = blow_up(losses, raw)
    where = f"it blew up at lr {lrs[end]:.1e}" if end is not None else f"up to lr {lrs[-1]:.1e}"
    return (f"the loss never went down before it blew up ({where}, after {len(lrs)} batches): even the "
            f"first rates were too high. Try again from a lower start_lr (e.g. start_lr={lrs[0] / 1000:.0e}).")


def _valley(losses: np.ndarray) -> int:
    """fastai's valley: the index 1/3 + 1/6 of the way along the longest decreasing run of losses."""
    n = len(losses)
    length = np.ones(n, int)  # longest decreasing subsequence ending at each point
    max_start = max_end = 0
    for i in range(1, n):
        before = np.flatnonzero(losses[:i] > losses[i])
        if len(before):
            length[i] = 1 + length[before].max()
        if length[i] > length[max_end]:
            max_end, max_start = i, i - length[i]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)
