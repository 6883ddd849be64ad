"""The demo community: deterministic, believable, loaded once."""

from collections import Counter

import pytest
from django.core.management import call_command

from accounts.models import User
from recommender.models import Interaction
from recommender.services.demo import DEMO_PASSWORD, TOPICS, demo_community_create, topic_affinities
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    call_command("import_papers", str(REPO / "data" / "trending_papers.txt"))


def history():
    return sorted(Interaction.objects.values_list("user__username", "paper__external_id", "kind", "value"))


def test_same_seed_same_community_other_seed_other_community(catalogue):
    demo_community_create(seed=7, users=12)
    first = history()
    User.objects.all().delete()
    demo_community_create(seed=7, users=12)
    assert history() == first
    User.objects.all().delete()
    demo_community_create(seed=8, users=12)
    assert history() != first


def test_loading_twice_changes_nothing(catalogue, capsys):
    call_command("load_demo")
    before = history()
    call_command("load_demo")
    assert "already loaded" in capsys.readouterr().out
    assert history() == before


def test_the_demo_account_can_log_in(catalogue, client):
    demo_community_create(seed=0, users=5)
    response = client.post("/accounts/login/", {"username": "demo", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_readers_like_papers_of_their_favourite_topics(catalogue):
    demo_community_create(seed=0, users=36)
    likes = Interaction.objects.filter(kind=Interaction.Kind.LIKE).select_related("paper", "user")
    per_user: dict[str, Counter] = {}
    for like in likes:
        affinity = topic_affinities(like.paper)
        per_user.setdefault(like.user.username, Counter())[max(range(len(TOPICS)), key=affinity.__getitem__)] += 1
    focused = [c.most_common(1)[0][1] / sum(c.values()) for c in per_user.values() if sum(c.values()) >= 5]
    assert len(focused) >= 10
    # With seven topics a reader without taste would put about 1/7 of likes on their top topic.
    assert sum(focused) / len(focused) > 0.45


def test_activity_is_long_tailed_and_spread_over_weeks(catalogue):
    demo_community_create(seed=0, users=36)
    reads = Counter(Interaction.objects.filter(kind="read").values_list("user__username", flat=True))
    assert max(reads.values()) >= 3 * min(reads.values())
    dates = {d.date() for d in Interaction.objects.values_list("created", flat=True)}
    assert len(dates) >= 20
    assert set(Interaction.objects.values_list("kind", flat=True)) == {"read", "like", "save", "dismiss", "rate"}


def test_without_a_catalogue_it_says_so(capsys):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="catalogue is empty"):
        call_command("load_demo")
