"""Fuzzing the JSON API from its own OpenAPI schema (schemathesis), signed in with a personal API token.

Every operation in /api/schema/ gets generated requests, valid and not: none may end in a server
error, and every documented response must match the schema and its content type.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from accounts.tokens import api_token_create
from config.wsgi import application
from recommender.models import Paper
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


@pytest.fixture
def token(community):
    papers, _ = community
    fuzzer = UserFactory(username="fuzzer")
    for paper in papers["bio"][:3]:
        feedback_set(user=fuzzer, paper=paper, kind="like", on=True)
    return api_token_create(user=fuzzer, name="schemathesis")[1]


@pytest.mark.django_db
def test_the_api_survives_fuzzing(api_schema, token):
    # schemathesis's own pytest plugin does not run on pytest 9 yet, so each operation gets its Hypothesis test here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    paper_ids = list(Paper.objects.values_list("external_id", flat=True)[:5]) + ["bio-0"]
    assert len(operations) == 7  # feed, papers, a paper, its feedback (POST, DELETE), similar, search
    for operation in operations:

        @given(case=operation.as_strategy(), real_id=st.sampled_from([None, *paper_ids]))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case, real_id):
            if real_id and case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = real_id  # random ids are all 404s; real ones reach the handlers
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        fuzz()
