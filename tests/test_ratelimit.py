"""Rate limits live in Redis, shared by every web process, counted atomically, and open when Redis is down."""

import os
import runpy
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from config.ratelimit import rate_limit_hit
from tests.concurrency import together
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "5/min"})


def settings_with(monkeypatch, **env) -> dict:
    """config/settings.py as a process started with ``env`` would read it."""
    for name in ("CACHE_URL", "REDIS_URL", "CELERY_BROKER_URL", "BEHIND_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(REPO / "config" / "settings.py"))


def test_the_cache_is_redis_in_a_database_of_its_own_and_proxies_set_num_proxies(monkeypatch):
    config = settings_with(monkeypatch, REDIS_URL="redis://10.0.0.5:6380/0")
    assert config["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert config["CACHES"]["default"]["LOCATION"] == "redis://10.0.0.5:6380/1"
    assert config["REST_FRAMEWORK"]["NUM_PROXIES"] == 0
    assert settings_with(monkeypatch, BEHIND_PROXY="1")["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    with pytest.raises(ImproperlyConfigured, match="same Redis database"):
        settings_with(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/4", CACHE_URL="redis://127.0.0.1:6379/4")


def test_a_second_process_sees_the_count_of_the_first(alice, low_rates, settings):
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=alice, name='script')[1]}")
    assert [script.get("/api/feed/").status_code for _ in range(5)] == [200] * 5
    other_worker = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from config.ratelimit import rate_limit_hit; "
            f"print(rate_limit_hit('throttle_user_{alice.pk}', limit=5, period=60)[0])",
        ],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CACHE_URL": settings.CACHE_URL,
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other_worker.returncode == 0, other_worker.stderr
    assert other_worker.stdout.strip() == "False"  # the allowance was spent in another process


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_get_exactly_the_allowance(settings):
    # Generous timeouts: this is about counting, and on a loaded machine sixty threads at once can wait longer than
    # the site's half second, after which a limit lets the request through (see test_without_redis_...).
    settings.CACHES = {"default": {**settings.CACHES["default"], "OPTIONS": {"socket_connect_timeout": 10, "socket_timeout": 10}}}
    results = together([lambda: rate_limit_hit("probe", limit=20, period=3600)[0] for _ in range(60)])
    assert results.count(True) == 20


def test_behind_a_proxy_a_made_up_forwarded_address_does_not_reset_the_anonymous_limit(client, paper, low_rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    codes = [
        client.get("/api/papers/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9").status_code
        for n in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert client.get("/api/papers/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 200


def test_without_redis_the_site_and_the_api_still_answer(client, paper, settings, caplog):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/1"}}
    assert client.get("/api/papers/").status_code == 200
    assert client.get("/").status_code == 200
    assert "the cache is unreachable" in caplog.text


def test_another_cache_backend_counts_the_same_way(settings):
    """A local cache (a developer's override) counts with three commands where Redis takes one round trip."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [rate_limit_hit("probe", limit=2, period=60)[0] for _ in range(3)] == [True, True, False]
