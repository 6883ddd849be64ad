from pathlib import Path

import pytest
from django.test import Client

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
    from recommender.model_store import store
    from recommender.selectors.status import forget_broker_status

    from django.core.cache import cache

    forget_broker_status()
    cache.clear()  # API throttling history
    settings.MODEL_DIR = tmp_path / "models"
    settings.MODEL_CHECK_SECONDS = 0
    settings.ALS_FACTORS = 3
    settings.ALS_NUM_THREADS = 1
    settings.GATE_READER_SHARE = 0.0  # every reader trains the model; the gate's own tests choose their gate readers
    for name in ("ARXIV_OAI_URL", "ARXIV_API_URL", "HF_PAPERS_URL"):  # no test reaches the internet; intake tests serve their own
        setattr(settings, name, "http://127.0.0.1:9/unreachable")
    store.clear()
    yield
    store.clear()


@pytest.fixture
def community(db):
    """Eight papers on each of three topics; six readers per topic who each like five of their topic's papers."""
    from recommender.models import Interaction

    papers = {
        topic: [
            PaperFactory(external_id=f"{topic}-{n}", title=f"{topic.title()} study {n}: {words.split()[n % 5]}", abstract=f"{words} {words.split()[n % 5]} result")
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
