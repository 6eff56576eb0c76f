"""JupyterLab's own commands, called from the kernel through ipylab: what a widget cannot do alone.

A widget lives in an output area and cannot add cells to its notebook; JupyterLab's command
registry can (`notebook:insert-cell-below`, `notebook:replace-selection`). ipylab's `JupyterFrontEnd`
widget sends such commands from Python to the page; its front end says "ready" once connected,
which it is only in JupyterLab with ipylab's extension (installed with the package).
"""

from __future__ import annotations

from cfnb.errors import CfnbError

_APP = None
_READY = False


def _connect():
    """The page's JupyterLab (an ipylab `JupyterFrontEnd`), made once per kernel; None without ipylab."""
    global _APP
    if _APP is None:
        try:
            from ipylab import JupyterFrontEnd
        except ImportError:
            return None
        _APP = JupyterFrontEnd()
        _APP.on_ready(_set_ready)
    return _APP


def _set_ready():
    global _READY
    _READY = True


def connect() -> bool:
    """Start talking to the page's JupyterLab (call early: the answer comes back asynchronously); True once ready."""
    _connect()
    return _READY


def insert_cell_below(code: str) -> None:
    """Insert a code cell holding `code` below the active cell (the one whose button was clicked).

    Raises:
        CfnbError: not in JupyterLab with ipylab's extension (say how to copy the code instead).
    """
    app = _connect()
    if app is None or not _READY:
        raise CfnbError("Insert as cell needs JupyterLab with the ipylab extension (pip install ipylab, then "
                        "reload the page); meanwhile, copy the code above into a cell.")
    app.commands.execute("notebook:insert-cell-below")
    app.commands.execute("notebook:replace-selection", {"text": code})
