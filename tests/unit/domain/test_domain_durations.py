"""Durations and RFC 3339 helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from mlops_operator.domain.durations import (
    DurationError,
    as_datetime,
    format_duration,
    parse_duration,
    parse_rfc3339,
    seconds_since,
    to_rfc3339,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        ("1h2m3s", 3723),
        ("250ms", 0.25),
        ("1s500ms", 1.5),
        ("1.5s", 1.5),
        ("0s", 0),
        (" 10s ", 10),
        (30, 30),
        (2.5, 2.5),
        (0, 0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "  ", "30", "s", "10x", "1s1m", "5m5m", "1h-1s", "-5s", "1 m", "m30s", "10sec", "1d",
     True, None, -1, float("nan"), float("inf"), [], "30s5"],
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (3723, "1h2m3s"), (1.5, "1s500ms")],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_duration_rejects_negative() -> None:
    with pytest.raises(DurationError):
        format_duration(-1)


def test_rfc3339_is_utc_whole_seconds() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 7, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert to_rfc3339(moment) == "2024-05-01T12:00:07Z"
    assert parse_rfc3339("2024-05-01T12:00:07Z") == datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    assert parse_rfc3339("2024-05-01T14:00:07+02:00") == parse_rfc3339("2024-05-01T12:00:07Z")


@pytest.mark.parametrize("bad", ["yesterday", "2024-05-01T12:00:07", ""])
def test_parse_rfc3339_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(bad)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        to_rfc3339(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        as_datetime(datetime(2024, 1, 1))


def test_seconds_since_mixes_strings_and_datetimes() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert seconds_since("2024-01-01T00:00:00Z", start + timedelta(seconds=42)) == 42
    assert seconds_since(start, "2023-12-31T23:59:50Z") == -10
