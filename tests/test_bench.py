"""Smoke tests of `cfnb bench`: tiny synthetic ratings, every row and key, the table, the figures and the
JSON, on the backend the suite runs on (on TensorFlow, with the JAX rows its subprocess adds)."""

import json

import keras
import pytest

from cfnb.bench import report, runs, scale
from cfnb.cli import main
from cfnb.data import synthetic

KEYS = {"name", "kind", "fit_seconds", "fit_seconds_all", "val_rmse", "data", "seed", "backend", "repeat"}


def test_bench_quick_alternates_repeats_and_writes_every_row(tmp_path, capsys):
    pytest.importorskip("surprise")
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--kinds", "dot", "--repeat", "2", "--seed", "3", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    here = keras.backend.backend()
    expected = [("lesson-port", "dot", here), ("cfnb-same", "dot", here), ("cfnb-best", "bias", here),
                ("surprise-svd", "svd", here), ("surprise-svd-tuned", "svd", here)]
    if here == "tensorflow":  # the port, same-recipe and best rows on JAX, from a KERAS_BACKEND=jax subprocess
        expected += [("lesson-port", "dot", "jax"), ("cfnb-same", "dot", "jax"), ("cfnb-best", "bias", "jax")]
    assert [(r["name"], r["kind"], r["backend"]) for r in rows] == expected
    for row in rows:
        assert KEYS <= set(row)
        assert row["name"] in runs.NAMES and row["kind"] in ("dot", "bias", "nn", "svd")
        assert row["repeat"] == 2 and row["fit_seconds"] == min(row["fit_seconds_all"]) > 0
        assert 0 < row["val_rmse"] < 5 and (row["data"], row["seed"]) == ("synthetic", 3)
    for same in (r for r in rows if r["name"] == "cfnb-same"):
        port = next(r for r in rows if r["name"] == "lesson-port" and r["backend"] == same["backend"])
        ratios = [p / s for p, s in zip(port["fit_seconds_all"], same["fit_seconds_all"])]
        assert same["speedup_range"] == pytest.approx([min(ratios), max(ratios)])
        assert same["speedup"] == pytest.approx(port["fit_seconds"] / same["fit_seconds"])
    printed = capsys.readouterr().out
    assert "round 2/2" in printed and "wrote" in printed and "docs/performance.md" in printed
    assert f"same recipe dot on {here}: " in printed and f"best recipe on {here}: " in printed
    assert "Surprise SVD's" in printed and "tuned SVD" in printed


def test_rounds_alternate_which_side_goes_first(monkeypatch):
    calls = []

    def fake(side):
        def run(kind, *args, **kwargs):
            calls.append((side, kind))
            return 1.0 + len(calls), 0.9, side
        return run

    monkeypatch.setattr(runs, "warm_up", lambda kinds, seed=0: calls.append(("warm-up", kinds)))
    monkeypatch.setattr(runs, "run_port", fake("port"))
    monkeypatch.setattr(runs, "run_same", fake("same"))
    rows = runs.bench(kinds=("dot", "nn"), quick=True, repeat=3, same_only=True, log=lambda text: None)
    assert calls == [("warm-up", ("dot", "nn")),
                     ("port", "dot"), ("same", "dot"), ("port", "nn"), ("same", "nn"),
                     ("same", "dot"), ("port", "dot"), ("same", "nn"), ("port", "nn"),
                     ("port", "dot"), ("same", "dot"), ("port", "nn"), ("same", "nn")]
    same_dot = next(r for r in rows if (r["name"], r["kind"]) == ("cfnb-same", "dot"))
    # the fake's time is 1 + the number of calls so far (the warm-up is call 1)
    assert same_dot["fit_seconds_all"] == [4.0, 7.0, 12.0] and same_dot["fit_seconds"] == 4.0
    assert same_dot["speedup"] == pytest.approx(3 / 4)  # port's fastest (3.0) over same's (4.0)
    assert same_dot["speedup_range"] == pytest.approx([3 / 4, 8 / 7])  # rounds: 3/4, 8/7, 11/12


def test_figures_compare_the_rows_backend_by_backend():
    def row(name, kind, seconds, rmse, backend="tensorflow"):
        return {"name": name, "kind": kind, "fit_seconds": seconds, "fit_seconds_all": [seconds, seconds * 1.1],
                "val_rmse": rmse, "data": "ml-latest-small", "backend": backend}

    rows = [row("lesson-port", "bias", 20.0, 0.864), row("cfnb-same", "bias", 1.5, 0.866),
            row("cfnb-best", "bias", 0.8, 0.834), row("surprise-svd", "svd", 0.5, 0.876),
            row("surprise-svd-tuned", "svd", 2.5, 0.857),
            row("lesson-port", "bias", 18.0, 0.865, "jax"), row("cfnb-same", "bias", 2.0, 0.866, "jax"),
            row("cfnb-best", "bias", 1.2, 0.834, "jax")]  # held against the (one) Surprise row
    rows[1]["fit_seconds_all"] = [1.5, 2.0]  # round ratios 20 / 1.5 and 22 / 2
    runs._speedups(rows)
    assert report.figures(rows) == [
        "same recipe bias on tensorflow: 13.3x faster than the port (min over min; rounds 11.0..13.3x), "
        "RMSE 0.8660 vs 0.8640 (+0.0020)",
        "best recipe on tensorflow: 0.80 s = 1.60x Surprise SVD's 0.50 s (rounds 1.60..1.60x); "
        "RMSE 0.8340 vs SVD 0.8760, tuned SVD 0.8570",
        "same recipe bias on jax: 9.0x faster than the port (min over min; rounds 9.0..9.0x), "
        "RMSE 0.8660 vs 0.8650 (+0.0010)",
        "best recipe on jax: 1.20 s = 2.40x Surprise SVD's 0.50 s (rounds 2.40..2.40x); "
        "RMSE 0.8340 vs SVD 0.8760, tuned SVD 0.8570"]
    rows[1]["val_rmse_other_shuffles"] = [0.862, 0.870]
    assert report.figures(rows)[0].endswith("; same recipe over 3 shuffles 0.8620..0.8700, port inside")
    assert report.figures([r for r in rows if r["name"] != "surprise-svd"])[1].startswith("same recipe bias on jax")


def test_lean_synthetic_sets_share_their_first_ratings():
    small, large = (synthetic(50, 80, n, seed=4, lean=True, chunk=500) for n in (1500, 2500))
    assert small.frame.equals(large.frame.iloc[:1500].reset_index(drop=True))
    assert (small.n_users, small.n_items, small.titles) == (50, 80, None)
    assert list(small.frame.dtypes.astype(str)) == ["int32", "int32", "float32"]
    assert (small.frame["rating"].between(0.5, 5.0)).all() and small.frame["rating"].std() > 0.3
    # planted structure: a movie's mean rating tracks its planted bias, so means differ a lot across movies
    assert small.frame.groupby("item")["rating"].mean().std() > 0.2
    # long-tailed popularity: the first tenth of the movies has far more than a tenth of the ratings
    assert (small.frame["item"] < 8).mean() > 0.3
    assert scale.planted(3000).n_items == scale.ML25M[1]


def test_scale_reports_ratings_per_second_and_peak_memory(tmp_path, capsys):
    pytest.importorskip("surprise")
    out = tmp_path / "scale.json"
    assert main(["bench", "--scale", "--scale-sizes", "20000,40000", "--svd-sample", "20000",
                 "--json", str(out), "--plot", str(tmp_path / "scale.png")]) == 0
    rows = json.loads(out.read_text())
    assert [(r["name"], r["n_ratings"]) for r in rows] == [
        ("cfnb-best-scale", 20000), ("cfnb-best-scale", 40000), ("surprise-svd-scale", 20000)]
    for row in rows:
        assert row["n_users"] == 162_541 and row["n_items"] == 59_047
        assert row["fit_seconds"] > 0 and row["ratings_per_s"] == pytest.approx(row["n_ratings"] / row["epoch_seconds"])
        assert 0 < row["peak_rss_gb"] < 8
    assert rows[0]["backend"] == keras.backend.backend()
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "surprise-svd-scale" in printed and "ratings/s over Surprise SVD's on 20,000 ratings" in printed
    assert "warm epoch, us per rating: 0.02M: " in printed


def test_ranking_reports_the_two_paths(tmp_path, capsys):
    out = tmp_path / "ranking.json"
    assert main(["bench", "--ranking", "--quick", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["ranking-tables", "ranking-predict", "ranking-baselines"]
    assert rows[0]["ndcg"] == pytest.approx(rows[1]["ndcg"], abs=0.02)  # the same ranking by both paths
    for row in rows:
        assert len(row["all_seconds"]) == 5 and row["seconds"] == sorted(row["all_seconds"])[2]
        assert (row["data"], row["k"], row["kind"]) == ("synthetic", 10, "bias") and row["n_users"] > 0
    printed = capsys.readouterr().out
    assert "ranking_metrics, k=10, " in printed and " on synthetic: embedding tables " in printed
