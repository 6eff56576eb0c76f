"""Smoke test of `cfnb bench`: tiny synthetic ratings, every row and key, the table and the JSON."""

import json

import numpy as np
import pytest

import cfnb

from cfnb import bench
from cfnb.cli import main

pytestmark = pytest.mark.backend(
    "tensorflow", reason="cfnb bench's rows run the TensorFlow fast engine (JAX rows come with issue 10 point 5)")

KEYS = {"name", "kind", "fit_seconds", "val_rmse", "data", "seed", "backend"}


def test_bench_quick_writes_every_row(tmp_path, capsys):
    pytest.importorskip("surprise")
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--kinds", "dot,nn", "--seed", "3", "--repeat", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["name"], r["kind"]) for r in rows] == [
        ("lesson-port", "dot"), ("cfnb-same", "dot"), ("lesson-port", "nn"), ("cfnb-same", "nn"),
        ("cfnb-best", "bias"), ("surprise-svd", "svd"), ("surprise-svd-tuned", "svd")]
    for row in rows:
        assert KEYS <= set(row)
        assert row["name"] in bench.NAMES and row["kind"] in ("dot", "bias", "nn", "svd")
        assert row["fit_seconds"] > 0 and 0 < row["val_rmse"] < 5
        assert (row["data"], row["seed"], row["backend"]) == ("synthetic", 3, "tensorflow")
    for port, same in (rows[0:2], rows[2:4]):
        assert len(port["all_seconds"]) == len(same["all_seconds"]) == 2
        assert port["fit_seconds"] == min(port["all_seconds"]) and same["fit_seconds"] == min(same["all_seconds"])
        low, high = same["speedup_range"]
        assert low <= high and low > 0
    printed = capsys.readouterr().out
    assert "speedup" in printed and "same recipe dot" in printed and "wrote" in printed
    assert "2 alternating rounds" in printed


def test_port_and_same_recipe_alternate_after_an_untimed_warm_up(monkeypatch):
    calls = []
    times = iter([5.0, 1.0, 4.0, 2.0, 6.0, 0.5])  # port, cfnb, port, cfnb, port, cfnb

    def fake(side):
        def run(kind, ratings, train, val, seed, stages, *rest):
            if train.name == "warm-up":
                calls.append((side, "warm-up"))
                return 9.9, 1.0, side
            calls.append((side, kind))
            return next(times), 1.0, side
        return run
    monkeypatch.setattr(bench, "run_port", fake("port"))
    monkeypatch.setattr(bench, "run_same", fake("cfnb"))
    rows = bench.bench(quick=True, kinds=("dot",), surprise=False, repeat=3, log=lambda _: None)
    assert calls[:2] == [("port", "warm-up"), ("cfnb", "warm-up")]
    assert calls[2:] == [("port", "dot"), ("cfnb", "dot")] * 3
    port, same = rows[0], rows[1]
    assert port["all_seconds"] == [5.0, 4.0, 6.0] and port["fit_seconds"] == 4.0
    assert same["all_seconds"] == [1.0, 2.0, 0.5] and same["fit_seconds"] == 0.5
    assert same["speedup_range"] == [2.0, 12.0] and same["speedup"] == 8.0  # fastest port / fastest cfnb
    with pytest.raises(cfnb.ArgumentError, match="repeat"):
        bench.bench(quick=True, kinds=("dot",), surprise=False, repeat=0, log=lambda _: None)


def test_targets_are_checked_from_the_rows():
    rows = [
        {"name": "lesson-port", "kind": "bias", "fit_seconds": 20.0, "val_rmse": 0.864, "data": "ml-latest-small"},
        {"name": "cfnb-same", "kind": "bias", "fit_seconds": 1.5, "val_rmse": 0.866, "speedup": 20 / 1.5,
         "data": "ml-latest-small"},
        {"name": "cfnb-best", "kind": "bias", "fit_seconds": 1.2, "val_rmse": 0.839, "data": "ml-latest-small"},
        {"name": "surprise-svd", "kind": "svd", "fit_seconds": 0.4, "val_rmse": 0.876, "data": "ml-latest-small"},
        {"name": "surprise-svd-tuned", "kind": "svd", "fit_seconds": 2.5, "val_rmse": 0.857,
         "data": "ml-latest-small"},
    ]
    assert [ok for _, ok, _ in bench.targets(rows)] == [True, True, True]
    rows[1]["val_rmse"] = 0.880
    assert not bench.targets(rows)[0][1]


def test_scale_reports_ratings_per_second_peak_memory_and_surprise(tmp_path, capsys):
    pytest.importorskip("surprise")
    out = tmp_path / "scale.json"
    assert main(["bench", "--scale", "--scale-ratings", "50000", "--json", str(out)]) == 0
    svd, row = json.loads(out.read_text())
    assert svd["name"] == "surprise-svd-epoch" and svd["n_ratings"] == 50_000 and svd["epochs"] == 1
    assert row["name"] == "cfnb-best-scale" and row["n_users"] == 162_541 and row["n_items"] == 59_047
    assert row["fit_seconds"] > 0 and 0 < row["peak_rss_gb"] < 8
    for r in (svd, row):
        assert r["ratings_per_second"] == pytest.approx(r["n_ratings"] / r["fit_seconds"])
    assert "best recipe >= Surprise SVD's ratings/s" in capsys.readouterr().out


def test_scale_targets_from_the_rows():
    rows = [{"name": "surprise-svd-epoch", "ratings_per_second": 2e6},
            *({"name": "cfnb-best-scale", "n_ratings": n, "fit_seconds": n / 3e6, "ratings_per_second": 3e6,
               "peak_rss_gb": 2.0} for n in bench.SCALE_SIZES)]
    assert [ok for _, ok, _ in bench.scale_targets(rows)] == [True, True, True]
    rows[-1]["fit_seconds"] = 40.0  # 25M in 40 s: too slow, and no longer linear
    assert [ok for _, ok, _ in bench.scale_targets(rows)] == [True, False, False]


def test_planted_ratings_keep_the_25m_shape():
    ratings = bench.shaped_like_25m(20_000, seed=1)
    assert (ratings.n_users, ratings.n_items) == bench.ML25M[:2] and len(ratings) == 20_000
    y = ratings.frame["rating"].to_numpy()
    assert y.min() >= 0.5 and y.max() <= 5.0 and set(np.unique(y * 2)) <= set(range(1, 11))
    assert ratings.frame["item"].value_counts().iloc[0] > 20 * ratings.frame["item"].value_counts().median()


def test_ranking_reports_the_two_paths_and_the_target(tmp_path, capsys):
    out = tmp_path / "ranking.json"
    assert main(["bench", "--ranking", "--quick", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["ranking-tables", "ranking-predict", "ranking-baselines"]
    assert rows[0]["ndcg"] == pytest.approx(rows[1]["ndcg"], abs=0.02)  # the same ranking by both paths
    for row in rows:
        assert len(row["all_seconds"]) == 5 and row["seconds"] == sorted(row["all_seconds"])[2]
        assert (row["data"], row["k"], row["kind"]) == ("synthetic", 10, "bias") and row["n_users"] > 0
    printed = capsys.readouterr().out
    assert "ranking_metrics for a bias model on synthetic: <= 5 s" in printed and "embedding tables" in printed
