"""Cron schedules in a time zone: validation and the ticks around a moment.

Five fields (minute hour day-of-month month day-of-week) as CronJob takes them,
plus its macros (``@daily`` ...). Ticks are computed in the schedule's zone with
``zoneinfo``, so "0 3 * * *" in Europe/Berlin stays at 03:00 local time across
daylight-saving changes; results are aware datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from mlops_operator.domain.errors import SpecError

#: CronJob's macros and what they stand for.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(SpecError):
    """A schedule or time zone that cannot be used; the message says why."""


def zone_named(name: str) -> tzinfo:
    """The IANA time zone ``name`` (e.g. "Europe/Berlin"), or CronError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CronError(f"unknown time zone {name!r}: expected an IANA name like "
                        "Europe/Berlin or UTC") from error


@dataclass(frozen=True)
class Cron:
    """A validated five-field schedule evaluated in ``zone``."""

    expression: str
    zone: tzinfo

    @classmethod
    def parse(cls, expression: str, zone: tzinfo) -> Cron:
        """Validate ``expression`` (five fields or a macro); CronError says what is wrong."""
        text = MACROS.get(expression.strip(), expression.strip())
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"invalid schedule {expression!r}: expected five fields "
                            "(minute hour day-of-month month day-of-week) or a macro "
                            "like @daily")
        try:
            next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)))
        except (CronSimError, StopIteration) as error:
            raise CronError(f"invalid schedule {expression!r}: {error}") from error
        return cls(text, zone)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment`` (UTC)."""
        return next(CronSim(self.expression, moment.astimezone(self.zone))).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last tick at or before ``moment`` (UTC): the one to run after missed ticks."""
        start = moment.astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.expression, start, reverse=True)).astimezone(UTC)
