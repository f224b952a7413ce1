"""When a schedule's runs fall: every `interval_hours`, or at the times of a cron expression in an
IANA timezone (croniter parses and iterates the expression; zoneinfo knows the zone's offsets).

Cron times are wall-clock times of the zone, so `0 3 * * *` in Europe/Paris is 03:00 in winter and
in summer. Across daylight saving changes each wall-clock time runs once: in the autumn hour that
happens twice, the first time only (croniter on aware datetimes would run `30 2 * * *` twice that
night); in the spring hour that does not exist, the time is taken with the offset before the jump
(02:30 becomes 03:30 summer time), and two times that land on one instant run once. The loop's
exactly-once claim (recurring_loop.py) is unchanged: it moves `next_run_at` to what this returns.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from control_api.domain_errors import Invalid

CRON_MAX_LENGTH = 120
# A run time of an expression that matches rarely (29 February, a weekday that is the 31st) is
# searched this far ahead; one that never matches (30 February) is refused when it is given.
SEARCH_YEARS = 8
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


class InvalidCadence(Invalid):
    """A schedule's cadence fields do not go together; `field` is the one the message is about (the
    API's 400 names it, the dashboard shows the message next to it)."""

    def __init__(self, field: str, message: str):
        super().__init__("invalid_field", f"Field '{field}': {message}.")
        self.field = field


def check_cron(expression: str) -> str:
    """The expression with its fields separated by single spaces, or ValueError saying what is wrong."""
    normalised = " ".join(expression.split())
    if normalised.lower() not in ALIASES and len(normalised.split()) != 5:
        raise ValueError("must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), "
                         "e.g. '0 3 * * 1', or one of " + ", ".join(ALIASES))  # fmt: skip
    try:
        croniter(normalised)
    except (CroniterBadCronError, CroniterError, ValueError) as exc:
        raise ValueError(f"not a valid cron expression ({exc})") from None
    try:
        next_cron_time(normalised, "UTC", datetime(2000, 1, 1, tzinfo=timezone.utc))
    except ValueError:
        raise ValueError(f"{normalised!r} never matches a date") from None
    return normalised


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """An IANA zone name zoneinfo knows (e.g. Europe/Paris, America/New_York, UTC), else ValueError."""
    if name not in _zone_names() or name in ("localtime", "posixrules", "Factory"):  # not zones of a place
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Paris, America/New_York, UTC)")
    return name


def next_cron_time(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first run time of `expression` in the zone strictly later than `after` (aware), in UTC.
    ValueError when there is none within SEARCH_YEARS."""
    zone = ZoneInfo(zone_name)
    wall = after.astimezone(zone).replace(tzinfo=None)
    # Start an hour back: a wall-clock time already passed in the repeated autumn hour may still be
    # ahead of `after` as an instant; the loop below keeps only times later than `after`.
    times = croniter(expression, wall - timedelta(hours=1), max_years_between_matches=SEARCH_YEARS)
    for _ in range(200):
        try:
            candidate: datetime = times.get_next(datetime)
        except CroniterBadDateError:
            break
        instant = candidate.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
        if instant > after:
            return instant
    raise ValueError(f"{expression!r} has no run time after {after.isoformat()}")


def shortest_gap_minutes(expression: str) -> int:
    """The least time between two runs of a (checked) cron expression, in minutes, on the clock
    face: from its minute and hour fields, a run late one day and one early the next counted as
    close (the day fields only pick days). The day of a daylight saving jump is not special: there
    two runs astride the jump may be an hour closer than this, once a year."""
    minute_field, hour_field = croniter(expression).expanded[:2]
    minutes = range(60) if minute_field == ["*"] else sorted(minute_field)
    hours = range(24) if hour_field == ["*"] else sorted(hour_field)
    times = [hour * 60 + minute for hour in hours for minute in minutes]
    return min([later - earlier for earlier, later in zip(times, times[1:])] + [times[0] + 24 * 60 - times[-1]])


def check_spacing(interval_hours: int | None, cron: str | None, min_minutes: int) -> None:
    """InvalidCadence, on the field at fault, when runs would come closer than `min_minutes`
    (MIN_SCHEDULE_INTERVAL_MINUTES; 0 allows any). A schedule stored before keeps running as it is."""
    if cron is not None:
        gap = shortest_gap_minutes(cron)
        if gap < min_minutes:
            raise InvalidCadence("cron", f"runs would be {gap} minute{'s' * (gap != 1)} apart; schedules run at most "
                                         f"every {min_minutes} minutes (MIN_SCHEDULE_INTERVAL_MINUTES)")  # fmt: skip
    elif interval_hours is not None and interval_hours * 60 < min_minutes:
        raise InvalidCadence("interval_hours", f"must be at least {min_minutes} minutes between runs "
                                               "(MIN_SCHEDULE_INTERVAL_MINUTES)")  # fmt: skip


def next_interval_time(due: datetime, interval_hours: int, now: datetime) -> datetime:
    """The first run time on an interval cadence later than `now`: runs missed while nothing was
    running collapse into the one being started, they are not caught up one by one."""
    interval = timedelta(hours=interval_hours)
    missed = max(0, (now - due) // interval)
    return due + (missed + 1) * interval


def first_run(interval_hours: int | None, cron: str | None, zone_name: str | None, now: datetime) -> datetime:
    """A new (or newly enabled, or re-timed) schedule's first run: one interval from now, or the
    cron expression's next time."""
    if cron is not None:
        return next_cron_time(cron, zone_name or "UTC", now)
    return now + timedelta(hours=interval_hours)


def next_run_after(schedule, now: datetime) -> datetime:
    """The run after the one being claimed now (by recurring_loop.py), later than `now`."""
    if schedule.cron is not None:
        return next_cron_time(schedule.cron, schedule.timezone or "UTC", now)
    return next_interval_time(schedule.next_run_at, schedule.interval_hours, now)
