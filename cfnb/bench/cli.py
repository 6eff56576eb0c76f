"""The `cfnb bench` subcommand: its options (`add_parser`) and what runs for them (`main`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cfnb import backend
from cfnb.bench.ranking import ranking_main
from cfnb.bench.report import figures, machine, plot_scale, scale_figures, scale_table, table, write
from cfnb.bench.runs import bench, other_backend_rows
from cfnb.bench.scale import SCALE_SIZES, SVD_SAMPLE, scale, scale_one, svd_one

BENCH_KINDS = ("dot", "bias", "nn")  # the kinds the lesson port builds


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose error is one line (`cfnb bench: error: ...`) and exit status 2, no usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def whole(minimum: int, maximum: int | None = None):
    """An argparse type: a whole number (`1e6` too) of at least `minimum` (and at most `maximum`)."""
    def parse(text: str) -> int:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not value.is_integer() or value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bounds}, got {text!r}")
        return int(value)
    return parse


SEED = whole(0, 2**32 - 1)


def dataset(text: str) -> str:
    """An argparse type: the name of a MovieLens set cfnb knows."""
    from cfnb.data.movielens import SETS

    if text not in SETS:
        raise argparse.ArgumentTypeError(f"unknown MovieLens set {text!r}: expected one of {', '.join(SETS)}")
    return text


def kinds(text: str) -> str:
    """An argparse type: comma-separated kinds of `BENCH_KINDS`, at least one."""
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in BENCH_KINDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated kinds of {', '.join(BENCH_KINDS)}, got {text!r}")
    return ",".join(names)


def sizes(text: str) -> str:
    """An argparse type: comma-separated numbers of ratings, each at least 1 ("1e6,5e6")."""
    for part in text.split(","):
        whole(1)(part)
    return text


def output_file(text: str) -> str:
    """An argparse type: a file that can be written (its folder exists; it is not a folder)."""
    path = Path(text).expanduser()
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder: expected a file name to write to")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {path}: {folder} "
                                         f"{'is a file' if folder.exists() else 'does not exist'}, not a folder")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {path}: the folder {folder} is not writable")
    return text


def _sizes(text: str) -> tuple[int, ...]:
    """"1e6,5e6" -> (1000000, 5000000)."""
    return tuple(whole(1)(v) for v in text.split(","))


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
        rows = scale(_sizes(args.scale_sizes), args.svd_sample, seed=args.seed, log=log)
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
    p.add_argument("--json", metavar="PATH", type=output_file, help="write the rows as JSON to PATH")
    p.add_argument("--data", default="ml-latest-small", type=dataset, help="MovieLens set (default ml-latest-small)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the split and of every fit (default 0)")
    p.add_argument("--kinds", default="dot,bias,nn", type=kinds, help="comma-separated kinds (default dot,bias,nn)")
    p.add_argument("--quick", action="store_true", help="tiny synthetic ratings and short stages (smoke test)")
    p.add_argument("--repeat", type=whole(1), default=2, metavar="N",
                   help="rounds; each alternates the port and cfnb kind by kind, and a row reports its "
                        "fastest round (default 2)")
    p.add_argument("--spread", type=whole(0), default=0, metavar="N",
                   help="also fit the same recipe with N other shuffle seeds (outside the timing) to show "
                        "how much its val RMSE moves with the batch order alone")
    p.add_argument("--no-surprise", action="store_true", help="skip the Surprise SVD rows")
    p.add_argument("--no-other-backend", action="store_true",
                   help="on TensorFlow, skip the JAX rows (a subprocess with KERAS_BACKEND=jax)")
    p.add_argument("--scale", action="store_true",
                   help="ratings/s of one epoch of the best recipe on planted synthetic data with MovieLens "
                        "25M's catalogue and 1M, 5M and 25M ratings, and of one Surprise SVD epoch on a 1M "
                        "sample, with each one's peak memory")
    p.add_argument("--scale-sizes", default=",".join(str(n) for n in SCALE_SIZES), type=sizes, metavar="N,N,...",
                   help="--scale: numbers of ratings (default 1M, 5M and 25M's 25,000,095)")
    p.add_argument("--svd-sample", default=SVD_SAMPLE, type=whole(0), metavar="N",
                   help="--scale: ratings for the Surprise SVD epoch (default 1e6; 0 skips it)")
    p.add_argument("--ranking", action="store_true",
                   help="time cfnb.ranking_metrics (k=10) for a bias model and the ranking baselines instead")
    p.add_argument("--plot", metavar="PATH", type=output_file, help="--scale: save a plot of time against ratings to PATH")
    p.add_argument("--same-only", action="store_true", help=argparse.SUPPRESS)  # port and same rows only
    p.add_argument("--scale-one", type=whole(0), default=0, help=argparse.SUPPRESS)  # scale's subprocesses
    p.add_argument("--scale-svd", type=whole(0), default=0, help=argparse.SUPPRESS)
