"""The `cfnb` command: the demo prints the model table."""

import subprocess
import sys

import pytest

import cfnb.cli


def test_demo_table_on_synthetic_data(capsys):
    assert cfnb.cli.main(["demo", "--synthetic", "--seed", "1"]) == 0
    out, err = capsys.readouterr()
    assert "SYNTHETIC" in err
    lines = out.strip().splitlines()
    header = lines.index(next(line for line in lines if line.split()[:2] == ["model", "recipe"]))
    table = [line.split() for line in lines[header + 1:]]
    assert [row[0] for row in table] == ["dot", "bias", "nn", "bias"]
    rmse = [float(row[3]) for row in table]
    assert all(0.3 < r < 2.0 for r in rmse)
    assert rmse[3] < rmse[0]  # the recommended recipe beats the overfitting dot product


@pytest.mark.backend_independent(reason="argparse's help; test_backends_cross imports cfnb on JAX in a fresh process")
def test_python_m_cfnb_shows_help():
    done = subprocess.run([sys.executable, "-m", "cfnb", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "demo" in done.stdout and "bench" in done.stdout
