"""The widgets driven as Python objects: set values, click(), and check state and what they show."""

import time

import ipywidgets
import numpy as np
import pytest

import cfnb
from cfnb import widgets as cw


@pytest.fixture(autouse=True)
def no_escaped_callback_errors(monkeypatch):
    """Fail any test in which an exception escapes a widget callback (JupyterLab would lose it)."""
    escaped = []
    original = ipywidgets.widgets.widget.CallbackDispatcher.__call__

    def recording(self, *args, **kwargs):
        for callback in self.callbacks:
            try:
                callback(*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                escaped.append(e)

    monkeypatch.setattr(ipywidgets.widgets.widget.CallbackDispatcher, "__call__", recording)
    yield escaped
    monkeypatch.setattr(ipywidgets.widgets.widget.CallbackDispatcher, "__call__", original)
    assert not escaped, f"exceptions escaped widget callbacks: {escaped!r}"


@pytest.fixture
def lab(small):
    lab = cfnb.Lab(small, stages=[(1e-2, 2), (1e-3, 1)], batch_size=256)
    yield lab
    lab.fit.stop()
    lab.wait(60)


def wait_until(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def weights(model):
    return [w.copy() for w in model.get_weights()]


def shows_error(piece, text=""):
    return "cfnb-error" in piece.message.value and text in piece.message.value


@pytest.mark.parametrize("kind", cfnb.KINDS)
def test_parameter_count_follows_the_controls(small, kind):
    builder = cfnb.Builder(small, kind=kind)
    for factors, hidden in ((50, 70), (7, 13), (1, 1)):
        builder.factors.value, builder.hidden.value = factors, hidden
        embeddings = (small.n_users + small.n_items) * factors
        expected = {"dot": embeddings, "bias": embeddings + small.n_users + small.n_items,
                    "nn": embeddings + (2 * factors + 1) * hidden + hidden + 1}[kind]
        assert f"<b>{expected:,}</b>" in builder.params.value
        assert builder.build().count_params() == expected
    assert builder.errors == []


def test_kind_switch_updates_count_and_shows_nn_controls_only_for_nn(small):
    builder = cfnb.Builder(small, kind="dot", n_factors=10)
    dot = builder.params.value
    assert builder.nn_box.layout.display == "none"
    builder.kind.value = "nn"
    assert builder.params.value != dot and builder.nn_box.layout.display is None
    builder.kind.value = "bias"
    assert f"{(small.n_users + small.n_items) * 11:,}" in builder.params.value


def test_build_gives_a_model_with_the_chosen_sizes(small):
    builder = cfnb.Builder(small)
    builder.kind.value = "nn"
    builder.factors.value, builder.hidden.value = 7, 13
    builder.dropout_in.value, builder.dropout_hidden.value = 0.1, 0.2
    builder.l2.value = 1e-5
    builder.y_range.value = True
    builder.build_button.click()
    model = builder.model
    assert model is builder.session.model
    assert model.get_layer("user_factors").output_dim == 7
    assert model.get_layer("movie_factors").input_dim == small.n_items
    assert model.get_layer("hidden").units == 13
    assert model.get_layer("dropout_in").rate == pytest.approx(0.1)
    assert model.get_layer("dropout_hidden").rate == pytest.approx(0.2)
    assert model.cfnb_config["l2"] == pytest.approx(1e-5)
    assert model.cfnb_config["y_range"] == (0.0, 5.5)  # half a star beyond the 0.5..5 scale, as in fastai
    shown = builder.output.value
    assert "<table>" in shown and "<svg" in shown and "movie_factors" in shown and "(None, 1, 7)" in shown
    assert f"{model.count_params():,}" in shown
    assert "Built #1 nn" in builder.message.value


def test_two_stage_fit_fills_the_history_with_both_stages(lab):
    lab.builder.factors.value = 5
    lab.builder.build_button.click()
    lab.fit.fit_button.click()
    lab.wait(120)
    frame = lab.session.history.to_frame()
    assert list(frame["stage"]) == [1, 1, 2] and list(frame["epoch"]) == [1, 2, 3]
    assert list(frame["lr"]) == pytest.approx([1e-2, 1e-2, 1e-3])
    assert frame["val_rmse"].notna().all()
    fit = lab.fit
    assert fit.progress.value == fit.progress.max > 1 and fit.progress.bar_style == "success"
    assert "done: 3/3 epochs" in fit.status.value
    assert fit.curve.value[:8] == b"\x89PNG\r\n\x1a\n" and fit.curve.layout.display is None
    assert not fit.fit_button.disabled and fit.stop_button.disabled and not lab.builder.build_button.disabled
    runs = lab.compare.frame()
    assert list(runs["model"]) == ["global mean", "user + movie biases", "#1 bias"]
    assert runs["val_rmse"].iloc[-1] == pytest.approx(lab.session.history.val_rmse)
    assert runs["params"].iloc[-1] == lab.model.count_params()
    assert runs["seconds"].iloc[-1] > 0 and runs["best"].sum() == 1
    assert "#1 bias" in lab.compare.table.value and "class='best'" in lab.compare.table.value
    assert lab.errors == []


def test_fitting_again_continues_the_history_and_updates_the_comparison(lab):
    lab.builder.build()
    lab.fit.stages = [(1e-2, 1)]
    lab.fit.run(wait=True)
    lab.fit.run(wait=True)
    assert list(lab.session.history.to_frame()["stage"]) == [1, 2]
    assert len(lab.session.runs) == 1 and lab.session.runs[0]["epochs"] == 2
    lab.builder.build()
    lab.fit.run(wait=True)
    assert [r["model"] for r in lab.session.runs] == ["#1 bias", "#2 bias"]
    assert lab.errors == []


def test_stop_ends_the_fit_and_keeps_weights_and_history(lab):
    model = lab.builder.build()
    before = weights(model)
    lab.fit.stages = [(1e-3, 500)]
    lab.fit.batch_size.value = 16
    lab.fit.fit_button.click()
    wait_until(lambda: len(lab.session.history) >= 1, what="the first epoch")
    # Mid-fit: what must not change is disabled, Stop is not.
    assert lab.fit.fitting and lab.session.busy
    assert lab.fit.fit_button.disabled and lab.fit.add_button.disabled and lab.fit.batch_size.disabled
    assert all(w.disabled for row in lab.fit._rows.children for w in row.children[1:])
    assert lab.builder.build_button.disabled and lab.explore.explore_button.disabled
    assert not lab.fit.stop_button.disabled
    assert "stage 1/1" in lab.fit.status.value and "epoch" in lab.fit.status.value
    lab.fit.stop_button.click()
    lab.wait(60)
    assert not lab.fit.fitting
    history = lab.session.history
    assert history.interrupted and 1 <= len(history) < 500
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert lab.fit.progress.bar_style == "warning" and "stopped" in lab.fit.status.value
    assert 0 < lab.fit.progress.value < lab.fit.progress.max
    assert lab.compare.frame()["model"].iloc[-1] == "#1 bias (stopped)"
    assert not lab.fit.fit_button.disabled and lab.fit.stop_button.disabled
    assert not lab.builder.build_button.disabled
    assert lab.errors == []


@pytest.mark.parametrize("stages, message", [
    ([(0, 2)], "learning rate must be a positive number"),
    ([(-1e-3, 2)], "learning rate must be a positive number"),
    ([(1e-2, 0)], "epochs must be a whole number of at least 1"),
    ([(1e-2, 1), (1e-3, 0)], "epochs must be a whole number of at least 1"),
    ([], "No stages to fit"),
])
def test_invalid_stages_show_a_message_and_fit_nothing(lab, stages, message):
    model = lab.builder.build()
    before = weights(model)
    lab.fit.stages = stages
    lab.fit.fit_button.click()
    lab.wait(30)
    assert shows_error(lab.fit, message), lab.fit.message.value
    assert len(lab.session.history) == 0 and lab.session.runs == []
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not lab.session.busy and not lab.fit.fit_button.disabled


def test_removing_every_stage_through_the_buttons_then_fit_shows_a_message(lab):
    lab.builder.build()
    while lab.fit._rows.children:
        lab.fit._rows.children[0].children[-1].click()  # the row's remove button
    lab.fit.fit_button.click()
    assert shows_error(lab.fit, "No stages to fit") and lab.session.runs == []
    lab.fit.add_button.click()
    assert lab.fit.stages == [(1e-2, 2)]
    lab.fit.add_button.click()
    assert lab.fit.stages == [(1e-2, 2), (1e-3, 2)]
    assert [row.children[0].value for row in lab.fit._rows.children] == ["Stage 1", "Stage 2"]


def test_fit_before_build_and_explore_before_a_model_explain_what_to_do(lab):
    lab.fit.fit_button.click()
    assert shows_error(lab.fit, "Build")
    lab.explore.explore_button.click()
    assert shows_error(lab.explore, "Build and Fit")
    lab.fit.stop_button.click()  # nothing running: says so, raises nothing
    assert "Nothing is fitting" in lab.fit.message.value


def test_an_unexpected_error_in_a_click_shows_with_its_traceback(lab, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in build_model")

    monkeypatch.setattr(cw, "build_model", broken)
    lab.builder.build_button.click()
    assert shows_error(lab.builder, "RuntimeError: boom in build_model")
    assert "<details>" in lab.builder.message.value and "Traceback" in lab.builder.message.value
    assert isinstance(lab.builder.errors[-1], RuntimeError) and lab.session.model is None


def test_an_error_inside_the_fit_thread_is_shown_and_releases_the_controls(lab, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in fit_stages")

    lab.builder.build()
    monkeypatch.setattr(cw, "fit_stages", broken)
    lab.fit.fit_button.click()
    lab.wait(30)
    assert shows_error(lab.fit, "RuntimeError: boom in fit_stages")
    assert lab.fit.progress.bar_style == "danger" and "failed" in lab.fit.status.value
    assert not lab.session.busy and not lab.fit.fit_button.disabled and lab.fit.stop_button.disabled


def test_an_error_while_drawing_progress_is_shown_and_the_fit_still_ends(lab, monkeypatch):
    def broken(history):
        raise RuntimeError("boom in the plot")

    lab.builder.build()
    monkeypatch.setattr(cw, "history_png", broken)
    lab.fit.run(wait=True)
    assert shows_error(lab.fit, "boom in the plot")
    assert len(lab.session.history) == 3 and not lab.session.busy


def test_an_error_in_a_value_observer_is_shown_not_raised(small, monkeypatch):
    builder = cfnb.Builder(small)
    monkeypatch.setattr(cw, "count_params", lambda *a, **k: 1 / 0)  # the Builder's parameter count
    builder.factors.value = 12  # the observer fails; setting the value must not raise
    assert shows_error(builder, "ZeroDivisionError")


def test_compare_lists_baselines_on_the_session_split_and_highlights_the_best(small):
    session = cw.Session(small, val_frac=0.25, seed=1)
    compare = cfnb.Compare(session)
    frame = compare.frame()
    expected = cfnb.baselines(session.train, session.val)
    np.testing.assert_allclose(frame["val_rmse"], expected["val_rmse"])
    assert frame["best"].tolist() == [False, True]  # biases beat the mean on planted biases
    assert "No model fitted yet" in compare.message.value


def test_explore_shows_biases_pca_and_recommendations(lab):
    lab.builder.build()
    lab.fit.run(wait=True)
    lab.explore.n.value = 4
    lab.explore.explore_button.click()
    assert "Highest movie bias" in lab.explore.biases.value and "Synthetic movie" in lab.explore.biases.value
    assert lab.explore.pca.value[:8] == b"\x89PNG\r\n\x1a\n"
    user = lab.session.ratings.user_ids[2]
    lab.explore.user.value = user
    shown = lab.explore.recommendations.value
    assert f"Recommended for user {user}" in shown and f"Rated highest by user {user}" in shown
    recs = cfnb.recommend(lab.model, lab.session.ratings, user, n=4)
    assert all(title in shown for title in recs["title"])
    assert lab.errors == []


def test_explore_of_a_model_without_biases_explains_and_still_shows_the_rest(small):
    builder = cfnb.Builder(small, kind="dot", n_factors=3)
    builder.build()
    explore = cfnb.Explore(builder)
    explore.refresh()
    assert "no movie bias" in explore.biases.value
    assert explore.pca.value and "Recommended for user" in explore.recommendations.value
    assert explore.errors == []


def test_pieces_alone_share_a_session_when_given_one_another(small):
    builder = cfnb.Builder(small, kind="dot", n_factors=4)
    fit = cfnb.StagedFit(builder, stages=[(1e-2, 1)], background=False)
    compare = cfnb.Compare(fit)
    assert builder.session is fit.session is compare.session
    builder.build()
    fit.run()
    assert compare.frame()["model"].iloc[-1] == "#1 dot"
    with pytest.raises(cfnb.CfnbError, match="Expected cfnb Ratings"):
        cfnb.Builder([1, 2, 3])


def test_lab_on_movielens_builds_and_fits_one_epoch(movielens_small):
    lab = cfnb.Lab(movielens_small, stages=[(1e-2, 1)], batch_size=2048)
    lab.builder.factors.value = 10
    lab.builder.build_button.click()
    lab.fit.fit_button.click()
    lab.wait(120)
    assert len(lab.session.history) == 1 and lab.session.history.val_rmse < 3
    assert lab.compare.frame()["model"].tolist()[-1] == "#1 bias"
    assert lab.errors == []
