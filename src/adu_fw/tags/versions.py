"""Time-aware replay: each flow-log hour decided by the service-tag file in force in that hour.

A folder of weekly files (a versions directory, or any folder of ``ServiceTags_<Cloud>_<date>.json``)
is a ``TagVersions``: the file dated at or before an hour, newest first, was in force then (a file
is in force from 00:00 UTC of its date). Hours before the oldest file are decided by the oldest
and counted. ``VersionedPolicy`` builds the policy once per version (compiled once), evaluates
each row with the version of its hour, and keeps which version decided which hours.
``Explainer`` looks at the disagreements with the log and says when another version would agree,
and which tag change makes the difference.
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import AduFwError
from ..servicetags import ServiceTags, load_cached
from . import store
from .store import VersionFile

__all__ = ["TagVersions", "VersionedPolicy", "Explainer", "time_ms", "HOUR_MS"]

HOUR_MS = 3_600_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
NEIGHBOURS = 4  # versions tried on each side of the one used when explaining disagreements


def _hour_text(hour: int) -> str:
    return (_EPOCH + _dt.timedelta(hours=hour)).isoformat()


class TagVersions:
    """Weekly files of one cloud, oldest first, and which one was in force at a time."""

    def __init__(self, files: Iterable[VersionFile], *, source: str = "", cloud: str | None = None) -> None:
        files = list(files)
        clouds = sorted({v.cloud for v in files})
        if cloud is None and len(clouds) > 1:
            cloud = "Public" if "Public" in clouds else None
            if cloud is None:
                raise AduFwError(f"{source}: weekly files of several clouds ({', '.join(clouds)}); "
                                 "keep one cloud per folder")
        if cloud is not None:
            files = [v for v in files if v.cloud.casefold() == cloud.casefold()]
        by_date: dict[_dt.date, VersionFile] = {}
        for v in sorted(files, key=lambda v: (v.date, v.embedded, v.name)):
            by_date.setdefault(v.date, v)  # a stored copy wins over the embedded one of the same date
        self.files = [by_date[d] for d in sorted(by_date)]
        if not self.files:
            raise AduFwError(f"{source}: no weekly service-tag files (ServiceTags_<Cloud>_<YYYYMMDD>.json)"
                             + (f" of the {cloud} cloud" if cloud else ""))
        self.source = source
        self.cloud = self.files[0].cloud
        self.starts_ms = np.array([int(v.starts.timestamp() * 1000) for v in self.files], np.int64)

    @classmethod
    def from_dir(cls, directory: str | Path, *, cloud: str | None = None) -> "TagVersions":
        d = Path(directory)
        if not d.is_dir():
            raise AduFwError(f"{d}: not a directory")
        return cls(store.scan(d), source=str(d), cloud=cloud)

    @classmethod
    def known(cls, cloud: str = "Public", directory: str | Path | None = None) -> "TagVersions":
        """Every stored and embedded version of ``cloud`` (the candidates when explaining)."""
        return cls(store.stored(directory) + store.embedded(), source="stored and embedded versions", cloud=cloud)

    def __len__(self) -> int:
        return len(self.files)

    def index_at(self, ms: np.ndarray) -> np.ndarray:
        """Per time (ms since the epoch, UTC), the index of the version in force (the oldest before it)."""
        idx = np.searchsorted(self.starts_ms, np.asarray(ms, np.int64), side="right") - 1
        return np.maximum(idx, 0)

    def at(self, when: _dt.datetime) -> VersionFile:
        return self.files[int(self.index_at(np.array([int(when.timestamp() * 1000)]))[0])]

    def tags(self, i: int) -> ServiceTags:
        return load_cached(self.files[i].path)

    def position(self, path: str | Path) -> int | None:
        """Where a file (by name) is in this list, if it is."""
        name = Path(path).name.casefold()
        return next((i for i, v in enumerate(self.files) if v.name.casefold() == name), None)


def time_ms(table: Any, flows: Any = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(milliseconds since the epoch, null mask) of a table's ``time`` column, None without one.

    Timestamps of any unit; integers as epoch seconds (below 1e11) or milliseconds; ISO strings.
    """
    if flows is not None and getattr(flows, "time_ms", None) is not None:
        ms = np.asarray(flows.time_ms, np.int64)
        return ms, np.zeros(len(ms), bool)
    import pyarrow as pa

    names = table.column_names if hasattr(table, "column_names") else list(table)
    if "time" not in names:
        return None
    col = table.column("time") if hasattr(table, "column") else pa.array(table["time"])
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not isinstance(col, pa.Array):
        col = pa.array(col)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    null = np.asarray(col.is_null(), bool)
    if pa.types.is_timestamp(col.type):
        ms = col.cast(pa.timestamp("ms", tz=col.type.tz)).cast(pa.int64())
    elif pa.types.is_date(col.type):
        ms = col.cast(pa.date64()).cast(pa.int64())
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        values = np.asarray(col.fill_null(0).cast(pa.float64()))
        scale = 1000.0 if values.size and float(np.abs(values).max()) < 1e11 else 1.0
        return (values * scale).astype(np.int64), null
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        texts = col.to_pylist()
        out = np.zeros(len(texts), np.int64)
        for i, text in enumerate(texts):
            if text is None or not text.strip():
                null[i] = True
                continue
            try:
                value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise AduFwError(f"time column, row {i}: expected an ISO time such as 2024-06-10T09:15:00Z, "
                                 f"got {text!r}") from None
            value = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
            out[i] = int(value.timestamp() * 1000)
        return out, null
    else:
        raise AduFwError(f"time column: expected timestamps, epoch numbers or ISO text, got {col.type}")
    return np.asarray(ms.fill_null(0), np.int64), null


@dataclass
class _Use:
    hours: set[int] = field(default_factory=set)
    tuples: int = 0


class VersionedPolicy:
    """A policy per service-tag version, each row evaluated with the version in force at its time.

    ``build(tags)`` makes the policy for one version (the NSGs and context stay the same); it runs
    once per version that some row needs, and the compiled form is kept. Everything that does not
    depend on time (the rules, their labels, ``levels``, the region diff) is the newest version's.
    """

    def __init__(self, versions: TagVersions, build: Callable[[ServiceTags], Any]) -> None:
        self.versions = versions
        self._build = build
        self._policies: dict[int, Any] = {}
        self.newest = self.policy(len(versions) - 1)
        self.usage: dict[int, _Use] = {}
        self.untimed = 0  # rows without a time: decided by the newest version
        self.last_choice: np.ndarray | None = None  # the version index per row of the last evaluate()
        self.before_oldest = 0  # rows before the oldest file: decided by the oldest

    # -- the newest version's face (what does not change with time) ----------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("newest", "_policies", "versions", "_build", "last_choice"):
            raise AttributeError(name)
        return getattr(self.newest, name)

    @property
    def service_tags(self) -> ServiceTags:
        return self.newest.service_tags

    def policy(self, i: int) -> Any:
        p = self._policies.get(i)
        if p is None:
            p = self._build(self.versions.tags(i))
            compiled = p.compile()
            if self._policies:
                first = next(iter(self._policies.values())).compile().labels
                if compiled.labels != first:  # pragma: no cover - the same NSGs give the same rules
                    raise AduFwError("the policy's rules differ between service-tag versions")
            self._policies[i] = p
        return p

    def compile(self) -> Any:
        return self.newest.compile()

    # -- evaluation ------------------------------------------------------------------------------
    def choose(self, table: Any, flows: Any = None) -> np.ndarray | None:
        """The version index per row, recording usage; None when the rows carry no time."""
        got = time_ms(table, flows)
        if got is None:
            return None
        ms, null = got
        choice = self.versions.index_at(ms)
        if null.any():
            choice[null] = len(self.versions) - 1
            self.untimed += int(null.sum())
        early = (ms < self.versions.starts_ms[0]) & ~null
        self.before_oldest += int(early.sum())
        hours = ms // HOUR_MS
        timed = ~null
        if timed.all() and choice.size and int(choice.min()) == int(choice.max()) and int(hours.min()) == int(hours.max()):
            use = self.usage.setdefault(int(choice[0]), _Use())
            use.hours.add(int(hours[0]))
            use.tuples += int(choice.size)
            return choice
        for v in np.unique(choice[timed]).tolist():
            rows = timed & (choice == v)
            use = self.usage.setdefault(int(v), _Use())
            use.hours.update(np.unique(hours[rows]).tolist())
            use.tuples += int(rows.sum())
        return choice

    def _merged(self, choice: np.ndarray | None, run: Callable[[Any], Any]) -> Any:
        import pyarrow as pa

        if choice is None:
            last = len(self.versions) - 1
            return run(self.policy(last))
        versions = np.unique(choice)
        if versions.size == 1:
            return run(self.policy(int(versions[0])))
        tables = [run(self.policy(int(v))) for v in versions.tolist()]
        n = len(choice)
        take = np.searchsorted(versions, choice).astype(np.int64) * n + np.arange(n, dtype=np.int64)
        combined = pa.concat_tables(tables).take(pa.array(take))
        return combined.combine_chunks()

    def evaluate(self, flows: Any, *, threads: int | None = None) -> Any:
        """``Policy.evaluate`` with each row's version (rows without a time: the newest)."""
        choice = self.choose(flows)
        if choice is None:
            self.untimed += _rows(flows)
        self.last_choice = choice
        return self._merged(choice, lambda p: p.evaluate(flows, threads=threads))

    def evaluate_batch(self, batch: Any, flows: Any, *, threads: int | None = None) -> Any:
        """What ``analysis.analyze`` calls per flow-log batch (already parsed ``flows``)."""
        from ..evaluate import evaluate

        choice = self.choose(batch, flows)
        if choice is None:
            self.untimed += _rows(batch)
        return self._merged(choice, lambda p: evaluate(p.compile(), flows, threads=threads))

    # -- what was used ----------------------------------------------------------------------------
    def hours_by_version(self) -> dict[int, str]:
        """Hour (as in the timeline: ISO text) -> the version label that decided it."""
        out = {}
        for v, use in self.usage.items():
            for h in use.hours:
                out[h] = self.versions.files[v].label
        return {_hour_text(h): label for h, label in sorted(out.items())}

    def to_dict(self) -> list[dict[str, Any]]:
        rows = []
        for v, use in sorted(self.usage.items()):
            f = self.versions.files[v]
            tags = self.versions.tags(v)
            hours = sorted(use.hours)
            rows.append({
                "file": f.name, "path": str(f.path), "label": f.label, "cloud": f.cloud, "date": f.date.isoformat(),
                "changeNumber": tags.change_number, "tuples": use.tuples, "hour_count": len(hours),
                "first_hour": _hour_text(hours[0]) if hours else None, "last_hour": _hour_text(hours[-1]) if hours else None,
                "hours": [_hour_text(h) for h in hours],
            })
        return rows

    def newest_hour(self) -> _dt.datetime | None:
        hours = [h for use in self.usage.values() for h in use.hours]
        return _EPOCH + _dt.timedelta(hours=max(hours)) if hours else None

    def version_for_newest_hour(self) -> ServiceTags | None:
        best = None
        for v, use in self.usage.items():
            if use.hours and (best is None or max(use.hours) > best[0]):
                best = (max(use.hours), v)
        return None if best is None else self.versions.tags(best[1])


def _rows(table: Any) -> int:
    return int(getattr(table, "num_rows", None) or len(table))


def single_use(tags: ServiceTags, hours: Iterable[str], tuples: int) -> list[dict[str, Any]]:
    """``service_tag_versions`` of a run that used one file for every hour."""
    hours = sorted(hours)
    name = Path(tags.source).name
    v = store.version_file(tags.source)
    return [{
        "file": name, "path": tags.source, "label": v.label if v else name, "cloud": tags.cloud,
        "date": tags.date.isoformat() if tags.date else None, "changeNumber": tags.change_number, "tuples": tuples,
        "hour_count": len(hours), "first_hour": hours[0] if hours else None, "last_hour": hours[-1] if hours else None,
        "hours": list(hours),
    }]


# -- explaining disagreements ---------------------------------------------------------------------
_CONTEXT_TAGS = {"virtualnetwork", "internet", "azureloadbalancer", "azureplatformdns", "azureplatformimds",
                 "azureplatformlkm", "*", "any"}


def _policy_tag_names(policy: Any) -> list[str] | None:
    """Service tags the policy's rules name (None when the policy kind does not say)."""
    nsgs = getattr(policy, "nsgs", None)
    if not nsgs:
        return None
    names: dict[str, str] = {}
    for nsg in nsgs:
        for rule in nsg.rules:
            for side in (rule.source, rule.destination):
                tag = getattr(side, "tag", None)
                if tag and tag.casefold() not in _CONTEXT_TAGS:
                    names.setdefault(tag.casefold(), tag)
    return list(names.values())


class Explainer:
    """Counts, for the disagreements with the log, the other version that would agree and why.

    Fed each analysed batch (``observe``); for the disagreeing rows it evaluates the neighbouring
    versions (up to ``NEIGHBOURS`` on each side of the one used), keeps the nearest one that agrees
    with the log, and finds the prefix added to or removed from a tag the policy uses between the
    two files that holds the flow's address.
    """

    def __init__(self, candidates: TagVersions, build: Callable[[ServiceTags], Any], *,
                 used: VersionedPolicy | None = None, used_tags: ServiceTags | None = None,
                 policy: Any = None) -> None:
        self.candidates = candidates
        self._build = build
        self._policies: dict[int, Any] = {}
        self.used = used
        self.used_tags = used_tags
        self.tag_names = _policy_tag_names(policy if policy is not None else (used.newest if used else None))
        self.counts: Counter = Counter()
        self.checked: set[int] = set()
        self._changes: dict[tuple[int, int], list[tuple[str, str, int | None, str, Any]]] = {}
        self.disagreements = 0

    def _policy(self, i: int) -> Any:
        if self.used is not None and self.used.versions is self.candidates:
            return self.used.policy(i)
        p = self._policies.get(i)
        if p is None:
            p = self._policies[i] = self._build(self.candidates.tags(i))
        return p

    def _used_index(self, batch: Any, n: int) -> np.ndarray:
        """The candidate index of the version each row was replayed with (-1: not a candidate)."""
        if self.used is not None and self.used.versions is self.candidates:
            got = time_ms(batch)
            if got is None:
                return np.full(n, len(self.candidates) - 1)
            choice = self.candidates.index_at(got[0])
            choice[got[1]] = len(self.candidates) - 1
            return choice
        pos = self.candidates.position(self.used_tags.source) if self.used_tags is not None else None
        return np.full(n, -1 if pos is None else pos)

    def _neighbours(self, u: int, ms: np.ndarray) -> list[int]:
        """Candidate versions to try for rows replayed with ``u``, nearest first."""
        if u < 0:  # the file used is not among the candidates: around the version in force at those times
            u = int(np.median(self.candidates.index_at(ms))) if ms.size else len(self.candidates) - 1
            order = [u] + [x for k in range(1, NEIGHBOURS + 1) for x in (u - k, u + k)]
        else:
            order = [x for k in range(1, NEIGHBOURS + 1) for x in (u - k, u + k)]
        return [x for x in order if 0 <= x < len(self.candidates)]

    def observe(self, batch: Any, verdicts: Any) -> None:
        """Look at one analysed batch (the ``on_batch`` hook of ``analysis.analyze``)."""
        import pyarrow as pa

        from ..analysis import row_agreement
        from ..evaluate import evaluate
        from ..flowtable import flow_arrays

        state = row_agreement(batch, verdicts)
        bad = (state == "disagree_decision") | (state == "disagree_rule")
        if not bad.any():
            return
        self.disagreements += int(bad.sum())
        rows = np.flatnonzero(bad)
        sub = batch.filter(pa.array(bad))
        used = self._used_index(batch, batch.num_rows)[rows]
        got = time_ms(sub)
        ms = got[0] if got is not None else np.zeros(len(rows), np.int64)
        flows = flow_arrays(sub)
        for u in np.unique(used).tolist():
            mine = used == u
            part = sub.filter(pa.array(mine))
            part_flows = flow_arrays(part) if not mine.all() else flows
            best = np.full(int(mine.sum()), -1)
            for w in self._neighbours(int(u), ms[mine]):
                if w == u:
                    continue
                self.checked.add(w)
                v = evaluate(self._policy(w).compile(), part_flows)
                agree = (row_agreement(part, v) == "agree") & (best < 0)
                best[agree] = w
                if (best >= 0).all():
                    break
            self._attribute(int(u), part, best)

    def _attribute(self, u: int, part: Any, best: np.ndarray) -> None:
        """Count each row under (used, agreeing version, the tag change holding its address)."""
        outbound = np.array([str(d).lower().startswith("o") for d in part.column("direction").to_pylist()], bool)
        src = np.array(part.column("src_ip").to_pylist(), dtype=object)
        dst = np.array(part.column("dst_ip").to_pylist(), dtype=object)
        remote, local = np.where(outbound, dst, src), np.where(outbound, src, dst)
        for w in np.unique(best).tolist():
            rows = np.flatnonzero(best == w)
            if w < 0:
                self.counts[(u, -1, None)] += len(rows)
                continue
            pending = rows
            # the remote address first (to a tag outbound, from it inbound), then the local one
            for addresses, remote_side in ((remote, True), (local, False)):
                for tag, change, cn, newer, matcher in self._tag_changes(u, w):
                    if not pending.size:
                        break
                    hit = matcher.contains(list(addresses[pending]))
                    for direction_out in (True, False):
                        sel = hit & (outbound[pending] == direction_out)
                        side = "to" if direction_out == remote_side else "from"
                        if sel.any():
                            self.counts[(u, w, (tag, change, cn, newer, side))] += int(sel.sum())
                    pending = pending[~hit]
            if pending.size:
                self.counts[(u, w, None)] += len(pending)

    def _tag_changes(self, u: int, w: int) -> list[tuple[str, str, int | None, str, Any]]:
        """(tag, "added"/"removed", changeNumber in the newer file, newer label, matcher) between u and w."""
        key = (u, w)
        if key in self._changes:
            return self._changes[key]
        from ..analysis import TagMatcher

        older, newer = sorted((u, w), key=self._date_of)
        a, b = self._tags_of(older), self._tags_of(newer)
        newer_label = _label(b)
        out = []
        names = self.tag_names if self.tag_names is not None else [t.name for t in b]
        for name in names:
            ta, tb = a.get(name), b.get(name)
            if ta is None and tb is None:
                continue
            pa_ = set(ta.address_prefixes) if ta else set()
            pb_ = set(tb.address_prefixes) if tb else set()
            added, removed = sorted(pb_ - pa_), sorted(pa_ - pb_)
            cn = tb.change_number if tb is not None else None
            name_shown = (tb or ta).name  # type: ignore[union-attr]
            if added:
                out.append((name_shown, "added", cn, newer_label, TagMatcher(added)))
            if removed:
                out.append((name_shown, "removed", cn, newer_label, TagMatcher(removed)))
        self._changes[key] = out
        return out

    def _tags_of(self, i: int) -> ServiceTags:
        if i < 0:
            assert self.used_tags is not None
            return self.used_tags
        return self.candidates.tags(i)

    def _date_of(self, i: int) -> _dt.date:
        d = self.used_tags.date if i < 0 and self.used_tags is not None else (
            self.candidates.files[i].date if i >= 0 else None)
        return d or _dt.date.min

    def _label_of(self, i: int) -> str:
        if i < 0:
            return _label(self.used_tags) if self.used_tags is not None else "the file used"
        return self.candidates.files[i].label

    def explanations(self) -> list[dict[str, Any]]:
        out = []
        for (u, w, key), n in sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            used = self._label_of(u)
            if w < 0:
                tried = len(self.checked)
                out.append({"disagreements": n, "used": used, "log_version": None,
                            "text": f"{n} disagreement(s) are not explained by another service-tag version "
                                    f"({tried} neighbouring version(s) tried)"})
                continue
            logv = self.candidates.files[w].label
            item: dict[str, Any] = {"disagreements": n, "used": used, "log_version": logv}
            if key is None:
                item["text"] = (f"{n} disagreement(s) agree when replayed with file {logv}; the log was written "
                                f"under {logv}")
            else:
                tag, change, cn, newer, side = key
                item.update(tag=tag, change=change, changeNumber=cn, file=newer, side=side)
                prep = "to" if change == "added" else "from"
                item["text"] = (f"{n} disagreements are flows {side} prefixes {change} {prep} {tag} in changeNumber "
                                f"{cn} (file {newer}); the log was written under {logv}")
            out.append(item)
        return out


def _label(tags: ServiceTags) -> str:
    v = store.version_file(tags.source)
    return v.label if v is not None else Path(tags.source).name


def annotate(doc: dict[str, Any], policy: Any, explainer: Explainer | None = None) -> None:
    """Add to an analysis document which version decided which hours, and the explanations.

    Keys: ``service_tag_versions`` (per file: label, changeNumber, hours, tuples), ``service_tags``
    on each ``timeline`` point (the label of the file that decided the hour),
    ``agreement.explanations`` and ``service_tag_notes``.
    """
    hours = [p["hour"] for p in doc.get("timeline", [])]
    notes: list[str] = []
    if isinstance(policy, VersionedPolicy):
        doc["service_tag_versions"] = policy.to_dict()
        by_hour = policy.hours_by_version()
        oldest = policy.versions.files[0]
        if policy.before_oldest:
            notes.append(f"{policy.before_oldest:,} tuple(s) are older than the oldest file ({oldest.name}) and were "
                         "decided by it")
        if policy.untimed:
            notes.append(f"{policy.untimed:,} tuple(s) have no time and were decided by the newest file "
                         f"({policy.versions.files[-1].name})")
    else:
        tags = policy.service_tags
        doc["service_tag_versions"] = single_use(tags, hours, int(doc.get("reconciliation", {}).get("evaluated", 0)))
        label = doc["service_tag_versions"][0]["label"]
        by_hour = {h: label for h in hours}
    for p in doc.get("timeline", []):
        p["service_tags"] = by_hour.get(p["hour"])
    doc.setdefault("agreement", {})["explanations"] = explainer.explanations() if explainer is not None else []
    doc["service_tag_notes"] = notes


def newest_hour_and_tags(doc: dict[str, Any], policy: Any) -> tuple[_dt.datetime | None, ServiceTags]:
    """The newest hour of the timeline and the file that decided it (for the stale-tags warning)."""
    hours = [p["hour"] for p in doc.get("timeline", [])]
    if not hours:
        return None, policy.service_tags
    newest = max(_dt.datetime.fromisoformat(h) for h in hours)
    if isinstance(policy, VersionedPolicy):
        return newest, policy.versions.tags(int(policy.versions.index_at(np.array([int(newest.timestamp() * 1000)]))[0]))
    return newest, policy.service_tags
