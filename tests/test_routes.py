"""Paper URLs built from a route reversed once match Django's reverse() for every kind of id."""

import pytest
from django.urls import reverse

from recommender.routes import paper_route


@pytest.mark.parametrize("external_id", ["2401.01234", "hep-th/9901001", "doi:10.1000/xyz(1)", "a b#c?d%e", "ünïcode", "x&y=z+w"])
@pytest.mark.parametrize("route", ["paper_detail", "paper_feedback"])
def test_a_paper_route_is_what_reverse_gives(route, external_id):
    assert paper_route(route, external_id) == reverse(route, kwargs={"external_id": external_id})
