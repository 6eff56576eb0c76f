"""The Builder: a control per hyperparameter, generated from the model registry; Build shows the summary."""

from __future__ import annotations

import html
import math

import ipywidgets as w
import keras
import traitlets

from cfnb.display.summaries import summary
from cfnb.errors import CfnbError
from cfnb.models.build import build_model, config_of, count_params
from cfnb.models.code import model_code
from cfnb.models.kinds import HYPERPARAMETERS, KINDS, Hyperparameter, kind_of
from cfnb.widgets import frontend
from cfnb.widgets.base import LABEL_WIDTH, Piece, note
from cfnb.widgets.session import session_of

_STYLE = {"description_width": LABEL_WIDTH}
_WIDTH = "480px"
_CODE_CSS = ("font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.4; margin: 0; "
             "padding: 6px 8px; white-space: pre; overflow-x: auto; color: var(--jp-content-font-color1, inherit); "
             "background: var(--jp-cell-editor-background, rgba(128,128,128,0.08)); "
             "border: 1px solid var(--jp-border-color2, rgba(128,128,128,0.3))")


class PenaltySlider(w.HBox):
    """A log-scale slider with an on/off box (off: 0, no penalty), for "log" hyperparameters."""

    value = traitlets.Float()

    def __init__(self, spec: Hyperparameter, value: float):
        low, high = math.log10(spec.low), math.log10(spec.high)
        start = value if value > 0 else 10 ** round((low + high) / 2)
        self.slider = w.FloatLogSlider(start, base=10, min=low, max=high, readout_format=".1e",
                                       description=spec.label, tooltip=spec.help, style=_STYLE,
                                       continuous_update=False, layout=w.Layout(width=_WIDTH))
        self.on = w.Checkbox(value > 0, description="on", indent=False, tooltip="off: no penalty (0)",
                             layout=w.Layout(width="60px"))
        super().__init__([self.slider, self.on], value=float(value))
        self.slider.disabled = value <= 0
        self.slider.observe(self._from_parts, names="value")
        self.on.observe(self._from_parts, names="value")
        self.observe(self._to_parts, names="value")

    def _from_parts(self, _):
        self.slider.disabled = not self.on.value
        self.value = float(f"{self.slider.value:.3g}") if self.on.value else 0.0

    def _to_parts(self, change):
        if change["new"] > 0:
            self.slider.value = change["new"]
        self.on.value = change["new"] > 0


def control(spec: Hyperparameter, value, y_range: tuple[float, float]) -> w.Widget | None:
    """The widget for one hyperparameter spec ("count", "log", "rate" or "range"); None for "none"."""
    common = {"description": spec.label, "tooltip": spec.help, "style": _STYLE, "layout": w.Layout(width=_WIDTH),
              "continuous_update": False}
    if spec.control == "count":
        return w.IntSlider(int(value), min=int(spec.low), max=int(spec.high), **common)
    if spec.control == "rate":
        return w.FloatSlider(float(value), min=spec.low, max=spec.high, step=0.05, readout_format=".2f", **common)
    if spec.control == "log":
        return PenaltySlider(spec, float(value))
    if spec.control == "range":
        lo, hi = y_range
        return w.Checkbox(bool(value), description=f"{spec.label}: squash the output into {lo:g}..{hi:g}",
                          tooltip=spec.help, indent=False)
    return None


class Builder(Piece):
    """Choose a registered model kind and its hyperparameters; the parameter count follows; Build.

    The kinds, the controls, their ranges and tooltips come from `cfnb.models.REGISTRY` and
    `HYPERPARAMETERS`, so a newly registered kind shows up here with no change to the widgets.
    Beside the current model's summary, its Keras code (`cfnb.model_code`), which *Insert as cell*
    puts in a new cell below (JupyterLab).

    Args:
        source: Ratings, a Session, or another piece (to share its session).
        kind: the kind selected at first.
        seed: if given, every Build starts from the same initial weights (for a given configuration).
        **hyperparameters: starting values (default: each kind's own defaults); `y_range=True`
            (or a pair) ticks the y_range box.
    """

    def __init__(self, source, kind: str = "bias", seed: int | None = None, **hyperparameters):
        session = session_of(source)
        self.seed = seed
        kind_of(kind)
        unknown = sorted(set(hyperparameters) - set(HYPERPARAMETERS))
        if unknown:
            raise CfnbError(f"Builder got unknown hyperparameters {unknown}; expected some of "
                            f"{sorted(HYPERPARAMETERS)}.")
        self.kinds = list(KINDS)
        self.kind = w.ToggleButtons(options=self.kinds, value=kind, description="Model", style=_STYLE,
                                    tooltips=[kind_of(k).description for k in self.kinds])
        self.about = w.HTML()
        self.controls: dict[str, w.Widget] = {}
        self._touched: set[str] = set(hyperparameters)
        for name in dict.fromkeys(h for k in [kind, *self.kinds] for h in kind_of(k).defaults):
            start = hyperparameters.get(name, self._default(kind, name))
            widget = control(HYPERPARAMETERS[name], bool(start) if name == "y_range" else start, session.y_range)
            if widget is not None:
                widget.add_class(f"cfnb-hp-{name}")
                self.controls[name] = widget
        self.y_range_note = w.HTML()
        self.params = w.HTML()
        self.build_button = w.Button(description="Build", button_style="primary", icon="cubes")
        self.output = w.HTML()
        self.code = w.HTML()
        self.insert_button = w.Button(description="Insert as cell", icon="plus-square", disabled=True,
                                      tooltip="put this code in a new cell below the Lab, to run or edit")
        for widget, css in ((self.params, "cfnb-params"), (self.build_button, "cfnb-build"),
                            (self.output, "cfnb-summary-out"), (self.kind, "cfnb-kind"), (self.code, "cfnb-code"),
                            (self.insert_button, "cfnb-insert-code")):
            widget.add_class(css)
        self.code_box = w.VBox([w.HBox([w.HTML("<b>Keras code</b>"), self.insert_button],
                                       layout=w.Layout(align_items="center", gap="12px")), self.code],
                               layout=w.Layout(display="none", max_width="760px"))
        super().__init__(session, [
            self.kind, self.about, *self.controls.values(), self.y_range_note,
            w.HBox([self.build_button, self.params], layout=w.Layout(align_items="center")),
            w.HBox([self.output, self.code_box], layout=w.Layout(flex_flow="row wrap", gap="24px"))],
            "cfnb-builder")
        self._quiet = False
        self.on_change(self.kind, self._switch_kind)
        for name, widget in self.controls.items():
            self.on_change(widget, lambda name=name: self._changed(name))
        self.on_click(self.build_button, self.build)
        self.on_click(self.insert_button, self.insert_code)
        self.listen("busy", self._lock)
        self.listen("model", self._show_current)
        self._cache: dict = {}
        self.guard(self.update)()
        frontend.connect()  # JupyterLab answers asynchronously; Insert as cell needs the answer

    @property
    def factors(self) -> w.Widget:
        """The factors control (`controls["n_factors"]`)."""
        return self.controls["n_factors"]

    def _default(self, kind: str, name: str):
        for k in [kind, *self.kinds]:
            if name in kind_of(k).defaults:
                return kind_of(k).defaults[name]
        return None

    def _changed(self, name: str):
        if not self._quiet:
            self._touched.add(name)
        self.update()

    def _switch_kind(self):
        """Show the chosen kind's controls; those the learner has not moved take the kind's defaults."""
        defaults = kind_of(self.kind.value).defaults
        self._quiet = True
        try:
            for name, widget in self.controls.items():
                if name in defaults and name not in self._touched and name != "y_range":
                    widget.value = defaults[name]
        finally:
            self._quiet = False
        self.update()

    def hyperparameters(self) -> dict:
        """The `build_model` keyword arguments the controls describe, for the chosen kind."""
        hp = {}
        for name in kind_of(self.kind.value).defaults:
            widget = self.controls.get(name)
            if widget is None:
                continue
            value = widget.value
            if name == "y_range":
                value = self.session.y_range if value else None
            elif isinstance(value, float):
                value = round(value, 4) if HYPERPARAMETERS[name].control == "rate" else float(f"{value:.3g}")
            hp[name] = value
        return hp

    def n_params(self) -> int:
        """Parameter count of the model the controls describe (counted by building it)."""
        key = (self.kind.value, tuple(sorted(self.hyperparameters().items())))
        if key not in self._cache:
            self._cache[key] = count_params(self.kind.value, self.session.ratings.n_users,
                                            self.session.ratings.n_items, **self.hyperparameters())
        return self._cache[key]

    def update(self):
        """Show the chosen kind's controls and description, and refresh the parameter count."""
        spec = kind_of(self.kind.value)
        for name, widget in self.controls.items():
            widget.layout.display = None if name in spec.defaults else "none"
        self.about.value = note(f"{spec.name}: {spec.description}.")
        if "y_range" in self.controls:
            lo, hi = self.session.y_range
            does = HYPERPARAMETERS["y_range"].help.replace("(low, high)", f"{lo:g}..{hi:g}")
            now = ("On" if self.controls["y_range"].value else
                   "Off: the output is unbounded and predictions can run past the rating scale")
            self.y_range_note.value = note(f"y_range: {does}. {now}.")
        self.params.value = f"<b>{self.n_params():,}</b> parameters"

    def build(self) -> keras.Model:
        """Build the model the controls describe, make it the session's current model, show its summary."""
        if self.session.busy:
            raise CfnbError("A fit is running: Stop it or wait before building another model.")
        model = build_model(self.kind.value, self.session.ratings, seed=self.seed, **self.hyperparameters())
        run = self.session.add(model)
        self.say(f"Built {run.name}: {model.count_params():,} parameters. Next: Fit.", "ok")
        return model

    @property
    def model(self) -> keras.Model | None:
        """The session's current model."""
        return self.session.model

    def code_text(self) -> str | None:
        """The Keras source of the current model (`cfnb.model_code`), or None for a model of your own."""
        config = config_of(self.model) if self.model is not None else {}
        if not config:
            return None
        hp = {k: v for k, v in config.items() if k not in ("kind", "n_users", "n_items")}
        return model_code(config["kind"], config["n_users"], config["n_items"], **hp)

    def insert_code(self):
        """Put the current model's code in a new cell below the Lab (what Insert as cell does)."""
        code = self.code_text()
        if code is None:
            raise CfnbError("No code to insert: build a model first (a model of your own is in your cell already).")
        frontend.insert_cell_below(code)
        self.say("Inserted the code in a new cell below: run it to build the same graph "
                 "(its last line prints the parameter count).", "ok")

    def _show_current(self):
        run = self.session.current
        self.output.value = summary(run.model)._repr_html_() if run else ""
        code = self.code_text() if run else None
        self.code_box.layout.display = None if run else "none"
        self.code.value = (f"<pre style='{_CODE_CSS}'>{html.escape(code)}</pre>" if code else
                           note(f"{run.name} is a model of your own: its code is the cell you wrote it in.") if run
                           else "")
        self.insert_button.disabled = code is None
        self.say(f"Current model: {run.name}." if run else "")

    def _lock(self):
        self.build_button.disabled = self.session.busy
