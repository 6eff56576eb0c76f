"""Matplotlib figures that read in JupyterLab's light and dark themes, as inline SVG, HTML or PNG."""

from __future__ import annotations

import base64
import contextlib
import io
import re

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


def intersects(a, b) -> bool:
    """Whether two matplotlib `Bbox`es (e.g. texts' window extents) overlap."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def overlapping(boxes) -> list[tuple[int, int]]:
    """Pairs of indices of the boxes that intersect."""
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if intersects(boxes[i], boxes[j])]
