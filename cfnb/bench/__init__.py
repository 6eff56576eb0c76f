"""`cfnb bench`: times and RMSE of the lesson port, cfnb and Surprise SVD (`runs`), `--scale`
(`scale`) and `--ranking` (`ranking`); `report` prints and writes the figures. The targets they are
held against live in docs/performance.md, not here."""

from cfnb.bench.cli import add_parser, main

__all__ = ["add_parser", "main"]
