"""Array helpers for tests."""

import numpy as np


def memory_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` reads a memory-mapped file (itself, or any array it is a view of)."""
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = getattr(array, "base", None)
    return False
