"""Summary rendering (HTML and text), graph picture, %load_ext cfnb."""

import xml.etree.ElementTree as ET

import pytest

import cfnb


@pytest.fixture(scope="module")
def bias_model():
    return cfnb.build_model("bias", 668, 10325)


def test_summary_html_lists_layers_params_and_connections(bias_model):
    html = cfnb.summary(bias_model)._repr_html_()
    assert html.count("<tr>") == len(bias_model.layers) + 1  # header + one per layer
    assert "516,250" in html and "33,400" in html
    assert "user_in" in html and "Embedding" in html and "(None, 1, 50)" in html
    assert f"{bias_model.count_params():,}" in html
    assert "var(--jp-" in html  # takes JupyterLab's theme colours (light and dark)


def test_summary_text_for_terminals(bias_model):
    text = str(cfnb.summary(bias_model))
    assert "movie_factors (Embedding)" in text
    assert "516,250" in text
    assert f"Total params: {bias_model.count_params():,}" in text
    frame = cfnb.summary(bias_model).to_frame()
    assert frame.loc[frame.layer == "score", "connected_to"].item() == "flatten, user_bias_flat, movie_bias_flat"


def test_graph_svg_is_valid_and_has_a_box_per_layer(bias_model):
    svg = cfnb.graph(bias_model)._repr_svg_()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}g")) == len(bias_model.layers)
    edges = sum(len(names) for names in cfnb.display.summaries._inbound_all(bias_model).values())
    assert len(root.findall(f"{ns}polyline")) == edges


def test_load_ext_makes_models_display_as_summary(bias_model):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "cfnb")
    try:
        data, _ = shell.display_formatter.format(bias_model)
        assert "cfnb-summary" in data["text/html"]
    finally:
        shell.run_line_magic("unload_ext", "cfnb")
    data, _ = shell.display_formatter.format(bias_model)
    assert "cfnb-summary" not in data.get("text/html", "")



def test_the_live_notebook_curve_follows_the_theme(monkeypatch):
    """fit_stages's live plot in a notebook is theme-following SVG (not a white PNG), from the first epoch on."""
    import warnings

    import IPython.display

    from cfnb.training.progress import NotebookProgress

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    history = cfnb.StagedHistory([{"stage": 1, "epoch": 1, "lr": 1e-2, "loss": 1.3, "val_loss": 1.1,
                                   "val_rmse": 1.0, "seconds": 0.1}])
    progress = NotebookProgress(history, total_epochs=2, steps_per_epoch=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a one-epoch curve lays out without matplotlib's collapse warning
        progress.update({}, epoch_end=True)
    html = shown[-1].data
    assert "<svg" in html and "currentColor" in html and "data:image/png" not in html
