"""Command line: `cfnb demo` trains the lesson's three models; `cfnb bench` times them; `cfnb lessons`
copies the lesson notebooks into a folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cfnb.errors import CfnbError


def demo(data: str = "ml-latest-small", seed: int = 42, progress="terminal", use_synthetic: bool = False) -> list[dict]:
    """Train dot, bias and NN with the lesson's stages (and the bias model with cfnb's recommended
    recipe) and return one result row per model."""
    from cfnb import (
        LESSON_NN_STAGES,
        LESSON_STAGES,
        build_model,
        fit_stages,
        movielens,
        synthetic,
    )
    from cfnb.errors import DownloadError
    from cfnb.training.recipes import fit_recipe, recommended

    ratings = None
    if not use_synthetic:
        try:
            ratings = movielens(data)
        except DownloadError as e:
            print(f"NOTICE: real MovieLens data unavailable ({e})", file=sys.stderr)
    if ratings is None:
        print("NOTICE: using SYNTHETIC ratings (planted factors and biases); the figures below are not "
              "MovieLens results.", file=sys.stderr)
        ratings = synthetic(n_users=600, n_items=2000, n_ratings=100_000, seed=seed)
    train, val = ratings.split(val_frac=0.2, seed=seed)
    print(f"{ratings!r}\ntrain {len(train):,} / val {len(val):,} (seed {seed})", flush=True)
    rows = []
    for kind in ("dot", "bias", "nn"):
        start = time.perf_counter()
        model = build_model(kind, ratings.n_users, ratings.n_items, seed=seed)
        stages = LESSON_NN_STAGES if kind == "nn" else LESSON_STAGES
        history = fit_stages(model, train, val, stages=stages, batch_size=64, progress=progress, seed=seed)
        rows.append({"model": kind, "recipe": "lesson", "parameters": model.count_params(),
                     "val_rmse": history.val_rmse, "fit_seconds": time.perf_counter() - start})
    start = time.perf_counter()
    model, history = fit_recipe(recommended("bias"), train, val, seed=seed, progress=progress)
    rows.append({"model": "bias", "recipe": "cfnb.BEST_RECIPE", "parameters": model.count_params(),
                 "val_rmse": history.val_rmse, "fit_seconds": time.perf_counter() - start})
    return rows


def lesson_notebooks() -> list:
    """The lesson notebooks shipped with cfnb, in order: `cfnb/lessons/*.ipynb` of an installed
    package, else (a source checkout) `notebooks/*.ipynb` beside the package."""
    from importlib.resources import files

    from cfnb.errors import CfnbError

    packaged = files("cfnb") / "lessons"
    if packaged.is_dir():
        found = [f for f in packaged.iterdir() if f.name.endswith(".ipynb")]
    else:
        source = Path(__file__).resolve().parent.parent / "notebooks"
        found = list(source.glob("*.ipynb")) if source.is_dir() else []
    if not found:
        raise CfnbError("This cfnb installation has no lesson notebooks (cfnb/lessons/ is missing): reinstall cfnb "
                        "from its wheel, or take them from the notebooks/ folder of the source.")
    return sorted(found, key=lambda f: f.name)


def copy_lessons(folder=".", force: bool = False, log=print) -> dict[str, list[str]]:
    """Copy the lesson notebooks into `folder` (made if needed), keeping a learner's edited copies.

    Args:
        folder: where to put them (the current folder by default).
        force: overwrite notebooks that differ from the shipped ones (edited copies) too.
        log: called with one line per notebook.

    Returns:
        `{"copied": [...], "unchanged": [...], "kept": [...]}` (file names): copied (new, or replaced
        with `force`), already identical, and edited copies left as they were.
    """
    from cfnb import checks
    from cfnb.errors import CfnbError

    target = Path(checks.path("folder", folder))
    if target.exists() and not target.is_dir():
        raise CfnbError(f"{target} is a file: cfnb lessons needs a folder to copy the notebooks into.")
    target.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {"copied": [], "unchanged": [], "kept": []}
    for notebook in lesson_notebooks():
        data, there = notebook.read_bytes(), target / notebook.name
        if there.exists() and there.read_bytes() == data:
            done["unchanged"].append(notebook.name)
            log(f"  up to date   {there}")
        elif there.exists() and not force:
            done["kept"].append(notebook.name)
            log(f"  kept         {there} (it differs from the shipped lesson: your edits? --force overwrites it)")
        else:
            replaced = there.exists()
            there.write_bytes(data)
            done["copied"].append(notebook.name)
            log(f"  {'overwritten' if replaced else 'copied':<12} {there}")
    return done


def format_table(rows: list[dict]) -> str:
    """Rows of dicts as an aligned plain-text table."""
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}")


def main(argv=None) -> int:
    """Entry point of the `cfnb` command."""
    from cfnb.bench import add_parser as add_bench_parser
    from cfnb.bench.cli import SEED, Parser, dataset

    parser = Parser(prog="cfnb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train the lesson's dot, bias and NN models and print a table")
    p_demo.add_argument("--data", default="ml-latest-small", type=dataset,
                        help="MovieLens set (default ml-latest-small)")
    p_demo.add_argument("--seed", type=SEED, default=42)
    p_demo.add_argument("--synthetic", action="store_true", help="offline demo on synthetic ratings")
    add_bench_parser(sub)
    p_lessons = sub.add_parser("lessons", help="copy the lesson notebooks into a folder (the current one by "
                                                "default), keeping copies you edited")
    p_lessons.add_argument("folder", nargs="?", default=".", help="where to copy them (default: here)")
    p_lessons.add_argument("--force", action="store_true", help="overwrite edited copies too")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (CfnbError, OSError) as e:  # the user's data, folders or environment: one line, as argparse's errors
        text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename and e.strerror else str(e)
        print(f"cfnb {args.command}: error: {' '.join(text.split())}", file=sys.stderr)
        return 2


def _run(args) -> int:
    """The parsed command."""
    if args.command == "lessons":
        done = copy_lessons(args.folder, force=args.force)
        print(f"{len(done['copied'])} copied, {len(done['unchanged'])} already up to date, {len(done['kept'])} "
              f"kept as you left them{' (pass --force to overwrite them)' if done['kept'] else ''}. Open them "
              "with: jupyter lab " + str(Path(args.folder)))
        return 0
    if args.command == "bench":
        from cfnb.bench import main as bench_main
        return bench_main(args)
    if args.command == "demo":
        rows = demo(args.data, args.seed, use_synthetic=args.synthetic)
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
