"""The synthetic community for scale tests: deterministic, topic-structured, power-law, and valid for the database."""

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from recommender.engine.content import TfidfEncoder
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
from recommender.models import Interaction, Paper


def test_the_same_seed_gives_the_same_community_and_another_seed_another():
    a, b, c = (synthetic_papers(300, seed=s) for s in (1, 1, 2))
    assert a.titles == b.titles and a.abstracts == b.abstracts and a.titles != c.titles
    fa, fb = synthetic_feedback(50, a, 2000, seed=1), synthetic_feedback(50, b, 2000, seed=1)
    assert all(np.array_equal(getattr(fa, f), getattr(fb, f)) for f in ("users", "papers", "kinds", "values", "ages_seconds"))


def test_papers_on_one_topic_are_closer_in_content_than_papers_on_different_topics():
    papers = synthetic_papers(1000, seed=0)
    content = TfidfEncoder().fit_transform([t + " " + a for t, a in zip(papers.titles, papers.abstracts)])
    sims = (content @ content.T).toarray()
    same = papers.topics[:, None] == papers.topics[None, :]
    np.fill_diagonal(same, False)
    different = papers.topics[:, None] != papers.topics[None, :]
    assert sims[same].mean() > 5 * sims[different].mean()


def test_activity_and_popularity_follow_power_laws_and_readers_keep_to_their_field():
    papers = synthetic_papers(2000, seed=0)
    feedback = synthetic_feedback(2000, papers, 50_000, seed=0)
    per_user = np.sort(np.bincount(feedback.users, minlength=2000))[::-1]
    per_paper = np.sort(np.bincount(feedback.papers, minlength=2000))[::-1]
    assert per_user[:20].sum() > 0.25 * per_user.sum()  # the most active 1% give a quarter of the feedback
    assert per_paper[:20].sum() > 0.15 * per_paper.sum()
    main_topic = {
        u: np.bincount(papers.topics[feedback.papers[feedback.users == u]]).argmax() for u in np.argsort(-np.bincount(feedback.users))[:50]
    }
    on_field = np.mean([np.mean(papers.topics[feedback.papers[feedback.users == u]] == t) for u, t in main_topic.items()])
    assert on_field > 0.7
    kinds = np.bincount(feedback.kinds, minlength=5) / len(feedback.kinds)
    assert kinds[0] > 0.5 and all(kinds > 0)  # reads dominate; every kind appears


@pytest.mark.django_db
def test_the_command_writes_a_valid_community_once():
    call_command("generate_synthetic", users=200, papers=300, interactions=5000, seed=3)
    assert User.objects.count() == 200 and Paper.objects.count() == 300
    assert Interaction.objects.count() == 5000
    rated = Interaction.objects.filter(kind="rate")
    assert rated.exists() and not rated.filter(value__isnull=True).exists()
    assert not Interaction.objects.exclude(kind="rate").filter(value__isnull=False).exists()
    with pytest.raises(CommandError, match="already holds a synthetic community"):
        call_command("generate_synthetic", users=10, papers=10, interactions=10)
