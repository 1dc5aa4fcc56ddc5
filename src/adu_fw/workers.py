"""Work on every core, answers in input order: what `analyze` and `evaluate` spread over threads.

``ordered(fn, items, threads)`` runs ``fn`` on each item in a pool of threads and yields the results
in the order of the items, with at most ``ahead`` items started and not yet consumed, so memory is
bounded by a few units of work per thread whatever the input's size. The first error is raised
where its item stands in the order (the items after it are cancelled), as a loop would raise it.
With one thread the items run in the calling thread, one after the other, with no pool at all.

Threads, not processes: the compiled readers and matcher release the GIL for their loops
(``_scan``, ``_tuples``, ``_match``, ``_prefix``), the policy, its compiled tables and the
service-tag versions are shared instead of pickled, and batches handed to a callback need no copy.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["ordered", "resolve_threads"]

T = TypeVar("T")
R = TypeVar("R")


def resolve_threads(threads: int | None) -> int:
    """``None`` (the default): every core; otherwise the number asked for (at least 1)."""
    if threads is None:
        from .evaluate import default_threads  # the cores this process may run on

        return default_threads()
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads: expected a number >= 1, got {threads}")
    return threads


def ordered(fn: Callable[[T], R], items: Iterable[T], threads: int, *, ahead: int | None = None) -> Iterator[R]:
    """``fn(item)`` for every item, yielded in the items' order, ``threads`` at a time."""
    if threads <= 1:
        for item in items:
            yield fn(item)
        return
    window = max(threads, ahead if ahead is not None else 2 * threads)
    pending: deque[Future[R]] = deque()
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adu-fw")
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:  # an error, or the consumer stopped early: nothing more is started
            f.cancel()
        pool.shutdown(wait=True)
