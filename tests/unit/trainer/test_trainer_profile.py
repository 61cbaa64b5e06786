"""The dataset profile: types as the plan reads them, null shares, statistics, bounded size."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_runtime.trainer.profile import MAX_CATEGORIES, profile_column, profile_table


def stats(values: list[Any], dtype: Any = None) -> dict[str, Any]:
    return profile_column(pd.Series(values, dtype=dtype, name="c"))


# ---- type, null share and distinct count, by dtype ---------------------------------------
@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1.5, 2.0, 2.0, 4.0], None, ("numeric", 0.0, 3)),
        ([1.0, np.nan, 3.0, np.nan], None, ("numeric", 0.5, 2)),
        ([1, None, 3, 3], "Int64", ("numeric", 0.25, 2)),
        ([True, False, True, True], None, ("bool", 0.0, 2)),
        ([True, None, False, True], object, ("bool", 0.25, 2)),
        ([True, None, True, True], "boolean", ("bool", 0.25, 1)),
        (["a", "b", "a", "c"], None, ("categorical", 0.0, 3)),
        (["a", None, "", "b"], object, ("categorical", 0.5, 2)),  # "" is missing, as in the plan
        (["x", "y", None, "x"], "category", ("categorical", 0.25, 2)),
        ([1, 1.0, "1", None], object, ("categorical", 0.25, 1)),  # one category once written
        ([None, None, None, None], object, ("empty", 1.0, 0)),
        ([np.nan, np.nan, np.nan, np.nan], None, ("empty", 1.0, 0)),
        (["", None, "", ""], object, ("empty", 1.0, 0)),
        (pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-03-01"]), None,
         ("datetime", 0.25, 2)),
        (pd.to_datetime([None, None, None, None]), None, ("empty", 1.0, 0)),
        (pd.to_timedelta([1, 2, None, 2], unit="s"), None, ("duration", 0.25, 2)),
    ],
    ids=["float", "float-nan", "Int64-none", "bool", "object-bools-none", "boolean-na",
         "strings", "strings-empty-none", "category-dtype", "mixed-objects", "all-none",
         "all-nan", "all-empty-strings", "datetime", "all-nat", "timedelta"],
)
def test_type_null_share_and_distinct(values: list[Any], dtype: Any,
                                      expected: tuple[str, float, int]) -> None:
    column = stats(values, dtype)
    assert (column["type"], column["nullShare"], column["distinct"]) == expected


def test_dates_and_durations_do_not_raise_like_the_plan_does() -> None:
    dates = stats(pd.to_datetime(["2024-03-01", None, "2024-01-01"]))
    durations = stats(pd.to_timedelta([90, None, 30], unit="s"))
    assert (dates["min"], dates["max"]) == ("2024-01-01T00:00:00", "2024-03-01T00:00:00")
    assert (durations["min"], durations["max"]) == (30.0, 90.0)


# ---- numeric and boolean statistics ------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1.0, 2.0, np.nan, 2.0], None, {"min": 1.0, "max": 2.0, "mean": 1.66667}),
        ([3, None, 1, 2], "Int64", {"min": 1.0, "max": 3.0, "mean": 2.0}),
        ([123456789, 1, 1, 1], None, {"min": 1.0, "max": 123457000.0, "mean": 30864200.0}),
        ([1.0, np.inf, 3.0, 2.0], None, {"min": 1.0, "max": None, "mean": None}),
        ([True, False, True, True], None, {"min": 0.0, "max": 1.0, "mean": 0.75}),
        ([True, None, False, False], object, {"min": 0.0, "max": 1.0, "mean": 0.333333}),
    ],
    ids=["float-nan-skipped", "Int64-none-skipped", "six-significant-digits", "inf-is-null",
         "bool-mean-is-true-share", "object-bools"],
)
def test_numeric_statistics(values: list[Any], dtype: Any, expected: dict[str, Any]) -> None:
    column = stats(values, dtype)
    assert {key: column[key] for key in expected} == expected
    assert "categories" not in column


# ---- categories ----------------------------------------------------------------------------
def test_category_shares_are_of_all_rows_most_frequent_first_ties_by_name() -> None:
    column = stats(["b", "a", "c", "c", None, "", "d", "c"], object)
    assert column["nullShare"] == 0.25
    assert list(column["categories"].items()) == [
        ("c", 0.375), ("a", 0.125), ("b", 0.125), ("d", 0.125)]
    assert "otherShare" not in column  # every category is listed
    assert "min" not in column


def test_whole_float_categories_read_as_integers() -> None:
    column = stats(pd.Series([10115.0, 10115, "10115", 2.5], dtype=object))
    assert column["categories"] == {"10115": 0.75, "2.5": 0.25}


def test_category_dtype_ignores_unused_categories() -> None:
    series = pd.Categorical(["x", "x", None], categories=["x", "y", "z"])
    column = stats(series)
    assert column["categories"] == {"x": pytest.approx(0.666667)}
    assert column["distinct"] == 1


@pytest.mark.parametrize(("distinct", "listed", "other"),
                         [(MAX_CATEGORIES, MAX_CATEGORIES, None), (60, MAX_CATEGORIES, 0.166667),
                          (500, MAX_CATEGORIES, 0.9)],
                         ids=["exactly-the-cap", "ten-over", "many"])
def test_categories_are_capped_and_the_rest_is_other(distinct: int, listed: int,
                                                     other: float | None) -> None:
    names = [f"k{i:03d}" for i in range(distinct)]
    # Ten rows for each category: a tie everywhere, broken by name.
    column = stats(names * 10)
    assert column["distinct"] == distinct
    assert list(column["categories"]) == names[:listed]
    assert column.get("otherShare") == other
    assert sum(column["categories"].values()) + (other or 0) == pytest.approx(1.0, abs=1e-4)


def test_frequency_decides_the_cap_not_the_name() -> None:
    values = ["zz"] * 100 + [f"a{i:02d}" for i in range(60)]
    column = stats(values)
    assert next(iter(column["categories"])) == "zz"
    assert column["categories"]["zz"] == 0.625
    assert len(column["categories"]) == MAX_CATEGORIES
    assert column["otherShare"] == pytest.approx(11 / 160, rel=1e-5)


def test_unhashable_cells_are_counted_by_their_text() -> None:
    column = stats(pd.Series([[1, 2], [1, 2], None, {"a": 1}], dtype=object))
    assert column["type"] == "categorical"
    assert column["categories"] == {"[1, 2]": 0.5, "{'a': 1}": 0.25}


# ---- the whole table -------------------------------------------------------------------------
def messy_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [30.0, np.nan, np.inf, 41.0],
        "region": ["north", None, "", "south"],
        "member": pd.Series([True, None, False, True], dtype=object),
        "empty": [None, None, None, None],
        "opened": pd.to_datetime(["2024-01-01", None, "2024-02-01", "2024-02-01"]),
        7: [1, 2, 3, 4],
        "default": [0, 1, 0, 1],
    })


def test_every_column_in_frame_order_with_rows_and_target() -> None:
    profile = profile_table(messy_frame(), target="default")
    assert profile["rows"] == 4
    assert profile["target"] == "default"
    assert list(profile["columns"]) == ["age", "region", "member", "empty", "opened", "7",
                                        "default"]
    assert [c["type"] for c in profile["columns"].values()] == [
        "numeric", "categorical", "bool", "empty", "datetime", "numeric", "numeric"]


def test_profile_is_strict_json() -> None:
    profile = profile_table(messy_frame(), target="default")
    text = json.dumps(profile, allow_nan=False)
    assert json.loads(text) == profile

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    assert plain(profile)  # no numpy scalars slip through


def test_zero_rows() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)})
    profile = profile_table(frame)
    assert profile == {"rows": 0, "target": None, "columns": {
        "x": {"type": "numeric", "nullShare": 0.0, "distinct": 0,
              "min": None, "max": None, "mean": None},
        "s": {"type": "categorical", "nullShare": 0.0, "distinct": 0, "categories": {}}}}
    json.dumps(profile, allow_nan=False)


def test_a_million_rows_is_fast_and_small() -> None:
    rows = 1_000_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "amount": rng.normal(size=rows),
        "city": rng.choice([f"city{i}" for i in range(2000)], rows),
        "flag": rng.random(rows) > 0.5,
        "note": pd.Series(rng.choice(["a", "b", None], rows), dtype=object),
    })
    started = time.perf_counter()
    profile = profile_table(frame)
    assert time.perf_counter() - started < 10  # vectorised: well under a second locally
    assert profile["columns"]["city"]["distinct"] == 2000
    assert len(profile["columns"]["city"]["categories"]) == MAX_CATEGORIES
    assert len(json.dumps(profile)) < 20_000
