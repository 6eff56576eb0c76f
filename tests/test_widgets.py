"""The widgets driven as Python objects: set values, click(), and check state and what they show."""

import time

import ipywidgets
import numpy as np
import pytest

import cfnb
from cfnb import widgets as cw
from cfnb.widgets import builder as cw_builder, fit as cw_fit


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


@pytest.mark.parametrize("kind", ("dot", "bias", "nn"))  # the NCF kinds: tests/test_kinds.py
def test_parameter_count_follows_the_controls(small, kind):
    builder = cfnb.Builder(small, kind=kind)
    for factors, hidden in ((50, 70), (7, 13), (1, 1)):
        builder.factors.value, builder.controls["hidden"].value = factors, hidden
        embeddings = (small.n_users + small.n_items) * factors
        expected = {"dot": embeddings, "bias": embeddings + small.n_users + small.n_items,
                    "nn": embeddings + (2 * factors + 1) * hidden + hidden + 1}[kind]
        assert f"<b>{expected:,}</b>" in builder.params.value
        assert builder.build().count_params() == expected
    assert builder.errors == []


def test_kind_switch_updates_count_and_shows_each_kinds_controls_only(small):
    builder = cfnb.Builder(small, kind="dot", n_factors=10)
    dot = builder.params.value
    shown = {name for name, c in builder.controls.items() if c.layout.display is None}
    assert shown == {"n_factors", "l2", "y_range"}
    builder.kind.value = "nn"
    assert builder.params.value != dot and builder.controls["hidden"].layout.display is None
    assert builder.controls["bias_l2"].layout.display == "none"
    builder.kind.value = "bias"
    assert builder.controls["bias_l2"].layout.display is None
    assert f"{(small.n_users + small.n_items) * 11:,}" in builder.params.value
    assert builder.factors.value == 10  # a value the learner set survives the switch


def test_build_gives_a_model_with_the_chosen_sizes(small):
    builder = cfnb.Builder(small)
    builder.kind.value = "nn"
    c = builder.controls
    c["n_factors"].value, c["hidden"].value = 7, 13
    c["dropout_in"].value, c["dropout_hidden"].value = 0.1, 0.2
    c["l2"].value = 1e-5
    c["y_range"].value = True
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
    run = lab.session.current
    assert f"fit time {run.seconds:.1f} s" in fit.status.value  # the one fit time, as Compare shows it
    assert "<svg" in fit.curve.value and "currentColor" in fit.curve.value  # follows the theme
    assert "<img" not in fit.curve.value and fit.curve.layout.display is None
    assert not fit.fit_button.disabled and fit.stop_button.disabled and not lab.builder.build_button.disabled
    runs = lab.compare.frame()
    assert list(runs["model"]) == ["global mean", "user + movie biases", "#1 bias"]
    assert runs["val_rmse"].iloc[-1] == pytest.approx(lab.session.history.val_rmse)
    assert runs["params"].iloc[-1] == lab.model.count_params()
    assert runs["seconds"].iloc[-1] == pytest.approx(run.seconds) and run.seconds > 0 and runs["best"].sum() == 1
    assert runs[["stages", "batch_size", "engine"]].iloc[-1].tolist() == ["1e-02×2, 1e-03×1", "256", "fast exact"]
    assert "#1 bias" in lab.compare.table.value and "class='best" in lab.compare.table.value
    assert "class='current'" in lab.compare.table.value
    assert lab.errors == []


def test_fitting_again_continues_the_history_and_updates_the_comparison(lab):
    lab.builder.build()
    lab.fit.stages = [(1e-2, 1)]
    lab.fit.run(wait=True)
    lab.fit.run(wait=True)
    assert list(lab.session.history.to_frame()["stage"]) == [1, 2]
    assert list(lab.session.history.to_frame()["epoch"]) == [1, 2]
    assert len(lab.session.runs) == 1 and len(lab.session.runs[0].history) == 2
    assert len(lab.session.runs[0].fits) == 2
    lab.builder.build()
    lab.fit.run(wait=True)
    assert [r.name for r in lab.session.runs] == ["#1 bias", "#2 bias"]
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
    assert all(w.disabled for row in lab.fit.stage_list.rows.children for w in row.children[1:])
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
    assert len(lab.session.history) == 0 and lab.session.current.fits == []
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not lab.session.busy and not lab.fit.fit_button.disabled


def test_removing_every_stage_through_the_buttons_then_fit_shows_a_message(lab):
    lab.builder.build()
    while lab.fit.stage_list.rows.children:
        lab.fit.stage_list.rows.children[0].children[-1].click()  # the row's remove button
    lab.fit.fit_button.click()
    assert shows_error(lab.fit, "No stages to fit") and len(lab.session.history) == 0
    lab.fit.add_button.click()
    assert lab.fit.stages == [(1e-2, 2)]
    lab.fit.add_button.click()
    assert lab.fit.stages == [(1e-2, 2), (1e-3, 2)]
    assert [row.children[0].value for row in lab.fit.stage_list.rows.children] == ["Stage 1", "Stage 2"]


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

    monkeypatch.setattr(cw_builder, "build_model", broken)
    lab.builder.build_button.click()
    assert shows_error(lab.builder, "RuntimeError: boom in build_model")
    assert "<details>" in lab.builder.message.value and "Traceback" in lab.builder.message.value
    assert isinstance(lab.builder.errors[-1], RuntimeError) and lab.session.model is None


def test_an_error_inside_the_fit_thread_is_shown_and_releases_the_controls(lab, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in fit_stages")

    lab.builder.build()
    monkeypatch.setattr(cw_fit, "fit_stages", broken)
    lab.fit.fit_button.click()
    lab.wait(30)
    assert shows_error(lab.fit, "RuntimeError: boom in fit_stages")
    assert lab.fit.progress.bar_style == "danger" and "failed" in lab.fit.status.value
    assert not lab.session.busy and not lab.fit.fit_button.disabled and lab.fit.stop_button.disabled


def test_an_error_while_drawing_progress_is_shown_and_the_fit_still_ends(lab, monkeypatch):
    def broken(history):
        raise RuntimeError("boom in the plot")

    lab.builder.build()
    monkeypatch.setattr(cw_fit, "history_html", lambda history, fallback: broken(history))
    lab.fit.run(wait=True)
    assert shows_error(lab.fit, "boom in the plot")
    assert len(lab.session.history) == 3 and not lab.session.busy


def test_an_error_in_a_value_observer_is_shown_not_raised(small, monkeypatch):
    builder = cfnb.Builder(small)
    monkeypatch.setattr(cw_builder, "count_params", lambda *a, **k: 1 / 0)  # the Builder's parameter count
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
    assert "<th class='num'>val RMSE</th><th class='num'>NDCG@10</th>" in compare.table.value


def test_compare_shows_each_models_ndcg_beside_its_rmse(lab):
    lab.builder.build()
    lab.fit.stages = [(1e-2, 1)]
    lab.fit.run(wait=True)
    frame, session = lab.compare.frame(), lab.session
    ndcg = cfnb.ranking_metrics(session.model, session.train, session.val)["ndcg"]
    assert frame["ndcg@10"].iloc[-1] == ndcg
    assert f"<td class='num'>{frame['val_rmse'].iloc[-1]:.4f}</td><td class='num'>{ndcg:.3f}</td>" in lab.compare.table.value
    assert lab.errors == []


def test_explore_shows_biases_pca_and_recommendations(lab):
    lab.builder.build()
    lab.fit.run(wait=True)
    lab.explore.n.value = 4
    lab.explore.explore_button.click()
    assert "Highest movie bias" in lab.explore.biases.value and "Synthetic movie" in lab.explore.biases.value
    assert "<svg" in lab.explore.pca.value and "currentColor" in lab.explore.pca.value
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
    with pytest.raises(cfnb.CfnbError, match="ratings must be cfnb Ratings"):
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


# ------------------------------------------------------------------ the registry drives the Builder
def test_controls_labels_and_tooltips_come_from_the_registry(small):
    builder = cfnb.Builder(small, kind="nn")
    for name, widget in builder.controls.items():
        spec = cfnb.models.HYPERPARAMETERS[name]
        shown = widget.slider if isinstance(widget, cw_builder.PenaltySlider) else widget
        assert spec.label in shown.description and shown.tooltip == spec.help
        if spec.control == "count":
            assert (shown.min, shown.max) == (spec.low, spec.high)
    assert set(builder.controls) == {h for k in cfnb.KINDS for h in cfnb.models.kind_of(k).defaults}
    assert list(builder.kind.tooltips) == [cfnb.models.kind_of(k).description for k in cfnb.KINDS]
    # The longest label fits its fixed-width description area: nothing is cut off ("Dropout hidd...").
    assert max(len(s.label) for s in cfnb.models.HYPERPARAMETERS.values()) * 8 <= int(cw.base.LABEL_WIDTH[:-2])
    assert "sigmoid" in builder.y_range_note.value and "Off" in builder.y_range_note.value
    builder.controls["y_range"].value = True
    assert "into 0..5.5" in builder.y_range_note.value


def test_a_penalty_can_be_switched_off_and_on(small):
    builder = cfnb.Builder(small, kind="bias")
    penalty = builder.controls["bias_l2"]
    assert penalty.value == 0 and penalty.slider.disabled  # the bias kind's default: no penalty
    penalty.on.value = True
    assert penalty.value == pytest.approx(penalty.slider.value) and builder.hyperparameters()["bias_l2"] > 0
    penalty.value = 0.0
    assert not penalty.on.value and builder.hyperparameters()["bias_l2"] == 0
    builder.build()
    assert builder.model.cfnb_config["bias_l2"] == 0


def test_a_throwaway_kind_registered_in_models_is_built_summarised_fitted_and_explored_in_the_lab(small):
    from keras import layers

    from cfnb.names import ITEM_FACTORS, USER_FACTORS
    from cfnb.models.kinds import register, unregister

    @register("product", "element-wise product of the factors, weighted by a Dense layer", n_factors=8, l2=0.0)
    def gmf(g, n_factors, l2):
        u = g.user_embedding(n_factors, l2, USER_FACTORS)
        m = g.item_embedding(n_factors, l2, ITEM_FACTORS)
        return g.dense(1, name="score")(layers.Flatten(name="flatten")(layers.Multiply(name="product")([u, m])))

    try:
        lab = cfnb.Lab(small, stages=[(1e-2, 2)], background=False)
        assert "product" in lab.builder.kind.options
        lab.builder.kind.value = "product"
        assert lab.builder.factors.value == 8 and lab.builder.controls["l2"].value == 0  # the kind's defaults
        lab.builder.factors.value = 6
        expected = (small.n_users + small.n_items) * 6 + 6 + 1
        assert f"<b>{expected:,}</b>" in lab.builder.params.value
        assert "element-wise product" in lab.builder.about.value
        lab.builder.build_button.click()
        assert lab.model.count_params() == expected and "product" in lab.builder.output.value
        lab.fit.fit_button.click()
        assert len(lab.session.history) == 2 and lab.compare.frame()["kind"].iloc[-1] == "product"
        lab.explore.refresh()
        assert lab.explore.pca.value and "no movie bias" in lab.explore.biases.value
        assert lab.errors == []
    finally:
        unregister("product")
    assert "product" not in cfnb.KINDS and "gmf" in cfnb.KINDS  # the real gmf is untouched


def test_default_stages_are_the_lessons_and_follow_the_kind_until_edited(small):
    lab = cfnb.Lab(small, background=False)
    assert lab.fit.stages == [tuple(s) for s in cfnb.LESSON_STAGES]
    lab.builder.kind.value = "nn"
    lab.builder.build()
    assert lab.fit.stages == [tuple(s) for s in cfnb.LESSON_NN_STAGES]
    lab.fit.stage_list.rows.children[0].children[2].value = 1  # the learner edits a stage
    lab.builder.kind.value = "bias"
    lab.builder.build()
    assert lab.fit.stages == [(1e-3, 1), (1e-4, 4)]  # theirs, kept


# ------------------------------------------------------------------------------ resume, start over
def test_stop_shows_stopping_at_once_then_continue_counts_epochs_on_then_start_over(small, monkeypatch):
    lab = cfnb.Lab(small, stages=[(1e-3, 6), (1e-4, 2)], batch_size=16)
    first = lab.builder.build()
    initial = weights(first)
    lab.fit.fit_button.click()
    wait_until(lambda: len(lab.session.history) >= 1, what="the first epoch")
    lab.fit.stop_button.click()
    assert "stopping" in lab.fit.status.value and lab.fit.stop_button.description == "Stopping…"
    time.sleep(0.3)  # progress updates keep coming until the batch ends; the message must stay
    assert "stopping" in lab.fit.status.value or not lab.session.busy
    lab.wait(60)
    history = lab.session.history
    stopped_at = len(history)
    assert history.interrupted and 1 <= stopped_at < 8
    assert lab.fit.fit_button.description == "Continue" and not lab.fit.start_over_button.disabled
    assert f"Continue runs the {8 - stopped_at} epoch(s) left" in lab.fit.message.value
    optimizer, steps = first.optimizer, int(first.optimizer.iterations)

    lab.fit.fit_button.click()  # Continue: the epochs the stop left, on the same weights and optimizer
    lab.wait(120)
    frame = history.to_frame()
    assert frame["epoch"].tolist() == list(range(1, 9)) and frame["stage"].tolist() == [1] * 6 + [2] * 2
    assert lab.session.history is history and first.optimizer is optimizer and int(optimizer.iterations) > steps
    assert "done: 8/8 epochs" in lab.fit.status.value
    run = lab.session.current
    assert len(run.fits) == 2 and lab.compare.frame()["epochs"].iloc[-1] == 8
    assert lab.compare.frame()["seconds"].iloc[-1] == pytest.approx(run.seconds)

    lab.fit.stages = [(1e-2, 1)]
    lab.fit.start_over_button.click()  # a fresh copy, fitted from epoch 1, as a second model
    lab.wait(60)
    assert [r.name for r in lab.session.runs] == ["#1 bias", "#2 bias"]
    second = lab.session.current
    assert second.model is not first and second.history.to_frame()["epoch"].tolist() == [1]
    assert len(run.history) == 8  # the first model keeps its own history
    fresh = cfnb.workspace.fresh_copy(first, seed=42)
    assert all(np.array_equal(a, b) for a, b in zip(initial, fresh.get_weights()))  # same seed, same start
    assert lab.errors == []


def test_compare_choice_makes_an_earlier_model_current_to_explore_continue_and_save(small, tmp_path):
    lab = cfnb.Lab(small, stages=[(1e-2, 2)], background=False)
    lab.builder.build()
    lab.fit.run()
    first = lab.session.current
    lab.explore.refresh()
    lab.builder.kind.value = "dot"
    lab.builder.build()
    assert "not fitted yet" in lab.explore.message.value and lab.explore.biases.value == ""
    lab.fit.run()
    assert "no movie bias" in lab.explore.biases.value  # followed the fit of the dot model
    assert lab.compare.choice.options == ("#1 bias", "#2 dot")

    lab.compare.choice.value = "#1 bias"
    assert lab.session.current is first and lab.model is first.model
    assert "Highest movie bias" in lab.explore.biases.value and "Exploring #1 bias" in lab.explore.message.value
    assert "#1 bias" in lab.fit.status.value and lab.fit.fit_button.description == "Continue"
    assert "bias_1" not in lab.builder.output.value and first.model.name in lab.builder.output.value
    lab.fit.run()  # continues #1 (its plan is done: the stages above as more)
    assert len(first.history) == 4 and first.history.to_frame()["epoch"].tolist() == [1, 2, 3, 4]

    lab.compare.path.value = str(tmp_path / "first.cfnb")
    lab.compare.save_button.click()
    assert "Saved #1 bias" in lab.compare.message.value
    model, ratings = cfnb.load(tmp_path / "first.cfnb")
    users, items = small.user_ids[:5], small.item_ids[:5]
    np.testing.assert_allclose(cfnb.predict(model, ratings, users, items),
                               cfnb.predict(first.model, small, users, items), rtol=1e-5)
    assert lab.errors == []


def test_top_n_redraws_the_bias_tables_too_and_stale_messages_clear(lab):
    lab.explore.explore_button.click()
    assert shows_error(lab.explore, "No model to explore yet")
    lab.builder.build()
    assert "No model to explore yet" not in lab.explore.message.value
    lab.fit.run(wait=True)
    lab.explore.refresh()
    lab.explore.n.value = 3
    assert lab.explore.biases.value.count("<tr class=''>") == 2 * 3
    assert lab.explore.recommendations.value.count("<tr class=''>") <= 2 * 3
    lab.fit.stop_button.click()
    assert "Nothing is fitting" in lab.fit.message.value
    lab.fit.run(wait=True)
    assert "Nothing is fitting" not in lab.fit.message.value


def test_explore_notes_a_one_factor_model_instead_of_failing(small):
    builder = cfnb.Builder(small, kind="bias", n_factors=1)
    builder.build()
    explore = cfnb.Explore(builder)
    explore.refresh()
    assert "one factor per movie" in explore.pca_note.value and explore.pca.layout.display == "none"
    assert "Highest movie bias" in explore.biases.value and explore.errors == []


# ---------------------------------------------------------------------------- bring your own model
def hand_written_gmf(n_users, n_items, user="uid", item="mid", factors=4):
    """A GMF written as a learner would: element-wise product of the embeddings, then Dense(1)."""
    import keras
    from keras import layers

    u = keras.Input(shape=(1,), dtype="int32", name=user)
    m = keras.Input(shape=(1,), dtype="int32", name=item)
    ue = layers.Embedding(n_users, factors, name="users")(u)
    me = layers.Embedding(n_items, factors, name="movies")(m)
    out = layers.Dense(1, name="rating")(layers.Flatten()(layers.Multiply()([ue, me])))
    return keras.Model([u, m], out, name="my_gmf")


def test_lab_add_a_hand_written_model_summary_fit_compare_explore(small):
    lab = cfnb.Lab(small, stages=[(1e-2, 2)], background=False)
    mine = hand_written_gmf(small.n_users, small.n_items)
    run = lab.add(mine, name="my gmf", inputs=("uid", "mid"), item_factors="movies")
    assert [t.name for t in run.model.inputs] == ["user_in", "movie_in"]
    assert run.model.get_layer("movies") is mine.get_layer("movies")  # the same layers, the same weights
    assert "Added my gmf" in lab.builder.message.value and "movies" in lab.builder.output.value
    lab.fit.run()
    assert len(run.history) == 2 and np.isfinite(run.history.val_rmse)
    frame = lab.compare.frame()
    assert frame[["model", "kind", "hyperparameters"]].iloc[-1].tolist() == ["my gmf", "own", "my_gmf"]
    lab.explore.refresh()
    assert lab.explore.pca.value and lab.explore.pca.layout.display is None
    assert "No bias tables for my gmf" in lab.explore.biases.value and "movie_bias" in lab.explore.biases.value
    assert "Recommended for user" in lab.explore.recommendations.value
    np.testing.assert_allclose(mine.predict([small.x["user_in"][:4], small.x["movie_in"][:4]], verbose=0),
                               run.model.predict({k: v[:4] for k, v in small.x.items()}, verbose=0))
    lab.fit.start_over()  # a fresh clone of a model of one's own
    assert lab.session.current.kind == "own" and len(lab.session.current.history) == 2
    assert lab.errors == []


def test_lab_add_refuses_models_that_do_not_fit_with_clear_errors(small):
    lab = cfnb.Lab(small, background=False)
    with pytest.raises(cfnb.CfnbError, match=r"inputs \['uid', 'mid'\].*cannot tell.*inputs=\(user_name, movie_name\)"):
        lab.add(hand_written_gmf(small.n_users, small.n_users))  # names and table sizes do not say which is which
    with pytest.raises(cfnb.CfnbError, match="tables of 61 rows for its users but the ratings have 60 users"):
        lab.add(hand_written_gmf(small.n_users + 1, small.n_items, "user_in", "movie_in"))
    with pytest.raises(cfnb.CfnbError, match="movie_factors='nope': model 'my_gmf' has no such layer"):
        lab.add(hand_written_gmf(small.n_users, small.n_items, "user_in", "movie_in"), item_factors="nope")
    import keras
    with pytest.raises(cfnb.CfnbError, match="expected one integer code per rating"):
        u, m = keras.Input((1,), name="user_in"), keras.Input((1,), name="movie_in")  # float inputs
        lab.add(keras.Model([u, m], keras.layers.Dense(1)(keras.layers.Concatenate()([u, m]))))
    with pytest.raises(cfnb.CfnbError, match="must be a Keras model"):
        lab.add("model")
    assert lab.session.runs == [] and lab.model is None


def test_recommendations_for_a_user_with_no_training_rating_say_they_come_from_the_fallback(small):
    frame = small.to_frame()
    newcomer = {"user": 10_000, "item": frame["item"].iloc[0], "rating": 4.0, "title": frame["title"].iloc[0]}
    ratings = cfnb.load_ratings(__import__("pandas").concat([frame, __import__("pandas").DataFrame([newcomer])]),
                                user="user", item="item", rating="rating", duplicates="keep")
    seed = next(s for s in range(100) if 10_000 not in set(ratings.split(0.2, s)[0].to_frame()["user"]))
    lab = cfnb.Lab(ratings, seed=seed, stages=[(1e-2, 1)], background=False)
    lab.builder.build()
    lab.fit.run()
    lab.explore.user.value = 10_000
    lab.explore.refresh()
    assert "cold-start fallback" in lab.explore.recommendations.value
    assert "Recommended for user 10000" in lab.explore.recommendations.value and lab.errors == []


# ------------------------------------------------------------------------ code view and lr finder
def test_the_builder_shows_the_keras_code_of_the_current_model_and_it_builds_the_same_graph(small):
    lab = cfnb.Lab(small, background=False)
    lab.builder.kind.value = "nn"
    lab.builder.factors.value = 7
    lab.builder.controls["y_range"].value = True
    assert lab.builder.insert_button.disabled  # nothing built yet
    model = lab.builder.build()
    code = lab.builder.code_text()
    assert code == cfnb.model_code("nn", small.n_users, small.n_items, n_factors=7, y_range=(0.0, 5.5))
    assert "keras.Input" in lab.builder.code.value and "layers.Dropout" in lab.builder.code.value
    namespace = {}
    exec(code, namespace)  # the code builds the same graph
    built = namespace["model"]
    assert built.count_params() == model.count_params()
    assert [(l.name, type(l).__name__) for l in built.layers] == [(l.name, type(l).__name__) for l in model.layers]
    assert not lab.builder.insert_button.disabled
    lab.builder.insert_button.click()  # outside JupyterLab nothing can take the cell: a clear message
    assert shows_error(lab.builder, "Insert as cell needs JupyterLab")
    lab.builder.errors.clear()
    lab.add(hand_written_gmf(small.n_users, small.n_items, "user_in", "movie_in"), name="mine")
    assert lab.builder.code_text() is None and "model of your own" in lab.builder.code.value
    assert lab.builder.insert_button.disabled
    lab.session.select("#1 nn")  # the code follows the current model
    assert lab.builder.code_text() == code


def test_insert_as_cell_sends_jupyterlabs_commands(small, monkeypatch):
    sent = []

    class FakeCommands:
        def execute(self, command, args=None):
            sent.append((command, args))

    monkeypatch.setattr(cw.frontend, "_APP", type("App", (), {"commands": FakeCommands()})())
    monkeypatch.setattr(cw.frontend, "_READY", True)
    builder = cfnb.Builder(small, kind="dot", n_factors=3)
    builder.build()
    builder.insert_button.click()
    assert sent == [("notebook:insert-cell-below", None),
                    ("notebook:replace-selection", {"text": builder.code_text()})]
    assert "Inserted the code" in builder.message.value


def test_find_lr_plots_the_range_test_fills_stage_1_and_leaves_the_model_alone(small):
    lab = cfnb.Lab(small, stages=[(1e-3, 2), (1e-4, 1)], batch_size=64, background=False)
    model = lab.builder.build()
    before = weights(model)
    lab.fit.lr_button.click()
    assert lab.errors == [], lab.errors
    assert "<svg" in lab.fit.lr_plot.value and lab.fit.lr_plot.layout.display is None
    lr = lab.fit.stages[0][0]
    assert 1e-6 <= lr <= 1.0 and lab.fit.stages[1] == (1e-4, 1)
    assert f"Suggested learning rate {lr:.1e}" in lab.fit.message.value
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not lab.session.busy and not lab.fit.fit_button.disabled and len(lab.session.history) == 0
    lab.fit.run()
    assert lab.session.history.to_frame()["lr"].iloc[0] == pytest.approx(lr, rel=1e-6)
