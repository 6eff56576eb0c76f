"""Ids as a file writes them and as they look: numbers written in two ways ("007", "7"), text ids that
differ only in Unicode form or invisible characters, titles keyed by ids of the other type."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cfnb.data import delimited
from cfnb.data.vocabulary import canonical, decimal_int, id_kind, plain
from cfnb.errors import DataWarning


def warn_merged(texts, numbers, col, name):
    """Say where a file writes one number in several ways ("007" and "7"): they were read as one id."""
    forms = pd.DataFrame({"text": texts.astype(str).str.strip().to_numpy(), "number": numbers.to_numpy()})
    forms = forms.drop_duplicates("text")
    merged = forms["number"].duplicated(keep=False).to_numpy()
    if merged.any():
        number = forms["number"].to_numpy()[merged][0]
        written = forms["text"][forms["number"] == number].tolist()
        n = int(forms["number"][merged].nunique())
        warnings.warn(f"Column {col!r} of {name} writes {n:,} ids in more than one way (leading zeros or a sign), "
                      f"e.g. {written[0]!r} and {written[1]!r}, which read as the same number {plain(number)}: each "
                      "is one id. To keep them apart, read the column as text, e.g. pd.read_csv(path, "
                      f"dtype={{{col!r}: str}}), and pass the frame.", DataWarning, stacklevel=5)


def warn_look_alikes(ids, col, name):
    """Say where two distinct text ids are equal after NFC and without invisible characters: cfnb keeps
    them apart, exactly as given."""
    distinct = pd.Series(pd.unique(ids.to_numpy()))
    alike = distinct.map(canonical)
    twins = alike.duplicated(keep=False).to_numpy()
    if twins.any():
        pair = distinct[(alike == alike[twins].iloc[0]).to_numpy()].tolist()[:2]
        warnings.warn(f"Column {col!r} of {name} has {int(alike[twins].nunique()):,} text ids written in more than "
                      f"one way that differ only in their Unicode form or invisible (zero-width) characters, e.g. "
                      f"{pair[0]!r} and {pair[1]!r}: cfnb keeps ids exactly as given, so these are different ids. "
                      "Normalise the column first if they are one (docs/bad-input.md).", DataWarning, stacklevel=5)


def file_texts(path, table, frame, columns, header, names) -> dict:
    """The id columns as the file writes them, where a number in them could be written in another way
    (a leading zero or a sign); {} where none can (checked on the bytes first: most files are not re-read)."""
    numeric = [c for c in columns if table is not None and pd.api.types.is_integer_dtype(frame[c])]
    if not numeric or not _second_forms(Path(path)):
        return {}
    options = dict(header=(None if names is not None else 0) if header == "infer" else header, names=names,
                   usecols=[frame.columns.get_loc(c) for c in numeric], index_col=False, dtype=str, low_memory=False)
    if len(table.sep) > 1:
        options["quoting"] = csv.QUOTE_NONE
    texts = delimited._parse(Path(path), table.sep, table.encoding, options)
    return {c: texts.iloc[:, k] for k, c in enumerate(numeric)}


def _second_forms(path: Path) -> bool:
    """Whether the file may hold a number written with a leading zero ("007") or a plus sign: a 0 after
    neither a digit nor a point, before a digit, or any "+" (read in blocks, vectorised: fast)."""
    tail = b"\n"
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            if b"+" in block:
                return True
            data = np.frombuffer(tail + block, dtype=np.uint8)
            digit = (data >= 48) & (data <= 57)
            if ((data[1:-1] == 48) & digit[2:] & ~(digit[:-2] | (data[:-2] == 46))).any():
                return True
            tail = block[-2:]
    return False


def keyed_like(titles, item_ids):
    """Titles keyed by text ids for integer item ids ("7" for 7), or the reverse, re-keyed where exact."""
    kind = id_kind(pd.Index(item_ids))
    if titles is None or kind is None or id_kind(titles.index) in (None, kind):
        return titles
    if kind == "number":
        keys = [decimal_int(k) if isinstance(k, str) and decimal_int(k) is not None else k for k in titles.index]
    else:
        keys = [str(int(k)) if isinstance(k, (int, np.integer)) else k for k in titles.index]
    out = pd.Series(titles.to_numpy(), index=pd.Index(keys, dtype=object), dtype=object)
    return out[~out.index.duplicated()]
