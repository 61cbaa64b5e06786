"""The dataset's schema and per-column statistics, as a small JSON document; pure.

The profile is recorded in ``metadata.json`` with each version, and it is the baseline
the data checks (:mod:`.datachecks`) compare the next version's dataset against: a
column that disappeared or changed type, or a null share or category mix that moved,
is caught before any fitting rather than discovered in a worse model.

Every column of the frame is profiled (features, target and excluded columns alike),
in frame order, with the same reading of types and missing values as the preprocessing
plan (:func:`.preprocessing.dtype_kind`, :func:`.preprocessing.missing_mask`), so the
checks speak about the columns the way the plan treats them. The document stays small
whatever the data: at most :data:`MAX_CATEGORIES` categories per column, the rest in
``otherShare``; floats are finite and rounded to six significant digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime.trainer.evaluate import significant
from mlops_runtime.trainer.preprocessing import category_text, dtype_kind, missing_mask

#: Categories listed per column (most frequent first); the rest are ``otherShare``.
MAX_CATEGORIES = 50
#: The profile's column types: the plan's kinds, plus what the plan refuses.
TYPES = ("numeric", "bool", "categorical", "datetime", "duration", "empty")
_TYPE_OF_KIND = {"numeric": "numeric", "boolean": "bool", "categorical": "categorical"}


def profile_table(frame: pd.DataFrame, target: str | None = None) -> dict[str, Any]:
    """``{"rows", "target", "columns": {name: stats}}`` for every column, in frame order."""
    rows = len(frame)
    columns = {str(name): profile_column(series, rows) for name, series in frame.items()}
    return {"rows": rows, "target": target, "columns": columns}


def profile_column(series: pd.Series, rows: int | None = None) -> dict[str, Any]:
    """One column's type, null share, distinct count and type-specific statistics."""
    rows = len(series) if rows is None else rows
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        kind = "datetime" if pd.api.types.is_datetime64_any_dtype(dtype) else "duration"
        mask = series.isna().to_numpy(dtype=bool)
    else:
        kind = dtype_kind(series)
        mask = missing_mask(series, kind)
    missing = int(mask.sum())
    doc: dict[str, Any] = {"type": _TYPE_OF_KIND.get(kind, kind),
                           "nullShare": _share(missing, rows), "distinct": 0}
    if rows and missing == rows:
        doc["type"] = "empty"
        return doc
    present = series[~mask]
    if kind == "categorical":
        doc.update(_categories(present, rows))
    elif kind in ("datetime", "duration"):
        doc.update(_time_stats(present, kind))
    else:
        doc.update(_number_stats(present))
    return doc


def _share(count: int, rows: int) -> float:
    """``count / rows`` rounded; 0.0 for an empty frame."""
    return significant(count / rows) if rows else 0.0


def _number_stats(present: pd.Series) -> dict[str, Any]:
    """min, max and mean of numbers or booleans (booleans as 0/1: the mean is the true share)."""
    if not len(present):
        return {"min": None, "max": None, "mean": None}
    values = present.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", over="ignore"):
        mean = values.mean()
    return {"distinct": int(present.nunique()), "min": significant(values.min()),
            "max": significant(values.max()), "mean": significant(mean)}


def _time_stats(present: pd.Series, kind: str) -> dict[str, Any]:
    """First and last value: ISO timestamps for dates, seconds for durations."""
    if not len(present):
        return {"min": None, "max": None}
    low, high = present.min(), present.max()
    if kind == "datetime":
        bounds: list[Any] = [low.isoformat(), high.isoformat()]
    else:
        bounds = [significant(low.total_seconds()), significant(high.total_seconds())]
    return {"distinct": int(present.nunique()), "min": bounds[0], "max": bounds[1]}


def _categories(present: pd.Series, rows: int) -> dict[str, Any]:
    """Distinct count, the :data:`MAX_CATEGORIES` largest shares of all rows, and the rest."""
    try:
        counts = present.value_counts(dropna=False, sort=False)
    except TypeError:  # unhashable cells (lists, dicts from JSON rows): count their text
        counts = present.astype(str).value_counts(dropna=False, sort=False)
    counts = counts[counts > 0]
    if not len(counts):
        return {"categories": {}}
    # 1, 1.0 and "1" are one category once written as text, as in the plan.
    texts = pd.Index([category_text(value) for value in counts.index], dtype=object)
    merged = pd.Series(counts.to_numpy(), index=texts).groupby(level=0, sort=False).sum()
    table = pd.DataFrame({"name": merged.index.astype(str), "count": merged.to_numpy()})
    table = table.sort_values(["count", "name"], ascending=[False, True], kind="stable")
    top = table.head(MAX_CATEGORIES)
    doc: dict[str, Any] = {
        "distinct": len(table),
        "categories": {name: _share(int(count), rows)
                       for name, count in zip(top["name"], top["count"], strict=True)},
    }
    rest = int(table["count"].iloc[MAX_CATEGORIES:].sum())
    if rest > 0:
        doc["otherShare"] = _share(rest, rows)
    return doc
