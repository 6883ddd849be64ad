"""Run the same action in many threads at once, each with its own database connection (tests marked transaction=True)."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def together(actions: list[Callable[[], T]]) -> list[T]:
    """Start every action at the same moment (a barrier), each in its own thread; their results in order."""
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], T]) -> T:
        try:
            barrier.wait(timeout=30)
            return action()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return list(pool.map(run, actions))
