"""Command line: `cfnb demo` trains the lesson's three models; `cfnb bench` times them."""

from __future__ import annotations

import argparse
import sys
import time


def demo(data: str = "ml-latest-small", seed: int = 42, progress="terminal", use_synthetic: bool = False) -> list[dict]:
    """Train dot, bias and NN with the lesson's stages (and the bias model with cfnb's recommended
    recipe) and return one result row per model."""
    from . import LESSON_NN_STAGES, LESSON_STAGES, build_model, fit_stages, movielens, synthetic
    from .errors import DownloadError
    from .recipes import fit_recipe, recommended

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


def format_table(rows: list[dict]) -> str:
    """Rows of dicts as an aligned plain-text table."""
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}")


def main(argv=None) -> int:
    """Entry point of the `cfnb` command."""
    parser = argparse.ArgumentParser(prog="cfnb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train the lesson's dot, bias and NN models and print a table")
    p_demo.add_argument("--data", default="ml-latest-small", help="MovieLens set (default ml-latest-small)")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--synthetic", action="store_true", help="offline demo on synthetic ratings")
    from .bench import add_parser as add_bench_parser
    add_bench_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench import main as bench_main
        return bench_main(args)
    if args.command == "demo":
        rows = demo(args.data, args.seed, use_synthetic=args.synthetic)
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
