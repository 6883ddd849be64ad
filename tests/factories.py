"""Factories for the tests' named readers and papers."""

import factory
from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"reader{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class PaperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Paper

    external_id = factory.Sequence(lambda n: f"2401.{n:05d}")
    title = factory.Sequence(lambda n: f"Paper number {n}")
    abstract = "An abstract about nothing in particular."
    authors = factory.LazyFunction(lambda: ["Ada Lovelace", "Alan Turing"])
    added_at = factory.LazyFunction(timezone.now)


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    user = factory.SubFactory(UserFactory)
    paper = factory.SubFactory(PaperFactory)
    kind = Interaction.Kind.LIKE
    value = None
