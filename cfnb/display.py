"""Display: model summaries as HTML/text tables, graph pictures as SVG, learning-curve plots."""

from __future__ import annotations

import base64
import contextlib
import html
import io
import re

import keras
import pandas as pd

from . import backend

_CSS = """<style>
.cfnb-summary {font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  color: var(--jp-ui-font-color1, inherit);}
.cfnb-summary table {border-collapse: collapse; margin: 4px 0;}
.cfnb-summary th, .cfnb-summary td {padding: 2px 10px; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, rgba(128,128,128,0.35)); color: inherit;
  background: transparent;}
.cfnb-summary th {font-weight: bold; border-bottom: 2px solid var(--jp-border-color1, rgba(128,128,128,0.6));}
.cfnb-summary td.num, .cfnb-summary th.num {text-align: right;}
.cfnb-summary .type {opacity: 0.7;}
.cfnb-summary .totals td {border-bottom: none; font-weight: bold;}
</style>"""


def _inbound_all(model) -> dict[str, list[str]]:
    """`layer name -> names of the layers feeding it`, from Keras's graph, else from the model's config."""
    found = {layer.name: backend.inbound_layers(layer) for layer in model.layers}
    if any(names is None for names in found.values()):
        return backend.inbound_from_config(model)
    return found


def _shape(layer) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


class ModelSummary:
    """A Keras model's layers as a table: HTML in a notebook (with a graph picture), text elsewhere.

    Args:
        model: a built Keras model.
        graph: whether the HTML form includes the SVG picture of the graph.
    """

    def __init__(self, model: keras.Model, graph: bool = True):
        self.model, self.graph = model, graph
        inbound = _inbound_all(model)
        self.rows = [{"layer": layer.name, "type": type(layer).__name__, "output_shape": _shape(layer),
                      "params": int(layer.count_params()), "connected_to": ", ".join(inbound.get(layer.name, []))}
                     for layer in model.layers]
        self.total = int(model.count_params())
        self.trainable = int(sum(keras.ops.size(w) for w in model.trainable_weights))

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame: layer, type, output_shape, params, connected_to."""
        return pd.DataFrame(self.rows)

    def __str__(self) -> str:
        frame = self.to_frame()
        frame["params"] = frame["params"].map("{:,}".format)
        frame["layer"] = frame["layer"] + " (" + frame.pop("type") + ")"
        lines = [f'Model "{self.model.name}"', frame.to_string(index=False)]
        lines.append(f"Total params: {self.total:,}  (trainable {self.trainable:,}, "
                     f"non-trainable {self.total - self.trainable:,})")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        head = ("<tr><th>Layer</th><th>Type</th><th>Output shape</th><th class='num'>Param #</th>"
                "<th>Connected to</th></tr>")
        body = "".join(
            f"<tr><td>{e(r['layer'])}</td><td class='type'>{e(r['type'])}</td><td>{e(r['output_shape'])}</td>"
            f"<td class='num'>{r['params']:,}</td><td>{e(r['connected_to']) or '–'}</td></tr>"
            for r in self.rows)
        totals = (f"<tr class='totals'><td colspan='3'>Total params (trainable {self.trainable:,}, "
                  f"non-trainable {self.total - self.trainable:,})</td>"
                  f"<td class='num'>{self.total:,}</td><td></td></tr>")
        picture = f"<div>{graph_svg(self.model)}</div>" if self.graph else ""
        return (f"{_CSS}<div class='cfnb-summary'><b>{e(self.model.name)}</b>"
                f"<table>{head}{body}{totals}</table>{picture}</div>")


def summary(model: keras.Model, graph: bool = True) -> ModelSummary:
    """The model's summary: an HTML table and graph picture in a notebook, plain text when printed."""
    return ModelSummary(model, graph=graph)


class GraphPicture:
    """An SVG picture of a model's layer graph (shows itself in a notebook)."""

    def __init__(self, model: keras.Model):
        self.svg = graph_svg(model)

    def _repr_svg_(self) -> str:
        return self.svg


def graph(model: keras.Model) -> GraphPicture:
    """A picture of the model's graph: one box per layer, arrows along the data flow."""
    return GraphPicture(model)


_KIND_COLOURS = {"InputLayer": "#4c9be8", "Embedding": "#e8a33d", "Dense": "#5cb85c", "Dropout": "#9b8fd9"}


def _layout(layers, parents):
    """Rows by depth, with a waypoint slot wherever an edge skips a row (so it never crosses a box)."""
    depth: dict[str, int] = {}
    for layer in layers:  # model.layers is in topological order
        depth[layer.name] = 1 + max((depth[p] for p in parents[layer.name]), default=-1)
    rows: list[list] = [[] for _ in range(max(depth.values()) + 1)]
    for layer in layers:
        rows[depth[layer.name]].append(layer.name)
    routes = {}
    for name, ps in parents.items():
        for p in ps:
            waypoints = [(p, name, d) for d in range(depth[p] + 1, depth[name])]
            for w in waypoints:
                rows[w[2]].append(w)
            routes[(p, name)] = [p, *waypoints, name]
    slot: dict = {}
    for row in rows:  # order each row by where its parents sit (fewer crossings)
        def key(item):
            ups = [item[0]] if isinstance(item, tuple) else parents.get(item, [])
            return sum(slot[u] for u in ups) / len(ups) if ups else 0
        ordered = sorted(row, key=key) if slot else row
        width = len(ordered)
        for k, item in enumerate(ordered):
            slot[item] = k - (width - 1) / 2
        row[:] = ordered
    return rows, slot, depth, routes


def graph_svg(model: keras.Model) -> str:
    """Lay the layer graph out in rows by depth and draw it as SVG (theme-neutral colours)."""
    layers = list(model.layers)
    names = {x.name for x in layers}
    inbound = _inbound_all(model)
    parents = {layer.name: [p for p in inbound.get(layer.name, []) if p in names] for layer in layers}
    rows, slot, depth, routes = _layout(layers, parents)
    box_w, box_h, gap_x, gap_y = 170, 40, 20, 28
    width = max(len(r) for r in rows) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y

    def centre(item):
        d = item[2] if isinstance(item, tuple) else depth[item]
        return width / 2 + slot[item] * (box_w + gap_x), gap_y + d * (box_h + gap_y)

    pos = {name: (centre(name)[0] - box_w / 2, centre(name)[1]) for name in names}
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11" '
             f'role="img" aria-label="graph of {e(model.name)}">',
             '<defs><marker id="cfnb-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
             'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>']
    for route in routes.values():
        x, y = centre(route[0])
        points = [(x, y + box_h)]
        for w in route[1:-1]:
            x, y = centre(w)
            points += [(x, y), (x, y + box_h)]
        points.append(centre(route[-1]))
        path = " ".join(f"{px:.0f},{py:.0f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#888" stroke-width="1.2" '
                     f'marker-end="url(#cfnb-arrow)"/>')
    for layer in layers:
        x, y = pos[layer.name]
        kind = type(layer).__name__
        colour = _KIND_COLOURS.get(kind, "#d9534f" if layer.count_params() == 0 else "#5cb85c")
        parts.append(f'<g><title>{e(layer.name)}: {e(kind)} {e(_shape(layer))}</title>'
                     f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="6" fill="{colour}" '
                     f'fill-opacity="0.22" stroke="{colour}" stroke-width="1.5"/>'
                     f'<text x="{x + box_w / 2:.0f}" y="{y + 16:.0f}" text-anchor="middle" fill="currentColor" '
                     f'font-weight="bold">{e(layer.name)}</text>'
                     f'<text x="{x + box_w / 2:.0f}" y="{y + 31:.0f}" text-anchor="middle" fill="currentColor" fill-opacity="0.75">'
                     f'{e(kind)} {e(_shape(layer))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------ theme-aware figures
# Figures are drawn with INK as their foreground (text, axes, ticks, grid). In SVG, INK becomes
# `currentColor` and the background is transparent, so an SVG inlined in HTML takes the notebook's
# text colour: dark on JupyterLab's light theme, light on its dark theme. INK is near-black, so the
# same figure saved as PNG on white reads as an ordinary plot (terminals, files, reports).
INK = "#010203"
SERIES = ("#4c9be8", "#e8a33d", "#5cb85c", "#d9534f")  # mid-tone: readable on white and on near-black
_THEME = {  # matplotlib rcParams
    "text.color": INK, "axes.edgecolor": INK, "axes.labelcolor": INK, "xtick.color": INK, "ytick.color": INK,
    "grid.color": INK, "grid.alpha": 0.18, "legend.edgecolor": INK, "legend.facecolor": "none",
    "legend.framealpha": 0.35, "figure.facecolor": "none", "axes.facecolor": "none",
    "savefig.facecolor": "none", "savefig.edgecolor": "none", "svg.fonttype": "path", "svg.hashsalt": "cfnb",
    "font.size": 9,
}


@contextlib.contextmanager
def themed():
    """Matplotlib settings for a figure that follows the notebook theme (see `figure_svg`)."""
    import matplotlib
    from cycler import cycler

    with matplotlib.rc_context({**_THEME, "axes.prop_cycle": cycler(color=SERIES)}):
        yield


def new_figure(size=(6.4, 3.4)):
    """A theme-ready matplotlib `Figure` (no pyplot, constrained layout); draw on it inside `themed()`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with themed():
        fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure texts with (stage labels, adjustText)
    return fig


def figure_svg(fig) -> str:
    """The figure as SVG text that follows the page's colour: foreground `currentColor`, no background.

    Inline it in HTML (`figure_html`) so the notebook's CSS colour reaches it; an SVG shown as an image
    cannot inherit the page's colour.
    """
    buf = io.StringIO()
    with themed():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or doctype inside HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    svg = svg.replace(INK, "currentColor")
    return svg.replace("<svg ", '<svg style="max-width: 100%; height: auto" ', 1)


def figure_html(fig, fallback: bool = True) -> str:
    """The figure as inline SVG in a `<div>` coloured by JupyterLab's font colour (light and dark themes).

    Args:
        fig: a figure made with `new_figure`.
        fallback: also embed the PNG, shown only where the SVG is not: JupyterLab strips `<svg>` (and
            `<style>`) from the HTML of untrusted notebooks (saved outputs opened anew), and a CSS rule
            that only trusted output carries hides the PNG beside a live SVG. False for live views
            (widgets), which are always trusted.
    """
    png = ""
    if fallback:
        data = base64.b64encode(figure_png(fig)).decode("ascii")
        png = f'<img alt="plot" style="max-width: 100%" src="data:image/png;base64,{data}">'
    style = "<style>.cfnb-plot > svg + img {display: none}</style>" if fallback else ""
    return (f'{style}<div class="cfnb-plot" style="color: var(--jp-ui-font-color1, inherit)">'
            f"{figure_svg(fig)}{png}</div>")


def figure_png(fig) -> bytes:
    """The figure as PNG bytes on a white background (for terminals, files and reports)."""
    buf = io.BytesIO()
    with themed():
        fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


# ------------------------------------------------------------------------------------ learning curve
_CLIP_SQUASH = 2.0   # clip high points when showing them would leave the rest under 1/2 of the axis
_LABEL_ROWS = 3      # stage labels stack in at most this many rows above the plot
_LABEL_FORMATS = (lambda stage, lr: f"stage {stage} · lr {lr:.0e}", lambda stage, lr: f"lr {lr:.0e}",
                  lambda stage, lr: f"{lr:.0e}".replace("e-0", "e-"))


def robust_top(values_by_series) -> float | None:
    """An upper y limit that keeps later epochs readable, or None when nothing needs clipping.

    Each series' first point (the first epoch, often far above the rest) is set aside; the limit is
    the highest of the other points plus a 10% margin, or, if even that would squash the others into
    less than half of the plot, the highest of those within Tukey's far-out fence (q3 + 3 IQR). It
    is used only when some point lies above it and showing that point would squash the curve into
    less than half of the plot.
    """
    import numpy as np

    every = np.concatenate([np.asarray(v, float) for v in values_by_series] or [np.zeros(0)])
    later = np.concatenate([np.asarray(v, float)[1:] for v in values_by_series] or [np.zeros(0)])
    every, later = every[np.isfinite(every)], later[np.isfinite(later)]
    if len(later) < 2:
        return None
    low = float(every.min())

    def margin(high):
        return high + 0.1 * max(high - low, 1e-12)

    def squashes(value, top):
        return value > low + _CLIP_SQUASH * (top - low)

    q1, q3 = np.percentile(later, [25, 75])
    top = margin(float(later.max()))
    fenced = margin(float(later[later <= q3 + 3 * (q3 - q1)].max()))
    if squashes(top, fenced):
        top = fenced
    return top if squashes(float(every.max()), top) else None


def plot_history(history, ax=None):
    """Draw train and val loss (and val RMSE) per epoch with stage boundaries on a matplotlib axis.

    A first-epoch loss far above the rest (the NN's, typically) is clipped so that it does not squash
    the curve: the point is marked with a triangle at the top edge and its value (see `robust_top`).
    Stage labels ("stage 2 · lr 1e-03") are stacked in rows, then shortened, so they never overlap.

    Returns:
        The axis.
    """
    frame = history.to_frame()
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    series = [(column, label, style) for column, label, style in
              (("loss", "train loss", "o-"), ("val_loss", "val loss", "o-"), ("val_rmse", "val RMSE", "s--"))
              if column in frame and frame[column].notna().any()]
    for k, (column, label, style) in enumerate(series):
        ax.plot(frame["epoch"], frame[column], style, label=label, color=SERIES[k], markersize=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / RMSE")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True)
    if len(frame):  # half an epoch each side, so that one epoch (a fit's first live update) has room too
        ax.set_xlim(float(frame["epoch"].min()) - 0.5, float(frame["epoch"].max()) + 0.5)
        _clip_outliers(ax, frame, series)
        _stage_boundaries(ax, frame)
        ax.legend(loc="best", fontsize=8)
        _stage_labels(ax, frame)
    return ax


def _clip_outliers(ax, frame, series):
    """Limit the y-axis to `robust_top`; mark each point above it at the top edge, with its value."""
    top = robust_top([frame[c].to_numpy(float) for c, _, _ in series])
    if top is None:
        return
    low = min(float(frame[c].min()) for c, _, _ in series)
    ax.set_ylim(low - 0.05 * (top - low), top)
    edge = ax.get_xaxis_transform()  # x in data, y in axis fraction
    notes = []
    for k, (column, _, _) in enumerate(series):
        for x, y in zip(frame["epoch"], frame[column]):
            if y > top:
                ax.plot([x], [0.985], marker="^", color=SERIES[k], transform=edge, clip_on=False, markersize=7)
                notes.append(ax.annotate(f"{y:.3g} ↑", (x, 0.985), xycoords=edge, xytext=(7, -3),
                                         textcoords="offset points", fontsize=7.5, color=SERIES[k], va="top",
                                         gid="cfnb-clipped"))
    ax.figure.draw_without_rendering()
    order = sorted(range(len(notes)), key=lambda i: notes[i].get_window_extent().x0)
    rows = _rows([notes[i].get_window_extent() for i in order], len(notes))
    for i, row in zip(order, rows):  # values at the same epoch, or close ones, stack downwards
        notes[i].xyann = (7, -3 - 10 * row)


def _stage_boundaries(ax, frame):
    first = frame["epoch"].min() - 0.5
    for _, rows in frame.groupby("stage"):
        start = rows["epoch"].min() - 0.5
        if start > first:
            ax.axvline(start, color=INK, linestyle=":", linewidth=1, alpha=0.5)


def _stage_labels(ax, frame):
    """Label each stage above the plot, in rows, shorter when needed; drop what still cannot fit."""
    stages = [(int(stage), float(rows["lr"].iloc[0]), float(rows["epoch"].min()) - 0.5)
              for stage, rows in frame.groupby("stage")]
    fig = ax.figure
    for fmt in _LABEL_FORMATS:
        texts = [ax.annotate(fmt(stage, lr), (x, 1.0), xycoords=ax.get_xaxis_transform(), xytext=(2, 3),
                             textcoords="offset points", fontsize=7.5, va="bottom", alpha=0.75, gid="cfnb-stage-label",
                             annotation_clip=False)
                 for stage, lr, x in stages]
        last = fmt is _LABEL_FORMATS[-1]
        for _ in range(3):  # placing labels can change the layout; place again until it holds
            fig.draw_without_rendering()
            rows = _rows([t.get_window_extent() for t in texts], _LABEL_ROWS, allow_drop=last)
            if rows is None:
                break
            for text, row in zip(texts, rows):
                text.set_visible(row is not None)
                text.xyann = (2, 3 + 11 * (row or 0))
            fig.draw_without_rendering()
            if not overlapping([t.get_window_extent() for t in texts if t.get_visible()]):
                return
        for text in texts:
            text.remove()


def _rows(boxes, max_rows, allow_drop=False, pad=6.0):
    """Greedy rows for boxes laid left to right: each in the first row where it clears the previous
    box by `pad` pixels. None if some box fits no row (or that box's row is None with `allow_drop`)."""
    ends = [-float("inf")] * max_rows
    rows = []
    for box in boxes:
        row = next((r for r in range(max_rows) if box.x0 >= ends[r] + pad), None)
        if row is None and not allow_drop:
            return None
        if row is not None:
            ends[row] = box.x0 + box.width
        rows.append(row)
    return rows


def intersects(a, b) -> bool:
    """Whether two matplotlib `Bbox`es (e.g. texts' window extents) overlap."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def overlapping(boxes) -> list[tuple[int, int]]:
    """Pairs of indices of the boxes that intersect."""
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if intersects(boxes[i], boxes[j])]


def history_figure(history):
    """The learning curve as a theme-ready matplotlib `Figure` (see `plot_history`)."""
    fig = new_figure((6.4, 3.4))
    with themed():
        plot_history(history, ax=fig.add_subplot())
    return fig


def history_png(history) -> bytes:
    """The learning-curve plot as PNG bytes (dark on white)."""
    return figure_png(history_figure(history))


def history_svg(history) -> str:
    """The learning-curve plot as SVG text in `currentColor` on no background (see `figure_svg`)."""
    return figure_svg(history_figure(history))


def history_html(history, fallback: bool = True) -> str:
    """The learning-curve plot as inline SVG in HTML: follows JupyterLab's light and dark themes.

    `fallback` embeds a PNG for untrusted notebooks (see `figure_html`); widgets pass False.
    """
    return figure_html(history_figure(history), fallback)


def load_ipython_extension(ipython):
    """`%load_ext cfnb`: a Keras model at the end of a cell displays as `cfnb.summary(model)`."""
    ipython.display_formatter.formatters["text/html"].for_type(
        keras.Model, lambda model: summary(model)._repr_html_())


def unload_ipython_extension(ipython):
    """`%unload_ext cfnb`: back to Keras models' plain repr."""
    ipython.display_formatter.formatters["text/html"].pop(keras.Model, None)
