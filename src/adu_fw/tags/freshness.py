"""Is the service-tag file used current enough for the question asked?

Azure updates the ranges behind a tag every week, so an answer computed with an old file can be
wrong without any error. A warning is due when the file used is older than the newest flow-log
hour by more than 14 days, or, when there is no log, older than today by more than 90 days.
"Now" comes from ``$ADU_FW_NOW`` (an ISO date or time) when set, so tests and reproducible runs
can fix it.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any

__all__ = ["ENV_NOW", "WITH_LOG", "WITHOUT_LOG", "now", "file_date", "stale_message"]

ENV_NOW = "ADU_FW_NOW"
WITH_LOG = _dt.timedelta(days=14)
WITHOUT_LOG = _dt.timedelta(days=90)


def now() -> _dt.datetime:
    """The current time (UTC), or ``$ADU_FW_NOW``."""
    text = os.environ.get(ENV_NOW)
    if text:
        try:
            value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            from ..errors import AduFwError

            raise AduFwError(f"{ENV_NOW} must be an ISO date or time such as 2026-12-01, got {text!r}") from None
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    return _dt.datetime.now(_dt.timezone.utc)


def file_date(tags: Any) -> _dt.datetime | None:
    """When a loaded file's version starts (00:00 UTC of the date in its name), or None if unknown."""
    d = getattr(tags, "date", None)
    if d is None:
        return None
    return _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc)


def stale_message(tags: Any, newest_hour: _dt.datetime | None = None, *, at: _dt.datetime | None = None) -> str | None:
    """The warning for ``tags`` (a ServiceTags), or None when it is fresh enough or undated."""
    started = file_date(tags)
    if started is None:
        return None
    name = _short(tags)
    if newest_hour is not None:
        if newest_hour.tzinfo is None:
            newest_hour = newest_hour.replace(tzinfo=_dt.timezone.utc)
        gap = newest_hour - started
        if gap <= WITH_LOG:
            return None
        return (f"the service tags used ({name}, {started:%Y-%m-%d}) are {gap.days} days older than the newest "
                f"flow-log hour ({newest_hour:%Y-%m-%dT%H:%MZ}); flows to addresses Azure added since then are "
                "judged with the old ranges: pass --service-tags DIR (a folder of weekly files, e.g. the one "
                "`adu-fw tags update` keeps) to replay each hour with the file in force then")
    today = at or now()
    gap = today - started
    if gap <= WITHOUT_LOG:
        return None
    return (f"the service tags used ({name}, {started:%Y-%m-%d}) are {gap.days} days old (today is "
            f"{today:%Y-%m-%d}); Azure changes them weekly: run `adu-fw tags update` for the current file")


def _short(tags: Any) -> str:
    from pathlib import Path

    src = getattr(tags, "source", "") or ""
    return Path(src).name or src
