"""A newcomer's whole journey, in Chromium against the live site: sign up, onboard by pasting ids, like three
papers and see the feed change with reasons, rate one, dismiss one and see it go, preview the weekly email,
export BibTeX, and delete the account. Screenshots of each key page go to var/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from recommender.engine.exchange import read_papers
from recommender.models import Interaction, Paper
from recommender.services.datasets import papers_import
from recommender.services.demo import demo_community_create
from recommender.services.training import retrain
from tests.conftest import PASSWORD, REPO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARXIV_IDS = ["2501.00001", "2501.00002", "2501.00003"]


@pytest.fixture
def site(db):
    """The bundled catalogue, the demo community and a trained model; three papers carry arXiv links."""
    papers_import(records=read_papers(REPO / "data" / "trending_papers.txt"))
    demo_community_create()
    for arxiv_id, paper in zip(ARXIV_IDS, Paper.objects.order_by("id")[10:13]):
        paper.url = f"https://arxiv.org/abs/{arxiv_id}"
        paper.save()
    assert retrain().status == "activated"


def feed_ids(page) -> list[str]:
    return page.locator("#feed li.paper").evaluate_all("items => items.map(li => li.dataset.paper)")


def test_a_newcomer_s_journey(site, page, screenshot):
    # Every page keeps to the Content-Security-Policy: the browser reports nothing it blocked.
    blocked = []
    page.on("console", lambda message: blocked.append(f"{page.url}: {message.text}") if "Content Security Policy" in message.text else None)
    # Sign up: lands on onboarding.
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "dora")
    page.fill("input[name=email]", "dora@example.org")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/accounts/welcome/$"))
    screenshot("01-welcome")

    # Onboard by pasting arXiv ids in the forms people copy them in, and one the catalogue does not have.
    pasted = f"arXiv:{ARXIV_IDS[0]}v2\nhttps://arxiv.org/abs/{ARXIV_IDS[1]}\n{ARXIV_IDS[2]}\n9999.99999"
    page.fill("textarea[name=references]", pasted)
    page.get_by_role("button", name="Find these papers").click()
    expect(page.locator("#paste-result")).to_have_text("Found 3 papers; 1 not found.")
    expect(page.locator("ul.unmatched li")).to_have_text(["9999.99999"])
    expect(page.locator("ol.picks li")).to_have_count(3)
    screenshot("02-pasted")

    # The rating round, skipped; the feed is personal at once.
    page.get_by_role("link", name="Next: rate a few papers →").click()
    expect(page.locator("form.round li.paper")).to_have_count(8)
    screenshot("03-rating-round")
    page.get_by_role("button", name="Finish: show my feed").click()
    expect(page).to_have_url(re.compile(r"/feed/$"))
    expect(page.locator("ul.messages")).to_contain_text("Your feed is ready: it follows the 3 papers you picked")
    before = feed_ids(page)
    assert len(before) >= 10
    expect(page.locator("#feed .reason").first).to_contain_text("which you liked")

    # Like three papers from the feed: each leaves the feed, which reloads itself.
    liked = before[:3]
    for paper_id in liked:
        page.locator(f'#feed li[data-paper="{paper_id}"]').get_by_role("button", name="♥ Like").click()
        expect(page.locator(f'#feed li[data-paper="{paper_id}"]')).to_have_count(0)
    after = feed_ids(page)
    assert after != before and not set(liked) & set(after)
    liked_titles = set(Paper.objects.filter(external_id__in=liked).values_list("title", flat=True))
    reasons = page.locator("#feed .reason").all_inner_texts()
    assert any(title in reason for reason in reasons for title in liked_titles), "the new likes explain the new feed"
    screenshot("04-feed-after-likes")

    # Rate one, on its page.
    rated = after[0]
    page.locator(f'#feed li[data-paper="{rated}"] a.title').click()
    page.get_by_role("button", name="4 stars").click()
    expect(page.locator("#feedback .done")).to_have_text("Rated 4 stars.")
    screenshot("05-paper-rated")
    assert Interaction.objects.get(user__username="dora", paper__external_id=rated, kind="rate").value == 4

    # Dismiss one, and see it go.
    page.goto("/feed/")
    dismissed = feed_ids(page)[0]
    item = page.locator(f'#feed li[data-paper="{dismissed}"]')
    item.locator("summary", has_text="Not interested").click()
    screenshot("06-not-interested-menu")
    item.get_by_role("button", name="Not this paper").click()
    expect(page.locator(f'#feed li[data-paper="{dismissed}"]')).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("Hidden: not interested.")
    screenshot("07-feed-after-dismissal")
    page.locator("#toast").get_by_role("button", name="Undo").click()  # changed my mind: the paper comes back
    expect(page.locator(f'#feed li[data-paper="{dismissed}"]')).to_have_count(1)
    assert not Interaction.objects.filter(user__username="dora", paper__external_id=dismissed, kind="dismiss").exists()
    item = page.locator(f'#feed li[data-paper="{dismissed}"]')
    item.locator("summary", has_text="Not interested").click()
    item.get_by_role("button", name="Not this paper").click()
    expect(page.locator(f'#feed li[data-paper="{dismissed}"]')).to_have_count(0)

    # Put a paper into a new collection from its card (no reload), then open that collection's feed.
    page.goto("/feed/")
    collected = feed_ids(page)[0]
    item = page.locator(f'#feed li[data-paper="{collected}"]')
    item.locator("summary", has_text="+ Collection").click()
    item.locator("input[name=name]").fill("Reading group")
    item.get_by_role("button", name="Add").click()
    expect(item.locator(".collect.done")).to_contain_text("Reading group")
    screenshot("07b-collected-from-a-card")
    item.locator(".collect.done a").click()
    expect(page.locator("h1")).to_have_text("Reading group")
    expect(page.locator("ol.papers.feed li.paper").first).to_be_visible()  # papers picked for the collection
    assert collected not in [li.get_attribute("data-paper") for li in page.locator("ol.papers.feed li.paper").all()]
    screenshot("07c-collection-feed")
    page.get_by_role("button", name="Add it to my weekly email").click()
    expect(page.locator(".messages")).to_contain_text("is now a section of your weekly email")

    # The interests the feed found in dora's papers, where she can rename, merge or hide them.
    page.goto("/interests/")
    expect(page.locator("h1")).to_have_text("My interests")
    screenshot("07d-interests")

    # The weekly email, previewed.
    page.goto("/digest/preview/")
    expect(page.locator("iframe[title='Email preview']")).to_have_count(1)
    expect(page.frame_locator("iframe[title='Email preview']").locator("body")).to_contain_text("dora")
    screenshot("08-digest-preview")

    # The API's documentation page works under the policy (its set-up script is a file).
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Paperfeed API")

    # Export BibTeX: the three pasted and three liked papers, and the one put in a collection (which saves it).
    page.goto("/accounts/settings/")
    with page.expect_download() as download:
        page.get_by_role("link", name="My liked and saved papers (BibTeX)").click()
    bibtex = open(download.value.path(), encoding="utf-8").read()
    assert bibtex.count("@") == 7
    assert all(f"arxiv.org/abs/{arxiv_id}" in bibtex for arxiv_id in ARXIV_IDS)
    screenshot("09-settings")

    # Delete the account: everything of it goes.
    page.get_by_role("link", name="Delete my account").click()
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("ul.messages")).to_contain_text("The account dora and all its feedback are deleted.")
    screenshot("10-deleted")
    assert not User.objects.filter(username="dora").exists()
    assert not Interaction.objects.filter(user__username="dora").exists()
    assert blocked == []
