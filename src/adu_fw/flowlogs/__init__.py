"""NSG flow logs (v1, v2) and VNet flow logs (v4) as Arrow batches of one fixed schema.

Where they live (``sources``): files, directories (every regular file), globs, ``.gz``, and any
fsspec URL (``abfs://``/``az://`` with adlfs, ``file://``, ``memory://``); blobs in the storage
layout (``resourceId=/.../y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=MAC/PT1H.json``, ``layout``) are
pruned by ``since``/``until`` on their listed path before any is opened.
How a file holds its records (``shapes``): a blob, one record, an array, newline-delimited records
or concatenated documents, each plain or gzipped, found by content whatever the file's name; the
shape is reported per file. The version is detected per record (``records``). A well-formed file of
any shape is decoded by a compiled scanner (``_scan``) that leaves tuple strings as byte spans;
anything else goes through the general decoder, which owns the tolerance and the error reports.
Tuple strings are split, and their addresses parsed, in compiled code (``_tuples``, ``batches``).

Tolerant where real files are odd (UTF-8 BOM, UTF-16, CRLF, trailing commas, unknown letters in the
decision/state field, an array never closed), strict where data would be lost: every tuple is either
emitted or counted as rejected with a true reason and its location (``ReadStats``), and
``tuples_read == emitted + rejected`` always; a record is "truncated" only when the file ends inside it.
"""
from __future__ import annotations

from .layout import path_parts
from .reader import FlowLogStream, read, read_blob, read_bytes, read_file
from .records import MAX_TUPLES_PER_RECORD
from .schema import EXAMPLES, SCHEMA, FlowLogError, ReadStats
from .shapes import SHAPES
from .sources import FileRef, list_files

__all__ = [
    "read", "read_blob", "read_bytes", "read_file", "FlowLogStream", "ReadStats", "SCHEMA", "SHAPES", "FlowLogError",
    "FileRef", "list_files", "path_parts", "MAX_FILE_BYTES", "MAX_TUPLES_PER_RECORD", "EXAMPLES",
]

MAX_FILE_BYTES = 1 << 30  # one file is read whole (after gzip); a larger one is refused, not truncated
USE_SCANNER = True  # False: every file through the general decoder (the tests compare the two)
