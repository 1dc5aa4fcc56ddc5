"""``adu-fw tags update``: fetch the current weekly file of a cloud, validate it, keep it as a version.

Microsoft publishes each cloud's file on a Download Center page (``details.aspx?id=56519`` for
Public; 57063 AzureGovernment, 57062 China, 57064 AzureGermany) whose link changes every week.
The link is found in the page: the ``window.__DLCDetails__`` JSON the page carries
(``dlcDetailsView.downloadFile[].url``), its download button (``a.dlcdetail__download-btn``) and
any other link to a ``ServiceTags_<Cloud>_<YYYYMMDD>.json``; the newest such file wins. ``--from``
replaces the page (a mirror, an intranet copy, a file on disk), or names the JSON itself.

Plain ``urllib``: it honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, and one GET of a
page and of a 4 MB file needs nothing more. Every read has a timeout and the whole transfer a
deadline (a server that trickles bytes does not hang the command). Nothing is written until the
file has been read completely (Content-Length checked) and validated as a whole service-tag
file; then it is kept atomically under its own name (``store.keep``).
"""
from __future__ import annotations

import datetime as _dt
import email.utils
import html as _html
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AduFwError, ServiceTagError
from ..servicetags import KNOWN_CLOUDS, MAX_FILE_BYTES, ServiceTags
from . import store

__all__ = ["PAGE_IDS", "page_url", "DownloadError", "Fetched", "fetch", "find_json_link", "Update", "update",
           "DEFAULT_TIMEOUT"]

PAGE_IDS = {"Public": 56519, "AzureGovernment": 57063, "China": 57062, "AzureGermany": 57064}
DEFAULT_TIMEOUT = 60.0
MAX_PAGE_BYTES = 16 * 1024 * 1024
USER_AGENT = "Mozilla/5.0 (compatible; adu-fw service-tag update)"
_CHUNK = 1 << 16


def page_url(cloud: str) -> str:
    return f"https://www.microsoft.com/en-us/download/details.aspx?id={PAGE_IDS[cloud]}"


class DownloadError(AduFwError):
    """A page or file that could not be fetched, or not used (the message names the URL)."""


@dataclass
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str | None = None
    last_modified: _dt.datetime | None = None


def _is_local(ref: str) -> bool:
    scheme = urllib.parse.urlsplit(ref).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and ref[1:3] in (":\\", ":/"))  # C:\ paths


def fetch(ref: str, *, timeout: float = DEFAULT_TIMEOUT, limit: int = MAX_FILE_BYTES) -> Fetched:
    """The bytes at a URL (http, https, file) or a local path, whole or not at all."""
    if _is_local(ref):
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(ref).path) if ref.lower().startswith("file:") else ref)
        try:
            size = path.stat().st_size
            if size > limit:
                raise DownloadError(f"{path}: {size} bytes; the limit is {limit}")
            data = path.read_bytes()
            mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc)
        except OSError as exc:
            raise DownloadError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return Fetched(str(path), data, None, mtime)
    scheme = urllib.parse.urlsplit(ref).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{ref}: unsupported URL scheme {scheme!r} (http, https, file or a path)")
    req = urllib.request.Request(ref, headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
    deadline = time.monotonic() + timeout
    received = 0
    expected: int | None = None
    try:
        opener = urllib.request.build_opener()  # a new one each time: proxies as the environment says now
        with opener.open(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.strip().isdigit() else None
            if expected is not None and expected > limit:
                raise DownloadError(f"{ref}: {expected} bytes announced; the limit is {limit}")
            chunks = []
            while True:
                if time.monotonic() > deadline:
                    raise DownloadError(f"{ref}: timed out after {timeout:g} s (received {received:,} bytes"
                                        + (f" of {expected:,})" if expected is not None else ")"))
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise DownloadError(f"{ref}: more than {limit} bytes; the limit is {limit}")
                chunks.append(chunk)
            if expected is not None and received != expected:
                raise DownloadError(f"{ref}: truncated download: received {received:,} of {expected:,} bytes")
            modified = resp.headers.get("Last-Modified")
            when = None
            if modified:
                try:
                    when = email.utils.parsedate_to_datetime(modified)
                except (TypeError, ValueError):
                    when = None
            return Fetched(resp.geturl(), b"".join(chunks), resp.headers.get("Content-Type"), when)
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{ref}: HTTP {exc.code} {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        got = received + len(exc.partial or b"")
        raise DownloadError(f"{ref}: truncated download: received {got:,}"
                            + (f" of {expected:,} bytes" if expected is not None else " bytes")) from None
    except (socket.timeout, TimeoutError):
        raise DownloadError(f"{ref}: timed out after {timeout:g} s (no answer within the timeout)") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise DownloadError(f"{ref}: timed out after {timeout:g} s connecting") from None
        raise DownloadError(f"{ref}: cannot connect: {reason}" + _proxy_note(ref)) from None
    except (http.client.HTTPException, OSError) as exc:
        raise DownloadError(f"{ref}: transfer failed: {exc}" + _proxy_note(ref)) from None


def _proxy_note(url: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    proxy = urllib.request.getproxies().get(scheme)
    host = urllib.parse.urlsplit(url).hostname or ""
    if proxy and not urllib.request.proxy_bypass(host):
        return f" (through the proxy {proxy} from the environment)"
    return ""


# -- the page ----------------------------------------------------------------------------------
_DLC = re.compile(r"window\.__DLCDetails__\s*=\s*", re.S)
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.S | re.I)
_BARE = re.compile(r"""https?://[^\s"'<>\\]+?\.json\b""", re.I)
_FILE = re.compile(r"ServiceTags_(?P<cloud>[A-Za-z]+)_(?P<date>\d{8})\.json$", re.I)


def _dlc_links(text: str) -> list[str]:
    out = []
    for m in _DLC.finditer(text):
        try:
            doc, _ = json.JSONDecoder().raw_decode(text, m.end())
        except ValueError:
            continue
        view = doc.get("dlcDetailsView") if isinstance(doc, dict) else None
        files = view.get("downloadFile") if isinstance(view, dict) else None
        for f in files if isinstance(files, list) else []:
            if isinstance(f, dict) and isinstance(f.get("url"), str):
                out.append(f["url"])
    return out


def find_json_link(page: str, base_url: str, cloud: str | None = None) -> str:
    """The URL of the newest ``ServiceTags_<cloud>_<date>.json`` the page links to."""
    candidates = _dlc_links(page)
    candidates += [_html.unescape(m.group(2)) for m in _HREF.finditer(page)]
    candidates += [m.group(0) for m in _BARE.finditer(page)]
    urls = []
    for c in candidates:
        url = urllib.parse.urljoin(base_url, c.strip())
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        m = _FILE.match(name)
        if m and (cloud is None or m.group("cloud").casefold() == cloud.casefold()):
            urls.append((m.group("date"), url))
    if urls:
        return max(urls)[1]
    jsons = sorted({urllib.parse.urljoin(base_url, c.strip()) for c in candidates
                    if urllib.parse.urlsplit(c.strip()).path.lower().endswith(".json")})
    if len(jsons) == 1:
        return jsons[0]
    what = f"ServiceTags_{cloud}_<YYYYMMDD>.json" if cloud else "ServiceTags_<Cloud>_<YYYYMMDD>.json"
    raise DownloadError(
        f"{base_url}: no link to a {what} file on the page"
        + (f" ({len(jsons)} other .json links)" if jsons else "")
        + "; if the page changed, download the file by hand and run `adu-fw tags update --from FILE`"
    )


def _looks_like_json(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


# -- update ------------------------------------------------------------------------------------
@dataclass
class Update:
    path: Path
    created: bool
    url: str
    page: str | None
    tags: ServiceTags
    dated_by: str  # "file name", "--date", "Last-Modified", "file time"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name, "path": str(self.path), "created": self.created, "url": self.url, "page": self.page,
            "cloud": self.tags.cloud, "changeNumber": self.tags.change_number,
            "date": self.tags.date.isoformat() if self.tags.date else None, "dated_by": self.dated_by,
            "tags": len(self.tags), "prefixes": self.tags.prefix_count, "shape": self.tags.shape,
        }


def update(
    cloud: str | None = None,
    *,
    source: str | None = None,
    directory: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    date: _dt.date | None = None,
) -> Update:
    """Fetch, validate and keep the current file of ``cloud`` (default Public); see the module doc."""
    if cloud is not None:
        cloud = next((c for c in KNOWN_CLOUDS if c.casefold() == cloud.casefold()), None) or _bad_cloud(cloud)
    want = cloud or "Public"
    page = None
    if source is None:
        page = page_url(want)
        got = fetch(page, timeout=timeout, limit=MAX_PAGE_BYTES)
        got = fetch(find_json_link(_text(got), got.url, want), timeout=timeout)
        cloud = want
    else:
        got = fetch(source, timeout=timeout)
        if not _looks_like_json(got.data):
            page = got.url
            got = fetch(find_json_link(_text(got), _base(got.url), cloud), timeout=timeout)
    return _keep(got, page, cloud, directory, date)


def _bad_cloud(cloud: str) -> str:
    raise AduFwError(f"--cloud: expected one of {', '.join(KNOWN_CLOUDS)}, got {cloud!r}")


def _text(got: Fetched) -> str:
    return got.data.decode("utf-8", errors="replace")


def _base(url: str) -> str:
    """A base for relative links: a URL as is, a local path as a file: URL."""
    if _is_local(url):
        return Path(url).resolve().as_uri()
    return url


def _keep(got: Fetched, page: str | None, cloud: str | None, directory: str | Path | None,
          date: _dt.date | None) -> Update:
    name = urllib.parse.unquote(urllib.parse.urlsplit(_base(got.url)).path.rsplit("/", 1)[-1])
    try:
        tags = ServiceTags.from_bytes(got.data, source=got.url)
    except ServiceTagError as exc:
        raise DownloadError(f"{got.url}: not a valid service-tag file, nothing was stored: {exc.message}") from None
    if len(tags) == 0:
        raise DownloadError(f"{got.url}: the file lists no service tags; nothing was stored")
    if tags.next_link:
        raise DownloadError(f"{got.url}: one page of a paged answer (nextLink is set): tags on later pages are "
                            "missing; save the complete answer and update from that; nothing was stored")
    content_cloud = tags.cloud_in_file
    named = store.version_file(name)
    if named is not None and content_cloud is not None and named.cloud.casefold() != content_cloud.casefold():
        raise DownloadError(f"{got.url}: named for the {named.cloud} cloud but its content says {content_cloud!r}")
    file_cloud = content_cloud or (named.cloud if named else None)
    if file_cloud is None:
        raise DownloadError(f"{got.url}: the file does not say its cloud (no top-level \"cloud\", no cloud in its name)")
    file_cloud = next((c for c in KNOWN_CLOUDS if c.casefold() == file_cloud.casefold()), file_cloud)
    if cloud is not None and file_cloud != cloud:
        raise DownloadError(f"{got.url}: a file of the {file_cloud} cloud, not {cloud}; nothing was stored")
    if named is not None:
        if date is not None and date != named.date:
            raise DownloadError(f"{got.url}: the file is dated {named.date} by its name, not {date} (--date)")
        final, dated_by = f"ServiceTags_{file_cloud}_{named.date:%Y%m%d}.json", "file name"
    else:
        if date is not None:
            when, dated_by = date, "--date"
        elif got.last_modified is not None:
            when = got.last_modified.astimezone(_dt.timezone.utc).date()
            dated_by = "file time" if _is_local(got.url) else "Last-Modified"
        else:
            from .freshness import now

            when, dated_by = now().date(), "today"
        final = f"ServiceTags_{file_cloud}_{when:%Y%m%d}.json"
    path, created = store.keep(got.data, final, store.versions_dir(directory))
    kept = ServiceTags.from_bytes(got.data, source=str(path))
    try:  # compile the lookup index now, so the first lookup with this version is fast
        from .index import open_tags

        open_tags(path)
    except ServiceTagError:  # pragma: no cover - the same bytes validated above
        pass
    return Update(path, created, got.url, page, kept, dated_by)
