"""The helpers that make a list of paper cards cheap give what Django's own tags would."""

import pytest
from django.template.defaultfilters import truncatewords
from django.urls import reverse

from recommender.routes import paper_route
from recommender.templatetags.papers import author_links, author_url, first_words


@pytest.mark.parametrize("external_id", ["2401.01234", "hep-th/9901001", "doi:10.1000/xyz(1)", "a b#c?d%e", "ünïcode", "x&y=z+w"])
@pytest.mark.parametrize("route", ["paper_detail", "paper_feedback"])
def test_a_paper_route_is_what_reverse_gives(route, external_id):
    assert paper_route(route, external_id) == reverse(route, kwargs={"external_id": external_id})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "one",
        "  spaced   out\n words  ",
        " ".join(f"w{i}" for i in range(40)),
        " ".join(f"w{i}" for i in range(41)),
        "a b c…",
        "x " * 60,
    ],
)
@pytest.mark.parametrize("count", [1, 3, 40])
def test_first_words_is_truncatewords(text, count):
    assert first_words(text, count) == truncatewords(text, count)


def test_author_links_escape_names_and_say_et_al_past_eight():
    names = ["<b>Ada</b>", "Alan & co"] + [f"Author {i}" for i in range(8)]
    html = author_links(names)
    assert html.count("<a href=") == 8 and html.endswith(" et al.")
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html and "Alan &amp; co" in html and "<b>" not in html
    assert f'href="{author_url("Alan & co")}"' in html
    assert author_links(["Solo"]) == f'<a href="{author_url("Solo")}">Solo</a>'
