"""Days and moments as people in Japan read them. A module of its own, importing
only the standard library, for the command line that parses dates before it
knows what it will do with them; re-exported from ``lifecycle``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def shown(moment: datetime) -> str:
    """A moment as people here read it, in messages, pages and registers alike:
    date and time in Japan, whatever zone it was recorded in (timers record UTC)."""
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def shown_day(moment: datetime) -> str:
    """The day of a moment in Japan (a deadline recorded in UTC at 20:00 is the
    next day here)."""
    return moment.astimezone(JST).strftime("%Y-%m-%d")


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in Japan (of a moment's day in Japan): a day
    given as a deadline ("2017年9月まで") or as a cutoff lasts to its end."""
    if isinstance(day, datetime):
        day = day.astimezone(JST).date()
    return datetime.combine(day, time.max, JST)
