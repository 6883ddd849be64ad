"""The helpers that make a list of paper cards cheap give what Django's own tags would."""

from datetime import date

import pytest
from django.template import Context, Template
from django.template.defaultfilters import truncatewords
from django.urls import reverse

from recommender.models import Paper
from recommender.routes import paper_route
from recommender.templatetags.papers import author_links, author_url, first_words, meta_line


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


# The template meta_line replaced, kept here as the reference its output is checked against.
META_TEMPLATE = (
    '{% load papers %}<div class="meta-line">{% if paper.authors %}<span class="authors">{{ paper.authors|author_links }}</span>{% endif %}'
    "{% if paper.published %}{% if paper.authors %} · {% endif %}<time datetime=\"{{ paper.published|date:'Y-m-d' }}\">"
    '{{ paper.published|date:"j M Y" }}</time>{% endif %}{% if paper.primary_category %} · <span class="category">'
    '{{ paper.primary_category }}</span>{% endif %}{% if paper.arxiv_id %} · <a href="{{ paper.abstract_url }}" rel="noopener">'
    "arXiv:{{ paper.arxiv_id }}</a>{% endif %}</div>"
)


@pytest.mark.parametrize(
    "fields",
    [
        {
            "authors": ["Ada Lovelace", "<i>Alan</i> & Co"],
            "published": date(2026, 3, 5),
            "primary_category": "cs.LG",
            "external_id": "2603.01234",
        },
        {"authors": ["Solo"], "published": date(2025, 12, 31), "primary_category": "", "external_id": "local-7"},
        {"authors": [f"A{i}" for i in range(10)], "published": None, "primary_category": "math.PR", "external_id": "2501.00001"},
    ],
)
def test_meta_line_is_what_the_template_gave(fields):
    paper = Paper(title="T", abstract="A", **fields)
    assert meta_line(paper) == Template(META_TEMPLATE).render(Context({"paper": paper}))


def test_meta_line_separates_only_what_a_paper_has():
    assert meta_line(Paper(title="T", abstract="A", authors=[], primary_category="cs.LG", external_id="x")) == (
        '<div class="meta-line"><span class="category">cs.LG</span></div>'
    )
    assert meta_line(Paper(title="T", abstract="A", authors=[], external_id="x")) == '<div class="meta-line"></div>'
