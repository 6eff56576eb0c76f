"""nbval runs these notebooks against the MovieLens copy beside the project (CFNB_DATA_HOME)."""

import os
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens"
os.environ.setdefault("CFNB_DATA_HOME", str(_SHARED))
