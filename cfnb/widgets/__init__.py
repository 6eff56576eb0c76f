"""JupyterLab widgets over cfnb's functions: build, fit in stages, compare and explore models by clicking.

`Lab(ratings)` puts the whole flow in one place; `Builder`, `StagedFit`, `Compare` and `Explore` also
work alone. They share a `Session` (the ratings, their train/val split, every model and the current
one). Each piece is thin: the numbers come from plain functions (`cfnb.workspace`, `cfnb.explore`,
`cfnb.training`, `cfnb.models`). Every callback is guarded: an exception shows in the piece's own
message area (and in `.errors`) instead of vanishing, as callback output otherwise does in JupyterLab.
"""

from .base import Piece, table_html
from .builder import Builder
from .compare import Compare
from .explore import Explore
from .fit import BATCH_SIZES, StagedFit
from .lab import Lab
from .session import Session, session_of
from .stages import StageList, lesson_stages

__all__ = ["Lab", "Builder", "StagedFit", "Compare", "Explore", "Session", "session_of", "Piece", "table_html",
           "BATCH_SIZES", "StageList", "lesson_stages"]
