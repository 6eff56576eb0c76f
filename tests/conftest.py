"""Shared test set-up: real MovieLens through CFNB_DATA_HOME, small synthetic data for unit tests."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "movielens"
os.environ.setdefault("CFNB_DATA_HOME", str(SHARED.resolve()))


@pytest.fixture(scope="session")
def small():
    """Synthetic ratings with planted structure (fast; not a stand-in for MovieLens)."""
    import cfnb

    return cfnb.synthetic(n_users=60, n_items=80, n_ratings=3000, seed=0)


@pytest.fixture(scope="session")
def movielens_small():
    """Today's ml-latest-small from the data home (../shared/data/movielens in tests and CI)."""
    import cfnb

    return cfnb.movielens("ml-latest-small", download=False)

