"""Stand-in: the FIFO the connection's transfer workers block on (protocol.md §7.3)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class FastQueue:
    def __init__(self) -> None:
        self._buf: deque[Any] = deque()
        self._cond = threading.Condition()

    def put(self, item: Any) -> None:
        with self._cond:
            self._buf.append(item)
            self._cond.notify()

    def get(self) -> Any:
        with self._cond:
            while not self._buf:
                self._cond.wait()
            return self._buf.popleft()
