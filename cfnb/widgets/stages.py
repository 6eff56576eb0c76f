"""The stage editor: rows of (learning rate, epochs), the lesson's stages per kind, where an epoch falls."""

from __future__ import annotations

import ipywidgets as w

from cfnb.training.stages import LESSON_NN_STAGES, LESSON_STAGES, Stage, StagedHistory


def lesson_stages(kind: str | None) -> tuple:
    """The lesson's stages for a model kind: the NN's lower rates for "nn", else `LESSON_STAGES`."""
    return LESSON_NN_STAGES if kind == "nn" else LESSON_STAGES


def stage_at(history: StagedHistory, epoch: int) -> tuple[int, Stage]:
    """`(stage number, stage)` of the history's plan in which epoch `epoch` (counted from 1) runs."""
    left = epoch
    for number, stage in enumerate(history.stages, 1):
        if left <= stage.epochs:
            return number, stage
        left -= stage.epochs
    return len(history.stages), history.stages[-1]


class StageList(w.VBox):
    """Editable (learning rate, epochs) rows and an Add stage button; knows whether the learner edited them.

    Args:
        stages: the starting rows, `(lr, epochs)` pairs.
        guard: wraps each callback so that an error shows in the owning piece (`Piece.guard`).
    """

    def __init__(self, stages, guard):
        self.guard, self.edited, self._quiet = guard, False, False
        self.rows = w.VBox()
        self.add_button = w.Button(description="Add stage", icon="plus")
        self.add_button.add_class("cfnb-add-stage")
        super().__init__([w.HTML("<b>Stages</b> (learning rate, epochs), run in order:"), self.rows, self.add_button])
        self.add_button.on_click(guard(lambda _: self.add(edit=True)))
        self.set(stages)

    @property
    def stages(self) -> list[tuple]:
        """The stages as typed in, `(lr, epochs)` pairs (validated only when fitting)."""
        return [(row.children[1].value, row.children[2].value) for row in self.rows.children]

    def set(self, stages, edited: bool = False):
        """Replace the rows with `stages`; `edited` says whether this is the learner's choice."""
        self._quiet = True
        try:
            self.rows.children = []
            for lr, epochs in stages:
                self.add(lr, epochs)
        finally:
            self._quiet = False
        self.edited = edited

    def add(self, lr: float | None = None, epochs: int | None = None, edit: bool = False):
        """Append a row (default: a tenth of the last stage's rate and its epochs; else 1e-2 for 2)."""
        last = self.stages[-1] if self.rows.children else None
        if lr is None:
            lr = float(f"{last[0] / 10:.3g}") if last else 1e-2
        if epochs is None:
            epochs = last[1] if last else 2
        lr_box = w.FloatText(lr, description="lr", layout=w.Layout(width="170px"), style={"description_width": "30px"})
        epochs_box = w.IntText(epochs, description="epochs", layout=w.Layout(width="150px"),
                               style={"description_width": "50px"})
        remove = w.Button(icon="times", tooltip="remove this stage", layout=w.Layout(width="36px"))
        row = w.HBox([w.Label(), lr_box, epochs_box, remove])
        row.add_class("cfnb-stage")
        remove.add_class("cfnb-remove-stage")
        remove.on_click(self.guard(lambda _: self.remove(row)))
        for box in (lr_box, epochs_box):
            box.observe(self.guard(lambda _: self.mark_edited()), names="value")
        self.rows.children = [*self.rows.children, row]
        self._number()
        if edit:
            self.mark_edited()

    def remove(self, row_or_index):
        """Remove a row (the row widget, or its index)."""
        rows = list(self.rows.children)
        row = rows[row_or_index] if isinstance(row_or_index, int) else row_or_index
        self.rows.children = [r for r in rows if r is not row]
        self._number()
        self.mark_edited()

    def set_rate(self, k: int, lr: float):
        """Set stage `k`'s (from 0) learning rate, adding a row if there is none."""
        if not self.rows.children:
            self.add(edit=True)
        self.rows.children[k].children[1].value = lr
        self.mark_edited()

    def mark_edited(self):
        """Remember that the learner chose these stages (they no longer follow the model kind)."""
        if not self._quiet:
            self.edited = True

    def lock(self, busy: bool):
        """Disable every input while a fit runs."""
        self.add_button.disabled = busy
        for row in self.rows.children:
            for widget in row.children[1:]:
                widget.disabled = busy

    def _number(self):
        for k, row in enumerate(self.rows.children):
            row.children[0].value = f"Stage {k + 1}"
