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


def use_scale_database(scale: str) -> None:
    """Point Django at the training benchmark's database and models for ``scale`` (paperfeed_bench_<scale>), then set
    it up."""
    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    os.environ["DATABASE_URL"] = f"{server}/paperfeed_bench_{scale.lower()}"
    os.environ.setdefault("MODEL_DIR", str(REPO / "var" / "bench-models" / scale))
    setup_django()


def machine() -> str:
    cores = os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = float("nan")
    return f"{platform.processor() or platform.machine()}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"
