"""The map of item factors: a scatter of principal components with the titles placed apart."""

from __future__ import annotations

import pandas as pd

from cfnb import checks
from cfnb.display.figures import INK, SERIES, figure_html, figure_png, figure_svg, intersects, new_figure, themed
from cfnb.errors import CfnbError


def pca_figure(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)):
    """A scatter of `pc1` against `pc2`, with the titles of the first `labels` rows (the most rated).

    Titles are placed by adjustText (moved off each other and off the titled points, joined to them by
    a thin line); any title that still overlaps a more-rated one is left out, so no two overlap.

    Args:
        table, explained: what `factor_pca` returns (with at least `pc1` and `pc2`).
        labels: how many of the most-rated movies to title (at most).
        size: figure size in inches.

    Returns:
        A theme-ready matplotlib `Figure` (see `cfnb.display.figure_svg`).

    Raises:
        CfnbError: the table has no `pc2` (e.g. from a 1-factor model), so there is no 2-D map.
    """
    labels = checks.whole("labels", labels, minimum=0)
    if "pc1" not in table or "pc2" not in table:
        raise CfnbError("A PCA map needs two components (columns pc1 and pc2), and this table has "
                        f"{sum(c.startswith('pc') for c in table.columns)}: a model with one factor per "
                        "movie has no 2-D map. Build it with n_factors >= 2 to see one.")
    fig = new_figure(size)
    with themed():
        ax = fig.add_subplot()
        ax.scatter(table["pc1"], table["pc2"], s=6, alpha=0.35, color=SERIES[0], linewidths=0)
        shown = table.head(labels)
        ax.scatter(shown["pc1"], shown["pc2"], s=14, color=SERIES[1], linewidths=0)
        ev = list(explained) if explained is not None else []
        ax.set_xlabel("PC 1" + (f" ({ev[0]:.0%} of variance)" if len(ev) > 0 else ""))
        ax.set_ylabel("PC 2" + (f" ({ev[1]:.0%} of variance)" if len(ev) > 1 else ""))
        ax.set_title(f"Movie factors of the {len(table):,} most-rated movies", loc="left", fontsize=10)
        ax.grid(True)
        # clipped to the axes, the titles do not move the layout; adjustText keeps them inside
        texts = [ax.text(x, y, _short(title), fontsize=7, gid="cfnb-pca-label", clip_on=True)
                 for x, y, title in zip(shown["pc1"], shown["pc2"], shown["title"])]
        if texts:
            from adjustText import adjust_text

            x, y = shown["pc1"].to_numpy(), shown["pc2"].to_numpy()
            adjust_text(texts, x=x, y=y, ax=ax, iter_lim=ITERATIONS, prevent_crossings=False)  # draws: lays out
        else:
            fig.draw_without_rendering()
        fig.set_layout_engine("none")  # freeze that layout, so that the placed titles stay where they are
        _drop_corner_ticks(ax)
        if texts:
            _drop_overlapping(texts)
            for text, px, py in zip(texts, x, y):  # a thin line from each moved title to its point
                tx, ty = text.get_position()
                if text.get_visible() and (tx, ty) != (px, py):
                    ax.plot([px, tx], [py, ty], color=INK, alpha=0.35, linewidth=0.5, zorder=1)
    return fig


ITERATIONS = 50  # adjustText's limit: a count, not its default time limit, so the same map every time


def _short(title: str, width: int = 32) -> str:
    return title if len(title) <= width else title[:width - 2] + "…"


def _drop_corner_ticks(ax) -> None:
    """Leave out a y tick whose label meets an x tick's label (they can, in the bottom-left corner)."""
    x_boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    keep = [(tick, label.get_text()) for tick, label in zip(ax.get_yticks(), ax.get_yticklabels())
            if not (label.get_text() and any(intersects(label.get_window_extent(), b) for b in x_boxes))]
    if len(keep) < len(ax.get_yticks()):
        limits = ax.get_ylim()
        ax.set_yticks([t for t, _ in keep], [text for _, text in keep])
        ax.set_ylim(limits)


def _drop_overlapping(texts) -> None:
    """Hide every title that overlaps a more-rated one (or the axis texts), most-rated kept first."""
    ax = texts[0].axes
    fixed = [t.get_window_extent() for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
    kept = []
    for text in texts:
        box = text.get_window_extent()
        if any(intersects(box, other) for other in fixed + kept):
            text.set_visible(False)
        else:
            kept.append(box)


def pca_png(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)) -> bytes:
    """The PCA map (`pca_figure`) as PNG bytes, dark on white."""
    return figure_png(pca_figure(table, explained, labels, size))


def pca_svg(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0)) -> str:
    """The PCA map (`pca_figure`) as SVG text in `currentColor` on no background."""
    return figure_svg(pca_figure(table, explained, labels, size))


def pca_html(table: pd.DataFrame, explained=None, labels: int = 30, size=(7.5, 6.0), fallback: bool = True) -> str:
    """The PCA map (`pca_figure`) as inline SVG in HTML: follows JupyterLab's light and dark themes.

    `fallback` embeds a PNG for untrusted notebooks (see `cfnb.display.figure_html`); widgets pass False.
    """
    return figure_html(pca_figure(table, explained, labels, size), fallback)
