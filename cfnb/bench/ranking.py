"""`cfnb bench --ranking`: how long `cfnb.ranking_metrics` (k=10) takes for a bias model fitted with the
best recipe, by its two paths (the embedding tables, and `model.predict` as for any other model), and
how long the two ranking baselines take."""

from __future__ import annotations

import os
import time

import numpy as np

from cfnb import backend
from cfnb.bench.common import load
from cfnb.bench.report import write
from cfnb.evaluation.baselines import ranking_baselines
from cfnb.evaluation.ranking import rank_scores, ranking_metrics
from cfnb.evaluation.scoring import model_scorer
from cfnb.models.record import summarize
from cfnb.training.recipes import BEST_RECIPE, fit_recipe


def ranking(data="ml-latest-small", seed=0, quick=False, repeats=5, log=print) -> list[dict]:
    """One row per path (and the baselines), timed alternately `repeats` times: every timing and the median."""
    ratings, train, val = load(data, seed, quick)
    log(f"{ratings!r}; train {len(train):,} / val {len(val):,} (seed {seed}); load {os.getloadavg()[0]:.2f}")
    model, _ = fit_recipe({**BEST_RECIPE, "kind": "bias"}, train, val, seed=seed)

    def by_predict():
        return rank_scores(model_scorer(model, summarize(train), tables=False), train, val, 10, 4.0)

    timings = {"ranking-tables": [], "ranking-predict": [], "ranking-baselines": []}
    results = {}
    for _ in range(repeats):
        for name, run in (("ranking-tables", lambda: ranking_metrics(model, train, val, k=10)),
                          ("ranking-predict", by_predict),
                          ("ranking-baselines", lambda: ranking_baselines(train, val, k=10))):
            start = time.perf_counter()
            results[name] = run()
            timings[name].append(time.perf_counter() - start)
    first = results["ranking-tables"]
    common = {"kind": "bias", "data": "synthetic" if quick else data, "seed": seed, "k": 10,
              "n_users": first["n_users"], "n_items": first["n_items"], "backend": backend.name()}
    rows = []
    for name, seconds in timings.items():
        ndcg = (list(results[name]["ndcg"]) if name == "ranking-baselines" else results[name]["ndcg"])
        rows.append({"name": name, "seconds": float(np.median(seconds)), "all_seconds": seconds, "ndcg": ndcg,
                     **common})
        log(f"  {name:<18} {np.median(seconds):7.2f} s median of {len(seconds)} "
            f"({min(seconds):.2f}..{max(seconds):.2f})  NDCG@10 {', '.join(f'{v:.4f}' for v in np.atleast_1d(ndcg))}")
    return rows


def ranking_main(args, info, log) -> int:
    """`cfnb bench --ranking`: the timings, the figures, and the JSON."""
    rows = ranking(args.data, args.seed, quick=args.quick, log=log)
    for r in rows:
        r["machine"] = info
    tables, predict, baselines = rows
    log(f"\nranking_metrics, k=10, {tables['n_users']:,} users x {tables['n_items']:,} items on {tables['data']}: "
        f"embedding tables {tables['seconds']:.2f} s (median; {max(tables['all_seconds']):.2f} s at worst), "
        f"model.predict {predict['seconds']:.2f} s, both baselines {baselines['seconds']:.2f} s")
    return write(rows, args.json)
