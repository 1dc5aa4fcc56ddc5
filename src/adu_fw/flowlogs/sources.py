"""Where flow logs live: local paths, directories and globs, or any fsspec URL.

Local paths need nothing but the standard library. A URL (``abfs://`` / ``az://`` with adlfs for
Azure Storage, ``file://``, ``memory://``, anything fsspec knows) is listed and read through fsspec,
an optional dependency (``pip install adu-fw[azure]`` or ``adu-fw[fsspec]``). Directories, local or
remote, give every regular file in them, whatever its name: the content decides what a file is.
"""
from __future__ import annotations

import glob as _glob
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .schema import FlowLogError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[]")
HEAD_BYTES = 1 << 16  # what is read of a large file to tell whether it can be a flow log at all


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def _setting(name: str) -> Any:
    """A limit as the package exports it (``adu_fw.flowlogs.MAX_FILE_BYTES``), so users can raise it."""
    return getattr(sys.modules[__package__], name)


@dataclass(frozen=True)
class FileRef:
    """One file to read: ``source`` is what reports name (a local path or a URL)."""

    source: str
    path: str  # the path in its file system (what the blob layout is read from)
    size: int | None = None
    fs: Any = None  # None: the local file system; else an fsspec file system

    def __str__(self) -> str:
        return self.source

    def head(self, n: int = HEAD_BYTES) -> bytes:
        try:
            if self.fs is None:
                with open(self.path, "rb") as fh:
                    return fh.read(n)
            return bytes(self.fs.cat_file(self.path, start=0, end=n))
        except Exception as exc:  # noqa: BLE001 - a storage back end raises its own types
            raise FlowLogError(f"cannot read: {_why(exc)}", file=self.source) from None

    def read(self) -> bytes:
        try:
            if self.fs is None:
                return Path(self.path).read_bytes()
            return bytes(self.fs.cat_file(self.path))
        except Exception as exc:  # noqa: BLE001
            raise FlowLogError(f"cannot read: {_why(exc)}", file=self.source) from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def list_files(paths: Iterable[str | Path], storage_options: dict[str, Any] | None = None) -> list[FileRef]:
    """Every file the paths name, in order: files as given, directories walked (sorted), globs expanded."""
    out: list[FileRef] = []
    for p in paths:
        text = str(p)
        out += _remote(text, storage_options or {}) if is_url(text) else _local(text)
    return out


def _local(text: str) -> list[FileRef]:
    if _GLOB.search(text):
        matches = sorted(_glob.glob(text, recursive=True))
        if not matches:
            raise FlowLogError(f"{text}: the pattern matches no file")
        return [ref for m in matches for ref in _local_path(m)]
    return _local_path(text)


def _local_path(text: str) -> list[FileRef]:
    if os.path.isdir(text):
        found = []
        for root, dirs, files in os.walk(text):
            dirs.sort()
            for name in files:
                full = os.path.join(root, name)
                if os.path.isfile(full):  # regular files (and links to them); no sockets, pipes or dead links
                    found.append(full)
        return [FileRef(f, f, os.path.getsize(f)) for f in sorted(found)]
    if os.path.isfile(text):
        return [FileRef(text, text, os.path.getsize(text))]
    if os.path.exists(text):
        raise FlowLogError(f"{text}: not a regular file or directory")
    raise FlowLogError(f"{text}: no such file or directory")


def _filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise FlowLogError(
            f"{url}: reading URLs needs fsspec (pip install 'adu-fw[fsspec]', or 'adu-fw[azure]' for abfs:// and az://)"
        ) from None
    try:
        return fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:  # the protocol's back end is missing (adlfs for abfs:// and az://)
        raise FlowLogError(f"{url}: {exc} (for Azure Storage: pip install 'adu-fw[azure]')") from None
    except Exception as exc:  # noqa: BLE001 - unknown protocol, bad options: the back end says which
        raise FlowLogError(f"{url}: cannot open: {_why(exc)}") from None


def _remote(url: str, options: dict[str, Any]) -> list[FileRef]:
    fs, root = _filesystem(url, options)

    def ref(path: str, info: dict[str, Any]) -> FileRef:
        return FileRef(fs.unstrip_protocol(path), path, info.get("size"), fs)

    try:
        if _GLOB.search(root):
            matches = fs.glob(root, detail=True)
            if not matches:
                raise FlowLogError(f"{url}: the pattern matches no file")
            out = []
            for path in sorted(matches):
                info = matches[path]
                if info.get("type") == "directory":
                    out += [ref(p, i) for p, i in sorted(fs.find(path, detail=True).items())]
                else:
                    out.append(ref(path, info))
            return out
        if fs.isdir(root):
            return [ref(p, i) for p, i in sorted(fs.find(root, detail=True).items()) if i.get("type") != "directory"]
        if fs.isfile(root):
            return [ref(root, fs.info(root))]
    except FlowLogError:
        raise
    except Exception as exc:  # noqa: BLE001 - credentials, network, permissions: whatever the back end raises
        raise FlowLogError(f"{url}: cannot list: {_why(exc)}") from None
    raise FlowLogError(f"{url}: no such file or directory")
