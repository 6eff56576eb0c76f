"""Learning curves: a staged fit's train and validation loss, stage boundaries labelled."""

from __future__ import annotations

from cfnb.display.figures import INK, SERIES, figure_html, figure_png, figure_svg, new_figure, overlapping, themed

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
