"""Progress events from a prove run, also from its worker processes: `post` sends an event
to whatever `install` set (a callback in-process; in a worker, the queue that `relay` hands
to the pool initializer). checker/progress.py turns them into a bar. Posting never fails a
proof: with nothing installed it does nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Event = tuple[Any, ...]
_sink: Callable[[Event], None] | None = None


def install(sink: Callable[[Event], None] | None) -> None:
    global _sink
    _sink = sink


def init_worker(q: Any) -> None:
    """ProcessPoolExecutor initializer: this worker's events go to the parent's queue."""
    install(q.put)


def post(*event: Any) -> None:
    if _sink is not None:
        try:
            _sink(event)
        except (OSError, ValueError):  # a closed queue must not fail a proof
            pass


@contextmanager
def relay(on_event: Callable[[Event], None] | None) -> Iterator[dict[str, Any]]:
    """ProcessPoolExecutor keyword arguments that route the workers' events to `on_event`
    (called on a thread of this process); nothing when there is no `on_event`."""
    if on_event is None:
        yield {}
        return
    import multiprocessing as mp
    import queue
    import threading

    q = mp.get_context().Queue()
    stop = threading.Event()

    def drain() -> None:
        while True:
            try:
                ev = q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            on_event(ev)

    th = threading.Thread(target=drain, daemon=True)
    th.start()
    try:
        yield {"initializer": init_worker, "initargs": (q,)}
    finally:
        stop.set()
        th.join(timeout=5)
        q.close()
