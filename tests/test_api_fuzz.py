"""Fuzzing the JSON API from its own OpenAPI schema (schemathesis), signed in with a personal API token.

Every operation in /api/schema/ gets generated requests, valid and not: none may end in a server
error, and every documented response must match the schema and its content type.
"""

from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from accounts.tokens import api_token_create
from config.wsgi import application
from recommender.models import Collection, Paper
from recommender.services.collections import collection_create, collection_paper_add
from recommender.services.feedback import feedback_set
from recommender.services.training import retrain
from tests.factories import UserFactory

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def api_schema(community, monkeypatch):
    """The schema as the site serves it (in process, over WSGI), with a trained model."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "100000/min", "user": "100000/min"})  # fuzz the API, not the limiter
    retrain()
    # As Django's test client does: a request must not close the test's database connection (and its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@dataclass
class Fuzzer:
    secret: str  # the API token
    collection: Collection


@pytest.fixture
def token(community) -> Fuzzer:
    papers, _ = community
    fuzzer = UserFactory(username="fuzzer")
    for paper in papers["bio"][:3]:
        feedback_set(user=fuzzer, paper=paper, kind="like", on=True)
    collection = collection_create(owner=fuzzer, name="Fuzzed")
    collection_paper_add(collection=collection, paper=papers["astro"][0])
    return Fuzzer(api_token_create(user=fuzzer, name="schemathesis")[1], collection)


@pytest.mark.django_db
def test_the_api_survives_fuzzing(api_schema, token):
    # schemathesis's own pytest plugin does not run on pytest 9 yet, so each operation gets its Hypothesis test here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    paper_ids = list(Paper.objects.values_list("external_id", flat=True)[:5]) + ["bio-0"]
    # feed, papers, a paper, its feedback (POST, DELETE), similar, search; collections (list, create), one (read, rename,
    # delete), its papers (list, add, remove one), its feed; facets (list), one (rename or hide, merge)
    assert len(operations) == 19
    for operation in operations:
        mine = [str(token.collection.pk)] if operation.path.startswith("/api/collections/") else paper_ids

        @given(case=operation.as_strategy(), real_id=st.sampled_from([None, *mine]))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case, real_id):
            if real_id and case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = real_id  # random ids are all 404s; real ones reach the handlers
            if operation.path.startswith("/api/collections/"):  # a DELETE earlier may have taken it: each example has it
                Collection.objects.get_or_create(pk=token.collection.pk, defaults={"owner": token.collection.owner, "name": "Fuzzed"})
                if isinstance(case.body, dict) and "paper" in case.body and real_id:
                    case.body["paper"] = paper_ids[0]  # a paper that exists, so the handler is reached
            case.call_and_validate(headers={"Authorization": f"Bearer {token.secret}"}, checks=CHECKS)

        fuzz()
