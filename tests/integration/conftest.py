"""Real services for integration tests: a private Redis server and Celery workers in subprocesses."""

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tasks.celery import app
from tests.conftest import REPO, RedisServer, free_port, use_broker, wait_for  # noqa: F401 (the integration tests import them from here)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    """Point this process's Celery app at the private Redis (and back afterwards)."""
    before = app.conf.broker_url
    use_broker(redis_server.url)
    yield redis_server
    use_broker(before)


def database_url() -> str:
    """The test database as a URL, for processes started by the tests."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def service_env(transactional_db, broker, settings):
    """Environment for subprocesses (workers, manage.py): same database, broker, model folder and secret."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker.url,
        "CELERY_BROKER_URL": broker.url,
        "MODEL_DIR": str(settings.MODEL_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "ALS_FACTORS": str(settings.ALS_FACTORS),
        "ALS_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "DEBUG": "0",
        "CONTENT_EMBEDDINGS": "on" if settings.CONTENT_EMBEDDINGS else "off",
    }
    return env


class Worker:
    def __init__(self, env: dict, log: Path, queues: str) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "--queues",
                queues,
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--hostname",
                self.name,
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self.answers, timeout=60, what=f"worker {self.name} to answer a ping (log: {log})")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        return bool(app.control.ping(destination=[self.name], timeout=0.5))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_worker(service_env, tmp_path):
    workers: list[Worker] = []

    def start(queues: str = "default,training", **extra_env: str) -> Worker:
        worker = Worker({**service_env, **extra_env}, tmp_path / f"worker-{len(workers)}.log", queues)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
