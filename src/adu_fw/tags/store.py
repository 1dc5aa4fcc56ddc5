"""The versions directory: weekly service-tag files kept under their own names, never overwritten.

A version is a file named ``ServiceTags_<Cloud>_<YYYYMMDD>.json`` (the name Microsoft publishes
it under); its date is the date in the name, and it is taken to be in force from 00:00 UTC that
day until the next version's date. The directory is ``--dir``, else ``$ADU_FW_TAGS_DIR``, else
``<user data dir>/servicetags`` (platformdirs). The embedded files shipped in the wheel are
versions too; the default file of every command is the newest stored version of the Public
cloud, else the newest embedded one.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServiceTagError

__all__ = [
    "CLOUDS",
    "ENV_DIR",
    "ENV_CACHE",
    "VersionFile",
    "versions_dir",
    "cache_dir",
    "version_file",
    "scan",
    "stored",
    "embedded",
    "default_file",
    "resolve",
    "keep",
]

CLOUDS = ("Public", "AzureGovernment", "China", "AzureGermany")  # the weekly files Microsoft publishes
ENV_DIR = "ADU_FW_TAGS_DIR"
ENV_CACHE = "ADU_FW_CACHE_DIR"
APP = "adu-fw"
NAME = re.compile(r"^ServiceTags_(?P<cloud>[A-Za-z]+)_(?P<date>\d{8})\.json$", re.IGNORECASE)


@dataclass(frozen=True)
class VersionFile:
    """One weekly file: where it is, its cloud and date (from its name), stored or embedded."""

    path: Path
    cloud: str
    date: _dt.date
    embedded: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """The short name people use: the date as in the file name, e.g. ``20240610``."""
        return f"{self.date:%Y%m%d}"

    @property
    def starts(self) -> _dt.datetime:
        """When this version is taken to be in force: 00:00 UTC of its date."""
        return _dt.datetime(self.date.year, self.date.month, self.date.day, tzinfo=_dt.timezone.utc)

    def to_dict(self) -> dict[str, object]:
        return {"file": self.name, "path": str(self.path), "cloud": self.cloud, "date": self.date.isoformat(),
                "embedded": self.embedded}


def versions_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` (``--dir``), else ``$ADU_FW_TAGS_DIR``, else the user data dir's ``servicetags``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP)) / "servicetags"


def cache_dir() -> Path:
    """Where compiled indexes are kept: ``$ADU_FW_CACHE_DIR``, else the user cache dir."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def version_file(path: str | Path, *, embedded: bool = False) -> VersionFile | None:
    """The version a file name stands for, or None when the name carries no cloud and date."""
    p = Path(path)
    m = NAME.match(p.name)
    if not m:
        return None
    text = m.group("date")
    try:  # not strptime: its import costs more than a lookup
        date = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    cloud = _canonical_cloud(m.group("cloud"))
    return VersionFile(p, cloud, date, embedded)


def _canonical_cloud(text: str) -> str:
    return next((c for c in CLOUDS if c.casefold() == text.casefold()), text)


def scan(directory: str | Path, *, embedded: bool = False) -> list[VersionFile]:
    """Every weekly file directly in ``directory``, oldest first (a missing directory has none)."""
    d = Path(directory)
    try:
        entries = list(d.iterdir())
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise ServiceTagError("not a directory", file=str(d)) from None
    except OSError as exc:
        raise ServiceTagError(f"cannot list the directory: {exc.strerror or exc}", file=str(d)) from None
    out = [v for v in (version_file(p, embedded=embedded) for p in entries if p.is_file()) if v is not None]
    return sorted(out, key=lambda v: (v.date, v.cloud, v.name))


def stored(directory: str | Path | None = None) -> list[VersionFile]:
    return scan(versions_dir(directory))


def embedded() -> list[VersionFile]:
    from ..servicetags import _embedded_dir

    return scan(_embedded_dir(), embedded=True)


def default_file(directory: str | Path | None = None, cloud: str = "Public") -> VersionFile:
    """The newest stored version of ``cloud``, else the newest embedded one."""
    for group in (stored(directory), embedded()):
        of_cloud = [v for v in group if v.cloud.casefold() == cloud.casefold()]
        if of_cloud:
            return of_cloud[-1]
    from ..servicetags import _embedded_dir

    raise ServiceTagError(f"no service-tag file of the {cloud} cloud is stored or embedded (looked in "
                          f"{versions_dir(directory)} and {_embedded_dir()})")


def resolve(ref: str | Path | None, directory: str | Path | None = None) -> Path:
    """A path as given; else a stored or embedded version named by date (``20240610``), stem or file name.

    ``None`` is the default file. A date shared by several clouds means the Public one; without a
    Public one the reference is ambiguous (name the cloud: ``China_20260720``).
    """
    if ref is None:
        return default_file(directory).path
    p = Path(ref).expanduser()
    if p.exists():
        return p
    text = str(ref)
    key = text.casefold().removesuffix(".json").removeprefix("servicetags_")
    found: dict[str, VersionFile] = {}
    for v in stored(directory) + embedded():
        stem = v.path.stem.casefold().removeprefix("servicetags_")  # public_20240610
        if key in (stem, v.label):
            found.setdefault(v.name.casefold(), v)  # a stored copy of an embedded file is the same version
    if not found:
        return p  # load() reports the missing file
    if len(found) == 1:
        return next(iter(found.values())).path
    public = [v for v in found.values() if v.cloud == "Public"]
    if len(public) == 1:
        return public[0].path
    names = ", ".join(sorted(v.name for v in found.values()))
    raise ServiceTagError(f"{text!r} names several service-tag files ({names}); give the cloud too, e.g. "
                          f"{next(iter(found.values())).cloud}_{text}")


def keep(raw: bytes, name: str, directory: Path) -> tuple[Path, bool]:
    """Store ``raw`` as ``directory/name`` atomically; ``(path, created)``.

    Written to a temporary name in the same directory, flushed, then linked to its final name, so
    a reader never sees a partial file and a crash leaves only the temporary (which ``scan``
    ignores). A version is never overwritten: the same bytes already there are fine
    (``created`` False), different bytes are an error.
    """
    if not NAME.match(name):
        raise ServiceTagError(f"{name!r} is not a weekly file name (ServiceTags_<Cloud>_<YYYYMMDD>.json)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceTagError(f"cannot create the versions directory: {exc.strerror or exc}", file=str(directory)) from None
    final = directory / name
    if final.exists():
        return final, _same_or_refuse(final, raw)
    tmp = directory / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.part"
    try:
        with open(tmp, "xb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)  # atomic, and fails if another process kept the same name meanwhile
        except FileExistsError:
            return final, _same_or_refuse(final, raw)
        except OSError:  # a file system without hard links
            if final.exists():
                return final, _same_or_refuse(final, raw)
            os.replace(tmp, final)
        return final, True
    except OSError as exc:
        raise ServiceTagError(f"cannot write the version: {exc.strerror or exc}", file=str(final)) from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _same_or_refuse(final: Path, raw: bytes) -> bool:
    if final.read_bytes() == raw:
        return False
    raise ServiceTagError(
        "a different file is already stored under this name; versions are never overwritten "
        "(remove it by hand if it is wrong, or give the new one another date with --date)",
        file=str(final),
    )
