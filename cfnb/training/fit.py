"""Staged fits: train a model in stages of (learning rate, epochs), one history across stages."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import threading
import warnings
import weakref
from dataclasses import dataclass

import keras

from cfnb import backend, checks, quiet
from cfnb.data.ratings import Ratings
from cfnb.errors import ArgumentError, ArgumentTypeError, CallbackError, CfnbError, DataWarning
from cfnb.models import record
from cfnb.models.parts import check_optimizer
from cfnb.names import ITEM, USER
from cfnb.training import distributed, implicit
from cfnb.training.callbacks import Checkpoint, Recorder, StopWhen, ctrl_c_stops, guarded
from cfnb.training.callbacks import current_lr  # noqa: F401  (its 0.1.0 home)
from cfnb.training.engines import engine_for, unsupported
from cfnb.training.progress import make_progress
from cfnb.training.stages import EngineRun, StagedHistory, parse_stages


def make_optimizer(optimizer="adam", lr: float = 1e-3) -> keras.optimizers.Optimizer:
    """A new Keras optimizer at learning rate `lr`.

    Args:
        optimizer: a Keras name ("adam", "adagrad", ...), a Keras config dict (e.g.
            `{"class_name": "Adagrad", "config": {"initial_accumulator_value": 0.0}}`, as a recipe
            holds it), or a Keras optimizer (used as it is).
        lr: its learning rate (not for an optimizer given as an object).
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, (str, dict)):
        raise ArgumentTypeError(f"optimizer must be a name such as 'adam' or 'adagrad', a Keras optimizer config "
                                f"dict or a keras.optimizers.Optimizer, got {type(optimizer).__name__}.")
    try:
        made = keras.optimizers.get(copy.deepcopy(optimizer))  # Keras rewrites a config dict in place
    except (ValueError, TypeError, KeyError) as error:
        raise ArgumentError(f"optimizer {optimizer!r} is not a Keras optimizer ({error}); use a name such as "
                            "'adam' or 'adagrad', or a config dict like {'class_name': 'Adagrad', 'config': {...}}."
                            ) from None
    made.learning_rate = float(lr)
    return made


def compile_model(model: keras.Model, lr: float = 1e-3, optimizer=None, loss: str = "mse",
                  **compile_kwargs) -> keras.Model:
    """Compile with the lesson's choices: Adam (or `optimizer`, anything `make_optimizer` takes),
    mean squared error, and an RMSE metric (with loss="bce": the logistic loss on the raw scores,
    for implicit feedback, see `cfnb.implicit`)."""
    optimizer = make_optimizer("adam" if optimizer is None else optimizer, lr)
    if loss == "bce":
        return implicit.compile_bce(model, optimizer, **compile_kwargs)
    model.compile(optimizer=optimizer, loss="mse", metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
                  **compile_kwargs)
    return model


def _check_optimizer(model, optimizer):
    """Check `fit_stages`' optimizer (made again, inside any strategy's scope, when it compiles);
    refuse one that differs from the optimizer a compiled model already trains with."""
    if optimizer is None:
        return None
    made = make_optimizer(optimizer)
    current = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    if current is not None and type(current) is not type(made):
        raise CfnbError(f"The model is compiled with {type(current).__name__}, not {type(made).__name__}: fit_stages "
                        f"keeps a compiled model's optimizer and its state. Leave optimizer= out to go on with "
                        f"{type(current).__name__}, or compile it again first with "
                        f"cfnb.training.compile_model(model, optimizer=...) (which starts the optimizer afresh).")
    return optimizer


def fit_stages(model: keras.Model, train: Ratings, val: Ratings | None = None, stages=None,
               batch_size: int = 64, progress="auto", callbacks=(), history: StagedHistory | None = None,
               stop: threading.Event | None = None, seed: int | None = None, engine: str = "auto",
               update: str = "exact", strategy=None, distribution=None, loss: str = "mse",
               negatives: int = 4, optimizer=None) -> StagedHistory:
    """Fit `model` in stages, each at its own learning rate, returning one history across stages.

    Args:
        model: a Keras model with inputs `user_in` and `movie_in` (compiled with `optimizer` and MSE
            if not compiled yet).
        train, val: `Ratings` to fit on and to validate on after each epoch, in one id vocabulary (a
            split of one set, or val coded with `train.encode(...)`). The model is bound to the
            vocabulary of the first set it is trained on; a set coded in another is refused. Val
            ratings of ids new to the vocabulary are left out of the per-epoch `val_rmse` (with a
            warning); `cfnb.evaluate` scores them with the cold-start fallback.
        stages: `(learning rate, epochs)` pairs, run in order; the rate is set on the optimizer so
            that it really takes effect. None (default): `LESSON_STAGES`, or when continuing a
            `history`, the stages it planned and has not run yet.
        batch_size: ratings per gradient step.
        progress: "auto" (live bar and plot in a notebook, a plain line in a terminal), "notebook",
            "terminal", or False.
        callbacks: extra Keras callbacks.
        history: a history to continue on the same model: its epochs and stages count on, and
            without `stages` the fit runs what it had left (see `StagedHistory.plan`).
        stop: a `threading.Event`; once set, training ends after the current batch.
        seed: if given, seeds shuffling and dropout for a reproducible fit.
        engine: "fast" (`cfnb.training.engines`: many steps per compiled call, the same Adam or Adagrad
            maths as Keras; on TensorFlow and JAX), "keras" (`model.fit`), or "auto" (default): fast for
            models it supports (cfnb's, on TensorFlow or JAX, no strategy or distribution), Keras
            otherwise; under a `strategy`, cfnb's strategy loop (`cfnb.training.distributed`).
        update: with the fast engine, "exact" (Keras's dense optimizer step and l2, default) or
            "lazy" (only the rows in each batch; the best recipe's choice, see `cfnb.recipes`).
        strategy: a `tf.distribute.Strategy` to train under (TensorFlow; build the model inside its
            `scope()`), e.g. `MultiWorkerMirroredStrategy` on every worker of a cluster or
            `MirroredStrategy` over one machine's devices. cfnb's models train in
            `cfnb.training.engines.strategy.StrategyLoop` (each global batch split across the replicas, the same maths
            and batch order as one process; Stop and Ctrl-C on any worker stop them all); other models,
            or `engine="keras"`, go through `model.fit`.
        distribution: a `keras.distribution` (JAX: `DataParallel`, or `ModelParallel` e.g. from
            `cfnb.training.distributed.item_sharding`) to train under (build the model inside its `scope()`);
            None uses the global one (`keras.distribution.set_distribution`), if any. Training then goes
            through Keras's `model.fit`. See the README's "Beyond one machine".
        loss: "mse" (ratings, the lesson) or "bce" (implicit feedback: every row of `train` and `val`
            is an interaction, and each epoch adds `negatives` freshly sampled non-interactions per
            interaction, with the logistic loss on the model's raw score; through Keras's `model.fit` on any backend; not under a strategy or distribution). See
            `cfnb.implicit` for the sampling, the seeds and what the history's columns mean then.
        negatives: with loss="bce", sampled negatives per interaction (He et al. used 4).
        optimizer: what to compile an uncompiled model with (anything `make_optimizer` takes: "adam",
            "adagrad", a Keras config dict...); None: Adam, as the lesson. The fast engines run Keras's
            Adam and Adagrad; a compiled model keeps its own optimizer (another one is refused).

    After the fit, the model records what it was trained on (`cfnb.trained_on(model)`: the users and
    movies with training ratings, the mean, the scale), which `predict`, `recommend` and `evaluate`
    use for cold ids.

    Returns:
        A `StagedHistory`, with `interrupted = True` if the fit was stopped; pass it as `history=` to
        continue. `stop`, and a first Ctrl-C, end the current epoch early after the current batch,
        validate, and record that (shorter) epoch. A KeyboardInterrupt raised anyway (a second
        Ctrl-C, or one from a callback) stops the fit wherever it is: the model gets back its weights
        and optimizer state from the end of the last epoch in the history. An error raised by one of
        `callbacks` ends the fit the same way, then raises a `cfnb.errors.CallbackError` naming the
        callback and its hook, whose `.history` is the fit so far.
    """
    stages = None if stages is None else parse_stages(stages)
    train, val = _check_fit_arguments(model, train, val, callbacks, history, stop, progress)
    options = FitOptions.checked(model, train, batch_size=batch_size, progress=progress, callbacks=callbacks,
                                 stop=stop, seed=seed, engine=engine, update=update, strategy=strategy,
                                 distribution=distribution, loss=loss, negatives=negatives, optimizer=optimizer)
    with _fitting(model), quiet.first_fit():  # quiet: TensorFlow imported before cfnb (cfnb.quiet)
        return _fit_stages(model, train, val, stages, history, options)


@dataclass(frozen=True)
class FitOptions:
    """How `fit_stages` trains, checked once: everything but the model, the data, the stages and the history."""

    batch_size: int = 64
    progress: object = "auto"
    callbacks: tuple = ()
    stop: threading.Event | None = None
    seed: int | None = None
    engine: str = "auto"
    update: str = "exact"
    strategy: object = None
    distribution: object = None
    loss: str = "mse"
    negatives: int = 4
    optimizer: object = None

    @classmethod
    def checked(cls, model, train, **given) -> FitOptions:
        """The options of a `fit_stages` call on `model` and `train`, each checked (a CfnbError naming it)."""
        o = cls(**given)
        checks.one_of("engine", o.engine, ("auto", "fast", "keras"))
        checks.one_of("update", o.update, ("exact", "lazy"))
        checks.one_of("loss", o.loss, implicit.LOSSES)
        strategy, distribution = distributed.check(model, o.strategy, o.distribution)
        negatives = checks.whole("negatives", o.negatives)
        _check_optimizer(model, o.optimizer)
        if o.loss == "bce" and (strategy is not None or distribution is not None):
            raise CfnbError("loss='bce' trains through model.fit on one process: it does not run under a strategy "
                            "or distribution yet. Leave strategy= and distribution= out for implicit feedback.")
        rows = len(train) * (1 + negatives if o.loss == "bce" else 1)
        batch_size = min(checks.whole("batch_size", o.batch_size), max(rows, 1))  # a batch over the epoch is the epoch
        callbacks = guarded(o.callbacks if isinstance(o.callbacks, (list, tuple)) else (o.callbacks,))
        return dataclasses.replace(o, batch_size=batch_size, seed=checks.seed("seed", o.seed), strategy=strategy,
                                   distribution=distribution, negatives=negatives, callbacks=callbacks)


def _check_fit_arguments(model, train, val, callbacks, history, stop, progress):
    """Every argument of `fit_stages` that is not a number, checked before anything changes."""
    checks.instance("model", model, keras.Model, "a Keras model (e.g. from cfnb.build_model)")
    hint = (" Load a DataFrame with cfnb.load_ratings(frame) (and code a second set in the first one's "
            "vocabulary with train.encode(frame)).")
    checks.instance("train", train, Ratings, "a cfnb Ratings", hint)
    if val is not None:
        checks.instance("val", val, Ratings, "a cfnb Ratings or None", hint)
    if len(train) == 0:
        raise CfnbError("The training set is empty: nothing to fit.")
    for k, callback in enumerate(callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]):
        checks.instance(f"callbacks[{k}]", callback, keras.callbacks.Callback,
                        "a keras.callbacks.Callback (e.g. keras.callbacks.LambdaCallback(on_epoch_end=...))")
    if history is not None:
        checks.instance("history", history, StagedHistory, "a StagedHistory from an earlier fit_stages call")
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise ArgumentTypeError(f"stop must be a threading.Event (or None), got {type(stop).__name__}.")
    if progress not in (None, False):
        checks.one_of("progress", progress, ("auto", "notebook", "terminal", False))
    record.check(model, train, "train")
    record.check_codes_fit(model, train, "train")
    if record.bound(model) is None:
        record.bind(model, train)
    if val is not None:
        record.check(model, val, "val")
        val = _within_tables(model, val)
    return train, val


def _within_tables(model, val: Ratings) -> Ratings:
    """`val` without the ratings whose user or movie has no embedding row (new ids), with a warning."""
    rows = record.table_sizes(model)
    if rows[0] is None or rows[1] is None:
        return val
    f = val.frame
    inside = (f[USER].to_numpy() < rows[0]) & (f[ITEM].to_numpy() < rows[1])
    if inside.all():
        return val
    warnings.warn(f"val ({val.name!r}) has {int((~inside).sum()):,} ratings of users or movies new to the model's "
                  "vocabulary: the per-epoch val_rmse leaves them out; cfnb.evaluate(model, val) includes them, "
                  "predicted with the cold-start fallback.", DataWarning, stacklevel=4)
    return val.with_frame(f[inside])


_FITTING: weakref.WeakSet = weakref.WeakSet()
_FITTING_LOCK = threading.Lock()


@contextlib.contextmanager
def _fitting(model):
    """Refuse a second fit of one model while a first runs (another thread, e.g. a widget's fit)."""
    with _FITTING_LOCK:
        if model in _FITTING:
            raise CfnbError(f"The model {model.name!r} is already being fitted (by another fit_stages call, e.g. a "
                            "widget's background fit): wait for it to end or stop it first.")
        _FITTING.add(model)
    try:
        yield
    finally:
        with _FITTING_LOCK:
            _FITTING.discard(model)


def _fit_stages(model, train, val, stages, history, o: FitOptions):
    history = history if history is not None else StagedHistory()
    plan = history.plan(stages)
    history.interrupted = False
    first_row = len(history.rows)
    checkpoint = bar = runner = None
    try:  # from here on, Ctrl-C anywhere returns the history instead of escaping
        if o.seed is not None:
            backend.set_random_seed(int(o.seed))  # keras.utils.set_random_seed, without TensorFlow on JAX
        with distributed.scope(o.strategy, o.distribution):  # optimizer variables laid out like the model's
            if not getattr(model, "compiled", False) or model.optimizer is None:
                compile_model(model, plan[0][1].lr, optimizer=o.optimizer, loss=o.loss)
            if not model.optimizer.built:  # so the checkpoint below holds the optimizer's slots too
                model.optimizer.build(model.trainable_variables)
        checkpoint = Checkpoint(model, history)  # its copy of the slots serves the check below too
        check_optimizer(model, checkpoint.slots)  # NaN or negative slots: refused now, not after an epoch of NaN
        if o.loss == "bce":  # sampled negatives each epoch (cfnb.implicit)
            runner, steps, validation = implicit.bce_runner(model, o.engine, train, val, o.negatives, o.batch_size,
                                                            o.seed, len(history.rows))
            history.engine = EngineRun("keras", backend.name(), "loss='bce' samples negatives each epoch through "
                                       "model.fit (the fast engines have only the mean squared error)", "keras model.fit")
        else:
            implicit.check_loss(model, o.loss)
            runner, history.engine = _runner(model, o)
            steps = math.ceil(len(train) / o.batch_size)
            validation = (val.x, val.y) if val is not None and len(val) else None
        bar = make_progress(o.progress, history, total_epochs=sum(s.epochs for _, s in plan), steps_per_epoch=steps)
        extra = [bar] if bar is not None else []
        ctrl_c = threading.Event()
        extra.append(StopWhen(ctrl_c, *([o.stop] if o.stop is not None else [])))
        train_x, train_y = train.x, train.y
        with ctrl_c_stops(ctrl_c), distributed.scope(distribution=o.distribution):
            for number, stage in plan:
                model.optimizer.learning_rate = stage.lr
                done = history.rows[-1]["epoch"] if history.rows else 0
                recorder = Recorder(history, number, done)
                stopped = runner(train_x, train_y, epochs=stage.epochs, validation_data=validation,
                                 callbacks=[recorder, checkpoint, *extra, *o.callbacks])
                if stopped is None:  # only the strategy loop answers, the same on every worker
                    stopped = model.stop_training or ctrl_c.is_set() or (o.stop is not None and o.stop.is_set())
                if stopped:
                    history.interrupted = True
                    break
    except (KeyboardInterrupt, CallbackError) as error:  # Ctrl-C, or a bug in the learner's callback
        history.interrupted = True
        if checkpoint is not None:
            checkpoint.restore()  # weights and optimizer back to the end of the last recorded epoch
        if isinstance(error, CallbackError):
            error.history = history
            raise
    finally:
        if bar is not None:
            bar.close()
        getattr(runner, "release", lambda: None)()  # the fast engine's copy of the training data
        if len(history.rows) > first_row:
            record.record_training(model, train if o.loss == "mse" else implicit.as_trained(train),
                                   engine=history.engine.to_json() if history.engine else None)
    return history


def _runner(model, o: FitOptions):
    """`run(x, y, epochs, validation_data, callbacks)` for the engine asked for, and what it is (`EngineRun`)."""
    here = backend.name()
    run, name = distributed.runner(model, o.engine, o.strategy, o.distribution, o.batch_size, o.seed)
    if run is not None:
        reason = ("a tf.distribute strategy was given: cfnb's strategy loop splits each batch over the replicas"
                  if name == "strategy" else "a keras.distribution is in effect: Keras's model.fit, each batch "
                  "split over the devices")
        return run, EngineRun(name, here, reason, "cfnb strategy loop" if name == "strategy" else "keras model.fit")
    why = distributed.why_not_fast(o.strategy, o.distribution) or unsupported(model)
    if o.engine == "fast" and why:
        raise CfnbError(f"engine='fast' cannot train this model: {why}. Use engine='keras' or 'auto'.")
    if o.engine == "keras" or why:
        def run(x, y, epochs, validation_data, callbacks):
            model.fit(x, y, batch_size=o.batch_size, epochs=epochs, validation_data=validation_data,
                      verbose=0, shuffle=True, callbacks=callbacks)
        reason = "engine='keras' was asked for" if o.engine == "keras" else f"the fast engine cannot train it: {why}"
        return run, EngineRun("keras", here, reason, "keras model.fit")
    fast = engine_for(model, o.batch_size, update=o.update, seed=o.seed)

    def run(x, y, epochs, validation_data, callbacks):
        fast.fit(x, y, epochs=epochs, validation_data=validation_data, callbacks=callbacks)
    run.release = fast.release
    reason = "engine='fast' was asked for" if o.engine == "fast" else "engine='auto': the fast engine trains this model"
    return run, EngineRun("fast", here, reason, fast.label)
