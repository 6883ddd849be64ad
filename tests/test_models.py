"""The database itself refuses feedback that breaks the rules, whatever code writes it."""

import pytest
from django.db import IntegrityError, transaction

from recommender.models import Interaction
from tests.factories import InteractionFactory

Kind = Interaction.Kind


@pytest.mark.django_db
@pytest.mark.parametrize("stars", [0, 6, None])
def test_rating_outside_one_to_five_is_refused_by_the_database(alice, paper, stars):
    with pytest.raises(IntegrityError), transaction.atomic():
        Interaction.objects.create(user=alice, paper=paper, kind=Kind.RATE, value=stars)
    assert not Interaction.objects.exists()


@pytest.mark.django_db
def test_a_like_cannot_carry_a_value(alice, paper):
    with pytest.raises(IntegrityError), transaction.atomic():
        Interaction.objects.create(user=alice, paper=paper, kind=Kind.LIKE, value=3)


@pytest.mark.django_db
def test_unknown_kind_is_refused_by_the_database(alice, paper):
    with pytest.raises(IntegrityError), transaction.atomic():
        Interaction.objects.create(user=alice, paper=paper, kind="love")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [Kind.LIKE, Kind.SAVE, Kind.DISMISS])
def test_one_state_per_user_paper_and_kind(alice, paper, kind):
    InteractionFactory(user=alice, paper=paper, kind=kind)
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(user=alice, paper=paper, kind=kind)


@pytest.mark.django_db
def test_one_rating_per_user_and_paper(alice, paper):
    InteractionFactory(user=alice, paper=paper, kind=Kind.RATE, value=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(user=alice, paper=paper, kind=Kind.RATE, value=4)


@pytest.mark.django_db
def test_reads_are_events_and_may_repeat(alice, bob, paper):
    for user in (alice, alice, bob):
        InteractionFactory(user=user, paper=paper, kind=Kind.READ)
    assert Interaction.objects.filter(kind=Kind.READ).count() == 3


@pytest.mark.django_db
def test_the_same_like_by_two_readers_is_fine(alice, bob, paper):
    InteractionFactory(user=alice, paper=paper)
    InteractionFactory(user=bob, paper=paper)
    assert paper.interactions.count() == 2
