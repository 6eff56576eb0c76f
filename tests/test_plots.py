"""Plots that fit: theme-following SVG, a curve not squashed by its first epoch, labels that never overlap."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cfnb
from cfnb.display.figures import INK, figure_svg, intersects, overlapping
from cfnb.display.history import history_figure, history_html, history_png, history_svg, robust_top
from cfnb.errors import ArgumentError, CfnbError
from cfnb.evaluation.explore import factor_pca
from cfnb.display.pca import pca_figure, pca_html, pca_png, pca_svg
from cfnb.training.stages import StagedHistory

CHROMIUM = "/usr/bin/chromium"


def history(stages, first_loss=None, seed=0):
    """A synthetic staged history: `stages` is a list of epoch counts; losses fall like 1/epoch."""
    rng = np.random.default_rng(seed)
    rows, epoch = [], 0
    for stage, epochs in enumerate(stages, start=1):
        for _ in range(epochs):
            epoch += 1
            loss = 0.75 + 0.6 / epoch + rng.normal(0, 0.005)
            if epoch == 1 and first_loss is not None:
                loss = first_loss
            rows.append({"stage": stage, "epoch": epoch, "lr": [1e-2, 1e-3, 1e-4][stage % 3], "loss": loss,
                         "val_loss": loss + 0.04, "val_rmse": np.sqrt(loss), "seconds": 0.5})
    return StagedHistory(rows)


def texts(fig, gid=None):
    """The figure's visible texts (optionally those with one gid) and their rendered boxes."""
    fig.draw_without_rendering()
    found = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent"))
             if t.get_visible() and t.get_text() and (gid is None or t.get_gid() == gid)]
    return found, [t.get_window_extent() for t in found]


def test_first_epoch_outlier_is_clipped_and_marked():
    h = history([4, 4], first_loss=9.0)
    fig = history_figure(h)
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    later = h.to_frame().iloc[1:][["loss", "val_loss", "val_rmse"]].to_numpy()
    assert top < 2.0 and later.max() <= top  # the later epochs fill the plot, none of them cut off
    assert (top - bottom) < 3 * (later.max() - later.min())
    clipped, _ = texts(fig, "cfnb-clipped")
    values = sorted(float(t.get_text().split()[0]) for t in clipped)
    assert values == pytest.approx(sorted([9.0, 9.04, 3.0]), abs=0.01)  # loss, val loss, RMSE of epoch 1
    assert not overlapping(texts(fig, "cfnb-clipped")[1])


def test_no_clipping_when_nothing_stands_out():
    h = history([4, 4])
    frame = h.to_frame()
    assert robust_top([frame[c] for c in ("loss", "val_loss", "val_rmse")]) is None
    fig = history_figure(h)
    assert texts(fig, "cfnb-clipped")[0] == []
    assert fig.axes[0].get_ylim()[1] >= frame[["loss", "val_loss", "val_rmse"]].to_numpy().max()


def test_a_later_spike_is_shown_not_clipped_when_it_does_not_squash():
    # epoch 1 far above; epoch 2 somewhat above the rest: only epoch 1 is clipped
    values = [np.array([9.0, 1.1, 1.0, 0.95, 0.9, 0.88, 0.87, 0.86])]
    top = robust_top(values)
    assert 1.1 < top < 2.0
    # a spike that would squash the rest into less than half the plot is clipped too
    assert robust_top([np.array([9.0, 1.0, 0.95, 0.9, 3.0, 0.88, 0.87, 0.86])]) < 1.1


@pytest.mark.parametrize("stages", [[4, 4], [1] * 12, [1] * 40, [3, 1, 1, 1, 5, 1, 1], [2] * 20])
def test_stage_labels_never_overlap(stages):
    fig = history_figure(history(stages, first_loss=5.0))
    labels, boxes = texts(fig, "cfnb-stage-label")
    assert labels, "at least some stages are labelled"
    assert not overlapping(boxes)
    if len(stages) <= 4:
        assert len(labels) == len(stages) and labels[0].get_text() == "stage 1 · lr 1e-03"
    # nor do they run into any other text of the figure (ticks, axis labels, legend, clipped values)
    others = [b for t, b in zip(*texts(fig)) if t.get_gid() != "cfnb-stage-label"]
    assert not any(intersects(a, b) for a in boxes for b in others)


def test_stage_labels_never_overlap_after_a_resumed_fit():
    """The issue's case: Stop after 3 epochs, then the whole schedule again (stages 3 and 4)."""
    h = history([4, 3, 4, 4])
    fig = history_figure(h)
    labels, boxes = texts(fig, "cfnb-stage-label")
    assert len(labels) == 4 and not overlapping(boxes)


def test_svg_follows_the_page_colour_and_has_no_background():
    svg = history_svg(history([4, 4], first_loss=5.0))
    assert svg.startswith("<svg") and "<?xml" not in svg and "<metadata" not in svg
    assert INK not in svg and "currentColor" in svg
    assert not re.search(r"fill: ?#ffffff", svg, re.I)  # no white background rectangle
    html = history_html(history([2]))
    assert '<div class="cfnb-plot" style="color: var(--jp-ui-font-color1' in html
    assert html.count("<svg") == 1 and html.count('<img alt="plot"') == 1 and "svg + img {display: none}" in html
    assert "<img" not in history_html(history([2]), fallback=False)
    png = history_png(history([2]))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_is_deterministic():
    h = history([3, 3])
    assert history_svg(h) == history_svg(h)


def test_staged_history_shows_as_theme_following_html():
    h = history([2, 2])
    assert "<svg" in h._repr_html_() and h._repr_png_()[:4] == b"\x89PNG"
    assert StagedHistory()._repr_html_() is None


# ---------------------------------------------------------------------------------------------- PCA
@pytest.fixture(scope="module")
def crowded():
    """A PCA table where many of the most-rated movies sit close together (long titles)."""
    rng = np.random.default_rng(3)
    n = 400
    pc = rng.normal(0, 1, (n, 2))
    pc[:40] = rng.normal(0, 0.08, (40, 2))  # the 40 most rated in a tight clump
    titles = [f"A Rather Long Movie Title Number {k} (1999)" for k in range(n)]
    table = pd.DataFrame({"item": range(n), "title": titles, "n": np.arange(n, 0, -1), "pc1": pc[:, 0],
                          "pc2": pc[:, 1]})
    return table, np.array([0.3, 0.2])


def test_pca_labels_do_not_overlap(crowded):
    table, explained = crowded
    fig = pca_figure(table, explained, labels=30)
    labels, boxes = texts(fig, "cfnb-pca-label")
    assert 5 <= len(labels) <= 30
    assert not overlapping(boxes)
    # the most-rated movie is always titled; titles come from the most-rated first
    assert labels[0].get_text().startswith("A Rather Long Movie Title Nu") and labels[0].get_text().endswith("…")
    # and no text of the figure overlaps another (title, axis labels, ticks, titles of points)
    _, every = texts(fig)
    assert not overlapping(every)


def test_pca_renders_as_svg_html_and_png(crowded):
    table, explained = crowded
    svg = pca_svg(table, explained, labels=10)
    assert svg.startswith("<svg") and "currentColor" in svg and INK not in svg
    assert "<svg" in pca_html(table, explained, labels=10)
    assert pca_png(table, explained, labels=10)[:4] == b"\x89PNG"


def test_pca_of_a_fitted_model_on_real_titles(small):
    keras_seed = 0
    model = cfnb.build_model("bias", small.n_users, small.n_items, seed=keras_seed, n_factors=5)
    cfnb.fit_stages(model, small, stages=[(1e-2, 1)], progress=False, seed=0)
    table, explained = factor_pca(model, small, top=50)
    fig = pca_figure(table, explained, labels=20)
    assert not overlapping(texts(fig)[1])


def test_one_factor_model_gets_a_clear_message(small):
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=1)
    with pytest.raises(ArgumentError, match="1 factor per movie.*no 2-D map"):
        factor_pca(model, small)
    table, explained = factor_pca(model, small, k=1)
    assert list(table.columns) == ["item", "title", "n", "pc1"] and explained[0] == pytest.approx(1.0)
    with pytest.raises(CfnbError, match="needs two components.*n_factors >= 2"):
        pca_svg(table, explained)


@pytest.mark.parametrize("kwargs, match", [({"k": 0}, "k must be at least 1"), ({"k": 1.5}, "k must be a whole"),
                                           ({"top": 1}, "top must be at least 2"), ({"top": "all"}, "top must be")])
def test_factor_pca_checks_its_arguments(small, kwargs, match):
    model = cfnb.build_model("dot", small.n_users, small.n_items, n_factors=3)
    with pytest.raises(ArgumentError, match=match):
        factor_pca(model, small, **kwargs)


def test_pca_figure_checks_labels(crowded):
    with pytest.raises(ArgumentError, match="labels must be at least 0"):
        pca_figure(crowded[0], labels=-1)


# ------------------------------------------------------------------------------- in a real browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (CI installs it)")
def test_svg_takes_the_theme_colour_in_chromium(tmp_path):
    """Inline in a page that sets JupyterLab's font-colour variable, the plot's text and axes take it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    plot = history_html(history([4, 4], first_loss=5.0))
    themes = {"light": ("#ffffff", "rgba(0, 0, 0, 0.87)"), "dark": ("#111111", "rgba(255, 255, 255, 0.87)")}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 700, "height": 400})
            for theme, (background, ink) in themes.items():
                page.set_content(f'<body style="margin:0; background:{background}; --jp-ui-font-color1:{ink}">'
                                 f'{plot}</body>')
                fills = page.evaluate("""() => [...document.querySelectorAll('svg g[style*="currentColor"], '
                    + 'svg path[style*="currentColor"]')].map(e => getComputedStyle(e).fill + '|' + getComputedStyle(e).stroke)""")
                assert fills and any(ink in f for f in fills), (theme, fills[:5])
                shot = tmp_path / f"{theme}.png"
                page.screenshot(path=str(shot))
                from PIL import Image

                pixels = np.asarray(Image.open(shot).convert("L"), float)
                bg = pixels[2, 2]
                ink_pixels = (pixels > 200).mean() if theme == "dark" else (pixels < 60).mean()
                assert (bg > 240) if theme == "light" else (bg < 30), (theme, bg)
                assert ink_pixels > 0.001, (theme, ink_pixels)  # text and axes drawn in the theme's ink (series colours are mid-tone)
                # the PNG fallback stays hidden beside the live SVG
                assert page.evaluate("() => getComputedStyle(document.querySelector('.cfnb-plot img')).display") == "none"
            # where a sanitizer strips <svg> and <style> (JupyterLab, untrusted notebooks) the PNG shows
            stripped = re.sub(r"<svg.*</svg>", "", re.sub(r"<style>.*?</style>", "", plot, flags=re.S), flags=re.S)
            page.set_content(f"<style>.cfnb-plot > svg + img {{display: none}}</style><body>{stripped}</body>")
            assert page.evaluate("() => getComputedStyle(document.querySelector('.cfnb-plot img')).display") != "none"
            assert page.evaluate("() => document.querySelector('.cfnb-plot img').naturalWidth") > 300
        finally:
            browser.close()
