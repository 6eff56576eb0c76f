"""Checks at the door: each public argument is validated here, with a message that names it.

Every check returns the value in its plain Python form (an `int`, a `float`, a tuple) or raises an
`ArgumentError` (an `ArgumentTypeError`, also a `TypeError`, for a value of the wrong type) that says
which argument, what it got and what is accepted.
"""

from __future__ import annotations

import math
import numbers
import os

from cfnb.errors import ArgumentError, ArgumentTypeError


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole(name: str, value, minimum: int | None = 1, maximum: int | None = None) -> int:
    """`value` as an int: a whole number (an int, or a float such as 4.0) within [minimum, maximum]."""
    if not _is_number(value):
        raise ArgumentTypeError(f"{name} must be a whole number, got {_show(value)} "
                                f"({type(value).__name__}).")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        f = float(value)
        if not (math.isfinite(f) and f == int(f)):
            raise ArgumentError(f"{name} must be a whole number, got {_show(value)}.")
        out = int(f)
    if minimum is not None and out < minimum:
        raise ArgumentError(f"{name} must be at least {minimum}, got {_show(value)}.")
    if maximum is not None and out > maximum:
        raise ArgumentError(f"{name} must be at most {maximum}, got {_show(value)}.")
    return out


def real(name: str, value, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float within the given bounds (open or closed at each end)."""
    if not _is_number(value):
        raise ArgumentTypeError(f"{name} must be a number, got {_show(value)} ({type(value).__name__}).")
    out = float(value)
    bounds = (f"{'(' if low_open else '['}{'-inf' if low is None else format(low, 'g')}, "
              f"{'inf' if high is None else format(high, 'g')}{')' if high_open else ']'}")
    if not math.isfinite(out):
        raise ArgumentError(f"{name} must be a finite number in {bounds}, got {_show(value)}.")
    if low is not None and (out < low or (low_open and out == low)):
        raise ArgumentError(f"{name} must be in {bounds}, got {_show(value)}.")
    if high is not None and (out > high or (high_open and out == high)):
        raise ArgumentError(f"{name} must be in {bounds}, got {_show(value)}.")
    return out


def fraction(name: str, value) -> float:
    """A rate in [0, 1) (dropout)."""
    return real(name, value, 0.0, 1.0, high_open=True)


def penalty(name: str, value) -> float:
    """A finite number >= 0 (l2 factors)."""
    return real(name, value, 0.0)


def positive(name: str, value) -> float:
    """A finite number > 0 (learning rates, thresholds)."""
    return real(name, value, 0.0, low_open=True)


def seed(name: str, value) -> int | None:
    """An int seed (>= 0) or None."""
    if value is None:
        return None
    return whole(name, value, minimum=0)


def range_pair(name: str, value, optional: bool = True) -> tuple[float, float] | None:
    """Two finite numbers `(low, high)` with low < high, or None where `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ArgumentTypeError(f"{name} must be a pair (low, high){' or None' if optional else ''}, "
                                f"got {_show(value)}.")
    low, high = (real(f"{name}[{k}]", v) for k, v in enumerate(value))
    if not low < high:
        raise ArgumentError(f"{name} must have low < high, got {_show(value)}.")
    return (low, high)


def one_of(name: str, value, choices) -> object:
    """`value` if it is one of `choices` (compared with ==)."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}.")
    return value


def instance(name: str, value, types, what: str, hint: str = ""):
    """`value` if it is an instance of `types`; else an ArgumentTypeError naming `what` was expected."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__}"
                                f"{' ' + _show(value) if isinstance(value, (int, float, str)) else ''}.{hint}")
    return value


def path(name: str, value) -> os.PathLike | str:
    """A file path: a `str` or `os.PathLike` (not None, not a number, not bytes)."""
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, (str, os.PathLike)) or value == "":
        raise ArgumentTypeError(f"{name} must be a file path (str or pathlib.Path), got {_show(value)} "
                                f"({type(value).__name__}).")
    return value
