"""Display: model summaries as HTML/text tables, graph pictures as SVG, learning-curve plots."""

from __future__ import annotations

import html

import keras
import pandas as pd

from cfnb import backend

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


def load_ipython_extension(ipython):
    """`%load_ext cfnb`: a Keras model at the end of a cell displays as `cfnb.summary(model)`."""
    ipython.display_formatter.formatters["text/html"].for_type(
        keras.Model, lambda model: summary(model)._repr_html_())


def unload_ipython_extension(ipython):
    """`%unload_ext cfnb`: back to Keras models' plain repr."""
    ipython.display_formatter.formatters["text/html"].pop(keras.Model, None)
