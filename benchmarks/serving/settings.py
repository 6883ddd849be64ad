"""The product's settings plus one benchmark-only page (see urls.py); used only by benchmarks/serving.py."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "serving.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
