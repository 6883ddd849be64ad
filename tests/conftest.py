import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.factories import PaperFactory, UserFactory

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing is deliberately slow; the tests only need it to be a hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def paper(db):
    return PaperFactory(
        external_id="2407.12753",
        title="LookupViT: Compressing visual information to a limited number of tokens",
        abstract="Vision Transformers have emerged as the de-facto choice for vision.",
        url="https://arxiv.org/abs/2407.12753",
    )


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.2):
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a free port, which a test may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=15, what="redis-server to answer")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def use_broker(url: str) -> None:
    """Point this process's Celery app at the broker ``url``, forgetting every pooled connection to the one before."""
    from kombu import pools

    from tasks.celery import app

    app.conf.broker_url = url
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


class S3Server:
    """An S3-compatible server of our own on loopback (moto's server mode, in memory) for the model bucket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self.answers, timeout=30, what="the S3 server to answer")

    def answers(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "paperfeed-test", "AWS_SECRET_ACCESS_KEY": "paperfeed-test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def model_bucket(s3_server, settings, monkeypatch):
    """A new, empty bucket on the S3 server, set as this test's MODEL_STORAGE_URL; yields its boto3 client and name."""
    import boto3

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"models-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server.url)
    client.create_bucket(Bucket=name)
    settings.MODEL_STORAGE_URL = f"s3://{name}/paperfeed"
    settings.MODEL_STORAGE_ENDPOINT_URL = s3_server.url
    yield client, name


@pytest.fixture(scope="session", autouse=True)
def cache_redis(tmp_path_factory):
    """The cache is Redis, as in production (rate limits shared by all processes): a private redis-server for the
    session, so the tests never touch another checkout's data. Each test starts with it empty (``model_settings``)."""
    if not shutil.which("redis-server"):
        pytest.exit("The tests need redis-server (the cache is Redis): apt-get install redis-server", returncode=3)
    from django.conf import settings

    server = RedisServer(tmp_path_factory.mktemp("cache-redis"))
    server.start()
    location = f"redis://127.0.0.1:{server.port}/1"
    with override_settings(CACHES={"default": {**settings.CACHES["default"], "LOCATION": location}}, CACHE_URL=location):
        yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def static_files(tmp_path_factory):
    """Static files collected as in production (hashed names and a manifest, which every page's links need)."""
    from django.core.management import call_command

    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", "--no-input", verbosity=0)
        yield root


def pytest_configure(config):
    """TF-IDF alone by default (see ``model_settings``), from the start: test modules that import ``config.wsgi`` at
    collection would otherwise start loading the sentence encoder in this process."""
    from django.conf import settings

    settings.CONTENT_EMBEDDINGS = False


def pytest_report_header(config):
    from django.conf import settings

    return f"database: {settings.DATABASES['default']['ENGINE']} {settings.DATABASES['default'].get('NAME')}"


TOPIC_WORDS = {
    "astro": "galaxy star telescope cosmology redshift",
    "bio": "protein enzyme cell genome folding",
    "lang": "compiler parser grammar type inference",
}


@pytest.fixture(autouse=True)
def model_settings(settings, tmp_path):
    """Each test trains into its own folder and sees a newly activated model at once."""
    from django.core.cache import cache

    from recommender.model_store import store
    from recommender.selectors.status import forget_broker_status

    forget_broker_status()
    cache.clear()  # API throttling history
    settings.MODEL_DIR = tmp_path / "models"
    settings.MODEL_CHECK_SECONDS = 0
    settings.CATALOGUE_CHECK_SECONDS = 0  # every look counts the catalogue too (test_feed has one for the quick look)
    settings.ALS_FACTORS = 3
    settings.ALS_NUM_THREADS = 1
    settings.GATE_READER_SHARE = 0.0  # every reader trains the model; the gate's own tests choose their gate readers
    # TF-IDF alone unless a test asks for the meaning vectors (the `meaning_on` fixture): embedding every test's
    # catalogue again would cost seconds a test; tests/test_meaning.py covers the signal with the real encoder.
    settings.CONTENT_EMBEDDINGS = False
    for name in ("ARXIV_OAI_URL", "ARXIV_API_URL", "HF_PAPERS_URL"):  # no test reaches the internet; intake tests serve their own
        setattr(settings, name, "http://127.0.0.1:9/unreachable")
    store.load_inline()  # the tests' clients are no web process (test_api_fuzz imports config.wsgi, which starts a loader)
    store.wait(30)
    store.clear()
    yield
    store.clear()


@pytest.fixture
def community(db):
    """Eight papers on each of three topics; six readers per topic who each like five of their topic's papers."""
    from recommender.models import Interaction

    papers = {
        topic: [
            PaperFactory(
                external_id=f"{topic}-{n}",
                title=f"{topic.title()} study {n}: {words.split()[n % 5]}",
                abstract=f"{words} {words.split()[n % 5]} result",
            )
            for n in range(8)
        ]
        for topic, words in TOPIC_WORDS.items()
    }
    readers = {}
    for topic_index, topic in enumerate(TOPIC_WORDS):
        for r in range(6):
            reader = UserFactory(username=f"{topic}{r}")
            readers[reader.username] = reader
            for n in range(5):
                paper = papers[topic][(r + n) % 8]
                Interaction.objects.create(user=reader, paper=paper, kind="like")
    return papers, readers


@pytest.fixture
def arxiv(httpserver, settings):
    """The local server stands in for arXiv's OAI-PMH endpoint and API; requests are not spaced out in tests."""
    settings.ARXIV_OAI_URL = httpserver.url_for("/oai")
    settings.ARXIV_API_URL = httpserver.url_for("/api/query")
    settings.HF_PAPERS_URL = httpserver.url_for("/api/daily_papers")
    settings.INTAKE_ARXIV_SETS, settings.INTAKE_ARXIV_CATEGORIES = ["cs"], []
    settings.INTAKE_REQUEST_INTERVAL = 0
    return httpserver


@pytest.fixture
def meaning_on(settings):
    """The meaning vectors on, with the real packaged encoder (loaded once per process)."""
    settings.CONTENT_EMBEDDINGS = True
    settings.EMBEDDING_DEVICE = "cpu"
    return settings
