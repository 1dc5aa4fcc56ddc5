"""Service-tag versions: where they are kept, how they are fetched, indexed and chosen by hour.

``adu_fw.servicetags`` reads one file; this package deals with many of them over time:

- ``store``: the versions directory (``tags update`` writes it, ``tags versions`` lists it), the
  embedded files, file names and dates, the default file, references such as ``20240610``;
- ``download``: Microsoft's download pages, mirrors and air-gapped copies, validation, atomic keeping;
- ``index``: a compiled, memory-mapped lookup index per file content, kept in the user cache;
- ``freshness``: "now" (injectable) and the stale-tags warnings;
- ``versions``: the file in force at each flow-log hour, a policy per version, and the
  explanation of disagreements that another version would not have.

Submodules are imported on use, so a command pays only for what it needs.
"""
from __future__ import annotations

__all__ = ["store", "download", "index", "freshness", "versions"]
