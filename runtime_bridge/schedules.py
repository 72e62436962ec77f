"""When an automation runs next: five-field cron expressions or a fixed interval, always in UTC.

Cron fields are parsed by Celery's own crontab parser (numbers, ranges, steps, lists, month and weekday
names; weekdays 0-6 with 0 = Sunday). As in the classic cron, when both the day of the month and the day
of the week are restricted, a day matching either one runs.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from celery.schedules import crontab

MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
SEARCH_DAYS = 5 * 366  # "0 0 29 2 *" runs once in four years, and every valid expression within five


class InvalidSchedule(ValueError):
    """The cron expression or interval cannot be used; the message says why, for the buyer."""


@dataclass(frozen=True)
class CronSchedule:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_of_month_restricted: bool
    weekday_restricted: bool

    def day_matches(self, day) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days_of_month
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if self.day_of_month_restricted and self.weekday_restricted:
            return by_date or by_weekday
        return by_date and by_weekday


def cron_parse(expression: str) -> CronSchedule:
    """The schedule of a five-field expression ("minute hour day-of-month month day-of-week")."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise InvalidSchedule(
            "Give five fields: minute, hour, day of the month, month and day of the week, e.g. '0 9 * * 1-5'."
        )
    minute, hour, day_of_month, month, weekday = fields
    try:
        parsed = crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=weekday
        )
    except (ValueError, TypeError, IndexError) as error:
        raise InvalidSchedule(f"Not a valid cron expression: {error}") from error
    return CronSchedule(
        minutes=tuple(sorted(parsed.minute)),
        hours=tuple(sorted(parsed.hour)),
        days_of_month=frozenset(parsed.day_of_month),
        months=frozenset(parsed.month_of_year),
        weekdays=frozenset(parsed.day_of_week),
        day_of_month_restricted=not day_of_month.startswith("*"),
        weekday_restricted=not weekday.startswith("*"),
    )


def cron_next(expression: str, *, after: datetime) -> datetime:
    """The first minute strictly after `after` that the expression names (UTC)."""
    schedule = cron_parse(expression)
    start = (after.astimezone(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    for offset in range(SEARCH_DAYS):
        day = start.date() + timedelta(days=offset)
        if not schedule.day_matches(day):
            continue
        earliest = start.time() if offset == 0 else time(0, 0)
        for hour in schedule.hours:
            if hour < earliest.hour:
                continue
            for minute in schedule.minutes:
                if hour == earliest.hour and minute < earliest.minute:
                    continue
                return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    raise InvalidSchedule("This cron expression never runs.")


def interval_check(seconds) -> int:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise InvalidSchedule("Give the interval in whole seconds.")
    if seconds < MIN_INTERVAL_SECONDS:
        raise InvalidSchedule(f"Run at most once a minute: at least {MIN_INTERVAL_SECONDS} seconds.")
    if seconds > MAX_INTERVAL_SECONDS:
        raise InvalidSchedule("Run at least once a year.")
    return seconds


def interval_next(seconds: int, *, after: datetime, previous: datetime | None = None) -> datetime:
    """The next run `seconds` after the previous planned one, keeping the rhythm; a run that was missed
    (the scheduler was down) is not made up for: the next one is the first of the rhythm after `after`."""
    step = timedelta(seconds=interval_check(seconds))
    if previous is None or previous > after:
        return after + step
    missed = (after - previous) // step
    return previous + (missed + 1) * step
