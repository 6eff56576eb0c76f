"""What every widget piece shares: a guarded message line, and theme-aware HTML tables."""

from __future__ import annotations

import functools
import html
import logging
import math
import traceback

import ipywidgets as w
import pandas as pd

from cfnb.errors import CfnbError

log = logging.getLogger("cfnb.widgets")
LABEL_WIDTH = "140px"  # wide enough for the longest control label ("Dropout (hidden)") in full
CSS = """<style>
.cfnb-table table {border-collapse: collapse; font-size: 12px; margin: 4px 0;
  font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, inherit);}
.cfnb-table th, .cfnb-table td {padding: 2px 8px; text-align: left; background: transparent; color: inherit;
  border-bottom: 1px solid var(--jp-border-color2, rgba(128,128,128,0.35));}
.cfnb-table th {border-bottom: 2px solid var(--jp-border-color1, rgba(128,128,128,0.6));}
.cfnb-table td.num, .cfnb-table th.num {text-align: right; font-variant-numeric: tabular-nums;}
.cfnb-table tr.best td {background: rgba(92,184,92,0.25); font-weight: bold;}
.cfnb-table tr.baseline td {font-style: italic;}
.cfnb-table tr.current td:first-child {box-shadow: inset 3px 0 0 var(--jp-brand-color1, #1976d2);}
.cfnb-note {color: var(--jp-ui-font-color2, #666); font-size: 12px; margin: 2px 0 6px;}
</style>"""


def table_html(frame: pd.DataFrame, formats: dict | None = None, row_classes=None) -> str:
    """A small theme-aware HTML table (numbers right-aligned; optional per-row CSS classes)."""
    formats, e = formats or {}, html.escape
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
    head = "".join(f"<th class='{'num' if c in numeric else ''}'>{e(str(c))}</th>" for c in frame.columns)
    body = []
    for k, (_, row) in enumerate(frame.iterrows()):
        cls = row_classes[k] if row_classes is not None else ""
        cells = "".join(
            f"<td class='{'num' if c in numeric else ''}'>{e(_fmt(row[c], formats.get(c)))}</td>" for c in frame.columns)
        body.append(f"<tr class='{cls}'>{cells}</tr>")
    return f"{CSS}<div class='cfnb-table'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _fmt(value, spec) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if spec:
        return format(value, spec)
    return f"{value:,}" if isinstance(value, int) else str(value)


def note(text: str) -> str:
    """A quiet one-line note (HTML), e.g. what a panel cannot show."""
    return f"{CSS}<div class='cfnb-note'>{html.escape(text)}</div>"


def section(title: str, body: w.Widget) -> w.VBox:
    """A titled part of the Lab."""
    return w.VBox([w.HTML(f"<h3 style='margin:12px 0 4px'>{html.escape(title)}</h3>"), body])


class Piece(w.VBox):
    """A widget box with a message line; every callback it registers is guarded.

    Args:
        session: the `Session` it works in.
        children: its widgets (the message line goes below them).
        css: a CSS class naming the piece (for tests and styling).
    """

    def __init__(self, session, children, css: str):
        super().__init__()
        self.session, self.errors = session, []
        self.message = w.HTML()
        self.message.add_class("cfnb-message")
        self.children = [*children, self.message]
        self.add_class("cfnb-piece")
        self.add_class(css)

    def guard(self, fn):
        """`fn` wrapped so that any exception shows in this piece instead of escaping."""
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the point is that nothing is lost
                self.show_error(e)
        return guarded

    def on_click(self, button: w.Button, fn):
        """Run `fn()` (guarded, after clearing the last message) when `button` is clicked."""
        def clicked(_):
            self.say("")
            fn()
        button.on_click(self.guard(clicked))

    def on_change(self, widget: w.Widget, fn):
        """Run `fn()` (guarded) when `widget`'s value changes."""
        widget.observe(self.guard(lambda _: fn()), names="value")

    def listen(self, event: str, fn):
        """Run `fn()` (guarded) on a session event ("model", "busy", "runs")."""
        self.session.on(event, self.guard(fn))

    def say(self, text: str, level: str = "info"):
        """Show a one-line message (level "info", "ok" or "error"); "" clears it."""
        if not text:
            self.message.value = ""
            return
        colour = {"ok": "var(--jp-success-color1, #2e7d32)", "error": "var(--jp-error-color1, #c62828)"}.get(
            level, "var(--jp-ui-font-color2, #666)")
        self.message.value = f"<span class='cfnb-{level}' style='color:{colour}'>{html.escape(text)}</span>"

    def show_error(self, error: BaseException):
        """Show an exception: cfnb's own errors as their message, others with the traceback folded."""
        self.errors.append(error)
        if isinstance(error, CfnbError):
            self.say(str(error), "error")
            return
        log.exception("cfnb widget callback failed", exc_info=error)
        tb = html.escape("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        self.say(f"Unexpected error: {type(error).__name__}: {error}", "error")
        self.message.value += f"<details><summary>traceback</summary><pre>{tb}</pre></details>"
