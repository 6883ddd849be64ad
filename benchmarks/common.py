"""Shared set-up for benchmarks: Django settings (for the product's parameters) and the data sets."""

import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CITEULIKE = SHARED / "datasets" / "citeulike-a"
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def setup_django() -> None:
    import django

    django.setup()


def machine() -> str:
    cores = os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = float("nan")
    return f"{platform.processor() or platform.machine()}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"
