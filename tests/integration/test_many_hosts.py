"""A site of several hosts: two web hosts (gunicorn, each its own model folder, no shared disk), a training worker,
PostgreSQL or SQLite, Redis and an S3-compatible bucket on loopback; the model reaches every host through the bucket."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accounts.tokens import api_token_create
from recommender.models import TrainingRun
from recommender.services.training import retrain_request
from tests.conftest import REPO, S3_CREDENTIALS, S3Server, free_port
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = TrainingRun.Status
CHECK_SECONDS = 2  # each host's MODEL_CHECK_SECONDS


class WebHost:
    """``gunicorn config.wsgi`` as the Procfile starts it, on a port and a model folder of its own."""

    def __init__(self, env: dict, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.model_dir = workdir / name / "models"
        self.log = workdir / f"{name}.log"
        env = {**env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(self.port), "WEB_CONCURRENCY": "2", "MODEL_DIR": str(self.model_dir)}
        command = [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout=60, what=f"web host {name} to answer (log: {self.log})")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"web host exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def feed(self, token: str) -> dict:
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/feed/?limit=10", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def like(self, token: str, external_id: str) -> None:
        response = httpx.post(
            f"http://127.0.0.1:{self.port}/api/papers/{external_id}/feedback/",
            json={"kind": "like"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def bucket_server():
    server = S3Server()
    server.start()
    yield server
    server.stop()


class Site:
    """What every host of the site shares (database, broker, bucket), and ways to start its hosts."""

    def __init__(self, env: dict, workdir: Path, start_worker) -> None:
        self.env, self.workdir, self._start_worker = env, workdir, start_worker
        self.hosts: list[WebHost] = []

    def start_host(self, name: str, **extra: str) -> WebHost:
        self.hosts.append(WebHost({**self.env, **extra}, self.workdir, name))
        return self.hosts[-1]

    def start_trainer(self) -> None:
        """One worker for both queues (training and the default one), with a model folder of its own."""
        bucket = {name: value for name, value in self.env.items() if name.startswith(("MODEL_STORAGE", "AWS_"))}
        self._start_worker(**{**bucket, "MODEL_DIR": str(self.workdir / "trainer" / "models")})


@pytest.fixture
def site(service_env, bucket_server, start_worker, tmp_path):
    import boto3

    keys = {"aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    boto3.client("s3", endpoint_url=bucket_server.url, region_name="us-east-1", **keys).create_bucket(Bucket="paperfeed-models")
    env = {
        **service_env,
        **S3_CREDENTIALS,
        "MODEL_STORAGE_URL": "s3://paperfeed-models/site",
        "MODEL_STORAGE_ENDPOINT_URL": bucket_server.url,
        "MODEL_CHECK_SECONDS": str(CHECK_SECONDS),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    site = Site(env, tmp_path, start_worker)
    yield site
    for host in site.hosts:
        host.stop()


def finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in (Status.ACTIVATED, Status.REJECTED, Status.FAILED) else None


def test_two_hosts_serve_the_new_model_from_the_bucket_and_share_every_like(community, site):
    _, readers = community
    _, token = api_token_create(user=readers["astro1"], name="multi-host test")
    first, second = site.start_host("web-1"), site.start_host("web-2")
    assert first.feed(token)["model"] is None  # no model yet: the newest and trending papers

    site.start_trainer()
    run = retrain_request()
    done = wait_for(lambda: finished(run.pk), timeout=180, what="the worker to finish the retrain")
    assert done.status == Status.ACTIVATED, done.message
    activated = time.monotonic()

    for host in (first, second):
        wait_for(
            lambda host=host: host.feed(token)["model"] == run.version, timeout=CHECK_SECONDS + 20, what="a host to serve the new model"
        )
        assert (host.model_dir / run.version / "params.json").exists()  # its own copy, fetched from the bucket
    assert time.monotonic() - activated < CHECK_SECONDS + 20
    assert "fetched from s3://paperfeed-models/site" in first.log.read_text()

    before = [item["paper"]["id"] for item in second.feed(token)["results"]]
    liked = before[0]
    first.like(token, liked)  # on one host ...
    after = second.feed(token)  # ... and the very next feed on the other knows it
    ids = [item["paper"]["id"] for item in after["results"]]
    assert liked not in ids and ids != before
    assert liked not in [item["paper"]["id"] for item in first.feed(token)["results"]]

    third = site.start_host("web-3")  # a host that joins later fetches the active model by itself
    wait_for(lambda: third.feed(token)["model"] == run.version, timeout=CHECK_SECONDS + 20, what="the late host to fetch the model")


def test_a_host_that_cannot_reach_the_bucket_serves_trending_papers_and_says_why(community, site):
    _, readers = community
    _, token = api_token_create(user=readers["bio1"], name="multi-host test")
    site.start_trainer()
    run = retrain_request()
    assert wait_for(lambda: finished(run.pk), timeout=180, what="the retrain").status == Status.ACTIVATED
    cut_off = site.start_host("web-cut-off", MODEL_STORAGE_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    page = cut_off.feed(token)
    time.sleep(CHECK_SECONDS + 1)
    page = cut_off.feed(token)
    assert page["model"] is None and page["results"]  # the newest and trending papers
    log = wait_for(lambda: "cannot be fetched" in cut_off.log.read_text() and cut_off.log.read_text(), timeout=20, what="the log line")
    assert f"model {run.version} cannot be fetched from s3://paperfeed-models/site" in log
    assert "serving the newest and trending papers until it can be fetched" in log
