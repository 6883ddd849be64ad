"""One reader's feedback sent in parallel (double clicks, tabs, scripts): no server error, and the rules hold.

Real threads against the real database; run on PostgreSQL in CI, where rows are locked and deadlocks can happen.
"""

import pytest
from django.test import Client

from recommender.models import Interaction
from tests.concurrency import together
from tests.factories import PaperFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
BODIES = [
    {"kind": "like", "on": "1"},
    {"kind": "dismiss", "on": "1"},
    {"kind": "save", "on": "1"},
    {"kind": "rate", "stars": "4"},
    {"kind": "dismiss", "on": "1", "reason": "topic"},
    {"kind": "like", "on": "0"},
    {"kind": "rate", "stars": "2"},
    {"kind": "save", "on": "0"},
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_forty_mixed_feedback_requests_on_one_paper_all_succeed_and_keep_the_rules():
    alice, paper = UserFactory(username="alice"), PaperFactory()
    clients = [client_for(alice) for _ in range(40)]
    url = f"/feedback/{paper.external_id}"

    def send(client: Client, body: dict):
        return lambda: client.post(url, body, HTTP_HX_REQUEST="true").status_code

    codes = together([send(client, BODIES[i % len(BODIES)]) for i, client in enumerate(clients)])
    assert codes == [200] * 40
    kinds = list(Interaction.objects.filter(user=alice, paper=paper).values_list("kind", flat=True))
    assert len(kinds) == len(set(kinds)), kinds  # one of each state at most
    assert not ("dismiss" in kinds and {"like", "save"} & set(kinds)), kinds  # never wanted and not wanted at once


def test_parallel_visits_of_a_paper_record_one_read():
    alice, paper = UserFactory(username="alice"), PaperFactory()
    clients = [client_for(alice) for _ in range(20)]
    codes = together([lambda client=client: client.get(paper.get_absolute_url()).status_code for client in clients])
    assert codes == [200] * 20
    assert Interaction.objects.filter(user=alice, paper=paper, kind="read").count() == 1


def test_parallel_likes_through_the_api_store_one_like():
    from rest_framework.test import APIClient

    from accounts.tokens import api_token_create

    alice, paper = UserFactory(username="alice"), PaperFactory()
    token = api_token_create(user=alice, name="script")[1]

    def like():
        script = APIClient()
        script.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return script.post(f"/api/papers/{paper.external_id}/feedback/", {"kind": "like"}, format="json").status_code

    assert together([like] * 20) == [200] * 20
    assert Interaction.objects.filter(user=alice, paper=paper, kind="like").count() == 1
