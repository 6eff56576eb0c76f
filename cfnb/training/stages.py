"""Stages of (learning rate, epochs), and the one history a staged fit keeps across them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from cfnb.display.history import history_html, history_png, plot_history
from cfnb.errors import ArgumentError, CfnbError

#: The lesson's stages for the dot and bias models: 4 epochs at lr 1e-2, then 4 at 1e-3.
LESSON_STAGES = ((1e-2, 4), (1e-3, 4))


#: The lesson's stages for the neural net: 4 epochs at lr 1e-3, then 4 at 1e-4.
LESSON_NN_STAGES = ((1e-3, 4), (1e-4, 4))


COLUMNS = ["stage", "epoch", "lr", "loss", "val_loss", "val_rmse", "seconds"]


@dataclass(frozen=True)
class Stage:
    """One stage of a staged fit: `epochs` epochs at learning rate `lr`."""

    lr: float
    epochs: int

    @classmethod
    def of(cls, value) -> Stage:
        """A Stage from a `Stage`, a `(lr, epochs)` pair or a `{"lr":, "epochs":}` dict, validated."""
        if isinstance(value, Stage):
            lr, epochs = value.lr, value.epochs
        elif isinstance(value, dict):
            lr, epochs = value.get("lr"), value.get("epochs")
        else:
            try:
                lr, epochs = value
            except (TypeError, ValueError):
                raise ArgumentError(f"A stage must be (learning rate, epochs), got {value!r}.") from None
        try:
            lr, epochs_f = float(lr), float(epochs)
        except (TypeError, ValueError):
            raise ArgumentError(f"A stage must be (learning rate, epochs) numbers, got {value!r}.") from None
        if not (math.isfinite(lr) and lr > 0):
            raise ArgumentError(f"Stage learning rate must be a positive number, got {lr!r} in {value!r}.")
        if epochs_f != int(epochs_f) or epochs_f < 1:
            raise ArgumentError(f"Stage epochs must be a whole number of at least 1, got {epochs!r} in {value!r}.")
        return cls(lr, int(epochs_f))


def parse_stages(stages) -> list[Stage]:
    """Validate a list of stages; an empty list is an error."""
    stages = [Stage.of(s) for s in (stages or [])]
    if not stages:
        raise ArgumentError("No stages to fit: give at least one (learning rate, epochs) stage.")
    return stages


@dataclass(frozen=True)
class EngineRun:
    """Which engine ran a fit and why: `name` is "fast", "keras", "strategy" or "distribution"."""

    name: str
    backend: str
    reason: str
    label: str = ""  # the engine's own words, e.g. "cfnb.fast exact XLA (tensorflow)"

    def to_json(self) -> dict:
        """Plain data, as the model's trained-on record and a saved file keep it."""
        return {"name": self.name, "backend": self.backend, "reason": self.reason, "label": self.label}


class StagedHistory:
    """The record of a staged fit: one row per epoch across all stages.

    `to_frame()` gives a DataFrame with columns `stage`, `epoch`, `lr`, `loss`, `val_loss`,
    `val_rmse`, `seconds`; in a notebook the history shows as a learning-curve plot. `engine` says
    which engine ran the latest fit and why (an `EngineRun`; None before any fit).
    """

    def __init__(self, rows=None):
        self.rows: list[dict] = list(rows or [])
        self.interrupted = False
        self.stages: list[Stage] = []  # the plan: stage number k is `stages[k - 1]`
        self.engine: EngineRun | None = None

    def ran(self) -> list[tuple[int, Stage]]:
        """`(stage number, stage)` of the epochs run so far, stage by stage (at the planned rate)."""
        done = Counter(row["stage"] for row in self.rows)
        lrs = {row["stage"]: row["lr"] for row in self.rows}
        return [(k, Stage(self.stages[k - 1].lr if k <= len(self.stages) else lrs[k], n))
                for k, n in sorted(done.items())]

    def remaining(self) -> list[tuple[int, Stage]]:
        """`(stage number, stage)` of the planned epochs not run yet (an epoch cut short counts as run)."""
        done = Counter(row["stage"] for row in self.rows)
        return [(k, Stage(s.lr, s.epochs - done[k])) for k, s in enumerate(self.stages, 1) if s.epochs > done[k]]

    def plan(self, stages=None) -> list[tuple[int, Stage]]:
        """The `(stage number, stage)` pairs a fit continuing this history runs, recorded in `stages`.

        With `stages`, the plan becomes what ran so far followed by these (numbered on); without, the
        planned stages not run yet, or the lesson's stages for an empty history.
        """
        if stages is None:
            if not self.rows and not self.stages:
                stages = LESSON_STAGES
            elif self.remaining():
                return self.remaining()
            else:
                raise CfnbError(f"This history ran all its {len(self.stages)} planned stage(s) "
                                f"({len(self.rows)} epochs): pass stages=[(lr, epochs), ...] to fit more.")
        stages = parse_stages(stages)
        ran = [stage for _, stage in self.ran()]
        self.stages = ran + stages
        return list(enumerate(stages, len(ran) + 1))

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch; columns `stage`, `epoch`, `lr`, `loss`, `val_loss`, `val_rmse`, `seconds`."""
        frame = pd.DataFrame(self.rows, columns=COLUMNS)
        return frame.astype({"stage": "int64", "epoch": "int64"}) if len(frame) else frame

    @property
    def val_rmse(self) -> float:
        """Validation RMSE after the last epoch (NaN if none)."""
        return float(self.rows[-1]["val_rmse"]) if self.rows else float("nan")

    @property
    def seconds(self) -> float:
        """Total training seconds over all epochs."""
        return float(sum(r["seconds"] for r in self.rows))

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        state = ", interrupted" if self.interrupted else ""
        return f"StagedHistory({len(self.rows)} epochs{state})\n{self.to_frame().to_string(index=False)}"

    def plot(self, ax=None):
        """Plot the learning curve (train and val loss, stage boundaries marked) on a matplotlib axis."""
        return plot_history(self, ax=ax)

    def _repr_html_(self):
        """The learning curve as inline SVG that follows JupyterLab's light or dark theme."""
        return history_html(self) if self.rows else None

    def _repr_png_(self):
        return history_png(self) if self.rows else None
