"""Compare: every fitted model with its recipe beside the baselines; choose the current model; save it."""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as w
import pandas as pd

from cfnb.errors import CfnbError
from cfnb.models.files import save
from cfnb.widgets.base import LABEL_WIDTH, Piece, table_html
from cfnb.widgets.session import session_of
from cfnb.widgets.workspace import NDCG

_SHOWN = {"val_rmse": "val RMSE", NDCG: "NDCG@10", "seconds": "fit s", "batch_size": "batch"}


def default_path(name: str) -> str:
    """A file name for a model called `name`: "#2 bias" -> "model-2-bias.cfnb"."""
    return "model-" + (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "cfnb") + ".cfnb"


class Compare(Piece):
    """Every model fitted in the session beside the two baselines, with its recipe and fit time, and
    both grades side by side: validation RMSE and NDCG@10 of its top-10 lists (`cfnb.ranking_metrics`).

    Choosing a model makes it the current one: the fit continues it, Explore shows it, Save writes it
    (with `cfnb.save`, together with the ratings; the model's record of its training ratings goes with it).

    Args:
        source: a Session or another piece (to share its session), or Ratings.
    """

    def __init__(self, source):
        session = session_of(source)
        self.table = w.HTML()
        self.choice = w.Dropdown(description="Current model", style={"description_width": LABEL_WIDTH},
                                 layout=w.Layout(width="420px"))
        self.path = w.Text(description="Save to", style={"description_width": "60px"},
                           layout=w.Layout(width="360px"))
        self.save_button = w.Button(description="Save", icon="save", tooltip="cfnb.save the current model")
        for widget, css in ((self.table, "cfnb-compare-out"), (self.choice, "cfnb-choose"),
                            (self.path, "cfnb-save-path"), (self.save_button, "cfnb-save")):
            widget.add_class(css)
        super().__init__(session, [self.table, w.HBox([self.choice, self.path, self.save_button])], "cfnb-compare")
        self._quiet, self._default_path = False, ""
        self.on_change(self.choice, self._chosen)
        self.on_click(self.save_button, self.save)
        self.listen("runs", self.refresh)
        self.listen("model", self.refresh)
        self.listen("busy", self._lock)
        self.guard(self.refresh)()

    def frame(self) -> pd.DataFrame:
        """The comparison (`cfnb.widgets.workspace.compare_frame`): baselines, then every fitted and the current model."""
        return self.session.frame()

    def refresh(self):
        """Redraw the table and the choice of model from the session."""
        frame, current = self.frame(), self.session.current
        n_base = int((frame["kind"] == "baseline").sum())
        classes = [" ".join(c for c in ("best" if best else "", "baseline" if k < n_base else "",
                                        "current" if k >= n_base and self.session.shown[k - n_base] is current
                                        else "") if c)
                   for k, best in enumerate(frame["best"])]
        shown = frame.drop(columns="best").rename(columns=_SHOWN)
        shown["model"] = [m + ("  ★ best" if b else "") for m, b in zip(frame["model"], frame["best"])]
        shown["epochs"] = ["–" if k < n_base else str(e) for k, e in enumerate(frame["epochs"])]
        self.table.value = table_html(shown, {"val RMSE": ".4f", "NDCG@10": ".3f", "fit s": ".2f", "params": ","}, row_classes=classes)
        self._quiet = True
        try:
            self.choice.options = [run.name for run in self.session.shown]
            self.choice.value = current.name if current else None
        finally:
            self._quiet = False
        if current is not None and self.path.value in ("", self._default_path):
            self.path.value = self._default_path = default_path(current.name)
        fitted = sum(1 for run in self.session.runs if len(run.history))
        self.say(f"{fitted} model(s) fitted; validation set: {len(self.session.val):,} ratings. "
                 "Choose a model to continue, explore or save it." if fitted else
                 "No model fitted yet: the baselines to beat, on the same validation split.")
        self._lock()

    def _chosen(self):
        if not self._quiet and self.choice.value is not None:
            self.select(self.choice.value)

    def select(self, name: str):
        """Make the model called `name` the current one (what choosing it does)."""
        self.session.select(name)

    def save(self, path=None) -> Path:
        """Save the current model with the session's ratings to `path` (default: the path box), with `cfnb.save`."""
        run = self.session.current
        if run is None:
            raise CfnbError("No model to save yet: Build and Fit one first.")
        if self.session.busy:
            raise CfnbError("A fit is running: save the model when it ends.")
        target = save(run.model, self.session.ratings, path if path is not None else self.path.value.strip())
        self.say(f"Saved {run.name} to {target} with the {len(self.session.ratings):,} ratings; load it with "
                 "model, ratings = cfnb.load(path).", "ok")
        return target

    def _lock(self):
        busy = self.session.busy
        self.choice.disabled = busy
        self.save_button.disabled = busy or self.session.current is None
