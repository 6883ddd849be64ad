"""Recording feedback: idempotent likes, replaced ratings, opposites, de-duplicated reads."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from recommender.models import Interaction
from recommender.services.feedback import feedback_set, parse_stars, rating_set, read_record

Kind = Interaction.Kind
pytestmark = pytest.mark.django_db


def kinds(user, paper):
    return sorted(Interaction.objects.filter(user=user, paper=paper).values_list("kind", flat=True))


def test_a_second_like_is_a_no_op(alice, paper):
    first = feedback_set(user=alice, paper=paper, kind="like", on=True)
    second = feedback_set(user=alice, paper=paper, kind="like", on=True)
    assert first.pk == second.pk
    assert kinds(alice, paper) == ["like"]


def test_unlike_removes_the_like_and_only_it(alice, paper):
    feedback_set(user=alice, paper=paper, kind="like", on=True)
    feedback_set(user=alice, paper=paper, kind="save", on=True)
    feedback_set(user=alice, paper=paper, kind="like", on=False)
    assert kinds(alice, paper) == ["save"]
    feedback_set(user=alice, paper=paper, kind="like", on=False)  # unliking twice is fine
    assert kinds(alice, paper) == ["save"]


def test_dismiss_takes_back_like_and_save_and_liking_takes_back_dismiss(alice, paper):
    feedback_set(user=alice, paper=paper, kind="like", on=True)
    feedback_set(user=alice, paper=paper, kind="save", on=True)
    feedback_set(user=alice, paper=paper, kind="dismiss", on=True)
    assert kinds(alice, paper) == ["dismiss"]
    feedback_set(user=alice, paper=paper, kind="like", on=True)
    assert kinds(alice, paper) == ["like"]


def test_a_new_rating_replaces_the_old_one(alice, paper):
    rating_set(user=alice, paper=paper, stars=2)
    rating_set(user=alice, paper=paper, stars=5)
    assert list(Interaction.objects.filter(kind=Kind.RATE).values_list("value", flat=True)) == [5]
    rating_set(user=alice, paper=paper, stars=None)
    assert not Interaction.objects.filter(kind=Kind.RATE).exists()


@pytest.mark.parametrize("stars", [0, 6, -1, 3.5, "4"])
def test_rating_set_refuses_anything_but_one_to_five(alice, paper, stars):
    with pytest.raises(ValidationError):
        rating_set(user=alice, paper=paper, stars=stars)
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(("raw", "stars"), [("1", 1), ("5", 5), (" 3 ", 3), ("", None), (None, None), (4, 4)])
def test_parse_stars_accepts(raw, stars):
    assert parse_stars(raw) == stars


@pytest.mark.parametrize("raw", ["0", "6", "abc", "3.5", "-1", "٣"])
def test_parse_stars_refuses(raw):
    with pytest.raises(ValidationError, match="1 to 5"):
        parse_stars(raw)


def test_unknown_toggle_kind_is_refused(alice, paper):
    with pytest.raises(ValidationError):
        feedback_set(user=alice, paper=paper, kind="rate", on=True)


def test_a_repeat_visit_soon_after_is_the_same_read(alice, paper, settings):
    settings.READ_DEDUP_MINUTES = 30
    assert read_record(user=alice, paper=paper) is not None
    assert read_record(user=alice, paper=paper) is None
    Interaction.objects.filter(kind=Kind.READ).update(created=timezone.now() - timedelta(minutes=31))
    assert read_record(user=alice, paper=paper) is not None
    assert Interaction.objects.filter(kind=Kind.READ).count() == 2


@pytest.mark.django_db(transaction=True)  # retried only as the outermost transaction
def test_a_deadlock_reported_by_the_database_is_retried_and_other_errors_are_not():
    from django.db import OperationalError

    from recommender.services.feedback import serialised

    class Deadlock(Exception):
        sqlstate = "40P01"

    calls = []

    @serialised
    def flaky(error_cause):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from error_cause
        return "done"

    assert flaky(Deadlock()) == "done" and len(calls) == 2
    calls.clear()
    with pytest.raises(OperationalError):
        flaky(ValueError("something else"))
    assert len(calls) == 1
