"""The `cfnb bench` subcommand: its options (`add_parser`) and what runs for them (`main`)."""

from __future__ import annotations

import argparse
import os

from cfnb import backend
from cfnb.bench.ranking import ranking_main
from cfnb.bench.report import figures, machine, plot_scale, scale_figures, scale_table, table, write
from cfnb.bench.runs import bench, other_backend_rows
from cfnb.bench.scale import SCALE_SIZES, SVD_SAMPLE, scale, scale_one, svd_one


def _sizes(text: str) -> tuple[int, ...]:
    """"1e6,5e6" -> (1000000, 5000000)."""
    return tuple(int(float(v)) for v in text.split(",") if v.strip())


def main(args) -> int:
    """`cfnb bench` with parsed arguments (see `cfnb.cli`)."""
    log = lambda text: print(text, flush=True)  # noqa: E731
    if args.ranking:
        return ranking_main(args, machine(), log)
    if args.scale_one or args.scale_svd:  # one `--scale` size, in the subprocess `scale` starts
        return write([scale_one(args.scale_one, args.seed) if args.scale_one else svd_one(args.scale_svd, args.seed)],
                     args.json)
    info = machine()
    log(f"cfnb bench on {info['cpu']} ({info['cores']} cores), Keras {info['keras']} on {backend.name()}, "
        f"TensorFlow {info['tensorflow']}, JAX {info['jax']}; load {info['load_before']:.2f}")
    if args.scale:
        rows = scale(_sizes(args.scale_sizes), int(float(args.svd_sample)), seed=args.seed, log=log)
        lines, text = scale_figures(rows), scale_table(rows)
        if args.plot:
            plot_scale(rows, args.plot)
            log(f"plotted {args.plot}")
    else:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        rows = bench(args.data, args.seed, kinds, quick=args.quick, surprise=not args.no_surprise,
                     spread=args.spread, repeat=args.repeat, same_only=args.same_only, log=log)
        if backend.name() == "tensorflow" and not args.no_other_backend and not args.same_only:
            rows += other_backend_rows("jax", args, log)
        lines, text = figures(rows), table(rows)
    info["load_after"] = os.getloadavg()[0]
    for r in rows:
        r["machine"] = info
    log("\n" + text + "\n")
    for line in lines:
        log(line)
    log(f"load average {info['load_before']:.2f} before, {info['load_after']:.2f} after "
        "(the targets these figures are held against: docs/performance.md)")
    return write(rows, args.json)


def add_parser(sub) -> None:
    """Add the `bench` subcommand to an argparse subparsers object."""
    p = sub.add_parser("bench", help="time the lesson port, cfnb (same and best recipe) and Surprise SVD")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON to PATH")
    p.add_argument("--data", default="ml-latest-small", help="MovieLens set (default ml-latest-small)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of every fit (default 0)")
    p.add_argument("--kinds", default="dot,bias,nn", help="comma-separated kinds (default dot,bias,nn)")
    p.add_argument("--quick", action="store_true", help="tiny synthetic ratings and short stages (smoke test)")
    p.add_argument("--repeat", type=int, default=2, metavar="N",
                   help="rounds; each alternates the port and cfnb kind by kind, and a row reports its "
                        "fastest round (default 2)")
    p.add_argument("--spread", type=int, default=0, metavar="N",
                   help="also fit the same recipe with N other shuffle seeds (outside the timing) to show "
                        "how much its val RMSE moves with the batch order alone")
    p.add_argument("--no-surprise", action="store_true", help="skip the Surprise SVD rows")
    p.add_argument("--no-other-backend", action="store_true",
                   help="on TensorFlow, skip the JAX rows (a subprocess with KERAS_BACKEND=jax)")
    p.add_argument("--scale", action="store_true",
                   help="ratings/s of one epoch of the best recipe on planted synthetic data with MovieLens "
                        "25M's catalogue and 1M, 5M and 25M ratings, and of one Surprise SVD epoch on a 1M "
                        "sample, with each one's peak memory")
    p.add_argument("--scale-sizes", default=",".join(str(n) for n in SCALE_SIZES), metavar="N,N,...",
                   help="--scale: numbers of ratings (default 1M, 5M and 25M's 25,000,095)")
    p.add_argument("--svd-sample", default=str(SVD_SAMPLE), metavar="N",
                   help="--scale: ratings for the Surprise SVD epoch (default 1e6; 0 skips it)")
    p.add_argument("--ranking", action="store_true",
                   help="time cfnb.ranking_metrics (k=10) for a bias model and the ranking baselines instead")
    p.add_argument("--plot", metavar="PATH", help="--scale: save a plot of time against ratings to PATH")
    p.add_argument("--same-only", action="store_true", help=argparse.SUPPRESS)  # port and same rows only
    p.add_argument("--scale-one", type=int, default=0, help=argparse.SUPPRESS)  # scale's subprocesses
    p.add_argument("--scale-svd", type=int, default=0, help=argparse.SUPPRESS)
