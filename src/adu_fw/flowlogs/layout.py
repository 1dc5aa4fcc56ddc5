"""The storage-blob layout Azure writes flow logs in, read from a path (local, or any URL).

``insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/.../NETWORKSECURITYGROUPS/
NSG/y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=MAC/PT1H.json`` (and ``insights-logs-flowlogflowevent/...``
for VNet flow logs): the path alone gives the resource, the hour and the MAC, so a time window is
applied to listed paths before any blob is opened.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any

_BLOB = re.compile(
    r"resourceId=(?P<rid>.*?)/y=(?P<y>\d{4})/m=(?P<mo>\d{2})/d=(?P<d>\d{2})/h=(?P<h>\d{2})/m=(?P<mi>\d{2})"
    r"(?:/macAddress=(?P<mac>[0-9A-Fa-f]+))?",
    re.IGNORECASE,
)


def path_parts(path: str) -> dict[str, Any]:
    """Resource id, NSG or flow-log name, hour and MAC from a blob path (the repeated ``m=`` is month, then minute)."""
    m = _BLOB.search(path.replace("\\", "/"))
    if not m:
        return {}
    rid = m.group("rid")
    try:
        hour = _dt.datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")), int(m.group("h")), tzinfo=_dt.timezone.utc)
    except ValueError:
        hour = None
    return {"resource_id": rid, "log_source": rid.rstrip("/").split("/")[-1], "hour": hour, "mac": m.group("mac")}


def in_window(hour: _dt.datetime | None, since: _dt.datetime | None, until: _dt.datetime | None) -> bool:
    """Whether a blob of that hour can hold flows in [since, until); a path without an hour always can."""
    if hour is None:
        return True
    if since is not None and hour + _dt.timedelta(hours=1) <= since:
        return False
    if until is not None and hour >= until:
        return False
    return True
