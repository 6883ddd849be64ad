from pathlib import Path

import pytest
from django.test import Client

from tests.factories import PaperFactory, UserFactory

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


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
