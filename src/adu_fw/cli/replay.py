"""What `analyze`, `evaluate` and `diff --flows` share about service-tag versions: the explainer, the text."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import AduFwError
from .common import firewall_of, policy_of, warn_stale


def builder(args: argparse.Namespace) -> Any:
    """The policy of these arguments with other service tags (warnings printed once, by the first build)."""
    if args.firewall_policy:
        return lambda tags: firewall_of(args, tags, quiet=True)
    return lambda tags: policy_of(args, tags, quiet=True)


def explainer_for(args: argparse.Namespace, policy: Any) -> Any:
    """An Explainer over the versions of the replay, else over every stored and embedded one."""
    from ..tags.versions import Explainer, TagVersions, VersionedPolicy

    if isinstance(policy, VersionedPolicy):
        return Explainer(policy.versions, builder(args), used=policy) if len(policy.versions) > 1 else None
    tags = policy.service_tags
    try:
        candidates = TagVersions.known(cloud=tags.cloud or "Public")
    except AduFwError:
        return None
    if len(candidates) < 2 and candidates.position(tags.source) is not None:
        return None
    return Explainer(candidates, builder(args), used_tags=tags, policy=policy)


def annotate(doc: dict[str, Any], policy: Any, explainer: Any, report: Any) -> None:
    """Versions by hour and explanations into the document; the stale-tags warning on stderr."""
    from ..tags.versions import annotate as add, newest_hour_and_tags

    add(doc, policy, explainer)
    newest, tags = newest_hour_and_tags(doc, policy)
    warn_stale(tags, newest)


def versions_text(doc: dict[str, Any]) -> str:
    """The "service tags by hour" lines of the text report."""
    rows = doc.get("service_tag_versions", [])
    lines = []
    if len(rows) == 1 and not doc.get("service_tag_notes"):
        r = rows[0]
        return (f"service tags: {r['file']} (changeNumber {r['changeNumber']}, {r['date'] or 'date unknown'}) "
                f"for every hour ({r['hour_count']} hour(s))")
    lines.append("service tags by hour (the file in force at each hour):")
    for r in rows:
        span = r["first_hour"][:16] + "Z" if r["first_hour"] else "-"
        if r["last_hour"] and r["last_hour"] != r["first_hour"]:
            span += f" .. {r['last_hour'][:16]}Z"
        lines.append(f"  {r['label']} ({r['file']}, changeNumber {r['changeNumber']}): {r['hour_count']} hour(s) "
                     f"{span}, {r['tuples']:,} tuple(s)")
    for note in doc.get("service_tag_notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)
