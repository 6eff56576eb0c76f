"""How the bench shows what it measured: machine info, plain-text tables, the figures that
docs/performance.md holds against the issue's targets, the JSON file and the `--scale` plot."""

from __future__ import annotations

import json
import math
import os
import platform
from importlib import metadata

import numpy as np


def machine() -> dict:
    """A short description of where the benchmark ran (no TensorFlow import on JAX)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in ("keras", "tensorflow", "jax", "scikit-surprise"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), **versions,
            "load_before": os.getloadavg()[0]}


def ratio_range(row, other) -> list[float]:
    """[min, max] over rounds of `row`'s time over `other`'s."""
    ratios = [a / b for a, b in zip(row.get("fit_seconds_all", [row["fit_seconds"]]),
                                    other.get("fit_seconds_all", [other["fit_seconds"]]))]
    return [min(ratios), max(ratios)]


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table."""
    head = (f"{'name':<19} {'kind':<5} {'backend':<10} {'fit s (min)':>11} {'val RMSE':>9} {'speedup':>8} "
            f"{'rounds':>12}  engine")
    lines = [head, "-" * len(head)]
    for r in rows:
        rmse = "" if r.get("val_rmse") is None else f"{r['val_rmse']:.4f}"
        speed = "" if r.get("speedup") is None else f"{r['speedup']:.1f}x"
        low_high = r.get("speedup_range")
        rounds = f"{low_high[0]:.1f}..{low_high[1]:.1f}x" if low_high else ""
        lines.append(f"{r['name']:<19} {r['kind']:<5} {r.get('backend', ''):<10} {r['fit_seconds']:11.2f} {rmse:>9} "
                     f"{speed:>8} {rounds:>12}  {r.get('engine', '')}")
    return "\n".join(lines)


def figures(rows: list[dict]) -> list[str]:
    """One line per comparison, backend by backend: same recipe against the port, best against Surprise SVD."""
    by = {(r["name"], r["kind"], r["backend"]): r for r in rows}
    svd = next((r for r in rows if r["name"] == "surprise-svd"), None)  # Surprise has no backend: one row
    tuned = next((r for r in rows if r["name"] == "surprise-svd-tuned"), None)
    out = []
    for backend_name in dict.fromkeys(r["backend"] for r in rows):
        for kind in ("dot", "bias", "nn"):
            port, same = by.get(("lesson-port", kind, backend_name)), by.get(("cfnb-same", kind, backend_name))
            if port and same:
                out.append(_same_figures(port, same))
        best = by.get(("cfnb-best", "bias", backend_name))
        if best and svd:
            low, high = ratio_range(best, svd)
            line = (f"best recipe on {backend_name}: {best['fit_seconds']:.2f} s = "
                    f"{best['fit_seconds'] / svd['fit_seconds']:.2f}x Surprise SVD's {svd['fit_seconds']:.2f} s "
                    f"(rounds {low:.2f}..{high:.2f}x); RMSE {best['val_rmse']:.4f} vs SVD {svd['val_rmse']:.4f}")
            out.append(line + (f", tuned SVD {tuned['val_rmse']:.4f}" if tuned else ""))
    return out


def _same_figures(port, same) -> str:
    """Same recipe against the port, one kind on one backend: time ratio, rounds, RMSE gap, spread."""
    low, high = same.get("speedup_range") or (same["speedup"], same["speedup"])
    line = (f"same recipe {same['kind']} on {same['backend']}: {same['speedup']:.1f}x faster than the port "
            f"(min over min; rounds {low:.1f}..{high:.1f}x), RMSE {same['val_rmse']:.4f} vs {port['val_rmse']:.4f} "
            f"({same['val_rmse'] - port['val_rmse']:+.4f})")
    others = same.get("val_rmse_other_shuffles")
    if others:
        spread = [same["val_rmse"], *others]
        line += (f"; same recipe over {len(spread)} shuffles {min(spread):.4f}..{max(spread):.4f}, "
                 f"{'port inside' if min(spread) <= port['val_rmse'] <= max(spread) else 'port outside'}")
    if same.get("val_rmse_keras_order") is not None:
        line += (f"; with model.fit's seeded order (one permutation reused): "
                 f"{same['val_rmse_keras_order']:.4f} ({same['val_rmse_keras_order'] - port['val_rmse']:+.4f})")
    return line


def scale_table(rows: list[dict]) -> str:
    """`--scale` rows as a plain-text table."""
    head = (f"{'name':<19} {'ratings':>11} {'first epoch s':>13} {'warm epoch s':>12} {'M ratings/s':>11} "
            f"{'us/rating':>9} {'peak GB':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<19} {r['n_ratings']:>11,} {r['fit_seconds']:13.2f} {r['epoch_seconds']:12.2f} "
                     f"{r['ratings_per_s'] / 1e6:11.2f} {1e6 / r['ratings_per_s']:9.2f} {r['peak_rss_gb']:8.2f}")
    return "\n".join(lines)


def scale_figures(rows: list[dict]) -> list[str]:
    """The `--scale` comparisons: ratings/s over Surprise SVD's, and microseconds per rating by size."""
    cfnb_rows = sorted((r for r in rows if r["name"] == "cfnb-best-scale"), key=lambda r: r["n_ratings"])
    out = []
    svd = next((r for r in rows if r["name"] == "surprise-svd-scale"), None)
    best = next((r for r in cfnb_rows if svd and r["n_ratings"] == svd["n_ratings"]), None)
    if best:
        out.append(f"best recipe ratings/s over Surprise SVD's on {svd['n_ratings']:,} ratings: "
                   f"{best['ratings_per_s'] / svd['ratings_per_s']:.2f}x ({best['ratings_per_s'] / 1e6:.2f}M vs "
                   f"{svd['ratings_per_s'] / 1e6:.2f}M ratings/s)")
    if cfnb_rows:
        out.append("best recipe, warm epoch, us per rating: " + ", ".join(
            f"{r['n_ratings'] / 1e6:g}M: {1e6 / r['ratings_per_s']:.2f} us" for r in cfnb_rows))
    return out


def plot_scale(rows: list[dict], path: str) -> None:
    """Save to `path` a plot of `--scale`'s epoch times against ratings, with a line fitted to the warm ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfnb_rows = sorted((r for r in rows if r["name"] == "cfnb-best-scale"), key=lambda r: r["n_ratings"])
    n = np.array([r["n_ratings"] for r in cfnb_rows]) / 1e6
    warm = np.array([r["epoch_seconds"] for r in cfnb_rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [r["fit_seconds"] for r in cfnb_rows], "o--", label="cfnb best recipe, first epoch (build + compile)")
    ax.plot(n, warm, "o-", label="cfnb best recipe, warm epoch")
    slope = float(n @ warm / (n @ n))  # least squares through the origin
    grid = np.linspace(0, n.max(), 50)
    ax.plot(grid, slope * grid, ":", color="grey", label=f"linear fit: {slope:.2f} s per 1M ratings")
    for r in rows:
        if r["name"] == "surprise-svd-scale":
            ax.plot(r["n_ratings"] / 1e6, r["epoch_seconds"], "s", label="Surprise SVD, one epoch")
    ax.set(xlabel="ratings (millions)", ylabel="seconds", title="One epoch against ratings (2-core CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(rows, path) -> int:
    """Write `rows` as JSON to `path` (if given; NaN as null); 0, the command's exit status."""
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v))
        print(f"wrote {path}", flush=True)
    return 0
